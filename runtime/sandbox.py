"""Code an executor agent runs: the fenced blocks of a message, each in a contained subprocess.

Each block runs in its own session, in the agent's `workdir` (or a scratch folder removed
afterwards), with an allow-listed environment, a time limit and resource limits set by a small
launcher (never `preexec_fn`: blocks run from worker threads), inside new network, PID and
mount namespaces where the machine allows (`runtime.confine`). Output is read as it arrives
into a capped buffer; when the block ends or its time is up, every process it started is
killed. docs/code-execution.md is the user's account of all this.
"""

from __future__ import annotations

import math
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time

import attrs
from parley.compiler import plan as p
from parley.dsl.errors import FailureKind, RunError
from parley.runtime.confine import Isolation, Limits, isolation, remove_cgroup

_FENCED = re.compile(r"```(python|sh|bash)?[^\n]*\n(.*?)```", re.DOTALL)


@attrs.frozen
class CodeRunner:
    """An executor agent's settings: the languages it runs, its time limit, working folder and variables."""

    languages: tuple[str, ...] = ("python", "sh")
    timeout: float = 30.0
    folder: str | None = None
    env: tuple[str, ...] = ()
    """Variables of Parley's environment the code sees besides the allow-list (the agent's `env`)."""
    limits: Limits | None = None
    """None: the defaults of `Limits`, with CPU seconds following the time limit."""
    isolation: Isolation | None = None
    """None: what this machine allows (`confine.isolation`)."""

    @classmethod
    def of(cls, agent: p.AgentDecl) -> CodeRunner:
        settings, default = agent.settings, cls()  # what the script leaves out keeps the default
        return cls(settings.languages if settings.languages is not None else default.languages,
                   settings.timeout if settings.timeout is not None else default.timeout, settings.workdir,
                   tuple(getattr(settings, "env", None) or ()))

    def blocks(self, message: str) -> tuple[list[tuple[str, str]], str | None]:
        """The blocks of `message` this runner runs, or why there is none (the reply to send instead)."""
        found = [(lang or "python", code) for lang, code in _FENCED.findall(message)]
        runs = [(lang, code) for lang, code in found
                if lang in self.languages or (lang == "bash" and "sh" in self.languages)]
        if runs:
            return runs, None
        refused = sorted({lang for lang, _ in found} - set(self.languages))
        if refused:
            return [], f"exit code: none (this executor runs {', '.join(self.languages)}, not {', '.join(refused)})"
        return [], f"exit code: none (no code block found; send code in ```{self.languages[0]} fences)"

    def run(self, language: str, code: str) -> tuple[int, str]:
        """One block, contained: its exit code (124 when its time ran out) and its output, capped."""
        command = [sys.executable, "-I", "-c", code] if language == "python" else ["sh", "-c", code]
        limits = self.limits or Limits(cpu=math.ceil(self.timeout) + 1)
        box = self.isolation or isolation()
        with tempfile.TemporaryDirectory(prefix="parley-exec-", ignore_cleanup_errors=True) as scratch:
            workdir = os.path.realpath(self.folder or os.path.join(scratch, "work"))
            private_tmp = os.path.realpath(os.path.join(scratch, "tmp"))
            os.makedirs(workdir, exist_ok=True)
            os.mkdir(private_tmp)
            cgroup = box.new_cgroup(limits.processes)
            try:
                argv = box.command(command, limits, [workdir, private_tmp], cgroup, guard=self.timeout + 2)
                return _watch(argv, workdir, environment(workdir, private_tmp, self.env), self.timeout, limits)
            finally:
                if cgroup is not None:
                    remove_cgroup(cgroup)


def environment(home: str, tmp: str, names: tuple[str, ...] = ()) -> dict[str, str]:
    """The whole environment code sees: an allow-list, plus the variables the agent names."""
    env = {"PATH": os.environ.get("PATH") or os.defpath, "HOME": home,
           "LANG": os.environ.get("LANG") or "C.UTF-8", "TMPDIR": tmp}
    env.update({name: os.environ[name] for name in names if name in os.environ})
    return env


def refuse_code(plan: p.Plan, allowed: bool) -> None:
    """Stop a run that would run code without leave, before it asks any model anything."""
    agents = plan.code_agents()
    if agents and not allowed:
        names = ", ".join(f"`{a.name}`" for a in agents)
        raise RunError(FailureKind.CODE, f"this script's executor agent{'s' if len(agents) > 1 else ''} {names} "
                                         f"{'run' if len(agents) > 1 else 'runs'} code, and this run does not allow it: run with --allow-code "
                                         "(or allow_code=True) if you trust the script", agents[0].span)


