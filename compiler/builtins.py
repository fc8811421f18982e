"""The built-in functions: their arity and keywords, checked at compile time, run by the runtime."""

from __future__ import annotations

import attrs


@attrs.frozen
class Builtin:
    """A built-in: between `min_args` and `max_args` positional arguments (None: any), `keywords` allowed."""

    name: str
    min_args: int
    max_args: int | None
    keywords: tuple[str, ...]
    doc: str

    def signature(self) -> str:
        return f"{self.name}({self.doc})"


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin("len", 1, 1, (), "value"),
        Builtin("str", 1, 1, (), "value"),
        Builtin("int", 1, 1, (), "value"),
        Builtin("float", 1, 1, (), "value"),
        Builtin("bool", 1, 1, (), "value"),
        Builtin("json", 1, 1, ("indent",), "value, indent=none"),
        Builtin("parse_json", 1, 1, (), "text"),
        Builtin("join", 1, 2, (), "items, separator=\"\""),
        Builtin("split", 1, 2, (), "text, separator=none"),
        Builtin("lower", 1, 1, (), "text"),
        Builtin("upper", 1, 1, (), "text"),
        Builtin("strip", 1, 1, (), "text"),
        Builtin("replace", 3, 3, (), "text, old, new"),
        Builtin("contains", 2, 2, (), "container, item"),
        Builtin("startswith", 2, 2, (), "text, prefix"),
        Builtin("endswith", 2, 2, (), "text, suffix"),
        Builtin("range", 1, 3, (), "[start,] stop[, step]"),
        Builtin("min", 1, None, (), "items… or a list"),
        Builtin("max", 1, None, (), "items… or a list"),
        Builtin("sum", 1, 1, (), "numbers"),
        Builtin("abs", 1, 1, (), "number"),
        Builtin("round", 1, 2, (), "number, digits=0"),
        Builtin("sorted", 1, 1, ("reverse",), "items, reverse=false"),
        Builtin("reversed", 1, 1, (), "items"),
        Builtin("keys", 1, 1, (), "dict"),
        Builtin("values", 1, 1, (), "dict"),
        Builtin("items", 1, 1, (), "dict"),
        Builtin("enumerate", 1, 1, (), "items"),
        Builtin("append", 2, 2, (), "list, item"),
        Builtin("get", 2, 3, (), "dict, key, default=none"),
        Builtin("now", 0, 0, (), ""),
    )
}
