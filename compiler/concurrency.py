"""Concurrency: consecutive independent steps grouped so the runtime may run them at once.

Two steps are independent when neither writes what the other reads or
writes (variables, `@agent` threads, and the I/O and tool resources). Only
straight-line steps are grouped; control flow keeps its place. Running a
group's steps in any order, or together, gives what running them in order
gives. A group is only worth making when at least two of its steps wait on
something (a model, a tool, a conversation); a run of plain assignments stays
as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parley.compiler import plan as p
from parley.compiler.scope import Effects


def _groupable(step: p.Step) -> bool:
    """Whether a step may join a group: straight-line steps may; control flow, and what the script
    shows or ends with, keep their place."""
    match step:
        case p.AskStep() | p.AssignStep() | p.TellStep() | p.ForgetStep() | p.ChatStep() | p.GroupStep() | p.CallStep():
            return True
        case (p.IfStep() | p.ForStep() | p.RepeatStep() | p.WhileStep() | p.ParallelStep() | p.ParallelForStep()
              | p.ConcurrentStep()
              | p.PrintStep() | p.OutputStep() | p.ReturnStep() | p.BreakStep() | p.ContinueStep()):
            return False
        case _:
            p.assert_never(step)


def group_independent(steps: Sequence[Any]) -> tuple[Any, ...]:
    """`steps`, with each run of two or more independent groupable steps wrapped in a `ConcurrentStep`."""
    result: list[Any] = []
    run: list[Any] = []
    run_effects = Effects()

    def close() -> None:
        if sum(1 for step in run if _slow(step)) >= 2:
            reads, writes = run_effects.frozen()
            span = run[0].span.to(run[-1].span)
            result.append(p.ConcurrentStep(id="", span=span, reads=reads, writes=writes, steps=tuple(run)))
        else:
            result.extend(run)
        run.clear()

    for step in steps:
        effects = Effects(set(step.reads), set(step.writes))
        if _groupable(step) and not effects.conflicts(run_effects):
            run.append(step)
            run_effects.merge(effects)
            continue
        close()
        run_effects = Effects()
        if _groupable(step):
            run.append(step)
            run_effects.merge(effects)
        else:
            result.append(step)
    close()
    return tuple(result)


def _slow(step: Any) -> bool:
    """Whether a step waits on something outside the script: a model, a tool, code execution."""
    if isinstance(step, p.AskStep | p.ChatStep | p.GroupStep):
        return True
    return any(w.startswith("@") or w in ("python", "exec") for w in step.writes)
