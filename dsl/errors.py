"""The error hierarchy, split by audience.

- `ScriptError`: the script is wrong (syntax, names, types). Carries
  diagnostics; the user fixes the script.
- `RunError`: the run failed (model unreachable, budget spent, tool raised).
- `UsageError`: the host program misused the Python API.
- `InternalError`: a bug in Parley itself; it says so and asks for a report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dsl.diagnostics import Diagnostic, render_all
from dsl.source import Source


class ParleyError(Exception):
    """Base of every error Parley raises on purpose."""


class ScriptError(ParleyError):
    """A script has errors; `diagnostics` lists them (warnings included), `sources` renders them."""

    def __init__(self, diagnostics: Sequence[Diagnostic], sources: Mapping[str, Source]) -> None:
        self.diagnostics = tuple(diagnostics)
        self.sources = dict(sources)
        errors = sum(d.is_error for d in self.diagnostics)
        super().__init__(f"{errors} error{'s' if errors != 1 else ''} in script")

    def render(self, color: bool = False) -> str:
        """Every diagnostic, rendered with its source line and caret."""
        return render_all(self.diagnostics, self.sources, color)

    def __str__(self) -> str:
        return self.render()


class RunError(ParleyError):
    """A run failed: the message names the step's source line.

    `kind` says why (`budget`, `model_unreachable`, `reply`, `input`, …);
    `exit_code` is what `parley run` exits with; `result` holds what the run
    did before it stopped (outputs, printed lines, events, usage).
    """

    def __init__(self, message: str, kind: str = "run", exit_code: int = 3, result: Any = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.exit_code = exit_code
        self.result = result


class UsageError(ParleyError):
    """The Python API was called wrongly (not a problem in the script)."""


class InternalError(ParleyError):
    """A bug in Parley: something that should be impossible happened."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"internal error: {what}\n"
            "This is a bug in Parley, not in your script. Please report it with the script that caused it."
        )
