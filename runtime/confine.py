"""What this machine lets Parley put around an executor's code: namespaces, a pids cgroup, limits.

Detected once per process, at the first block, by trying it: `unshare` (util-linux) for a new
network, PID and mount namespace (with `--user --map-root-user` when Parley is not root); a
pids cgroup (v1 `pids` hierarchy or a v2 folder that delegates `pids`) for a process count
that binds even for root. Whatever is missing is named by `Isolation.describe` and the
executor says so once per run; docs/code-execution.md lists what each gap means.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import attrs

LAUNCHER = str(Path(__file__).with_name("_launcher.py"))
_CGROUP_ROOT = Path("/sys/fs/cgroup")


@attrs.frozen
class Limits:
    """Limits on one code block. `cpu` seconds; `memory` bytes of address space; `file_size` bytes
    per file written; `processes` alive at once; `output` bytes kept for the reply (the first
    quarter and the last three quarters); past `flood` bytes of output the block is stopped."""

    cpu: int = 31
    memory: int = 1 << 30
    file_size: int = 64 << 20
    processes: int = 64
    open_files: int = 256
    output: int = 8000
    flood: int = 64 << 20

    def rlimits(self) -> dict[str, int]:
        """The resource limits the launcher sets (`processes` binds only for users other than root)."""
        return {"cpu": self.cpu, "memory": self.memory, "file_size": self.file_size,
                "processes": self.processes, "open_files": self.open_files, "core": 0}


@attrs.frozen
class Isolation:
    """What surrounds a block on this machine. `unshare`: the argv prefix making new namespaces
    (empty when unavailable); `cgroups`: the folder per-block pids cgroups are made in (or None)."""

    unshare: tuple[str, ...]
    cgroups: str | None

    @property
    def namespaces(self) -> bool:
        return bool(self.unshare)

    def describe(self) -> list[str]:
        """What is missing here, one line each (nothing when every protection is on)."""
        gaps = []
        if not self.unshare:
            gaps.append("no namespaces (`unshare` is missing or not permitted): code can reach the network, "
                        "write wherever the user can, and a process that leaves its session can outlive the block")
        if self.cgroups is None and os.geteuid() == 0:
            gaps.append("no pids cgroup: as root the process count is bounded only by the time limit"
                        + (" (the PID namespace still ends every process with the block)" if self.unshare else ""))
        return gaps

    def command(self, command: list[str], limits: Limits, writable: list[str], cgroup: str | None,
                guard: float) -> list[str]:
        """The argv running `command` inside this isolation, with `limits`, writing only to `writable`."""
        config: dict[str, Any] = {"limits": limits.rlimits(), "cgroup": cgroup,
                                  "writable": writable if self.unshare else None, "guard": guard}
        return [*self.unshare, sys.executable, "-I", "-S", LAUNCHER, json.dumps(config), "--", *command]

    def new_cgroup(self, limit: int) -> str | None:
        """A fresh pids cgroup allowing `limit` processes, or None when cgroups are not available."""
        if self.cgroups is None:
            return None
        folder = os.path.join(self.cgroups, f"parley-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            os.mkdir(folder)
            Path(folder, "pids.max").write_text(str(limit))
        except OSError:
            remove_cgroup(folder)
            return None
        return folder


def remove_cgroup(folder: str) -> None:
    """Kill what is left in a block's cgroup and remove it (it empties as the killed processes exit)."""
    import signal
    import time

    for _ in range(200):
        try:
            pids = Path(folder, "cgroup.procs").read_text().split()
        except OSError:
            pids = []
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        try:
            os.rmdir(folder)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)


def _own_cgroup(controller: str) -> str | None:
    """This process's cgroup path in the v1 hierarchy of `controller` ("" for the v2 one)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if (controller and controller in names.split(",")) or (not controller and not names and line.startswith("0:")):
            return path
    return None


def _cgroup_parent() -> str | None:
    """Where this process may make pids cgroups: v1 `pids` hierarchy, or a v2 folder delegating `pids`."""
    v1 = _own_cgroup("pids")
    candidates = []
    if v1 is not None:
        candidates.append(_CGROUP_ROOT / "pids" / v1.lstrip("/"))
    v2 = _own_cgroup("")
    if v2 is not None:
        folder = _CGROUP_ROOT / v2.lstrip("/")
        try:
            if "pids" in (folder / "cgroup.subtree_control").read_text().split():
                candidates.append(folder)
        except OSError:
            pass
    for folder in candidates:
        probe = folder / f"parley-probe-{os.getpid()}"
        try:
            probe.mkdir()
            (probe / "pids.max").write_text("8")
            os.rmdir(probe)
            return str(folder)
        except OSError:
            try:
                os.rmdir(probe)
            except OSError:
                pass
    return None


def _unshare_prefix() -> tuple[str, ...]:
    """The `unshare` argv that works here (tried on a real launch), or () when none does."""
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux"):
        return ()
    prefix = [unshare, "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]
    if os.geteuid() != 0:
        prefix[1:1] = ["--user", "--map-root-user"]
    with tempfile.TemporaryDirectory(prefix="parley-probe-") as folder:
        probe = Isolation(tuple(prefix), None).command(["true"], Limits(), [folder], None, 10)
        try:
            done = subprocess.run(probe, cwd=folder, capture_output=True, timeout=10, check=False,
                                  env={"PATH": os.environ.get("PATH", os.defpath)})
        except (OSError, subprocess.TimeoutExpired):
            return ()
    return tuple(prefix) if done.returncode == 0 else ()


@functools.cache
def isolation() -> Isolation:
    """This machine's isolation for code blocks, found by trying (once per process)."""
    return Isolation(_unshare_prefix(), _cgroup_parent() if sys.platform.startswith("linux") else None)


__all__ = ["Isolation", "Limits", "isolation", "remove_cgroup"]
