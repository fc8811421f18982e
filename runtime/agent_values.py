"""Agents as values at run time: which agent `@player` reaches, and whether a value has the type `agent`.

The compiler knows `player` has the type `agent`; the runtime still checks the
value (a plan may be written by hand), so an ask through anything else stops
the run with an error naming the line instead of asking nobody.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs

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


async def with_held_members(step: p.ChatStep | p.GroupStep, frame: Frame, run: Executor) -> p.ChatStep | p.GroupStep:
    """The conversation with each member that is an `agent` variable (`chat player, judge:`) replaced by the
    agent it holds now, in `until` and `flow` too, so the rest of the run sees declared agents only."""
    if not step.held:
        return step
    names = {name: await reached("", p.Var(name=name), frame, run) for name in step.held}
    members = tuple(names.get(m, m) for m in step.members)
    twice = sorted({m for m in members if members.count(m) > 1})
    if twice:
        raise RunError(FailureKind.VALUE, f"`{twice[0]}` would be a member of this conversation twice "
                                          f"({', '.join(f'`{v}` holds it' for v, a in names.items() if a == twice[0])})")
    fields: dict[str, Any] = {"members": members, "until": _renamed(step.until, names), "held": ()}
    if isinstance(step, p.GroupStep):
        fields["flow"] = tuple(attrs.evolve(edge, source=names.get(edge.source, edge.source),
                                            targets=tuple(names.get(t, t) for t in edge.targets)) for edge in step.flow)
    return attrs.evolve(step, **fields)


def _renamed(condition: p.Condition | None, names: dict[str, str]) -> p.Condition | None:
    match condition:
        case p.SaysCondition(agent=agent) if agent in names:
            return attrs.evolve(condition, agent=names[agent])
        case p.BoolCondition():
            return attrs.evolve(condition, left=_renamed(condition.left, names), right=_renamed(condition.right, names))
        case _:
            return condition
