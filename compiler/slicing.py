"""Slices, `value[start:stop]`: what can be sliced and by what, checked before a run.

Only what the compiler knows is checked (a literal, a variable of a declared
type); the runtime checks the rest (runtime/evaluate.py, `slice_of`).
"""

from __future__ import annotations

from collections.abc import Callable

from parley.compiler import plan as p
from parley.compiler._context import Context
from parley.compiler.types import REPLY, THREAD, literal_values
from parley.dsl import nodes as n

_STR = p.NamedType(name="str")
_INT = p.NamedType(name="int")
_NAMED = {"int": "an int", "float": "a float", "bool": "a bool", "none": "none", "thread": "a conversation",
          "str": "a text", "reply": "a reply"}


def slice_type(value: p.TypeRef | None) -> p.TypeRef | None:
    """The type of a slice of a value of type `value`: a text's slice is a text, a list's a list of its items."""
    if value in (_STR, REPLY) or literal_values(value):
        return _STR
    if isinstance(value, p.ListType):
        return value
    return None


def check_slice(ctx: Context, e: n.Slice, static_type: Callable[[n.Expr], p.TypeRef | None]) -> None:
    """Report (P252) a sliced value that is not a text or a list, and a bound that is not an int."""
    known = _literal_type(e.value) or static_type(e.value)
    if known is not None and slice_type(known) is None and known != p.NamedType(name="any"):
        what = _describe(known)
        c = e.value.id if isinstance(e.value, n.Name) else "c"
        help = (f"slice its messages (`{c}.messages[-3:]`) or its last reply's text (`{c}.last.text[:100]`)"
                if known == THREAD else "only a text (`s[0:10]`) or a list (`items[-3:]`) can be sliced")
        ctx.error("P252", f"{what} cannot be sliced", e.value.span, what, help)
    for bound in (e.start, e.stop):
        if bound is None:
            continue
        kind = _literal_type(bound) or static_type(bound)
        if kind is not None and kind not in (_INT, p.NamedType(name="any")):
            what = _describe(kind)
            ctx.error("P252", f"a slice's bounds are ints, not {what}", bound.span, "not an int",
                      "count from 0 (negative counts from the end); leave a bound out for the start or the end")


def _literal_type(e: n.Expr) -> p.TypeRef | None:
    if isinstance(e, n.Literal):
        value = e.value
        if value is None:
            return p.NamedType(name="none")
        return p.NamedType(name={bool: "bool", int: "int", float: "float", str: "str"}.get(type(value), "any"))
    if isinstance(e, n.Template | n.ListExpr | n.DictExpr | n.Duration | n.Money):
        return {n.Template: _STR, n.ListExpr: p.ListType(item=p.NamedType(name="any")),
                n.DictExpr: p.DictType(value=p.NamedType(name="any")),
                n.Duration: p.NamedType(name="float"), n.Money: p.NamedType(name="float")}[type(e)]
    return None


def _describe(kind: p.TypeRef) -> str:
    if isinstance(kind, p.NamedType):
        return _NAMED.get(kind.name, f"a `{kind.name}` record")
    if isinstance(kind, p.ListType):
        return "a list"
    if isinstance(kind, p.DictType):
        return "a dict"
    return "a text" if literal_values(kind) else "a value of several types"
