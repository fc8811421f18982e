"""The JSON Schema (draft 2020-12) of a plan, generated from the records of `compiler.plan`.

Generated rather than written so it cannot drift from the records: each record
kind is a `$defs` entry (its `kind` a `const`, every field without a default required, nothing
else allowed), each named union of `plan` (`Expr`, `Step`…) a `oneOf` of its
members, which their `kind` tells apart, and each closed set of strings (a
`Literal`: operators, `select` modes, agent kinds…) an `enum`. `docs/plan.schema.json` is this
module's output (`python -m parley.compiler.plan_schema > docs/plan.schema.json`).
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from typing import Any

import attrs

from parley.compiler import plan
from parley.dsl.source import Span

DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: Field schemas narrower than their type: the loader reads only this plan version.
_FIELD_OVERRIDES: dict[tuple[type, str], dict[str, Any]] = {
    (plan.Plan, "version"): {"type": "string", "const": plan.PLAN_VERSION},
}

_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def records() -> list[type]:
    """The plan's record classes (those with a `kind`), in declaration order."""
    return [
        value for value in vars(plan).values()
        if isinstance(value, type) and attrs.has(value) and isinstance(getattr(value, "kind", None), str)
    ]


def named_unions() -> dict[str, tuple[Any, ...]]:
    """The unions `plan` names (`Expr`, `TypeRef`, `Condition`, `Target`, `Step`) and their members."""
    return {
        name: typing.get_args(value)
        for name, value in vars(plan).items()
        if is_union(value) and not name.startswith("_")
    }


def hints(cls: type) -> dict[str, Any]:
    """The resolved type of each field of a record (annotations are strings under `from __future__`)."""
    resolved = typing.get_type_hints(cls, vars(plan))
    return {field.name: resolved[field.name] for field in attrs.fields(cls)}


def is_union(hint: Any) -> bool:
    """Whether `hint` is a union (`A | B` and `Union[A, B]` alike)."""
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def union_members(hint: Any) -> list[Any]:
    """The members of a union, with named unions folded back in.

    Python resolves `Step` to the bare union of its members and flattens
    `Target | None` into them plus `None`; refolding keeps the schema's `$ref`s
    as the records are written. A folded named union is returned as its name
    (a `str`).
    """
    args = list(typing.get_args(hint))
    # Largest first, so a union that contains another is folded whole.
    for name, members in sorted(named_unions().items(), key=lambda item: -len(item[1])):
        if all(member in args for member in members):
            first = min(args.index(member) for member in members)
            args = [arg for arg in args if arg not in members]
            args.insert(first, name)
    return args


def _description(cls: type) -> str:
    return inspect.cleandoc(cls.__doc__ or "")


class _Builder:
    """Walks the records from `Plan`, collecting a `$defs` entry for each record and named union it meets."""

    def __init__(self) -> None:
        self.defs: dict[str, dict[str, Any]] = {}

    def ref(self, name: str) -> dict[str, Any]:
        return {"$ref": f"#/$defs/{name}"}

    def type_schema(self, hint: Any) -> dict[str, Any]:
        if hint is Any:
            return {}
        if isinstance(hint, str):  # a named union, folded by `union_members`
            self.union_def(hint)
            return self.ref(hint)
        if hint is Span:
            self.span_def()
            return self.ref("Span")
        if typing.get_origin(hint) is typing.Literal:  # a closed set: `SelectMode`, `AgentKind`…
            return {"type": "string", "enum": list(typing.get_args(hint))}
        if typing.get_origin(hint) is tuple:
            item, *rest = typing.get_args(hint)
            if rest != [Ellipsis]:
                raise TypeError(f"only homogeneous tuples (`tuple[X, ...]`) are plan data, not {hint!r}")
            return {"type": "array", "items": self.type_schema(item)}
        if is_union(hint):
            members = union_members(hint)
            return self.type_schema(members[0]) if len(members) == 1 else self.one_of(members)
        if isinstance(hint, type) and attrs.has(hint):
            self.record_def(hint)
            return self.ref(hint.__name__)
        if hint in _SCALARS:
            return {"type": _SCALARS[hint]}
        raise TypeError(f"no JSON Schema for {hint!r}")

    def one_of(self, members: list[Any]) -> dict[str, Any]:
        # An int is also a float (the loader reads `1` as `1.0`), so `int | float` is one
        # `number`: `oneOf` with both would match integers twice and reject them.
        if int in members and float in members:
            members = [member for member in members if member is not int]
        _check_kinds_distinct(members)
        return {"oneOf": [self.type_schema(member) for member in members]}

    def union_def(self, name: str) -> None:
        if name in self.defs:
            return
        self.defs[name] = {}  # reserved first: unions are recursive
        self.defs[name] = self.one_of(list(named_unions()[name]))

    def record_def(self, cls: type) -> None:
        name = cls.__name__
        if name in self.defs:
            return
        self.defs[name] = {}
        properties: dict[str, Any] = {"kind": {"const": cls.kind}}  # type: ignore[attr-defined]
        for field, hint in hints(cls).items():
            properties[field] = _FIELD_OVERRIDES.get((cls, field)) or self.type_schema(hint)
        self.defs[name] = {
            "description": _description(cls),
            "type": "object",
            "properties": properties,
            "required": ["kind", *(f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING)],
            "additionalProperties": False,
        }

    def span_def(self) -> None:
        if "Span" in self.defs:
            return
        properties: dict[str, Any] = {}
        for field, hint in typing.get_type_hints(Span).items():
            properties[field] = {"type": "string"} if hint is str else {"type": "integer", "minimum": 1}
        self.defs["Span"] = {
            "description": _description(Span),
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        }


def _check_kinds_distinct(members: list[Any]) -> None:
    """Two records of one union with the same `kind` could not be told apart, in JSON or by `oneOf`."""
    kinds: dict[str, type] = {}
    for member in members:
        if isinstance(member, type) and attrs.has(member):
            kind: str = member.kind  # type: ignore[attr-defined]
            other = kinds.setdefault(kind, member)
            if other is not member:
                raise TypeError(f"{other.__name__} and {member.__name__} share the kind {kind!r} in one union")


def _order(name: str) -> int:
    """Declaration order in `plan`: records and unions interleaved as written, `Span` (imported) first."""
    names = list(vars(plan))
    return names.index(name) if name in names else len(names)


def plan_schema() -> dict[str, Any]:
    """The JSON Schema of a plan of version `PLAN_VERSION`."""
    builder = _Builder()
    builder.record_def(plan.Plan)
    return {
        "$schema": DIALECT,
        "title": f"Parley plan, version {plan.PLAN_VERSION}",
        "description": _description(plan.Plan),
        "$ref": "#/$defs/Plan",
        "$defs": {name: builder.defs[name] for name in sorted(builder.defs, key=_order)},
    }


def schema_text() -> str:
    """The schema as the text committed in `docs/plan.schema.json`."""
    return json.dumps(plan_schema(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    """Print the schema (`python -m parley.compiler.plan_schema > docs/plan.schema.json`)."""
    print(schema_text(), end="")


if __name__ == "__main__":
    main()