@attrs.define
class _Output:
    """The bytes a block prints, kept to `limit`: the first quarter and the latest rest."""

    limit: int
    head: bytearray = attrs.field(factory=bytearray)
    tail: bytearray = attrs.field(factory=bytearray)
    total: int = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.limit // 4 - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > self.limit - self.limit // 4:
            del self.tail[:len(self.tail) - (self.limit - self.limit // 4)]

    def text(self) -> str:
        head, tail = self.head.decode(errors="replace"), self.tail.decode(errors="replace")
        cut = self.total - len(self.head) - len(self.tail)
        return head + tail if cut <= 0 else f"{head}\n[parley: {cut:,} bytes of output cut]\n{tail}"


def _watch(argv: list[str], cwd: str, env: dict[str, str], timeout: float, limits: Limits) -> tuple[int, str]:
    """Run `argv` in a session of its own, reading its output as it comes; then kill the session."""
    deadline = time.monotonic() + timeout
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    assert process.stdout is not None
    pipe, output, why = process.stdout.fileno(), _Output(limits.output), ""
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(pipe, selectors.EVENT_READ)
            while not why:
                left = deadline - time.monotonic()
                if left <= 0:
                    why = f"stopped after the {timeout:g}s time limit"
                elif selector.select(min(left, 0.05)):
                    chunk = os.read(pipe, 1 << 16)
                    if not chunk:  # every writer is gone; the block may still run with its output closed
                        selector.unregister(pipe)
                        try:
                            process.wait(max(0.0, deadline - time.monotonic()))
                        except subprocess.TimeoutExpired:
                            continue
                        break
                    output.add(chunk)
                    if output.total > limits.flood:
                        why = f"stopped after {limits.flood >> 20} MiB of output"
                if not why and process.poll() is not None:
                    break  # the block has ended: what it left running in the background goes with it
    finally:
        _kill_session(process)
    _drain(pipe, output, limits.flood)
    process.stdout.close()
    if why.startswith("stopped after the"):
        return 124, output.text() + f"\n[parley: {why}]"
    code = process.returncode if process.returncode >= 0 else 128 - process.returncode
    notes = [f"[parley: {why}]"] if why else []
    if not why and code > 128 and code - 128 in _SIGNALS:
        notes.append(f"[parley: ended by {_SIGNALS[code - 128]}]")
    return code, output.text() + ("\n" + "\n".join(notes) if notes else "")


_SIGNALS = {int(signal.SIGKILL): "SIGKILL (a limit was reached, or it was killed)",
            int(signal.SIGXCPU): "SIGXCPU (its CPU time limit)", int(signal.SIGXFSZ): "SIGXFSZ (its file size limit)",
            int(signal.SIGSEGV): "SIGSEGV", int(signal.SIGABRT): "SIGABRT", int(signal.SIGTERM): "SIGTERM"}


def _kill_session(process: subprocess.Popen[bytes]) -> None:
    """Kill the block's process group and anything else left in its session, and reap the launcher.

    In a PID namespace the kernel ends every process when the namespace's init goes; the scan of
    /proc is what catches leftovers where there is no namespace (a process that made a session of
    its own there escapes it: docs/code-execution.md)."""
    for _ in range(50):
        alive = _session_members(process.pid)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if process.poll() is None:
            try:
                process.wait(1)
            except subprocess.TimeoutExpired:
                continue
        if not alive:
            return
        time.sleep(0.01)


def _session_members(session: int) -> list[int]:
    """Processes whose session or process group is `session` (from /proc; Linux only)."""
    found: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        # after the name: state, ppid, pgrp, session; a zombie is already dead (its parent reaps it)
        if fields[0] != b"Z" and session in (int(fields[2]), int(fields[3])):
            found.append(int(entry))
    return found


def _drain(pipe: int, output: _Output, flood: int) -> None:
    """Read what is left in the pipe (bounded in time and size), now that its writers are dead."""
    os.set_blocking(pipe, False)
    until = time.monotonic() + 0.5
    with selectors.DefaultSelector() as selector:
        selector.register(pipe, selectors.EVENT_READ)
        while time.monotonic() < until and output.total <= flood + (1 << 20):
            if not selector.select(max(0.0, until - time.monotonic())):
                return
            try:
                chunk = os.read(pipe, 1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                return
            output.add(chunk)
