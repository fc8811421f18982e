"""The one error hierarchy, split by audience.

- `ScriptError`: the script is wrong (syntax, names, types), found before a
  token is spent. Carries diagnostics; the user fixes the script.
- `PlanError`: a plan file (JSON) is damaged or refers to what it does not declare.
- `RunError`: the script failed at run time (a model unreachable, a budget
  spent, a reply that never fit its type). Names the step's source line;
  `kind` (a `FailureKind`) says why and carries the exit status.
- `UsageError`: the Python API or the command line was used wrongly.
- `HostError`: the host program's own code (an `on_event` or `human`
  callback, a tool or Python agent it passed in) raised. The original
  exception is `__cause__`; it is the host's bug, not the script's.
- `InternalError`: a bug in Parley itself; it says so and asks for a report.

Nothing is turned into a script error because of its exception type: each
error is raised by the code that knows whose mistake it is. This module is
a dependency-free leaf: the runtime imports it without loading the parser.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parley.dsl.diagnostics import Diagnostic
    from parley.dsl.source import Source, Span


class FailureKind(enum.Enum):
    """Why a run stopped, and the exit status `parley run` gives it."""

    #: An input value is missing, unknown or not of its declared type.
    INPUT = ("input", 2)
    #: The script's data did not fit what it did with it (`for i in 5`, a key that is not there).
    VALUE = ("value", 3)
    #: A model could not be reached or refused the request.
    MODEL = ("model", 3)
    #: An agent's reply never fit what was asked (a type, yes or no) within the retries.
    REPLY = ("reply", 3)
    #: A person could not be asked, or gave no answer.
    HUMAN = ("human", 3)
    #: A Python tool or agent of the script raised.
    PYTHON = ("python", 3)
    #: A tool server (MCP) could not be started, or stopped while the run needed it.
    TOOL = ("tool", 3)
    #: Code run by an executor agent could not run.
    CODE = ("code", 3)
    #: A replayed run made a call its record does not have.
    REPLAY = ("replay", 3)
    #: The host program's own code raised (see `HostError`).
    HOST = ("host", 3)
    #: A budget (turns, tokens, cost, time) ran out: the run stopped cleanly.
    BUDGET = ("budget", 4)
    #: Parley itself failed (see `InternalError`).
    INTERNAL = ("internal", 70)
    #: The run was interrupted (Ctrl-C, SIGTERM, cancelled).
    INTERRUPTED = ("interrupted", 130)

    def __init__(self, label: str, exit_code: int) -> None:
        self.label = label
        self.exit_code = exit_code

    @classmethod
    def named(cls, label: str) -> FailureKind:
        """The kind whose label is `label` (as stored in a run's record)."""
        for kind in cls:
            if kind.label == label:
                return kind
        raise ValueError(f"no failure kind {label!r}")

    def __str__(self) -> str:
        return self.label


class ParleyError(Exception):
    """Base of every error Parley raises on purpose."""

    #: What `parley` exits with when this error ends a command.
    exit_code: int = 1


class ScriptError(ParleyError):
    """A script has errors; `diagnostics` lists them (warnings included), `sources` renders them."""

    exit_code = 1

    def __init__(self, diagnostics: Sequence[Diagnostic], sources: Mapping[str, Source]) -> None:
        from parley.dsl.diagnostics import tally

        self.diagnostics = tuple(diagnostics)
        self.sources = dict(sources)
        errors, _ = tally(self.diagnostics)
        super().__init__(f"{errors} error{'s' if errors != 1 else ''} in script")

    def render(self, color: bool = False) -> str:
        """Every diagnostic, rendered with its source line and caret."""
        from parley.dsl.diagnostics import render_all

        return render_all(self.diagnostics, self.sources, color)

    def __str__(self) -> str:
        return self.render()


class PlanError(ParleyError):
    """A plan (a JSON file, or data built by hand) is damaged or refers to something it does not declare."""

    exit_code = 1


class UsageError(ParleyError):
    """The Python API or the command line was used wrongly (not a problem in the script)."""

    exit_code = 2


class RunError(ParleyError):
    """The script failed at run time: the message names the step's source line.

    `kind` says why and gives `exit_code`; `span` is the step that was
    running (None before the first step); `result` holds what the run did
    before it stopped (outputs, printed lines, events, usage) once the run
    is over.
    """

    def __init__(self, kind: FailureKind, message: str, span: Span | None = None, result: Any = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.span = span
        self.result = result

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return self.kind.exit_code

    def located(self, span: Span | None) -> RunError:
        """This error, placed at `span` unless an inner step already placed it."""
        if self.span is None:
            self.span = span
        return self

    def __str__(self) -> str:
        where = f"{self.span.file}:{self.span.line}: " if self.span is not None else ""
        return f"{where}{self.message}"


class BudgetExceeded(RunError):
    """A budget ran out: the run stops cleanly."""

    def __init__(self, message: str, span: Span | None = None, result: Any = None) -> None:
        super().__init__(FailureKind.BUDGET, message, span, result)


class HostError(ParleyError):
    """The host program's code raised: `__cause__` is the original exception, `what` names the hook.

    Parley did not cause it and the script did not either; the host's
    traceback is kept (`parley --debug` shows it).
    """

    exit_code = FailureKind.HOST.exit_code

    def __init__(self, what: str, error: BaseException, span: Span | None = None, result: Any = None) -> None:
        self.what = what
        self.span = span
        self.result = result
        where = f"{span.file}:{span.line}: " if span is not None else ""
        super().__init__(f"{where}{what} raised {type(error).__name__}: {error}")
        self.__cause__ = error


class InternalError(ParleyError):
    """A bug in Parley: something that should be impossible happened."""

    exit_code = FailureKind.INTERNAL.exit_code

    def __init__(self, what: str, result: Any = None) -> None:
        self.result = result
        super().__init__(
            f"internal error: {what}\n"
            "This is a bug in Parley, not in your script. Please report it with the script that caused it "
            "(run with --debug for the traceback)."
        )
