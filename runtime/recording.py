"""A run's record in the store: how a run starts, resumes or replays, and how it ends.

A new run gets a fresh record (with the plan it runs) and a live journal. A
resumed run keeps its id and its journal (its events are written anew as it
re-executes), after checking that the script and plan are what they were. A
replay reads a record and writes nothing: it is a check that the script still
makes exactly the calls it made then. A run whose script is gone is resumed
or replayed from the plan its record keeps (`stored_plan`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import weakref
from typing import Any

import attrs
from parley.compiler import plan as p
from parley.compiler.serialize import plan_from_json, plan_to_json
from parley.dsl.errors import PlanError
from parley.runtime.journal import Entry, Journal, Key
from parley.runtime.models import ModelReply, ModelRequest, TokenSink
from parley.runtime.processes import alive
from parley.runtime.secrets import name_secrets, plan_secret_names
from parley.runtime.store import Store

#: Run statuses a resume can pick up (`died`: `running`, but its process is gone; `running` only once its
#: process is gone too, e.g. a run of this very process that never said how it ended).
RESUMABLE = ("failed", "interrupted", "budget", "died", "running")


#: Events for the live view only: not worth a write (the `turn` that follows says it all).
EPHEMERAL = frozenset({"reply_start"})


class RecordError(Exception):
    """A run cannot be resumed or replayed as asked (no such run, finished, still running, changed)."""


def plan_sha256(plan: p.Plan) -> str:
    """A hash of the whole plan, imports included: a resume refuses a plan that changed."""
    return _plan_texts(plan)[0]


def compact_plan_json(plan: p.Plan) -> str:
    """The plan as one line of JSON, as each run's record keeps it."""
    return _plan_texts(plan)[1]


#: Per plan (by identity, while it lives): its hash and compact JSON. A plan is immutable, and a batch
#: records a run of the same plan per row: made once, not per run.
_texts: dict[int, tuple[weakref.ref[p.Plan], str, str]] = {}


def _plan_texts(plan: p.Plan) -> tuple[str, str]:
    found = _texts.get(id(plan))
    if found is None or found[0]() is not plan:
        key = id(plan)
        digest = hashlib.sha256(plan_to_json(plan).encode()).hexdigest()
        found = _texts[key] = (weakref.ref(plan, lambda _: _texts.pop(key, None)), digest,
                               plan_to_json(plan, indent=None))
    return found[1], found[2]


@attrs.define
class _StoreRecorder:
    store: Store
    run_id: str

    def write(self, key: Key, entry: Entry) -> None:
        """Commit the entry at once; on the disk by the time `settle` returns (in a running event loop, the
        runs in flight share one sync of the disk), else before this returns."""
        self.store.write_effect(self.run_id, key, entry, durable=not loop_running())

    async def settle(self) -> None:
        await self.store.synced()


