"""A script's inputs as given from outside (a command line, a host program), checked against their types."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from parley.compiler import plan as p
from parley.compiler.plan import json_schema
from parley.dsl.errors import FailureKind, RunError


def read_input(decl: p.InputDecl, raw: Any, plan: p.Plan) -> Any:
    """An input's value, checked against its type; text from a command line is read as JSON unless the type is text."""
    schema = json_schema(decl.type, {r.name: r for r in plan.types})
    value = raw
    if isinstance(raw, str) and schema.get("type") != "string" and "enum" not in schema:
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as error:
        raise RunError(FailureKind.INPUT, f"input `{decl.name}`: {error.message}", decl.span) from None
    return value
