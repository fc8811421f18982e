"""`parley batch --engine ray`: a batch's rows run on a Ray cluster; the driver alone writes the run store.

Rows run in a few asynchronous Ray actors (one per CPU of the cluster, each with many rows in flight on
its own event loop, so a row waiting on a model costs no process of its own). A row's run is recorded
in the driver's store as for the local engine: the driver starts (or resumes) the run's record before
sending the row, so a resume finds it. The actor runs the row against an in-memory store and sends each
journal entry to the driver as it is made (through a relay actor the driver drains), so a row in flight
when the batch is stopped resumes from its last call, as locally; when the row ends, the actor returns
its result, events, final status and whole journal, which the driver writes. A resumed row's journal
goes to the actor with it. Nothing else writes SQLite, so the store may be a local file while the
cluster is many machines.

Each actor keeps its own rate limits (`rpm`, `tpm`, `max_concurrency` of a model hold per actor); the
batch's `--concurrency` bounds rows in flight across the cluster. A script's Python modules and rules
files must be at the same paths on the workers (a local Ray shares the file system; on a cluster, ship
them with Ray's `runtime_env`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from parley.batch import RowResult, pick_up
from parley.dsl.errors import BudgetExceeded, HostError, RunError, UsageError

if TYPE_CHECKING:
    from parley.batch_ledger import BatchLedger
    from parley.program import Program

#: How often the driver writes the journal entries the actors sent.
DRAIN_EVERY = 0.1


class JournalRelay:
    """A Ray actor holding the journal entries actors send, until the driver takes them."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, Any, Any]] = []

    def put(self, run_id: str, key: Any, entry: Any) -> None:
        self.entries.append((run_id, key, entry))

    def take(self) -> list[tuple[str, Any, Any]]:
        taken, self.entries = self.entries, []
        return taken


class RowWorker:
    """A Ray actor that runs rows, many at once on its event loop, each against an in-memory store."""

    def __init__(self, relay: Any) -> None:
        self.relay = relay

    async def run(self, plan_json: str, script_path: str | None, number: int, values: dict[str, Any],
                  run_id: str, journal: list[tuple[Any, Any]] | None, options: dict[str, Any]) -> dict[str, Any]:
        from parley.compiler.serialize import plan_from_json
        from parley.program import Program
        from parley.runtime.recording import plan_sha256

        program = Program(plan_from_json(plan_json, validate=False), (), {}, script_path)
        store = _relaying_store(self.relay)
        if journal is not None:  # a resumed row: its run as the driver's store has it, so far
            store.start_run(program.plan.file, program.plan.source_sha256, program.plan.version, values,
                            plan_sha256=plan_sha256(program.plan), run_id=run_id)
            for key, entry in journal:
                store.write_effect(run_id, tuple(key), entry)
            store.finish_run(run_id, "interrupted", {})
        result = await _run(program, number, values, run_id, journal is not None, {**options, "store": store})
        record = store.run(run_id)
        return {"row": result.as_json(), "status": record["status"] if record else "failed",
                "error": record["error"] if record else None, "events": store.events(run_id),
                "journal": list(store.journal(run_id).items())}


def _relaying_store(relay: Any) -> Any:
    from parley.runtime.store import Store

    class RelayingStore(Store):
        """An in-memory store that also sends each journal entry to the driver as it is written."""

        def write_effect(self, run_id: str, key: Any, entry: Any, durable: bool = True) -> None:
            super().write_effect(run_id, key, entry, durable)
            relay.put.remote(run_id, key, entry)  # not awaited: ordered per actor, and the row's end repeats all

    return RelayingStore(":memory:")


async def _run(program: Program, number: int, values: dict[str, Any], run_id: str, resume: bool,
               options: dict[str, Any]) -> RowResult:
    try:
        result = await program.run_async(None if resume else values, resume=run_id if resume else None,
                                         run_id=None if resume else run_id, **options)
    except (RunError, HostError) as failed:
        from parley.batch import _error

        partial = failed.result
        return RowResult(number, values, "budget" if isinstance(failed, BudgetExceeded) else "failed",
                         output=getattr(partial, "output", None), outputs=list(getattr(partial, "outputs", None) or []),
                         usage=dict(getattr(partial, "usage", None) or {}), run_id=run_id, error=_error(failed))
    return RowResult(number, values, "done", output=result.output, outputs=list(result.outputs),
                     usage=dict(result.usage), run_id=run_id)


