"""The turn bounds of a chat or group: `until … or moves turns` evaluated as the conversation starts.

A turn count written as an expression is evaluated once, before the first turn, and must be a
whole number of at least 1; the conversation then runs as if the number had been written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from parley.compiler import plan as p
from parley.dsl.errors import FailureKind, RunError
from parley.runtime.evaluate import Frame, evaluate, show

if TYPE_CHECKING:
    from parley.runtime.executor import Executor


async def settle(step: p.ChatStep | p.GroupStep, frame: Frame,
                 run: Executor) -> tuple[p.Condition | None, int]:
    """The `until` with every turn-count expression replaced by its value, and the turn limit."""
    if step.until is None:
        return None, step.max_turns
    until = await _settled(step.until, frame, run)
    limits = _limits(until)
    if step.max_turns > 0:
        limits.append(step.max_turns)
    assert limits, "the compiler gives a conversation without a constant limit a turn-count expression"
    return until, min(limits)


async def _settled(c: p.Condition, frame: Frame, run: Executor) -> p.Condition:
    match c:
        case p.TurnsCondition(bound=None):
            return c
        case p.TurnsCondition(bound=bound):
            value = await evaluate(bound, frame, run)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise RunError(FailureKind.VALUE,
                               f"a turn limit needs a whole number of at least 1, not {show(value)[:60]}")
            return p.TurnsCondition(count=value)
        case p.BoolCondition():
            return attrs.evolve(c, left=await _settled(c.left, frame, run),
                                right=await _settled(c.right, frame, run))
        case p.SaysCondition() | p.ProseCondition() | p.UsageCondition() | p.ExprCondition():
            return c
        case _:
            p.assert_never(c)


def _limits(c: p.Condition) -> list[int]:
    """Turn counts that bound the conversation: reachable through `or` only (`a and 3 turns` is a minimum)."""
    if isinstance(c, p.TurnsCondition):
        return [c.count]
    if isinstance(c, p.BoolCondition) and c.op == "or":
        return _limits(c.left) + _limits(c.right)
    return []
