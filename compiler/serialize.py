"""Plans as JSON and back, exactly: `plan_from_json(plan_to_json(p)) == p`.

Records are written as objects with their `kind` first; tuples as arrays;
spans as objects. Reading is driven by the records' type hints, so a field
typed `Any` (a tool's JSON Schema, an option's value) stays plain JSON and a
field typed with a `Literal` takes only its strings. It accepts exactly what
`docs/plan.schema.json` describes and raises `PlanError` (from
`parley.dsl.errors`) for anything else, however damaged, and for a plan of
another version. Then it validates what it read (`compiler.validate`): a plan
that names an agent, model, tool, def or type it does not declare is a
`PlanError` too, listing each such name with its path in the JSON.
"""

from __future__ import annotations

import functools
import json
import types
import typing
from typing import Any

import attrs

from parley.compiler import plan as p
from parley.compiler.validate import validate as check_plan
from parley.dsl.errors import PlanError
from parley.dsl.source import Span


def _records() -> dict[str, type]:
    found: dict[str, type] = {}
    for value in vars(p).values():
        kind = _record_kind(value)
        if kind is not None:
            assert kind not in found, f"two plan records share the kind {kind!r}"
            found[kind] = value
    return found


def _record_kind(value: object) -> str | None:
    """The `kind` of a plan record class; None for anything else the plan module defines."""
    if not (isinstance(value, type) and attrs.has(value)):
        return None
    kind = getattr(value, "kind", None)
    return kind if isinstance(kind, str) else None


RECORDS = _records()


def to_data(value: Any) -> Any:
    """A plan (or any part of one) as JSON-compatible data."""
    if isinstance(value, Span):
        return attrs.asdict(value)
    if attrs.has(type(value)):
        data: dict[str, Any] = {"kind": value.kind}
        for field in attrs.fields(type(value)):
            data[field.name] = to_data(getattr(value, field.name))
        return data
    if isinstance(value, tuple | list):
        return [to_data(item) for item in value]
    if isinstance(value, dict):
        return {key: to_data(item) for key, item in value.items()}
    return value


def plan_to_json(plan: p.Plan, indent: int | None = 2) -> str:
    """The plan as JSON text (stable: same plan, same text)."""
    return json.dumps(to_data(plan), indent=indent, ensure_ascii=False, allow_nan=False)


def plan_from_json(text: str, *, validate: bool = True) -> p.Plan:
    """Read a plan written by `plan_to_json`; `PlanError` when it is not one, or is of another version.

    The plan is validated too (`compiler.validate`): `PlanError` lists every name it uses but does not
    declare. `validate=False` reads the format alone (for tests of the format itself).
    """
    try:
        data = json.loads(text, parse_constant=_not_json)
    except RecursionError as error:
        raise PlanError("not a plan: nested too deeply") from error
    except ValueError as error:  # not JSON, NaN or Infinity, an integer too long to read
        raise PlanError(f"not JSON: {error}") from error
    if not isinstance(data, dict) or data.get("kind") != "plan":
        raise PlanError("not a Parley plan (no `\"kind\": \"plan\"` at the top)")
    if data.get("version") != p.PLAN_VERSION:
        raise PlanError(_version_problem(data.get("version")))
    try:
        plan = from_data(data, p.Plan)
    except RecursionError as error:
        raise PlanError("not a plan: nested too deeply") from error
    assert isinstance(plan, p.Plan)
    return check_plan(plan) if validate else plan


def _version_problem(version: Any) -> str:
    """Why a plan of another version is refused, and what to do about it."""
    ours = int(p.PLAN_VERSION)
    if isinstance(version, str) and version.isdecimal() and int(version) != ours:
        age = "an older" if int(version) < ours else "a newer"
        return (f"this plan is version {version}, written by {age} Parley; this Parley reads only plan version "
                f"{ours}: compile the script again (`parley plan SCRIPT --format json`)")
    return f"not a Parley plan version: {version!r} (this Parley reads plan version {ours})"


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def from_data(data: Any, hint: Any) -> Any:
    """Rebuild a value of type `hint` from its JSON data."""
    if hint is Any:
        return data
    if hint is Span:
        return _from_span(data)
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        if not isinstance(data, str) or data not in allowed:
            raise PlanError(f"expected one of {', '.join(map(repr, allowed))}, found {data!r}")
        return data
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(data, list):
            raise PlanError(f"expected a list, found {data!r}")
        return tuple(from_data(x, item) for x in data)
    if origin in (typing.Union, types.UnionType):
        return _from_union(data, typing.get_args(hint))
    if isinstance(hint, type) and attrs.has(hint):
        return _from_record(data, hint)
    if hint in (str, int, float, bool, type(None)):
        if hint is float and _is_int(data):
            return _to_float(data)
        if not isinstance(data, hint) or (hint is int and isinstance(data, bool)):
            raise PlanError(f"expected {hint.__name__}, found {data!r}")
        return data
    raise PlanError(f"cannot read a value of type {hint!r}")  # pragma: no cover


def _is_int(data: Any) -> bool:
    return isinstance(data, int) and not isinstance(data, bool)


def _to_float(data: int) -> float:
    try:
        return float(data)
    except OverflowError as error:
        raise PlanError(f"number too large: {data}") from error


def _from_union(data: Any, options: tuple[Any, ...]) -> Any:
    if isinstance(data, dict) and "kind" in data:
        cls = RECORDS.get(data["kind"]) if isinstance(data["kind"], str) else None
        if cls is None or cls not in options:
            raise PlanError(f"unexpected record kind {data.get('kind')!r}")
        return _from_record(data, cls)
    for option in options:
        if option is type(None) and data is None:
            return None
        if option in (str, int, float, bool) and isinstance(data, option) and not (
            option is int and isinstance(data, bool)
        ):
            return data
        if typing.get_origin(option) is tuple and isinstance(data, list):
            return from_data(data, option)
        if typing.get_origin(option) is typing.Literal and data in typing.get_args(option):
            return data
    if _is_int(data) and float in options:
        return _to_float(data)
    raise PlanError(f"unexpected value {data!r}")


def _from_record(data: Any, cls: type) -> Any:
    if not isinstance(data, dict) or data.get("kind") != cls.kind:  # type: ignore[attr-defined]
        raise PlanError(f"expected a {cls.kind!r} record, found {data!r}")  # type: ignore[attr-defined]
    hints = _hints(cls)
    unknown = data.keys() - hints.keys() - {"kind"}
    if unknown:
        raise PlanError(f"{cls.kind!r} record has unknown fields {sorted(unknown)}")  # type: ignore[attr-defined]
    values = {}
    for field in attrs.fields(cls):
        if field.name not in data:
            if field.default is not attrs.NOTHING:  # a field added within this version: the old meaning
                continue
            raise PlanError(f"{cls.kind!r} record lacks {field.name!r}")  # type: ignore[attr-defined]
        values[field.name] = from_data(data[field.name], hints[field.name])
    return cls(**values)


def _from_span(data: Any) -> Span:
    hints = _hints(Span)
    if not isinstance(data, dict) or data.keys() != hints.keys():
        raise PlanError(f"expected a span ({', '.join(hints)}), found {data!r}")
    values = {name: from_data(data[name], hint) for name, hint in hints.items()}
    if any(value < 1 for value in values.values() if isinstance(value, int)):
        raise PlanError(f"span positions start at 1, found {data!r}")
    return Span(**values)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(p))
