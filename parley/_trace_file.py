"""`parley run --trace FILE`: every event as a JSON line, and what happens when FILE cannot take them.

A trace that cannot be written (a full disk, `/dev/full`, a file system gone
read-only) does not stop the run: the run has spent what it spent, and its
events are in the store too. The first failure is said at once, on stderr;
nothing more is written to FILE; and the command ends with status 1 if the
run itself succeeded, so that a script relying on the trace notices.
"""

from __future__ import annotations

import contextlib
import json
from typing import IO, Any

import click

from parley.runtime.secrets import redact


class TraceFile:
    """The open trace file of a run; `failure` is why it could not be written, once it could not."""

    def __init__(self, path: str, stream: IO[str], stored: bool) -> None:
        self.path = path
        self.stream: IO[str] | None = stream
        self.stored = stored  # the run is recorded in a store, where its events can be read again
        self.failure: str | None = None

    @classmethod
    def open(cls, path: str, stored: bool) -> TraceFile:
        """FILE opened for writing, or a bad `--trace` (status 2) saying why it cannot be."""
        try:
            return cls(path, open(path, "w", encoding="utf-8"), stored)
        except OSError as error:
            raise click.BadParameter(f"cannot write {path}: {error.strerror}", param_hint="--trace") from None

    def write(self, event: Any) -> None:
        """Write one event, at once (a run killed later keeps its trace so far)."""
        if self.stream is None:
            return
        try:
            self.stream.write(redact(json.dumps(event.as_dict(), default=str)) + "\n")
            self.stream.flush()
        except OSError as error:
            self._failed(error)

    def close(self) -> None:
        if self.stream is None:
            return
        try:
            self.stream.close()
        except OSError as error:
            self._failed(error)

    def _failed(self, error: OSError) -> None:
        """Stop writing and say so, once. Closing drops what is still buffered (it fails as the rest did)."""
        stream, self.stream = self.stream, None
        with contextlib.suppress(OSError):
            stream.close()  # type: ignore[union-attr]
        self.failure = error.strerror or str(error)
        click.echo(click.style("error: ", fg="red", bold=True)
                   + f"cannot write the trace to {self.path}: {self.failure}; the run goes on without it"
                   + (" (its events are in the run store: `parley trace RUN_ID`)" if self.stored else ""), err=True)