class RayRunner:
    """Runs rows on Ray (a `RowRunner`): the driver's side."""

    def __init__(self, ray: Any, workers: list[Any], relay: Any, started_ray: bool) -> None:
        self.ray, self.workers, self.relay, self.started_ray = ray, workers, relay, started_ray
        self._next = itertools.cycle(workers)
        self._draining: asyncio.Task[None] | None = None
        self._stores: dict[str, Any] = {}  # run id -> the driver's store its relayed entries go to

    @classmethod
    def connect(cls, concurrency: int) -> RayRunner:
        """Join the cluster `RAY_ADDRESS` names, or start a local Ray (when no Ray is running in this process)."""
        try:
            import ray
        except ImportError:
            raise UsageError("--engine ray needs Ray: pip install 'parley-lang[ray]'") from None
        started = False
        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS") or None
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
            except Exception as error:  # noqa: BLE001 - Ray's many errors for a cluster it cannot reach or start
                where = f"the Ray cluster at {address} (RAY_ADDRESS)" if address else "a local Ray"
                raise UsageError(f"cannot start {where}: {str(error).strip() or type(error).__name__}") from None
            started = True
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        count = max(1, min(cpus, concurrency))
        relay = ray.remote(num_cpus=0)(JournalRelay).remote()
        actor = ray.remote(num_cpus=0, max_restarts=0)(RowWorker)
        per_worker = -(-concurrency // count)
        workers = [actor.options(max_concurrency=per_worker).remote(relay) for _ in range(count)]
        return cls(ray, workers, relay, started)

    async def __call__(self, program: Program, number: int, values: dict[str, Any], run_id: str | None,
                       ledger: BatchLedger | None, options: dict[str, Any]) -> RowResult:
        from parley.runtime.recording import RecordError, Recording, compact_plan_json
        from parley.runtime.store import new_run_id

        if self._draining is None:
            self._draining = asyncio.ensure_future(self._drain())
        store = options.get("store")
        journal = None
        picked = pick_up(store, number, values, run_id)
        if isinstance(picked, RowResult):
            return picked
        if picked is not None:
            try:
                recording = Recording.resume(store, run_id, program.plan)
            except RecordError as error:
                return RowResult(number, values, "failed", run_id=run_id,
                                 error={"kind": "usage", "message": str(error), "line": None})
            recording.restart(program.plan)
            journal, values = list(recording.journal.recorded.items()), recording.inputs
        else:
            if run_id is None:
                run_id = new_run_id()
                if ledger is not None:
                    ledger.run_started(number, run_id)
            model = options.get("model")
            recording = Recording.start(store, program.plan, values, model if isinstance(model, str) else None,
                                        options.get("base_url"), program.path, run_id) if store is not None else None
        if store is not None:
            self._stores[run_id] = store
        sent = {k: v for k, v in options.items() if k in ("model", "base_url", "allow_code", "limits", "seed",
                                                          "max_retries", "timeout", "cache")}
        task = next(self._next).run.remote(compact_plan_json(program.plan), program.path, number, values, run_id, journal, sent)
        try:
            answer = await task
        except asyncio.CancelledError:  # the batch was stopped: so is the row's task; its run can resume
            with contextlib.suppress(Exception):
                self.ray.cancel(task)
            if recording is not None:
                recording.finish("interrupted", {}, "interrupted")
            raise
        except Exception as error:  # noqa: BLE001 - the actor or its process failed (Ray's errors carry its traceback)
            message = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            if recording is not None:
                recording.finish("failed", {}, message)
            return RowResult(number, values, "failed", run_id=run_id,
                             error={"kind": "engine", "message": f"the Ray task failed: {message}", "line": None})
        if store is not None:
            for key, entry in answer["journal"]:
                store.write_effect(run_id, tuple(key), entry)
            for event in answer["events"]:
                store.record(run_id, SimpleNamespace(**event))
            row = answer["row"]
            store.finish_run(run_id, answer["status"], row["usage"] or {}, answer["error"])
        return RowResult.from_json(answer["row"])

    async def _drain(self) -> None:
        """Write the journal entries the actors relayed, as they come (so a stopped batch keeps them)."""
        while True:
            await asyncio.sleep(DRAIN_EVERY)
            self._write(await self.relay.take.remote())

    def _write(self, entries: list[tuple[str, Any, Any]]) -> None:
        for run_id, key, entry in entries:
            store = self._stores.get(run_id)
            if store is not None:
                store.write_effect(run_id, tuple(key), entry)

    def close(self) -> None:
        if self._draining is not None:
            self._draining.cancel()
        with contextlib.suppress(Exception):
            self._write(self.ray.get(self.relay.take.remote(), timeout=5))
        for worker in self.workers:
            with contextlib.suppress(Exception):
                self.ray.kill(worker)
        with contextlib.suppress(Exception):
            self.ray.kill(self.relay)
        if self.started_ray:
            self.ray.shutdown()
