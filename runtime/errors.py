"""Run failures: what stopped a run, and where in the script.

The runtime cannot see `dsl` (the public API wraps these into its own
`RunError`); every failure carries the span of the step that was running.
"""

from __future__ import annotations

from typing import Any


class RunFailure(Exception):
    """A run stopped: `kind` names why (model, budget, tool, input, value…); `span` is the step's source."""

    def __init__(self, kind: str, message: str, span: Any = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.span = span

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return 2 if self.kind == "input" else 3

    def located(self, span: Any) -> RunFailure:
        if self.span is None:
            self.span = span
        return self

    def __str__(self) -> str:
        where = f"{self.span.file}:{self.span.line}: " if self.span is not None else ""
        return f"{where}{self.message}"


class BudgetExceeded(RunFailure):
    """A budget ran out: the run stops cleanly."""

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return 4
