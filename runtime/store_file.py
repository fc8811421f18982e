"""The run store's file: where it is, whether it can be written, opened read-only, and its errors.

A store that cannot be written (a read-only file system, a file or folder
without write permission) is read through a read-only connection. A file
that does not begin as an SQLite database is refused before anything is done
to it: `--store` may have named another file by mistake. A damaged store is
`StoreDamaged`, whose message gives the way out.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import urllib.parse
from pathlib import Path

from parley.dsl.errors import ParleyError

#: Where the store lives unless `--store` or PARLEY_STORE says otherwise.
DEFAULT_PATH = Path(".parley") / "parley.db"


def default_path() -> Path:
    return Path(os.environ.get("PARLEY_STORE") or DEFAULT_PATH)


class StoreError(ParleyError):
    """The store cannot be used (not a Parley database, a newer schema, an unwritable folder, damaged)."""

    exit_code = 2


class StoreDamaged(StoreError):
    """The store's file is damaged: SQLite finds it malformed, or a row is not what Parley wrote.

    The message names what is damaged and the way out: `parley runs --check`, and moving the file
    aside (with its WAL files, which belong to it) so that the next run starts a new store."""

    def __init__(self, path: str, what: str) -> None:
        self.path = path
        self.what = what
        super().__init__(f"the run store at {path} is damaged ({what}): check it with "
                         f"`parley runs --check{_store_flag(path)}`; move it aside to start a new store: "
                         f"`{move_aside_command(path)}`")


def move_aside_command(path: str) -> str:
    """The shell command that moves the store at `path` aside, its WAL files with it (a WAL left beside
    a new store would be read as that store's)."""
    moves = [f"mv {shlex.quote(path + suffix)} {shlex.quote(path + '.damaged' + suffix)}"
             for suffix in ("", "-wal", "-shm") if suffix == "" or os.path.exists(path + suffix)]
    return " && ".join(moves)


def _store_flag(path: str) -> str:
    return "" if Path(path) == default_path() else f" --store {shlex.quote(path)}"


def writable(path: Path) -> bool:
    """Whether the store at `path` can be written: the file and its folder (where SQLite keeps the WAL).
    `os.access` says no on a read-only file system even to root, for whom permissions say yes."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def open_read_only(path: str) -> sqlite3.Connection:
    """A read-only connection to the store at `path`. A WAL store needs its shared-memory file, which a
    read-only folder cannot get: there the file is opened as immutable (nobody can change it either)."""
    uri = "file:" + urllib.parse.quote(os.path.abspath(path))
    try:
        db = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=30.0, isolation_level=None)
        db.execute("PRAGMA user_version").fetchone()
        return db
    except sqlite3.OperationalError:
        return sqlite3.connect(uri + "?immutable=1", uri=True, isolation_level=None)


#: How an SQLite database file begins.
SQLITE_HEADER = b"SQLite format 3\x00"


def refuse_foreign(path: str) -> None:
    """Refuse a `path` that is not a run store's file (a folder, a device, a text): `--store` named the wrong
    file, or one damaged past its first bytes. Nothing is suggested that would move it: it may not be ours."""
    if not Path(path).is_file():
        raise StoreError(f"{path} is not a file: the run store is an SQLite database file")
    try:
        with open(path, "rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as error:
        raise StoreError(f"cannot read the run store at {path}: {error.strerror}") from None
    if header and header != SQLITE_HEADER:
        raise StoreError(f"{path} is not an SQLite database: not a run store, or one damaged from its first "
                         "bytes on (`parley runs --check` says what can be read)")


def read_only_message(path: str, why: str) -> str:
    return (f"the run store at {path} is read-only ({why}): it can be read (`parley runs`, `show`, `trace`, "
            "`run --replay`) but not written; give a writable one with --store PATH, or run with --no-store")
