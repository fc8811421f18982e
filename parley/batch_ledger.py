"""A batch's record in the run store, so that a batch stopped part-way resumes.

The ledger holds what the batch ran (the script's plan, the rows file and its
hash, the command's settings) and, per row, the id of its run as soon as the
run starts and its result once it ends. `parley batch --resume ID` reads it:
a row with a result is not run again (its line is written from the ledger);
a row whose run started resumes that run, so the calls its journal holds are
served from it, not sent again; a row with no run starts one. A row whose run
finished but whose result was not yet written (the process was killed between
the two) gets its result from the run's record.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import attrs

from parley.runtime.processes import alive, start_token
from parley.runtime.secrets import redact
from parley.runtime.store import Store

#: A batch that was not finished: its rows that did not end can run again (`died`: its process is gone).
RESUMABLE = ("running", "interrupted", "died")


class LedgerError(Exception):
    """The batch cannot be resumed as asked: no such batch, still running, its rows file changed."""


def file_sha256(path: str | os.PathLike[str]) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@attrs.define
class LedgerRow:
    """What the ledger knows of one row: the run it started (if it did) and its result (if it ended)."""

    run_id: str | None = None
    result: dict[str, Any] | None = None


@attrs.define
class BatchLedger:
    """One batch's record: its settings, and each row's run and result."""

    store: Store
    batch_id: str
    script: str
    plan_sha256: str
    plan: str | None
    rows_path: str
    rows_sha256: str
    settings: dict[str, Any]
    rows: dict[int, LedgerRow] = attrs.Factory(dict)

    @classmethod
    def start(cls, store: Store, *, script: str, plan_sha256: str, plan: str | None, rows_path: str,
              rows: int, settings: dict[str, Any]) -> BatchLedger:
        """A new batch, `running` from now, of `rows` rows read from `rows_path`."""
        ledger = cls(store, uuid.uuid4().hex[:12], os.path.abspath(script), plan_sha256, plan,
                     os.path.abspath(rows_path), file_sha256(rows_path), settings)
        with store.writing() as db:
            db.execute(
                "INSERT INTO batches (id, script, plan_sha256, plan, rows_path, rows_sha256, rows, settings, status, "
                "started, host, pid, process_start) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                (ledger.batch_id, ledger.script, plan_sha256, plan, ledger.rows_path, ledger.rows_sha256, rows,
                 redact(json.dumps(settings)), time.time(), socket.gethostname(), os.getpid(), start_token()),
            )
        return ledger

    @classmethod
    def resume(cls, store: Store, batch_id: str) -> BatchLedger:
        """Batch `batch_id` (or the one batch whose id starts so), to run its unfinished rows in this process."""
        with store.reading(f"looking for batch {batch_id}") as db:
            found = db.execute(
                "SELECT id, script, plan_sha256, plan, rows_path, rows_sha256, settings, status, host, pid, process_start "
                "FROM batches WHERE id >= ? AND id < ? LIMIT 2", (batch_id, batch_id + "\U0010ffff")).fetchall()
        if len(found) != 1:
            known = "no batch" if not found else "more than one batch"
            raise LedgerError(f"{known} in {store.path} has an id starting {batch_id!r}")
        (found_id, script, plan_sha, plan, rows_path, rows_sha, settings, status, host, pid, process_start), = found
        if status == "running" and pid != os.getpid() and alive(host, pid, process_start):
            raise LedgerError(f"batch {found_id} is still running (process {pid}); stop it first")
        if status not in RESUMABLE:
            raise LedgerError(f"batch {found_id} finished: every row has its line (`parley batch --resume` runs "
                              "only the rows a stopped batch did not finish)")
        if not Path(rows_path).is_file():
            raise LedgerError(f"batch {found_id} read its rows from {rows_path}, which is gone")
        if file_sha256(rows_path) != rows_sha:
            raise LedgerError(f"the rows file {rows_path} changed since batch {found_id} began: its row numbers "
                              "would name other rows (start a new batch)")
        ledger = cls(store, found_id, script, plan_sha, plan, rows_path, rows_sha,
                     store.decoded(settings, f"the settings of batch {found_id}"))
        with store.reading(f"reading the rows of batch {found_id}") as db:
            for row, run_id, result in db.execute("SELECT row, run, result FROM batch_rows WHERE batch = ?",
                                                  (found_id,)):
                decoded = store.decoded(result, f"row {row} of batch {found_id}") if result is not None else None
                ledger.rows[row] = LedgerRow(run_id, decoded)
        with store.writing() as db:
            db.execute("UPDATE batches SET status = 'running', ended = NULL, host = ?, pid = ?, process_start = ? "
                       "WHERE id = ?", (socket.gethostname(), os.getpid(), start_token(), found_id))
        return ledger

    def run_started(self, row: int, run_id: str) -> None:
        """Row `row`'s run begins (written before its first call, so a resume finds the run; it reaches the
        disk with that call's journal entry, as everything but the journal does: `runtime.store`)."""
        self.rows.setdefault(row, LedgerRow()).run_id = run_id
        with self.store.writing(durable=False) as db:
            db.execute("INSERT INTO batch_rows (batch, row, run) VALUES (?, ?, ?) "
                       "ON CONFLICT (batch, row) DO UPDATE SET run = excluded.run", (self.batch_id, row, run_id))

    def row_ended(self, row: int, result: dict[str, Any]) -> None:
        """Row `row`'s result, as its output line shows it."""
        entry = self.rows.setdefault(row, LedgerRow())
        entry.result = result
        with self.store.writing(durable=False) as db:
            db.execute("INSERT INTO batch_rows (batch, row, run, result) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (batch, row) DO UPDATE SET result = excluded.result, run = excluded.run",
                       (self.batch_id, row, result.get("run_id") or entry.run_id,
                        redact(json.dumps(result, ensure_ascii=False))))

    def end(self, status: str) -> None:
        """The batch stopped: `done` (every row ended), or `interrupted`."""
        with self.store.writing(durable=False) as db:
            db.execute("UPDATE batches SET status = ?, ended = ? WHERE id = ?", (status, time.time(), self.batch_id))
