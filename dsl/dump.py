"""Syntax trees as plain data: for snapshots, `--json` output and debugging.

Each node becomes a dict with its class name under "node" and its span as
"line:column-end_line:end_column"; tuples become lists.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from parley.dsl.source import Span


def dump(value: Any) -> Any:
    """`value` (a node, tuple of nodes, or scalar) as JSON-compatible data."""
    if isinstance(value, Span):
        return f"{value.line}:{value.column}-{value.end_line}:{value.end_column}"
    if attrs.has(type(value)):
        data: dict[str, Any] = {"node": type(value).__name__}
        for field in attrs.fields(type(value)):
            data[field.name] = dump(getattr(value, field.name))
        return data
    if isinstance(value, tuple | list):
        return [dump(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    return value
