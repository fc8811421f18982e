"""Step ids: `s1`, `s2`, … in reading order (defs first, then the body; a step before its children)."""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from parley.compiler import plan as p


def number_steps(plan: p.Plan) -> p.Plan:
    """The plan with every step numbered, so ids are stable and read top to bottom."""
    counter = iter(range(1, 1_000_000_000))
    defs = tuple(attrs.evolve(d, body=_number(d.body, counter)) for d in plan.defs)
    return attrs.evolve(plan, defs=defs, body=_number(plan.body, counter))


def _number(steps: tuple[p.Step, ...], counter: Iterator[int]) -> tuple[p.Step, ...]:
    return tuple(_number_step(step, counter) for step in steps)


def _number_step(step: p.Step, counter: Iterator[int]) -> p.Step:
    """The step numbered first, then the steps inside it in reading order."""
    step_id = f"s{next(counter)}"
    match step:
        case p.IfStep():
            branches = tuple(attrs.evolve(b, body=_number(b.body, counter)) for b in step.branches)
            return attrs.evolve(step, id=step_id, branches=branches, orelse=_number(step.orelse, counter))
        case p.ForStep() | p.RepeatStep() | p.WhileStep() | p.ParallelForStep():
            return attrs.evolve(step, id=step_id, body=_number(step.body, counter))
        case p.ParallelStep():
            return attrs.evolve(step, id=step_id, branches=_number(step.branches, counter))
        case p.ConcurrentStep():
            return attrs.evolve(step, id=step_id, steps=_number(step.steps, counter))
        case (p.AskStep() | p.AssignStep() | p.TellStep() | p.ForgetStep() | p.ChatStep() | p.GroupStep()
              | p.CallStep() | p.PrintStep() | p.OutputStep() | p.ReturnStep() | p.BreakStep() | p.ContinueStep()):
            return attrs.evolve(step, id=step_id)
        case _:
            p.assert_never(step)
