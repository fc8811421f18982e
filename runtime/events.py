"""Events: every turn, tool call, retry, human input and error of a run, with its step and source line.

The kinds form a closed set (`EventKind`), and each kind declares its data
fields (`FIELDS`): the console, the store, traces and host programs read
them by name, so an event the runtime makes with an unknown kind or field is
a bug in Parley, caught where it is made (`InternalError`). Every kind and
field is documented in docs/embedding.md (a test keeps the two in step).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, get_args

import attrs
from parley.dsl.errors import InternalError

EventKind = Literal[
    "run_start", "run_end", "error", "notice", "print", "output",
    "reply_start", "model_call", "cached", "turn", "retry",
    "tool_call", "tool_result", "tool_error", "human_input", "code", "conversation_start", "conversation_stop",
    "handoff",
]


@attrs.frozen
class Fields:
    """The data fields of one event kind: those every such event has (`always`) and those some have."""

    always: frozenset[str]
    sometimes: frozenset[str] = frozenset()

    @property
    def declared(self) -> frozenset[str]:
        return self.always | self.sometimes


def _fields(always: str, sometimes: str = "") -> Fields:
    return Fields(frozenset(always.split()), frozenset(sometimes.split()))


#: Each kind's data fields (what they mean: docs/embedding.md, "Events").
FIELDS: Mapping[EventKind, Fields] = {
    "run_start": _fields("file run"),
    "run_end": _fields("usage"),
    "error": _fields("reason message"),
    "notice": _fields("text"),
    "print": _fields("text"),
    "output": _fields("value"),
    "reply_start": _fields("agent streamed"),
    "model_call": _fields("agent provider model response_model input_tokens output_tokens finish_reason seconds "
                          "cached journaled cost"),
    "cached": _fields("agent model"),
    "turn": _fields("agent text cached journaled", "tokens conversation"),
    "retry": _fields("", "what agent model problem attempt tries wait reason reply"),
    "tool_call": _fields("agent tool arguments call_id"),
    "tool_result": _fields("tool call_id seconds"),
    "tool_error": _fields("tool error", "call_id seconds"),
    "human_input": _fields("agent text", "seconds conversation mode"),
    "code": _fields("agent language exit_code"),
    "conversation_start": _fields("conversation members max_turns select"),
    "conversation_stop": _fields("reason turns"),
    "handoff": _fields("agent to conversation ignored"),
}
assert set(FIELDS) == set(get_args(EventKind)), "every event kind declares its fields"

# What `make_event` checks, flattened for speed: the declared fields, and those always present.
_DECLARED = {kind: fields.declared for kind, fields in FIELDS.items()}
_ALWAYS = {kind: fields.always for kind, fields in FIELDS.items()}


@attrs.frozen(kw_only=True)
class Event:
    """Something that happened in a run.

    `kind`: one of `EventKind`; `step` is the plan step's id, `line`/`file`
    its source; `data` the details, with the fields `FIELDS` declares for
    the kind (speaker, text, usage…).
    """

    kind: EventKind
    step: str | None
    file: str | None
    line: int | None
    time: float
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


#: Receives events as they happen (the console view, a JSONL trace, the host program).
EventSink = Callable[[Event], None]


def make_event(kind: EventKind, step: Any, **data: Any) -> Event:
    """An event of `kind` at `step` (a plan step, or None for the run itself) with `data` as its fields.

    `step` may also be the `StepContext` the event happens in: then `data` gets `path` too, the
    step's visit under the steps around it (its journal cursor), which tells apart the same step
    run in concurrent branches and nests the event in a trace (runtime/span_tree.py).

    Raises `InternalError` for a kind or a field not declared in `FIELDS`, or a field it always has missing."""
    declared = _DECLARED.get(kind)
    if declared is None or not data.keys() <= declared or not _ALWAYS[kind] <= data.keys():
        raise InternalError(_misfit(kind, data))
    cursor = getattr(step, "cursor", None)
    if cursor is not None:  # a StepContext: its step, and where in the run
        data["path"] = cursor.path
        step = step.step
    span = getattr(step, "span", None)
    return Event(
        kind=kind, step=getattr(step, "id", None), file=getattr(span, "file", None), line=getattr(span, "line", None),
        time=time.time(), data=data,
    )


def _misfit(kind: str, data: Mapping[str, Any]) -> str:
    """What is wrong with an event the runtime tried to make."""
    fields = FIELDS.get(kind)  # type: ignore[call-overload]
    if fields is None:
        return f"an event of unknown kind {kind!r} (the kinds: {', '.join(FIELDS)})"
    extra = sorted(set(data) - fields.declared)
    if extra:
        return f"a {kind!r} event with undeclared field(s) {', '.join(extra)}"
    return f"a {kind!r} event without its field(s) {', '.join(sorted(fields.always - set(data)))}"
