"""Step ids: `s1`, `s2`, … in reading order (defs first, then the body; a step before its children)."""

from __future__ import annotations

from typing import Any

import attrs

from parley.compiler import plan as p

_NESTED = ("steps", "branches", "body", "orelse")


def number_steps(plan: p.Plan) -> p.Plan:
    """The plan with every step numbered, so ids are stable and read top to bottom."""
    counter = iter(range(1, 1_000_000_000))
    defs = tuple(attrs.evolve(d, body=_number(d.body, counter)) for d in plan.defs)
    return attrs.evolve(plan, defs=defs, body=_number(plan.body, counter))


def _number(steps: tuple[Any, ...], counter: Any) -> tuple[Any, ...]:
    return tuple(_number_step(step, counter) for step in steps)


def _number_step(step: Any, counter: Any) -> Any:
    if isinstance(step, p.Branch):
        return attrs.evolve(step, body=_number(step.body, counter))
    changes: dict[str, Any] = {"id": f"s{next(counter)}"}
    for name in _NESTED:
        value = getattr(step, name, None)
        if isinstance(value, tuple):
            changes[name] = _number(value, counter)
    return attrs.evolve(step, **changes)