def loop_running() -> bool:
    """Whether this thread is running an event loop now."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@attrs.define
class Recording:
    """One run being written to the store: its events as they happen, then its end."""

    store: Store
    run_id: str
    journal: Journal
    inputs: dict[str, Any]
    model: str | None = None  # the run's own `--model` and server, used again on resume
    base_url: str | None = None

    @classmethod
    def start(cls, store: Store, plan: p.Plan, inputs: dict[str, Any], model: str | None,
              base_url: str | None = None, script_path: str | None = None,
              run_id: str | None = None) -> Recording:
        """A new run of `plan`; `script_path` is the file it was loaded from (a plan file, say), if not
        its script `plan.file`: a resume without a file runs that file again."""
        run_id = store.start_run(plan.file, plan.source_sha256, plan.version, inputs,
                                 script_path=os.path.abspath(script_path or plan.file), plan_sha256=plan_sha256(plan),
                                 model=model, base_url=base_url, plan=compact_plan_json(plan),
                                 run_id=run_id)
        return cls(store, run_id, Journal("live", recorder=_StoreRecorder(store, run_id)), inputs, model, base_url)

    @classmethod
    def resume(cls, store: Store, run_id: str, plan: p.Plan, force: bool = False) -> Recording:
        """Pick up run `run_id`: its journaled calls are served, the rest run live. Nothing is written
        until `restart` (a resume that fails before it starts leaves the run as it was)."""
        found = recorded_run(store, run_id)
        if found["status"] == "done":
            raise RecordError(f"run {found['id']} finished; nothing to resume (`--replay {found['id']}` runs it "
                              "again from its record)")
        if found["status"] not in RESUMABLE:
            raise RecordError(f"run {found['id']} is {found['status']}; only failed, interrupted, budget-stopped "
                              "or killed runs resume")
        if found["status"] == "running" and _alive(found):
            raise RecordError(f"run {found['id']} is still running (process {found['pid']}); stop it first")
        digest = plan_sha256(plan)
        if not force and found["plan_sha256"] not in (None, digest):
            what = ("the script" if found["script_sha256"] != plan.source_sha256
                    else "the script's name" if found["script"] != plan.file else "the plan (an import)")
            raise RecordError(f"{what} changed since run {found['id']}: resuming would mix two scripts; "
                              "use --force to resume anyway (calls that changed run live)")
        journal = Journal("resume", store.journal(found["id"]), _StoreRecorder(store, found["id"]))
        inputs = store.decoded(found["inputs"], f"the inputs of run {found['id']}")
        return cls(store, found["id"], journal, inputs, found["model"], found["base_url"])

    def restart(self, plan: p.Plan) -> None:
        """Mark a resumed run `running` again, in this process, with `plan`: it is about to start."""
        self.store.restart_run(self.run_id, plan_sha256(plan), compact_plan_json(plan))

    def on_event(self, event: Any) -> None:
        if event.kind not in EPHEMERAL:
            self.store.record(self.run_id, event)

    def finish(self, status: str, usage: dict[str, Any], error: str | None = None) -> None:
        self.store.finish_run(self.run_id, status, usage, error)


def replay_journal(store: Store, run_id: str) -> tuple[Journal, dict[str, Any], str | None]:
    """The record of run `run_id` as a replay journal, with the run's inputs and `--model`."""
    found = recorded_run(store, run_id)
    inputs = store.decoded(found["inputs"], f"the inputs of run {found['id']}")
    return Journal("replay", store.journal(found["id"])), inputs, found["model"]


def stored_plan(store: Store, run_id: str) -> p.Plan | None:
    """The plan run `run_id` ran, as its record keeps it (validated); None when the record keeps none
    (recorded by an older Parley, or its plan held a secret); `PlanError` when it is damaged."""
    found = recorded_run(store, run_id)
    text = store.plan(found["id"])
    if text is None:
        return None
    plan = plan_from_json(text)
    if found["plan_sha256"] is not None and plan_sha256(plan) != found["plan_sha256"]:
        raise PlanError(f"the plan stored with run {found['id']} is not the one it ran (its hash differs)")
    return plan


def recorded_run(store: Store, run_id: str) -> dict[str, Any]:
    found = store.run(run_id)
    if found is None:
        raise RecordError(f"no single run matches {run_id!r} in {store.path}; `parley runs` lists them")
    name_secrets(plan_secret_names(store.plan(found["id"])))  # what shows the run masks its models' keys too
    return found


def _alive(run: dict[str, Any]) -> bool:
    """Whether the process that ran `run` is still there (on this machine; elsewhere, assume so), other
    than this one (a run of this process that is not going on any more, it never said how it ended)."""
    if run["pid"] is not None and int(run["pid"]) == os.getpid() and run["host"] == socket.gethostname():
        return False
    return alive(run["host"], run["pid"], run.get("process_start"))


class OfflineModel:
    """The model of a replay: every reply comes from the record, so reaching this is a mismatch."""

    async def complete(self, request: ModelRequest, on_token: TokenSink | None = None) -> ModelReply:
        raise RecordError("a replay makes no model requests")  # pragma: no cover - the journal answers first
