"""`select by NAME`: a def or Python function of the script picks a group's next speaker.

It is called as `NAME(thread, members)` before each choice after the opening's answer. A def gets
the thread as a Parley thread; a Python function gets it as `{"sender", "role", "content"}` dicts
(the opening from `script` as `user`, each member's message as `assistant`), a copy of its own.
It returns a member's name, or none to leave the choice to the group's `select` mode (`auto`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parley.compiler import plan as p
from parley.dsl.errors import FailureKind, RunError
from parley.runtime.python_thread import SCRIPT
from parley.runtime.values import Thread

if TYPE_CHECKING:
    from parley.runtime.context import StepContext
    from parley.runtime.executor import Executor


def as_dicts(thread: Thread, opening: str) -> list[dict[str, str]]:
    """The group's conversation as a Python function reads it."""
    said = [{"sender": s.speaker, "role": "assistant", "content": s.text} for s in thread.messages]
    return [{"sender": SCRIPT, "role": "user", "content": opening}, *said]


async def pick_by(step: p.GroupStep, callee: str, thread: Thread, opening: str, candidates: list[str],
                  run: Executor, at: StepContext) -> str | None:
    """The speaker `callee` picks among `candidates` (those `flow` allows), or None to let the mode pick."""
    members = list(step.members)
    is_def = any(d.name == callee for d in run.plan.defs)
    argument: Any = thread if is_def else as_dicts(thread, opening)
    chosen = await run.call(callee, "def" if is_def else "tool", [argument, members], {}, at)
    if chosen is None:
        return None
    if not isinstance(chosen, str):
        raise RunError(FailureKind.VALUE, f"`select by {callee}` returned {type(chosen).__name__} `{chosen}`, "
                       f"not a member's name or none", at.span)
    name = chosen.strip()
    if name not in members:
        raise RunError(FailureKind.VALUE, f"`select by {callee}` chose `{name}`, who is not a member of the "
                       f"group ({', '.join(members)})", at.span)
    if name not in candidates:
        raise RunError(FailureKind.VALUE, f"`select by {callee}` chose `{name}`, whom `flow` does not allow "
                       f"to speak next ({', '.join(candidates)})", at.span)
    return name


__all__ = ["as_dicts", "pick_by"]
