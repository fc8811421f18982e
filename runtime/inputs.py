"""A script's inputs as given from outside (a command line, a host program), checked against their types.

An input is JSON data within the bounds of bounds.py: nested at most `MAX_DEPTH` deep, its numbers
finite (`1e999`, `NaN` and `Infinity` are refused: JSON has no such numbers, the run store could not
keep them as JSON, and a limit or a comparison with them means nothing)."""

from __future__ import annotations

from typing import Any

from parley.compiler import plan as p
from parley.compiler.plan import json_schema
from parley.dsl.errors import FailureKind, RunError
from parley.runtime import schemas
from parley.runtime.bounds import JSONBoundsError, clip, loads, value_problem


def read_input(decl: p.InputDecl, raw: Any, plan: p.Plan) -> Any:
    """An input's value, checked against its type; text from a command line is read as JSON unless the type is text."""
    schema = json_schema(decl.type, {r.name: r for r in plan.types})
    value = raw
    if isinstance(raw, str) and schema.get("type") != "string" and "enum" not in schema:
        try:
            value = loads(raw, f"input `{decl.name}`")
        except JSONBoundsError as error:
            raise RunError(FailureKind.INPUT, str(error), decl.span) from None
        except ValueError:
            value = raw
    problem = value_problem(value)
    if problem is not None:
        raise RunError(FailureKind.INPUT, f"input `{decl.name}`: {problem}", decl.span)
    try:
        schemas.validate(value, schema)
    except schemas.ValidationError as error:
        raise RunError(FailureKind.INPUT, f"input `{decl.name}`: {clip(error.message)}", decl.span) from None
    return value
