"""The built-in functions, as the compiler's table names them (arity is checked before a run)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from parley.dsl.errors import FailureKind, RunError
from parley.runtime.evaluate import show
from parley.runtime.values import Record


def _json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False, default=str)


def _parse_json(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise RunError(FailureKind.VALUE, f"parse_json: not JSON ({error})") from None
    return Record(value) if isinstance(value, dict) else value


def _join(items: Any, separator: str = "") -> str:
    return separator.join(show(item) for item in items)


def _extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
    def apply(*items: Any) -> Any:
        values = items[0] if len(items) == 1 and isinstance(items[0], list | tuple) else items
        if not values:
            raise RunError(FailureKind.VALUE, f"{pick.__name__}() of nothing")
        return pick(values)

    return apply


def _append(items: list[Any], item: Any) -> list[Any]:
    return [*items, item]  # values are values: a new list


def _items(mapping: dict[str, Any]) -> list[list[Any]]:
    return [[k, v] for k, v in mapping.items()]


BUILTINS: dict[str, Callable[..., Any]] = {
    "len": len, "str": show, "int": int, "float": float, "bool": bool, "json": _json,
    "parse_json": _parse_json, "join": _join, "split": lambda t, s=None: t.split(s), "lower": str.lower,
    "upper": str.upper, "strip": str.strip, "replace": str.replace, "contains": lambda c, i: i in c,
    "range": lambda *a: list(range(*a)), "min": _extreme(min), "max": _extreme(max), "sum": sum, "abs": abs,
    "round": round, "sorted": lambda items, reverse=False: sorted(items, reverse=reverse),
    "reversed": lambda items: list(reversed(items)), "keys": lambda d: list(d), "values": lambda d: list(d.values()),
    "items": _items, "enumerate": lambda items: [[i, v] for i, v in enumerate(items)], "append": _append,
    "get": lambda d, k, default=None: d.get(k, default), "now": time.time,
}
