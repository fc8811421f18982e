"""The run store: one SQLite database of runs and their event journals.

WAL with a busy timeout, so several runs (processes) can write at once; each
journal entry is on the disk before the run moves on (`synchronous=FULL`, or,
inside an event loop, one `fsync` of the log shared by the runs waiting:
`synced`), so a run that dies keeps everything it did. The rest (a run's
record as it starts and ends; a batch's ledger; events, the transcript, which
are held up to `EVENT_DELAY` and written together) is committed without
waiting for the disk, which a killed process cannot undo, and reaches the
disk with the next journal entry (the WAL is synced in order): a power cut
can lose only what the journal makes good again (a run reads `died` instead
of `done` and resumes with nothing to ask; a batch row's line is read back
from its run). The schema has a version and migrations. Each run keeps the
plan it ran (as JSON), so it can be resumed, replayed and read without its
script.
The file is created readable by its owner only.

A store that cannot be written (a read-only file system, a file or folder
without write permission) is opened read-only: it can be read (`parley runs`,
`show`, `trace`, `run --replay`), and writing to it says why it cannot. A
damaged store (SQLite finds it malformed, a row is not the JSON Parley wrote)
is reported as such, with the way out, never as a bug: `StoreDamaged`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import sqlite3
import time
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from parley.runtime.journal import Entry, Key
from parley.runtime.processes import alive, start_token
from parley.runtime.secrets import redact
from parley.runtime.store_file import (  # noqa: F401 - StoreError, default_path… are the store's API
    DEFAULT_PATH,
    StoreDamaged,
    StoreError,
    default_path,
    move_aside_command,
    open_read_only,
    read_only_message,
    refuse_foreign,
    writable,
)

SCHEMA_VERSION = 6

#: At most this long (seconds) between an event and its write, inside an event loop (`Store.record`).
EVENT_DELAY = 0.05

#: Migrations by the version they lead to; each runs once, in order.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        (
            "CREATE TABLE runs (id TEXT PRIMARY KEY, script TEXT NOT NULL, script_sha256 TEXT NOT NULL, "
            "plan_version TEXT NOT NULL, inputs TEXT NOT NULL, status TEXT NOT NULL, started REAL NOT NULL, "
            "ended REAL, turns INTEGER NOT NULL DEFAULT 0, tokens INTEGER NOT NULL DEFAULT 0, "
            "cost REAL NOT NULL DEFAULT 0, error TEXT)"
        ),
        (
            "CREATE TABLE events (run TEXT NOT NULL REFERENCES runs(id), seq INTEGER NOT NULL, step TEXT, "
            "kind TEXT NOT NULL, file TEXT, line INTEGER, time REAL NOT NULL, payload TEXT NOT NULL, "
            "PRIMARY KEY (run, seq))"
        ),
        "CREATE INDEX runs_by_start ON runs (started)",
    ),
    2: (
        "CREATE TABLE cache (key TEXT PRIMARY KEY, model TEXT NOT NULL, reply TEXT NOT NULL, created REAL NOT NULL)",
    ),
    3: (
        "ALTER TABLE runs ADD COLUMN script_path TEXT",
        "ALTER TABLE runs ADD COLUMN plan_sha256 TEXT",
        "ALTER TABLE runs ADD COLUMN model TEXT",
        "ALTER TABLE runs ADD COLUMN base_url TEXT",
        "ALTER TABLE runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE runs ADD COLUMN host TEXT",
        "ALTER TABLE runs ADD COLUMN pid INTEGER",
        (
            "CREATE TABLE journal (run TEXT NOT NULL REFERENCES runs(id), path TEXT NOT NULL, call INTEGER NOT NULL, "
            "kind TEXT NOT NULL, digest TEXT NOT NULL, result TEXT NOT NULL, time REAL NOT NULL, "
            "PRIMARY KEY (run, path, call))"
        ),
    ),
    # Each run keeps its plan (JSON), so it resumes, replays and shows without its script. Runs recorded
    # before have none (NULL): they still need their script.
    4: ("ALTER TABLE runs ADD COLUMN plan TEXT",),
    # With the pid, when its process started (`processes.start_token`): a `running` run whose process is
    # gone (killed, crashed) reads as `died`, even once the pid is another process's.
    5: ("ALTER TABLE runs ADD COLUMN process_start TEXT",),
    # Batches (`parley batch`): what each ran, and each row's run and result, so a batch resumes
    # (`parley.batch_ledger`).
    6: (
        (
            "CREATE TABLE batches (id TEXT PRIMARY KEY, script TEXT NOT NULL, plan_sha256 TEXT NOT NULL, "
            "plan TEXT, rows_path TEXT NOT NULL, rows_sha256 TEXT NOT NULL, rows INTEGER NOT NULL, "
            "settings TEXT NOT NULL, status TEXT NOT NULL, started REAL NOT NULL, ended REAL, host TEXT, "
            "pid INTEGER, process_start TEXT)"
        ),
        (
            "CREATE TABLE batch_rows (batch TEXT NOT NULL REFERENCES batches(id), row INTEGER NOT NULL, "
            "run TEXT, result TEXT, PRIMARY KEY (batch, row))"
        ),
        # Replies whose price is unknown: a run's cost is then a floor, never shown as all it cost.
        "ALTER TABLE runs ADD COLUMN unpriced INTEGER NOT NULL DEFAULT 0",
    ),
}

#: The columns of a run's record, as `run()` returns them (its plan, which may be large, is `plan()`'s).
RUN_COLUMNS = ("id", "script", "script_sha256", "plan_version", "inputs", "status", "started", "ended", "turns",
               "tokens", "cost", "error", "script_path", "plan_sha256", "model", "base_url", "attempts", "host", "pid",
               "process_start", "unpriced")

def new_run_id() -> str:
    """A fresh run id: 12 hex digits."""
    return uuid.uuid4().hex[:12]


class Store:
    """Runs and their events, in one SQLite file (or in memory for `:memory:`)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self._pending_events: list[tuple[Any, ...]] = []  # recorded, not yet written (`record`)
        self._flush_loop: weakref.ref[asyncio.AbstractEventLoop] | None = None  # where a write of them is due
        self._event_failure: StoreError | None = None
        self._commits = 0  # commits made, and how many of them are known to be on the disk (`synced`)
        self._synced = 0
        self._syncing: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
            weakref.WeakKeyDictionary())
        #: Opened read-only: the file (or its folder) cannot be written; reading works, writing says why not.
        self.read_only = self.path != ":memory:" and Path(self.path).is_file() and not writable(Path(self.path))
        if self.path != ":memory:" and os.path.lexists(self.path):
            refuse_foreign(self.path)  # before anything is done to it (a mode set, a WAL made beside it)
        if self.path != ":memory:" and not self.read_only:
            folder = Path(self.path).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
                Path(self.path).touch(mode=0o600, exist_ok=True)
                os.chmod(self.path, 0o600)
            except OSError as error:
                raise StoreError(f"cannot create the run store at {self.path}: {error.strerror}") from None
        mask = os.umask(0o077)  # the WAL and shared-memory files SQLite creates are owner-only too
        try:
            if self.read_only:
                self.db = open_read_only(self.path)
            else:
                self.db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
                self.db.execute("PRAGMA busy_timeout = 30000")
                if self.path != ":memory:":
                    self.db.execute("PRAGMA journal_mode = WAL")
                self.db.execute("PRAGMA synchronous = FULL")
            self._durable = True
            self._migrate()
        except sqlite3.Error as error:
            raise self._failure(error) from None
        finally:
            os.umask(mask)
        self._seq: dict[str, int] = {}

    def close(self) -> None:
        with contextlib.suppress(StoreError):  # a store that cannot be written has said so already
            self.flush()
        self.db.close()

    @contextlib.contextmanager
    def _guard(self, reading: str = "") -> Iterator[None]:
        """SQLite's failures as the store's own: damage (in what it was `reading`), a read-only or full disk,
        named with the way out."""
        try:
            yield
        except sqlite3.Error as error:
            raise self._failure(error, reading) from None

    def _failure(self, error: sqlite3.Error, reading: str = "") -> StoreError:
        """The store error SQLite's `error` means: `sqlite3.DatabaseError` itself is SQLite's CORRUPT and
        NOTADB (its subclasses are the other codes); a table or column missing is damage too."""
        text = str(error)
        if text.startswith("Could not decode to UTF-8"):  # Python's own: the bytes are not worth showing
            text = "text that is not UTF-8" + "".join(f" in {name}" for name in re.findall(r"column '(\w+)'", text))
            return StoreDamaged(self.path, f"{reading}: {text}" if reading else text)
        if type(error) is sqlite3.DatabaseError or text.startswith(("no such table", "no such column")):
            return StoreDamaged(self.path, f"{reading}: {text}" if reading else text)
        if self.read_only or "readonly" in text:
            return StoreError(read_only_message(self.path, text))
        return StoreError(f"cannot use the run store at {self.path}: {text}")

    async def synced(self) -> None:
        """Wait until every commit made so far is on the disk: one sync of the write-ahead log (in a thread,
        so the event loop goes on) serves every run waiting for it then."""
        if self.path == ":memory:":
            return
        loop = asyncio.get_running_loop()
        target = self._commits
        while self._synced < target:
            syncing = self._syncing.get(loop)
            if syncing is None or syncing.done():
                syncing = self._syncing[loop] = loop.create_task(self._sync())
            await asyncio.shield(syncing)

    async def _sync(self) -> None:
        covered = self._commits
        await asyncio.to_thread(self._sync_files)
        self._synced = max(self._synced, covered)

    def _sync_files(self) -> None:
        for path in (self.path + "-wal", self.path):  # the log, else (checkpointed away) the file it went to
            try:
                descriptor = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            return

    @contextlib.contextmanager
    def writing(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction, its failures as the store's (for records kept beside the runs: batches)."""
        with self._guard(), self._write(durable) as db:
            yield db

    @contextlib.contextmanager
    def reading(self, what: str) -> Iterator[sqlite3.Connection]:
        """The connection, for reads whose failures are the store's (damage named as in `what`)."""
        with self._guard(what):
            yield self.db

    @contextlib.contextmanager
    def _write(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (IMMEDIATE) so concurrent writers queue, not fail.

        `durable` commits wait for the disk (`synchronous=FULL`: they survive a power cut); the others
        survive the process being killed (WAL, `NORMAL`) and reach the disk with the next durable one."""
        if self.read_only:
            raise StoreError(read_only_message(self.path, "the file or its folder cannot be written"))
        self._raise_event_failure()
        if durable != self._durable:
            self.db.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            self._durable = durable
        for attempt in range(50):
            try:
                self.db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or attempt == 49:
                    raise
                time.sleep(0.05)
        try:
            if self._pending_events:  # events first: they happened before what this writes
                events, self._pending_events = self._pending_events, []
                self.db.executemany("INSERT INTO events (run, seq, step, kind, file, line, time, payload) "
                                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", events)
            yield self.db
            self.db.execute("COMMIT")
            self._commits += 1
            if durable:
                self._synced = self._commits
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # a damaged file may refuse this too: the first failure tells
                self.db.execute("ROLLBACK")
            raise

    def _migrate(self) -> None:
        if self.read_only:  # nothing can be written: an older schema cannot be brought up to this one
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path} was written by a newer Parley (schema {version}); upgrade Parley")
            if version < SCHEMA_VERSION:
                raise StoreError(read_only_message(
                    self.path, f"it has schema {version}, which this Parley reads only once migrated to "
                               f"{SCHEMA_VERSION}: copy it somewhere writable"))
            return
        with self._guard(), self._write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path} was written by a newer Parley (schema {version}); upgrade Parley")
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target]:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {target}")

    # --- writing -------------------------------------------------------------------

    def start_run(self, script: str, script_sha256: str, plan_version: str, inputs: dict[str, Any], *,
                  script_path: str | None = None, plan_sha256: str | None = None, model: str | None = None,
                  base_url: str | None = None, plan: str | None = None, run_id: str | None = None) -> str:
        """A new run, `running` from now; `model` and `base_url` are the run's own `--model` and server,
        `plan` the plan it runs as JSON (kept only if it holds no secret: see `plan()`); `run_id` the id
        to record it under, chosen beforehand (a batch notes a row's run before it starts), else a new one."""
        run_id = run_id or new_run_id()
        with self._guard(), self._write(durable=False) as db:
            db.execute(
                "INSERT INTO runs (id, script, script_sha256, plan_version, inputs, status, started, script_path, "
                "plan_sha256, model, base_url, host, pid, plan, process_start) "
                "VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, script, script_sha256, plan_version, redact(json.dumps(inputs, default=str)), time.time(),
                 script_path, plan_sha256, model, base_url, socket.gethostname(), os.getpid(), _keepable(plan),
                 start_token()),
            )
        self._seq[run_id] = 0
        return run_id

    def restart_run(self, run_id: str, plan_sha256: str | None = None, plan: str | None = None) -> None:
        """Run `run_id` again (a resume): `running` once more, its events to be written anew; its journal stays.
        `plan` (with its `plan_sha256`) is the plan it runs now, which a forced resume may have changed."""
        with self._guard(), self._write(durable=False) as db:
            db.execute("DELETE FROM events WHERE run = ?", (run_id,))
            db.execute(
                "UPDATE runs SET status = 'running', ended = NULL, error = NULL, attempts = attempts + 1, "
                "plan_sha256 = COALESCE(?, plan_sha256), plan = CASE WHEN ? IS NULL THEN plan ELSE ? END, "
                "host = ?, pid = ?, process_start = ? WHERE id = ?",
                (plan_sha256, plan, _keepable(plan), socket.gethostname(), os.getpid(), start_token(), run_id),
            )
        self._seq[run_id] = 0

    def record(self, run_id: str, event: Any) -> None:
        """Record one event (what the console showed). Inside an event loop it is written with the store's
        next write, or within `EVENT_DELAY` seconds (one transaction for the events of every run in flight);
        else at once. Durable with the next journal entry (events are history: a resume writes them anew,
        the journal is what it reads)."""
        self._raise_event_failure()
        self._seq[run_id] = self._seq.get(run_id, 0) + 1
        self._pending_events.append(
            (run_id, self._seq[run_id], event.step, event.kind, event.file, event.line, event.time,
             redact(json.dumps(event.data, default=str, ensure_ascii=False))))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or self.read_only:
            self.flush()
        elif self._flush_loop is None or self._flush_loop() is not loop:  # none due on this loop (one due
            self._flush_loop = weakref.ref(loop)                         # on a loop now closed never comes)
            loop.call_later(EVENT_DELAY, self._flush_later)

    def flush(self) -> None:
        """Write the events `record` holds now."""
        if self._pending_events:
            with self._guard(), self._write(durable=False):
                pass  # `_write` writes the events held first

    def _flush_later(self) -> None:
        self._flush_loop = None
        try:
            self.flush()
        except StoreError as failure:  # said to the run at its next write, as a write of its own would be
            self._event_failure = failure

    def _raise_event_failure(self) -> None:
        failure, self._event_failure = self._event_failure, None
        if failure is not None:
            raise failure

    def finish_run(self, run_id: str, status: str, usage: dict[str, Any], error: str | None = None) -> None:
        with self._guard(), self._write(durable=False) as db:
            db.execute(
                "UPDATE runs SET status = ?, ended = ?, turns = ?, tokens = ?, cost = ?, error = ?, unpriced = ? "
                "WHERE id = ?",
                (status, time.time(), usage.get("turns", 0), usage.get("tokens", 0), float(usage.get("cost") or 0),
                 redact(error) if error else None, int(usage.get("unpriced") or 0), run_id),
            )

    # --- the effect journal -----------------------------------------------------------

    def write_effect(self, run_id: str, key: Key, entry: Entry, durable: bool = True) -> None:
        """Journal one effect (a model reply, a tool result, an answer); committed before this returns, and
        on the disk too unless not `durable`: then `await synced()` before the run goes on (so that many
        runs' entries share one sync of the disk)."""
        with self._guard(), self._write(durable) as db:
            db.execute(
                "INSERT OR REPLACE INTO journal (run, path, call, kind, digest, result, time) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, key[0], key[1], entry.kind, entry.digest,
                 redact(json.dumps(entry.result, ensure_ascii=False, default=str)), time.time()),
            )

    def journal(self, run_id: str) -> dict[Key, Entry]:
        """Run `run_id`'s journal; `StoreDamaged` when an entry cannot be read (a resume or replay needs all)."""
        with self._guard(f"reading the journal of run {run_id}"):
            rows = self.db.execute("SELECT path, call, kind, digest, result FROM journal WHERE run = ?",
                                   (run_id,)).fetchall()
        return {(path, call): Entry(kind, digest, self.decoded(result, f"journal entry {path or 'top'}/{call} "
                                                                        f"of run {run_id}"))
                for path, call, kind, digest, result in rows}

    # --- the response cache ----------------------------------------------------------

    def cached(self, key: str) -> dict[str, Any] | None:
        """The cached reply for `key`; None when there is none, or it is damaged (then it is asked again)."""
        with self._guard():
            row = self.db.execute("SELECT reply FROM cache WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        with contextlib.suppress(StoreDamaged):
            reply = self.decoded(row[0], "a cached reply")
            return reply if isinstance(reply, dict) else None
        return None

    def cache(self, key: str, model: str, reply: dict[str, Any]) -> None:
        with self._guard(), self._write(durable=False) as db:
            db.execute("INSERT OR REPLACE INTO cache (key, model, reply, created) VALUES (?, ?, ?, ?)",
                       (key, model, redact(json.dumps(reply, ensure_ascii=False)), time.time()))

    # --- reading -------------------------------------------------------------------

    def decoded(self, text: Any, what: str) -> Any:
        """`text` (JSON Parley wrote) read back; `StoreDamaged` naming `what` when it is not JSON any more."""
        try:
            return json.loads(text)
        except RecursionError:
            raise StoreDamaged(self.path, f"{what} is nested too deeply to read back") from None
        except (ValueError, TypeError) as error:
            raise StoreDamaged(self.path, f"{what} cannot be read as JSON: {error}") from None

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest runs; a `running` one whose process is gone reads as `died`. When the table is
        damaged, the runs that can still be read, and for each that cannot, `{"damaged": why}` (so one
        damaged run does not hide the others); a store too damaged for even that raises `StoreDamaged`."""
        self.flush()  # this process's events held by `record` are read too
        names = ("id", "script", "status", "started", "ended", "turns", "tokens", "cost", "error", "attempts",
                 "host", "pid", "process_start", "unpriced")
        try:
            rows = self.db.execute(f"SELECT {', '.join(names)} FROM runs ORDER BY started DESC LIMIT ?",
                                   (limit,)).fetchall()
        except sqlite3.Error as error:
            if not isinstance(self._failure(error), StoreDamaged):
                raise self._failure(error) from None
            return self._salvaged_runs(names, limit, error)
        return [_listed(dict(zip(names, row))) for row in rows]

    def _salvaged_runs(self, names: tuple[str, ...], limit: int, first: sqlite3.Error) -> list[dict[str, Any]]:
        """The latest runs of a damaged table, read one by one: their row ids from the index by start time
        (else from the table), newest first, as far as either can be read."""
        ids: list[int] = []
        with contextlib.suppress(sqlite3.Error):
            for (rowid,) in self.db.execute("SELECT rowid FROM runs INDEXED BY runs_by_start ORDER BY started DESC"):
                ids.append(rowid)
        indexed = set(ids)  # a row id the index has is a run; one read off a damaged table page may not be
        if len(ids) < limit:
            with contextlib.suppress(sqlite3.Error):
                for (rowid,) in self.db.execute("SELECT rowid FROM runs NOT INDEXED ORDER BY rowid DESC"):
                    if rowid not in indexed:
                        ids.append(rowid)
        if not ids:
            raise self._failure(first) from None
        found: list[dict[str, Any]] = []
        for rowid in ids:
            try:
                row = self.db.execute(f"SELECT {', '.join(names)} FROM runs WHERE rowid = ?", (rowid,)).fetchone()
            except sqlite3.Error as error:
                found.append({"damaged": str(error)})
            else:
                if row is not None:
                    found.append(_listed(dict(zip(names, row))))
                elif rowid in indexed:
                    found.append({"damaged": "its record cannot be found"})
            if len(found) == limit:
                break
        return found

    def run(self, run_id: str) -> dict[str, Any] | None:
        """The run whose id is `run_id` or starts with it (None unless exactly one does); `died` when it
        reads `running` but its process is gone. Found by the id's index, so that damage elsewhere in the
        table does not hide it."""
        self.flush()  # this process's events held by `record` are read too
        with self._guard(f"looking for run {run_id}"):
            rows = self.db.execute("SELECT id FROM runs WHERE id >= ? AND id < ? LIMIT 2",
                                   (run_id, run_id + "\U0010ffff")).fetchall()
            if len(rows) != 1:
                return None
            found = self.db.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE id = ?",
                                    (rows[0][0],)).fetchone()
        run = dict(zip(RUN_COLUMNS, found))
        wrong = malformed_record(run)
        if wrong is not None:
            raise StoreDamaged(self.path, f"the record of run {rows[0][0]}: {wrong}")
        return _as_found(run)

    def plan(self, run_id: str) -> str | None:
        """The plan run `run_id` ran, as JSON; None for a run recorded before runs kept their plans, or
        whose plan held a secret (a value of a `*_KEY`/`*_TOKEN`… environment variable: never stored)."""
        with self._guard(f"reading the plan of run {run_id}"):
            row = self.db.execute("SELECT plan FROM runs WHERE id = ?", (run_id,)).fetchone()
        return row[0] if row else None

    def events(self, run_id: str) -> list[dict[str, Any]]:
        """Run `run_id`'s events in order. One whose data is not JSON any more has `"data": None` and
        `"damaged"` saying why, so the rest can still be shown."""
        self.flush()  # this process's events held by `record` are read too
        with self._guard(f"reading the events of run {run_id}"):
            rows = self.db.execute(
                "SELECT seq, step, kind, file, line, time, payload FROM events WHERE run = ? ORDER BY seq", (run_id,),
            ).fetchall()
        events: list[dict[str, Any]] = []
        for r in rows:
            event = {"seq": r[0], "step": r[1], "kind": r[2], "file": r[3], "line": r[4], "time": r[5], "data": None}
            try:
                event["data"] = self.decoded(r[6], f"event {r[0]} of run {run_id}")
            except StoreDamaged as damage:
                event["damaged"] = damage.what
            if event["data"] is not None and not isinstance(event["data"], dict):
                event["data"], event["damaged"] = None, f"event {r[0]} of run {run_id} is not a JSON object"
            events.append(event)
        return events


#: What each column of a run's record holds, as Parley writes it: a record holding anything else is damaged.
_COLUMN_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str,), "script": (str,), "status": (str,), "started": (int, float), "ended": (int, float, type(None)),
    "turns": (int,), "tokens": (int,), "cost": (int, float), "attempts": (int,), "pid": (int, type(None)),
    "host": (str, type(None)), "process_start": (str, type(None)), "inputs": (str,),
}


def malformed_record(run: dict[str, Any]) -> str | None:
    """What in a run's record is not what Parley writes (a value of another type, a time that is no time)."""
    for name, value in run.items():
        if name in _COLUMN_TYPES and (not isinstance(value, _COLUMN_TYPES[name]) or isinstance(value, bool)):
            return f"its {name} is a {type(value).__name__}"
    for name in ("started", "ended"):
        if run.get(name) is not None and not 0 <= run[name] < 1e11:  # NaN too: from 1970 to the year 5138
            return f"its {name} time is out of range"
    return None


def _listed(run: dict[str, Any]) -> dict[str, Any]:
    """A run's record as `runs()` lists it: as found, or `{"damaged": why}`."""
    wrong = malformed_record(run)
    return {"damaged": f"run {run['id'] if isinstance(run['id'], str) else '?'}: {wrong}"} if wrong else _as_found(run)


def _as_found(run: dict[str, Any]) -> dict[str, Any]:
    """A run's record as it reads now: `running` becomes `died` once the process that ran it is gone (it was
    killed, or crashed, before it could say how it ended)."""
    if run["status"] == "running" and run["pid"] is not None and not alive(run["host"], run["pid"],
                                                                             run["process_start"]):
        run["status"] = "died"
    return run


def _keepable(plan: str | None) -> str | None:
    """The plan as stored: as it is, or not at all when it holds a secret (masked, it would not be the plan)."""
    return plan if plan is not None and redact(plan) == plan else None
