"""Agents as values at run time: which agent `@player` reaches, and whether a value has the type `agent`.

The compiler knows `player` has the type `agent`; the runtime still checks the
value (a plan may be written by hand), so an ask through anything else stops
the run with an error naming the line instead of asking nobody.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from parley.compiler import plan as p
from parley.compiler.plan import json_schema
from parley.dsl.errors import FailureKind, RunError
from parley.runtime import schemas
from parley.runtime.evaluate import Frame, evaluate, show
from parley.runtime.values import AgentValue, jsonable

if TYPE_CHECKING:
    from parley.runtime.executor import Executor


async def reached(agent: str, held: p.Expr | None, frame: Frame, run: Executor) -> str:
    """The name of the agent a step asks (tells, forgets): `agent`, or the agent value `held` evaluates to."""
    if held is None:
        return agent
    value = await evaluate(held, frame, run)
    if isinstance(value, AgentValue) and any(a.name == value for a in run.plan.agents):
        return str.__str__(value)
    from parley.compiler.source_text import expr_source  # only to word the error: not loaded with the runtime

    shown = json.dumps(str.__str__(value), ensure_ascii=False) if isinstance(value, str) else show(value)
    raise RunError(FailureKind.VALUE, f"`{expr_source(held)}` holds {shown[:60]}, which is not an agent: it cannot "
                                      "be asked")


def has_agents(value: Any, type_ref: p.TypeRef, records: dict[str, p.RecordDecl]) -> bool:
    """Whether `value` holds an agent value wherever `type_ref` says `agent` (the JSON Schema checks the rest,
    and cannot tell an agent from its name)."""
    match type_ref:
        case p.NamedType(name="agent"):
            return isinstance(value, AgentValue)
        case p.ListType(item=item):
            return not isinstance(value, list) or all(has_agents(v, item, records) for v in value)
        case p.DictType(value=inner):
            return not isinstance(value, dict) or all(has_agents(v, inner, records) for v in value.values())
        case p.UnionType(options=options):
            return any(has_agents(value, o, records) and _valid(value, o, records) for o in options)
        case _:
            return True  # other named types and literals: the schema checks them


def _valid(value: Any, type_ref: p.TypeRef, records: dict[str, p.RecordDecl]) -> bool:
    try:
        schemas.validate(jsonable(value), json_schema(type_ref, records))
    except schemas.ValidationError:
        return False
    return True
