"""Whether the process that ran a run is still there: its pid, and a token of when that process started.

A pid alone is not enough: once a process has died, the system may give its
pid to another one. So a run's record keeps, beside the pid, a start token —
on Linux the machine's boot id and the process's start time in clock ticks
(`/proc/PID/stat`), which no other process shares. Elsewhere the token is
None and only the pid is checked. A run recorded on another machine cannot
be checked from here: it is taken to be alive.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

_PROC = Path("/proc")


def start_token(pid: int | None = None) -> str | None:
    """A token of when process `pid` (this one by default) started; None where the system does not tell."""
    if pid is None or pid == os.getpid():
        return _own_token(os.getpid())  # asked at every run's start: read once per process (a fork reads anew)
    return _token(pid)


@functools.lru_cache(maxsize=4)
def _own_token(pid: int) -> str | None:
    return _token(pid)


def _token(pid: int) -> str | None:
    stat = _stat(pid)
    if stat is None:
        return None
    try:
        boot = (_PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        boot = ""
    return f"{boot}:{stat[19]}"  # field 22 of /proc/PID/stat: start time after boot (fields from 3 on here)


def alive(host: str | None, pid: int | None, token: str | None) -> bool:
    """Whether the process `pid` that started as `token` on `host` is still running (not a zombie)."""
    if pid is None:
        return False
    if host is not None and host != socket.gethostname():
        return True  # another machine's process: nothing here can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process, but there
    stat = _stat(int(pid))
    if stat is not None and stat[0] == "Z":
        return False  # dead, waiting for its parent to read its status
    return token is None or stat is None or start_token(int(pid)) == token


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()
