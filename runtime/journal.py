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

A call of a Python function (a python agent, a Python tool) is the
exception: it is local, cheap and usually determined by its arguments and
the state its module keeps (a counter, a board), so it runs again on resume
and replay, in the plan's order, rebuilding that state (`rerun`); its
result is still recorded, under a key taken like any other, so the keys of
the calls after it do not move. A function marked `parley_journal = True`
(one that acts outside the run: sends a mail, writes a file, reads the
clock) is served from the record like any effect (`is_journaled`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import attrs
from parley.dsl.errors import FailureKind, RunError
from parley.runtime.secrets import redact

if TYPE_CHECKING:
    from parley.runtime.context import StepContext

Key = tuple[str, int]

#: The attribute a Python function sets to be journaled instead of run again on resume and replay.
MARKER = "parley_journal"

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
    """Where live effects are written (the run store), committed before `write` returns. One whose writes
    reach the disk apart also has `async settle()`, awaited before the run goes on."""

    def write(self, key: Key, entry: Entry) -> None: ...


@attrs.define
class Journal:
    """The effects of one run: the record to serve from, and where new ones go."""

    mode: str = "live"  # live, resume or replay
    recorded: dict[Key, Entry] = attrs.field(factory=dict)
    recorder: Recorder | None = None
    served: int = 0  # calls answered from the record
    #: Says something about the run (a Python call whose result changed on resume): (the step, text).
    notify: Callable[[Any, str], None] | None = None

    async def effect(self, kind: str, request: Any, run: Callable[[], Awaitable[Any]], at: StepContext) -> Any:
        """The result of one call made at `at`: from the record when it holds this very call, else by running it.
        `request` is JSON data, or an attrs instance standing for its fields (a model request)."""
        key = at.cursor.next_key()
        entry = self.recorded.get(key)
        wanted = self._digest(kind, request, entry)
        if entry is not None and entry.kind == kind and entry.digest == wanted:
            self.served += 1
            return entry.result
        if self.mode == "replay":
            raise RunError(FailureKind.REPLAY, _mismatch(kind, _data(request), entry, key), at.span)
        try:
            result = await (_finished(run()) if kind in FINISHED_WHEN_STOPPED else run())
        except _Stopped as stopped:
            self._record(key, Entry(kind, wanted, stopped.result))
            raise asyncio.CancelledError from None
        self._record(key, Entry(kind, wanted, result))
        await self._settled()
        return result

    async def python(self, kind: str, request: Any, run: Callable[[], Awaitable[Any]], at: StepContext,
                     function: Any) -> Any:
        """A call of the Python function `function`: served from the record when the function is marked
        journaled (it acts outside the run, so it must not happen twice), else run again (`rerun`)."""
        if is_journaled(function):
            return await self.effect(kind, request, run, at)
        return await self.rerun(kind, request, run, at)

    async def rerun(self, kind: str, request: Any, run: Callable[[], Awaitable[Any]], at: StepContext) -> Any:
        """A local call run in every mode, so the state it keeps is rebuilt on resume as the first run built it.

        Its key is taken as any effect's and its result recorded, so the keys after it stay where they
        were. Against the record: a replay fails on a call or a result that differs; a resume goes on
        with the new result (the state that made it is the one the rest of the run meets), records it
        and says so, since the calls after it may then differ from the record and run live.
        """
        key = at.cursor.next_key()
        entry = self.recorded.get(key)
        wanted = self._digest(kind, request, entry)
        same_call = entry is not None and entry.kind == kind and entry.digest == wanted
        if self.mode == "replay" and not same_call:
            raise RunError(FailureKind.REPLAY, _mismatch(kind, _data(request), entry, key), at.span)
        stopped: _Stopped | None = None
        try:
            result = await _finished(run())
        except _Stopped as caught:
            stopped, result = caught, caught.result
        if same_call:
            assert entry is not None
            if _as_recorded(result) == entry.result:
                if stopped is not None:
                    raise asyncio.CancelledError from None
                return result
            if self.mode == "replay":
                raise RunError(FailureKind.REPLAY, _changed(kind, request, key, entry.result, result), at.span)
            if self.notify is not None:
                self.notify(at.step, _changed(kind, request, key, entry.result, result)
                            + ": the run goes on with the new one (mark the function `parley_journal = True` "
                            "if its result is to come from the record)")
        self._record(key, Entry(kind, wanted, result))
        if stopped is not None:
            raise asyncio.CancelledError from None
        await self._settled()
        return result

    def _digest(self, kind: str, request: Any, entry: Entry | None) -> str:
        """The request's digest when something needs it: a recorded entry to compare with, or a recorder
        to write it to (a run without a store hashes nothing)."""
        if entry is None and self.recorder is None:
            return ""
        return digest([kind, _data(request)])

    def _record(self, key: Key, entry: Entry) -> None:
        if self.recorder is not None:
            self.recorder.write(key, entry)

    async def _settled(self) -> None:
        """Wait until what `_record` wrote is on the disk, where the recorder syncs apart from writing."""
        settle = getattr(self.recorder, "settle", None)
        if settle is not None:
            await settle()


def is_journaled(function: Any) -> bool:
    """Whether a Python function asks to be journaled (`parley_journal = True` on it, or on the callable
    a bound method wraps) rather than run again on resume and replay."""
    return getattr(function, MARKER, False) is True


def _data(request: Any) -> Any:
    """A call's request as JSON data: an attrs instance (a model request) as its fields, made only when the
    journal compares or records it."""
    return attrs.asdict(request) if attrs.has(type(request)) else request


def _as_recorded(result: Any) -> Any:
    """A result as the store gives it back (JSON, secrets masked): what a recorded one is compared with."""
    return json.loads(redact(json.dumps(result, ensure_ascii=False, default=str)))


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
            "clock": "clock reading", "choice": "random choice",
            "python": "python agent's reply"}.get(kind, kind)
    if entry is None:
        return (f"the recorded run made no {what} here (step {key[0] or 'top'}, call {key[1] + 1}): the script now "
                "does more than when it was recorded")
    if entry.kind != kind:
        return f"the recorded run made a {entry.kind} call here, and this run a {what}: the script changed"
    return (f"this {what} differs from the recorded one (step {key[0]}, call {key[1] + 1}): "
            f"{_summary(request)}; record it again with a live run")


def _changed(kind: str, request: Any, key: Key, recorded: Any, result: Any) -> str:
    what = {"tool": "Python tool call", "python": "python agent's reply"}.get(kind, kind)
    return (f"this {what} gave another result than the recorded one (step {key[0] or 'top'}, call {key[1] + 1}): "
            f"{_summary(request)} gave {_summary(recorded)} then, {_summary(_as_recorded(result))} now")


def _summary(request: Any) -> str:
    text = json.dumps(request, default=str, ensure_ascii=False)
    return text if len(text) <= 160 else text[:157] + "..."
