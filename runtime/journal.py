"""The effect journal: every call with an outside effect, keyed by where in the plan it happened.

A key is (step path, call index). The path names the steps from the plan's
root to the running one, each with its visit number (`s4.0/s6.2` is the
third visit of step s6 inside the first visit of s4: a loop's third round), and
def calls add `callee.n`. The index counts effects within that step. So the
same call gets the same key however concurrent branches interleave, which is
what lets a resumed run find the results of the calls it already made.

Modes: `live` records each effect, committed before the run moves on;
`resume` serves recorded effects whose request is unchanged and runs the
others live (recording them); `replay` serves everything from the record and
fails, naming the step, on any call the record does not have as it is now.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from parley.dsl.errors import FailureKind, RunError

if TYPE_CHECKING:
    from parley.runtime.context import StepContext

Key = tuple[str, int]

#: Calls that run to their end even when the run stops meanwhile (they run in a thread or a subprocess,
#: and cannot be called back): their results are journaled, so a resume does not repeat them. A model
#: request is cancelled at once instead (a resume asks again), and a person's answer is not waited for.
FINISHED_WHEN_STOPPED = frozenset({"tool", "code", "python"})


@attrs.define
class Cursor:
    """Where a task is in the plan: the step path, and counters of visits and effects under it."""

    path: str
    effects: int = 0
    visits: dict[str, int] = attrs.field(factory=dict)

    def child(self, name: str) -> Cursor:
        """The cursor of the next visit of `name` (a step id or a def) under this one."""
        visit = self.visits.get(name, 0)
        self.visits[name] = visit + 1
        return Cursor(f"{self.path}/{name}.{visit}" if self.path else f"{name}.{visit}")

    def next_key(self) -> Key:
        index = self.effects
        self.effects += 1
        return self.path, index


def digest(data: Any) -> str:
    """A hash of a call's request: what must be equal for a recorded result to stand for a new call."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:32]


@attrs.frozen
class Entry:
    """One recorded effect: its kind, the digest of its request, and its result as JSON."""

    kind: str
    digest: str
    result: Any


class Recorder(Protocol):
    """Where live effects are written (the run store), committed before `write` returns."""

    def write(self, key: Key, entry: Entry) -> None: ...


@attrs.define
class Journal:
    """The effects of one run: the record to serve from, and where new ones go."""

    mode: str = "live"  # live, resume or replay
    recorded: dict[Key, Entry] = attrs.field(factory=dict)
    recorder: Recorder | None = None
    served: int = 0  # calls answered from the record

    async def effect(self, kind: str, request: Any, run: Callable[[], Awaitable[Any]], at: StepContext) -> Any:
        """The result of one call made at `at`: from the record when it holds this very call, else by running it."""
        key = at.cursor.next_key()
        wanted = digest([kind, request])
        entry = self.recorded.get(key)
        if entry is not None and entry.kind == kind and entry.digest == wanted:
            self.served += 1
            return entry.result
        if self.mode == "replay":
            raise RunError(FailureKind.REPLAY, _mismatch(kind, request, entry, key), at.span)
        try:
            result = await (_finished(run()) if kind in FINISHED_WHEN_STOPPED else run())
        except _Stopped as stopped:
            self._record(key, Entry(kind, wanted, stopped.result))
            raise asyncio.CancelledError from None
        self._record(key, Entry(kind, wanted, result))
        return result

    def _record(self, key: Key, entry: Entry) -> None:
        if self.recorder is not None:
            self.recorder.write(key, entry)


async def _finished(call: Awaitable[Any]) -> Any:
    """Run `call` to its end even if the run is stopped meanwhile (a step beside it failed, Ctrl-C): a tool
    already running in its thread cannot be called back, so its result is kept (journaled by the caller
    before the stop goes on) and a resume does not run it a second time."""
    task = asyncio.ensure_future(call)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        try:
            result = await task
        except BaseException:  # noqa: BLE001 - the stop goes on whatever the call did
            raise asyncio.CancelledError from None
        raise _Stopped(result) from None


class _Stopped(asyncio.CancelledError):
    """A stop that came while a call ran to its end: carries the call's result to be journaled."""

    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


def _mismatch(kind: str, request: Any, entry: Entry | None, key: Key) -> str:
    what = {"model": "model request", "tool": "tool call", "human": "person's answer", "code": "code run",
            "clock": "clock reading", "choice": "random choice"}.get(kind, kind)
    if entry is None:
        return (f"the recorded run made no {what} here (step {key[0] or 'top'}, call {key[1] + 1}): the script now "
                "does more than when it was recorded")
    if entry.kind != kind:
        return f"the recorded run made a {entry.kind} call here, and this run a {what}: the script changed"
    return (f"this {what} differs from the recorded one (step {key[0]}, call {key[1] + 1}): "
            f"{_summary(request)}; record it again with a live run")


def _summary(request: Any) -> str:
    text = json.dumps(request, default=str, ensure_ascii=False)
    return text if len(text) <= 160 else text[:157] + "..."
