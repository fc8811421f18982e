"""SIGTERM stops a run as Ctrl-C does: the run is marked `interrupted` and can be resumed.

Python's default for SIGTERM is to die at once, which leaves the run's record
`running` (it reads `died` later). Under `parley run`, SIGTERM raises
`Terminated`, a `KeyboardInterrupt`: the run's tasks are cancelled, what is in
flight is settled as for Ctrl-C, the record says `interrupted`, and the
command prints how to resume and exits with 143 (128 + SIGTERM).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM)."""

    exit_code = 128 + signal.SIGTERM


def stop_on_sigterm() -> Callable[[], None]:
    """From now on, the first SIGTERM raises `Terminated` (a second one, while stopping, is ignored);
    returns what puts the previous handler back. Only the main thread can take signals: elsewhere,
    nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def terminate(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # already stopping
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore
