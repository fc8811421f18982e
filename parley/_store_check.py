"""`parley runs --check`: is the run store whole? SQLite's integrity check, then every row Parley reads back.

A store can be damaged by a disk, a copy taken while it was written, or a
hand: SQLite then finds pages malformed, or a row holds what Parley did not
write (JSON cut short). The check opens the file read-only (it changes
nothing, and works on a read-only file system), lists what is damaged, at
most `SHOWN` problems per part, and exits 0 when it finds nothing, 1 when it
does, with the way to start a new store.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import click

from parley.runtime.store import SCHEMA_VERSION, move_aside_command, open_read_only, writable

#: Problems listed per part of the store (SQLite's check, each table); the rest are counted.
SHOWN = 20

#: The columns holding JSON: (table, the key columns naming a row, the JSON column, whether NULL is allowed).
JSON_COLUMNS: tuple[tuple[str, tuple[str, ...], str, bool], ...] = (
    ("runs", ("id",), "inputs", False),
    ("runs", ("id",), "plan", True),  # NULL: recorded before runs kept plans, or the plan held a secret
    ("events", ("run", "seq"), "payload", False),
    ("journal", ("run", "path", "call"), "result", False),
    ("cache", ("key",), "reply", False),
)

#: What a row is called in a message, from its table, JSON column and key.
NAMES: dict[tuple[str, str], Callable[[list[Any]], str]] = {
    ("runs", "inputs"): lambda k: f"the inputs of run {k[0]}",
    ("runs", "plan"): lambda k: f"the plan kept with run {k[0]}",
    ("events", "payload"): lambda k: f"event {k[1]} of run {k[0]}",
    ("journal", "result"): lambda k: f"journal entry {k[1] or 'top'}/{k[2]} of run {k[0]}",
    ("cache", "reply"): lambda k: f"cached reply {str(k[0])[:12]}",
}

#: How rows of each table are counted: (one, more).
LABELS = {"runs": ("run", "runs"), "events": ("event", "events"), "journal": ("journal entry", "journal entries"),
          "cache": ("cached reply", "cached replies")}


@attrs.define
class Findings:
    """What a check found: the problems (each a line), how many rows each table has."""

    problems: list[str] = attrs.field(factory=list)
    counted: dict[str, int] = attrs.field(factory=dict)
    unlisted: int = 0  # problems past `SHOWN` in a part, counted only

    def add(self, problem: str, listed: int) -> None:
        if listed < SHOWN:
            self.problems.append(problem)
        else:
            self.unlisted += 1


def check(path: str) -> int:
    """Check the store at `path`, print what was found; the exit status (0 whole, 1 damaged)."""
    if not os.path.isfile(path):
        raise click.UsageError(f"no run store at {path} (use --store PATH)")
    findings = inspect(path)
    counted = ", ".join(f"{count} {LABELS[table][count != 1]}" for table, count in findings.counted.items())
    click.echo(f"checked the run store at {path}" + (f": {counted}" if counted else ""))
    for problem in findings.problems:
        click.echo(f"damaged: {problem}")
    if findings.unlisted:
        click.echo(f"damaged: {findings.unlisted} more problems, not listed")
    if not findings.problems:
        click.echo("no damage found")
        return 0
    click.echo(f"the store is damaged: `parley show` and `parley trace` still read what is whole; move it aside "
               f"to start a new store: `{move_aside_command(path)}`")
    return 1


def inspect(path: str) -> Findings:
    """What is damaged in the store at `path` (opened read-only)."""
    findings = Findings()
    try:
        db = _connect(path)
    except sqlite3.Error as error:
        findings.add(f"SQLite cannot open it: {error}", 0)
        return findings
    try:
        _integrity(db, findings)
        for table, keys, column, nullable in JSON_COLUMNS:
            _rows(db, table, keys, column, nullable, findings)
        _records(db, findings)
    finally:
        db.close()
    return findings


def _connect(path: str) -> sqlite3.Connection:
    """A connection that writes nothing. A store that can be written is opened as usual, so that its WAL files
    go away with the connection as they do after any reader; one that cannot, read-only."""
    if not writable(Path(path)):
        return open_read_only(path)
    db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    db.execute("PRAGMA query_only = 1")
    return db


def _integrity(db: sqlite3.Connection, findings: Findings) -> None:
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        rows = [row[0] for row in db.execute(f"PRAGMA integrity_check({SHOWN + 1})")]
    except sqlite3.Error as error:
        findings.add(f"SQLite's integrity check cannot read it: {error}", 0)
        return
    if version > SCHEMA_VERSION:
        findings.add(f"it was written by a newer Parley (schema {version}; this one knows {SCHEMA_VERSION})", 0)
    said = [line for row in rows if row != "ok" for line in row.splitlines() if not line.startswith("***")]
    for listed, line in enumerate(said):
        findings.add(f"SQLite: {line}", listed)


def _rows(db: sqlite3.Connection, table: str, keys: tuple[str, ...], column: str, nullable: bool,
          findings: Findings) -> None:
    """Count `table`'s rows and read back each JSON value; a table SQLite cannot read to its end says where."""
    count = listed = 0
    try:
        for *key, text in db.execute(f"SELECT {', '.join(keys)}, {column} FROM {table}"):
            count += 1
            why = _unreadable(text, nullable)
            if why is not None:
                findings.add(f"{NAMES[table, column](key)}: {why}", listed)
                listed += 1
    except sqlite3.Error as error:
        findings.add(f"the {table} table ({column}) cannot be read past row {count}: {error}", listed)
    findings.counted.setdefault(table, count)


def _records(db: sqlite3.Connection, findings: Findings) -> None:
    """Each run's record holds what Parley writes in each column (a number of turns, a time)."""
    from parley.runtime.store import RUN_COLUMNS, malformed_record

    listed = 0
    with contextlib.suppress(sqlite3.Error):  # a table SQLite cannot read is already said
        for row in db.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs"):
            record = dict(zip(RUN_COLUMNS, row))
            wrong = malformed_record(record)
            if wrong is not None:
                findings.add(f"the record of run {record['id']}: {wrong}", listed)
                listed += 1


def _unreadable(text: Any, nullable: bool) -> str | None:
    """Why `text` is not the JSON Parley wrote, or None."""
    import json

    if text is None:
        return None if nullable else "it is empty (NULL)"
    try:
        json.loads(text)
    except RecursionError:
        return "it is nested too deeply to read"
    except (ValueError, TypeError) as error:
        return f"it is not JSON ({error})"
    return None


# --- what `runs`, `show` and `trace` say after showing what could be read ------------------------------------


def damaged_runs(store: Any, rows: list[dict[str, Any]]) -> None:
    """End `parley runs` with the store's damage, once the runs that could be read are listed."""
    damaged = sum("damaged" in row for row in rows)
    if damaged:
        _end(store.path, f"{damaged} of the runs listed cannot be read")


def damaged_events(store: Any, run_id: str, events: list[dict[str, Any]]) -> None:
    """End `parley show` or `trace` with the store's damage, once the events that could be read are shown."""
    damaged = [event["seq"] for event in events if "damaged" in event]
    if damaged:
        listed = ", ".join(str(seq) for seq in damaged[:SHOWN]) + (", …" if len(damaged) > SHOWN else "")
        _end(store.path, f"event{'s' if len(damaged) > 1 else ''} {listed} of run {run_id} cannot be read")


def _end(path: str, what: str) -> None:
    from parley.runtime.store import StoreDamaged

    raise StoreDamaged(path, what)
