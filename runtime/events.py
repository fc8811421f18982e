"""Events: every turn, tool call, retry, human input and error of a run, with its step and source line."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import attrs


@attrs.frozen(kw_only=True)
class Event:
    """Something that happened in a run.

    `kind`: run_start, turn, tool_call, tool_error, retry, human_input, print,
    output, conversation_stop, error, run_end. `step` is the plan step's id,
    `line`/`file` its source; `data` the details (speaker, text, usage…).
    """

    kind: str
    step: str | None
    file: str | None
    line: int | None
    time: float
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


#: Receives events as they happen (the console view, a JSONL trace, the host program).
EventSink = Callable[[Event], None]


def make_event(kind: str, step: Any, **data: Any) -> Event:
    span = getattr(step, "span", None)
    return Event(
        kind=kind, step=getattr(step, "id", None), file=getattr(span, "file", None), line=getattr(span, "line", None),
        time=time.time(), data=data,
    )
