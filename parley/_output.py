"""The command line's own stdout and stderr: secrets masked in everything written, a closed pipe survived.

While a command runs, `sys.stdout` and `sys.stderr` are wrapped: each write
is redacted as a whole (`runtime.secrets.redact`; streamed replies are
masked piece by piece before they get here, by the console), so no message,
output, transcript or traceback shows a key. A reader that goes away
(`parley run … | head`) does not fail the run: what is written after it left
is dropped, and the run ends as it would have. Output that cannot be written
for another reason (a full disk, `> /dev/full`, an I/O error) is dropped the
same way, and kept as `failure`: the command says so when it ends, and
fails (`lost_output`).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from collections.abc import Iterator
from typing import TextIO

from parley.runtime.secrets import redact


class MaskedStream(io.TextIOBase):
    """A text stream that redacts what is written to `inner`, and drops it once `inner`'s reader is gone."""

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self.inner = inner
        self.gone = False  # the reader closed the pipe, or the output cannot be written
        self.failure: OSError | None = None  # why it cannot, when the reader did not simply go away

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.inner, "errors", None)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return bool(getattr(self.inner, "isatty", lambda: False)())

    def fileno(self) -> int:
        return self.inner.fileno()

    def write(self, text: str) -> int:  # type: ignore[override]
        if not isinstance(text, str):  # click asks whether this is a binary stream by writing b""
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if not self.gone:
            with self._unless_gone():
                self.inner.write(redact(text))
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            with self._unless_gone():
                self.inner.flush()

    @contextlib.contextmanager
    def _unless_gone(self) -> Iterator[None]:
        try:
            yield
        except OSError as error:
            if error.errno not in (errno.EPIPE, errno.EINVAL):  # EINVAL: a flush to a closed pipe on Windows
                self.failure = error
            self.gone = True
            _silence(self.inner)


def _silence(stream: TextIO) -> None:
    """Point `stream`'s file at /dev/null, so that what is still buffered in it flushes nowhere (not in an
    error at exit, as Python's own flush of a closed pipe would)."""
    try:
        target = stream.fileno()
    except (OSError, ValueError, AttributeError):
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, target)
    finally:
        os.close(null)


def lost_output() -> tuple[str, OSError] | None:
    """Which of stdout and stderr could not be written while the command ran, and why (None: neither)."""
    for name, stream in (("stdout", sys.stdout), ("stderr", sys.stderr)):
        if isinstance(stream, MaskedStream) and stream.failure is not None:
            return name, stream.failure
    return None


@contextlib.contextmanager
def masked_output() -> Iterator[None]:
    """`sys.stdout` and `sys.stderr` masked (see the module) for the duration."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = MaskedStream(saved[0]), MaskedStream(saved[1])
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        sys.stdout, sys.stderr = saved
