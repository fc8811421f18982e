"""Where a task is in a run: passed down as an argument, never kept in a context variable.

Each step runs with its own `StepContext`: the step (events and failures
name its source line, asks inside its expressions report it), the journal
`Cursor` under which its effects are keyed, and whether it runs beside
other steps (then replies are shown whole instead of streamed into each
other). Concurrent branches get their own contexts, made in plan order
before any of them starts, so keys never depend on scheduling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from parley.runtime.journal import Cursor

if TYPE_CHECKING:
    from parley.compiler import plan as p
    from parley.dsl.source import Span


@attrs.frozen
class StepContext:
    """The running step (None at the top, before the first one), its journal cursor, and `together`."""

    step: p.Step | None
    cursor: Cursor
    together: bool = False
    #: The threads with the agents, when they are not the run's own: a `parallel for` iteration's.
    threads: dict[str, list[Any]] | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def root(cls) -> StepContext:
        """The context of a run's top level: the plan's root in the journal."""
        return cls(None, Cursor(""))

    @property
    def span(self) -> Span | None:
        return self.step.span if self.step is not None else None

    def entering(self, step: p.Step) -> StepContext:
        """The context of the next visit of `step`, run from this one."""
        return StepContext(step, self.cursor.child(step.id), self.together, self.threads)

    def calling(self, callee: str) -> StepContext:
        """The context of the body of a call of the def `callee` (the calling step stays the one reported)."""
        return StepContext(self.step, self.cursor.child(f"{callee}()"), self.together, self.threads)

    def beside_others(self) -> StepContext:
        """This context, for a step that runs at once with others (a concurrent group, a `parallel:` branch)."""
        return attrs.evolve(self, together=True)
