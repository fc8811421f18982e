"""The built-in functions, as the compiler's table names them (arity is checked before a run).

Those that build a text or a list check its size first (runtime/sizes.py); the evaluator checks
every result as well.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from parley.dsl.errors import FailureKind, RunError
from parley.runtime.bounds import MAX_DIGITS, JSONBoundsError, loads
from parley.runtime.evaluate import show
from parley.runtime.sizes import as_json, check_items, check_text, joined, range_list, refused
from parley.runtime.values import Record


def _json(value: Any, indent: int | None = None) -> str:
    return as_json(value, indent)


def _parse_json(text: str) -> Any:
    if not isinstance(text, str):
        raise RunError(FailureKind.VALUE, f"parse_json() reads a text, not {show(text)[:60]}")
    try:
        value = loads(text, "the text")  # its nesting is checked before Python's decoder recurses
    except JSONBoundsError as error:
        raise refused(f"parse_json(): {error}") from None
    except ValueError as error:
        raise RunError(FailureKind.VALUE, f"parse_json: not JSON ({error})") from None
    return Record(value) if isinstance(value, dict) else value


def _join(items: Any, separator: str = "") -> str:
    if not isinstance(separator, str):
        raise RunError(FailureKind.VALUE, f"join()'s separator is a text, not {show(separator)[:60]}")
    return joined((show(item) for item in items), separator, "join()")


def _split(text: str, separator: str | None = None) -> list[str]:
    if isinstance(text, str) and isinstance(separator, str) and separator:
        check_items(text.count(separator) + 1, "split()")
    return text.split(separator)


def _replace(text: str, old: str, new: str) -> str:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        raise RunError(FailureKind.VALUE, "replace() works on texts: replace(text, old, new)")
    found = text.count(old) if old else len(text) + 1
    check_text(len(text) + found * (len(new) - len(old)), "replace()")
    return text.replace(old, new)


def _affix(name: str, test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    """`startswith(text, prefix)`, `endswith(text, suffix)`: texts only (a reply is its text)."""

    def apply(text: Any, affix: Any) -> bool:
        if not (isinstance(text, str) and isinstance(affix, str)):
            wrong = affix if isinstance(text, str) else text
            raise RunError(FailureKind.VALUE, f"{name}() works on texts, not {show(wrong)[:60]}")
        return test(text, affix)

    return apply


def _int(value: Any) -> int:
    if isinstance(value, str) and len(value.strip()) - value.count("_") > MAX_DIGITS + 1:  # a sign, then digits
        raise refused(f"int() of a text of more than {MAX_DIGITS:,} digits")
    return int(value)


def _round(number: Any, digits: Any = None) -> Any:
    if digits is None:
        return round(number)
    if isinstance(digits, int) and not -MAX_DIGITS <= digits <= MAX_DIGITS:  # 10 ** digits is computed
        raise refused(f"round() to {digits:,} digits (at most {MAX_DIGITS:,} either way)")
    return round(number, digits)


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
    "len": len, "str": show, "int": _int, "float": float, "bool": bool, "json": _json,
    "parse_json": _parse_json, "join": _join, "split": _split, "lower": str.lower,
    "upper": str.upper, "strip": str.strip, "replace": _replace, "contains": lambda c, i: i in c,
    "startswith": _affix("startswith", str.startswith), "endswith": _affix("endswith", str.endswith),
    "range": range_list, "min": _extreme(min), "max": _extreme(max), "sum": sum, "abs": abs,
    "round": _round, "sorted": lambda items, reverse=False: sorted(items, reverse=reverse),
    "reversed": lambda items: list(reversed(items)), "keys": lambda d: list(d), "values": lambda d: list(d.values()),
    "items": _items, "enumerate": lambda items: [[i, v] for i, v in enumerate(items)], "append": _append,
    "get": lambda d, k, default=None: d.get(k, default), "now": time.time,
}
