"""Kill a run and resume it: SIGKILL at 20 random points across three scripts, Ctrl-C, and many runs on one store.

Each script runs as a `parley run` subprocess against one fake OpenAI server
whose replies depend only on the request (`r-` + a hash of its messages), so
an uninterrupted run is the baseline every resumed run must reproduce: the
same transcript and stdout and, with what the killed run had journaled,
exactly the baseline's requests and tool executions, none of them twice.

Every process is tagged through `OPENAI_ORG_ID` (the client sends it as the
`OpenAI-Organization` header), so the server knows which process sent each
request: a request still in flight when its process died is never counted
for the next one, and kill points can run several at a time.

A new interpreter spends about a second importing (the openai package most of
it) before `parley run` sends its first request, and these tests start over
fifty `parley` processes: so all but the Ctrl-C test's are forked from a server
that has done the imports once (multiprocessing's forkserver; see `Parley`).
"""

from __future__ import annotations

import atexit
import hashlib
import importlib
import itertools
import json
import multiprocessing
import os
import pkgutil
import random
import runpy
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fake_openai import FakeOpenAI, Reply, reply, tool_call
from resume_tools import LOG_ENV

import parley
from parley.cli import main

TESTS = Path(__file__).resolve().parent
SCRIPTS = TESTS / "resume_scripts"
MODEL = "resume-model"
SEED = 20240605
#: Kill points per script: 20 in all, of which at least `MID_RUN_AT_LEAST` must land while the run is going.
KILLS = {"sequential": 7, "concurrent": 7, "tools": 6}
MID_RUN_AT_LEAST = 15
#: Kill points run at once: each spends most of its time waiting for the server's replies.
AT_ONCE = 4
#: The header that tells the server which process sent a request (from the client's `OPENAI_ORG_ID`).
TAG_HEADER = "openai-organization"

#: The events that make up a transcript, and what each says.
SAID: dict[str, Callable[[dict[str, Any]], str]] = {
    "turn": lambda data: data["text"],
    "print": lambda data: data["text"],
    "output": lambda data: json.dumps(data["value"], sort_keys=True),
    "tool_call": lambda data: json.dumps([data["tool"], data["arguments"]], sort_keys=True),
    "conversation_stop": lambda data: data["reason"],
}


# ---- the server --------------------------------------------------------------------------------


def answer(body: dict[str, Any]) -> Reply:
    """A tool call when tools are offered and the last message is not a tool result, else text; 40-80 ms."""
    messages = body["messages"]
    key = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:8]
    delay = 0.04 + int(key[:2], 16) / 255 * 0.04
    if body.get("tools") and messages[-1]["role"] != "tool":
        name = body["tools"][0]["function"]["name"]
        return reply(tool_calls=[tool_call(f"call-{key}", name, json.dumps({"word": f"w{key}"}))], delay=delay)
    return reply(f"r-{key}", delay=delay)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    fake.handler = answer
    try:
        yield fake
    finally:
        fake.close()
    fake.check()


def sent_by(server: FakeOpenAI, tag: str) -> Counter[str]:
    """The requests the process tagged `tag` sent, each as the script made it (the model id aside).

    A request cut off by its process's death, whose body never arrived whole, is left out."""
    return Counter(json.dumps({k: v for k, v in r.json.items() if k != "model"}, sort_keys=True)
                   for r in server.received if r.headers.get(TAG_HEADER) == tag and isinstance(r.json, dict))


# ---- running parley ----------------------------------------------------------------------------


#: Built here, so that the fork server, which imports this module, has done it once for all: the parser.
parley.compile("x = 1\nprint x\n", "warm-up.agent")

#: What openai imports only when a client first sends a request (its HTTP stack, the chat resources).
_OPENAI_LAZY = ("openai.resources.chat", "openai.lib.streaming.chat", "anyio._backends._asyncio", "httpx", "h11",
                "httpcore", "httpcore2", "jiter", "truststore")


def _preloaded() -> list[str]:
    """What the fork server imports once: this module, every module of Parley, openai and what it imports lazily.

    (The server skips a name it cannot import: the process then imports what it needs itself.)"""
    names = [__name__, "parley.cli", "openai", *_OPENAI_LAZY]
    for package in ("parley", "parley.dsl", "parley.compiler", "parley.runtime"):
        names += [f"{package}.{m.name}" for m in pkgutil.iter_modules(importlib.import_module(package).__path__)
                  if m.name != "__main__"]
    return names


def _run_parley(args: list[str], env: dict[str, str], stdout: str, stderr: str) -> None:
    """In the forked process: what `python -m parley ARGS` does once its imports are done."""
    os.environ.clear()
    os.environ.update(env)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a terminal (see `_PARLEY_MAIN`)
    for fd, path in ((1, stdout), (2, stderr)):
        file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(file, fd)
        os.close(file)
    if str(TESTS) not in sys.path:  # PYTHONPATH, as a new interpreter would read it
        sys.path.insert(0, str(TESTS))
    sys.argv = ["parley", *args]
    try:
        runpy.run_module("parley", run_name="__main__", alter_sys=True)
    finally:
        atexit._run_exitfuncs()  # multiprocessing ends the process with os._exit, which skips them


class Parley:
    """A `parley ARGS` process forked from a server that has imported Parley and openai once.

    A process of its own, like `subprocess.Popen` (whose methods it offers): its own environment, stdout and
    stderr (in files beside the store), exit status, a real SIGKILL; a new interpreter spends about a second
    on the imports first, and nothing else differs (the Ctrl-C test runs one, see `spawn`)."""

    _context: multiprocessing.context.BaseContext | None = None

    def __init__(self, args: list[str], env: dict[str, str], folder: Path, name: str) -> None:
        if Parley._context is None:
            Parley._context = multiprocessing.get_context("forkserver")
            Parley._context.set_forkserver_preload(_preloaded())
        self.args = args
        self._out, self._err = folder / f"{name}.stdout", folder / f"{name}.stderr"
        self._process = Parley._context.Process(target=_run_parley, args=(args, env, str(self._out), str(self._err)),
                                                daemon=True)
        self._process.start()

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def kill(self) -> None:
        self._process.kill()

    def send_signal(self, sig: int) -> None:
        assert self._process.pid is not None
        os.kill(self._process.pid, sig)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self._out.read_text(encoding="utf-8"), self._err.read_text(encoding="utf-8")


Process = Parley | subprocess.Popen[str]


#: `python -m parley` with Ctrl-C as at a terminal: a process started with SIGINT ignored (`cmd &` in a script,
#: some CI runners) passes that on to its children, and Python then leaves it ignored.
_PARLEY_MAIN = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                "runpy.run_module('parley', run_name='__main__', alter_sys=True)")


def spawn(args: list[str], tag: str, tool_log: Path, fresh: bool = False) -> Process:
    """`parley ARGS` in a process of its own: the tool module importable, tool executions logged, requests tagged.

    `fresh`: in a new interpreter (`python -m parley`, see `_PARLEY_MAIN`), else forked from the `Parley` server."""
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, LOG_ENV: str(tool_log), "OPENAI_ORG_ID": tag}
    if not fresh:
        return Parley(args, env, tool_log.parent, tag)
    return subprocess.Popen([sys.executable, "-c", _PARLEY_MAIN, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def start(script: str, store: Path, server: FakeOpenAI, tag: str, tool_log: Path, fresh: bool = False) -> Process:
    return spawn(["run", str(SCRIPTS / f"{script}.agent"), "--model", MODEL, "--base-url", server.base_url,
                  "--store", str(store)], tag, tool_log, fresh)


def resume(run_id: str, store: Path, tag: str, tool_log: Path, fresh: bool = False) -> subprocess.CompletedProcess[str]:
    """`parley run --resume` with neither --model nor --base-url: the run remembers them."""
    process = spawn(["run", "--resume", run_id, "--store", str(store)], tag, tool_log, fresh)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode is not None
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def wait_for_requests(server: FakeOpenAI, tag: str, count: int, process: Process) -> None:
    """Wait until the process tagged `tag` has sent `count` requests (after the first, its run is in the store)."""
    deadline = time.monotonic() + 30
    while sum(r.headers.get(TAG_HEADER) == tag for r in server.received) < count:
        assert process.poll() is None, f"{tag} ended early: {process.communicate()}"
        assert time.monotonic() < deadline, f"{tag} sent no request"
        time.sleep(0.005)


def tools_run(path: Path) -> Counter[str]:
    """The tool executions logged to `path`."""
    return Counter(path.read_text().splitlines() if path.exists() else [])


_show_lock = threading.Lock()  # CliRunner swaps sys.stdout: one at a time


def shown(run_id: str, store: Path) -> dict[str, Any]:
    """`parley show RUN --json`: the run's record and its events."""
    with _show_lock:
        result = CliRunner().invoke(main, ["show", run_id, "--json", "--store", str(store)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def query(store: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(store)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def the_run(store: Path) -> str | None:
    ids = [row[0] for row in query(store, "SELECT id FROM runs")]
    assert len(ids) <= 1
    return ids[0] if ids else None


def journaled(store: Path, run_id: str) -> Counter[str]:
    """The store's journal entries of the run, by kind."""
    return Counter(dict(query(store, "SELECT kind, count(*) FROM journal WHERE run = ? GROUP BY kind", run_id)))


def integrity(store: Path) -> str:
    return str(query(store, "PRAGMA integrity_check")[0][0])


# ---- transcripts -------------------------------------------------------------------------------


def concurrent_children(script: str) -> dict[str, tuple[str, int]]:
    """Every step inside a `concurrent` or `parallel` step: its id → (that step's id, which branch)."""
    plan = json.loads(parley.load(SCRIPTS / f"{script}.agent").plan_json())
    found: dict[str, tuple[str, int]] = {}

    def nodes(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            yield node
            for value in node.values():
                yield from nodes(value)
        elif isinstance(node, list):
            for item in node:
                yield from nodes(item)

    for step in nodes(plan["body"]):
        if step.get("kind") in ("concurrent", "parallel"):
            for index, branch in enumerate(step.get("steps") or step.get("branches") or []):
                for inner in nodes(branch):
                    if "id" in inner:
                        found.setdefault(inner["id"], (step["id"], index))
    return found


def transcript(events: list[dict[str, Any]], children: dict[str, tuple[str, int]]) -> list[tuple[Any, ...]]:
    """What the run said and did, in order; the events of steps that ran at once are put in branch order."""
    items = [(children.get(e["step"] or ""), e["kind"], e["data"].get("agent"), SAID[e["kind"]](e["data"]))
             for e in events if e["kind"] in SAID]
    ordered: list[tuple[Any, ...]] = []
    for parent, grouped in itertools.groupby(items, key=lambda item: item[0] and item[0][0]):
        group = list(grouped)
        ordered += sorted(group, key=lambda item: item[0][1]) if parent else group  # stable: a branch keeps its order
    return [item[1:] for item in ordered]


# ---- the baseline: one uninterrupted run per script -----------------------------------------------


@dataclass(frozen=True)
class Baseline:
    requests: Counter[str]
    tools: Counter[str]
    transcript: list[tuple[Any, ...]]
    stdout: str
    span: float  # seconds from the run's record to its end
    children: dict[str, tuple[str, int]]

    @property
    def total(self) -> int:
        return sum(self.requests.values())


class Baselines(dict[str, Baseline]):
    """Each script's baseline, run on first use."""

    def __init__(self, server: FakeOpenAI, folder: Path) -> None:
        super().__init__()
        self.server, self.folder = server, folder

    def __missing__(self, script: str) -> Baseline:
        store, tool_log, tag = self.folder / f"{script}.db", self.folder / f"{script}.log", f"baseline-{script}"
        process = start(script, store, self.server, tag, tool_log)
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        requests = sent_by(self.server, tag)
        assert max(requests.values()) == 1  # every request of the script differs, so a repeat would show
        run_id = the_run(store)
        assert run_id is not None
        record = shown(run_id, store)
        assert record["run"]["status"] == "done"
        children = concurrent_children(script)
        span = record["run"]["ended"] - record["run"]["started"]
        made = Baseline(requests, tools_run(tool_log), transcript(record["events"], children), stdout, span, children)
        self[script] = made
        return made


@pytest.fixture(scope="module")
def baselines(server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Baselines:
    return Baselines(server, tmp_path_factory.mktemp("baselines"))


# ---- SIGKILL at random points ----------------------------------------------------------------------


@dataclass(frozen=True)
class Kill:
    script: str
    point: int
    fraction: float  # of the baseline's span (its record's start to end), waited after the first request

    @property
    def name(self) -> str:
        return f"{self.script}-{self.point}"


@dataclass(frozen=True)
class Outcome:
    kill: Kill
    mid_run: bool
    journaled_model: int = 0
    journaled_tools: int = 0
    resumed_requests: int = 0


def kill_and_resume(kill: Kill, base: Baseline, server: FakeOpenAI, folder: Path) -> Outcome:
    """SIGKILL the run at `kill`, check the store, resume it, and check the resumed run against `base`."""
    folder.mkdir()
    store, killed_log, resumed_log = folder / "runs.db", folder / "killed.log", folder / "resumed.log"
    where = kill.name
    process = start(kill.script, store, server, f"{where}-killed", killed_log)
    wait_for_requests(server, f"{where}-killed", 1, process)
    time.sleep(kill.fraction * base.span)
    process.kill()
    process.communicate(timeout=30)
    assert integrity(store) == "ok", where
    killed_requests, killed_tools = sent_by(server, f"{where}-killed"), tools_run(killed_log)
    assert killed_requests <= base.requests and killed_tools <= base.tools, where
    run_id = the_run(store)
    assert run_id is not None, f"{where}: the run sent a request but has no record"
    killed = shown(run_id, store)
    if killed["run"]["status"] == "done":  # the kill came after the run had finished: nothing to resume
        assert killed_requests == base.requests and killed_tools == base.tools, where
        assert transcript(killed["events"], base.children) == base.transcript, where
        return Outcome(kill, mid_run=False)
    assert killed["run"]["status"] == "died", where  # its record says `running`; its process is gone
    entries = journaled(store, run_id)
    model, tools = entries["model"], entries["tool"]
    # A request or a tool in flight when the process died was made but not journaled: it is made again.
    assert model <= killed_requests.total() and 0 <= killed_tools.total() - tools <= 1, where

    resumed = resume(run_id, store, f"{where}-resumed", resumed_log)
    assert resumed.returncode == 0, f"{where}: {resumed.stderr}"
    resumed_requests, resumed_tools = sent_by(server, f"{where}-resumed"), tools_run(resumed_log)
    assert resumed_requests.total() == base.total - model, f"{where}: {model} of {base.total} requests journaled"
    assert resumed_requests <= base.requests, f"{where}: a request repeated, or one the baseline did not make"
    assert killed_requests + resumed_requests >= base.requests, where
    assert resumed_tools.total() == base.tools.total() - tools, f"{where}: {tools} tool calls journaled"
    assert resumed_tools <= base.tools <= killed_tools + resumed_tools, where
    record = shown(run_id, store)
    assert record["run"]["status"] == "done" and record["run"]["attempts"] == 2, where
    served = [e for e in record["events"] if e["kind"] == "model_call" and e["data"]["journaled"]]
    assert len(served) == model, f"{where}: every journaled request is served from the journal"
    assert transcript(record["events"], base.children) == base.transcript, where
    assert resumed.stdout == base.stdout, where
    assert integrity(store) == "ok", where
    return Outcome(kill, True, model, tools, resumed_requests.total())


def test_killed_runs_resume_to_the_same_transcript_without_repeating_a_call(
        server: FakeOpenAI, baselines: Baselines, tmp_path: Path) -> None:
    """20 SIGKILLs at random points of three scripts, four kill points at a time (mostly waiting on the server)."""
    rng = random.Random(SEED)
    kills = [Kill(script, point, rng.uniform(0.0, 1.0)) for script, count in KILLS.items() for point in range(count)]
    bases = {script: baselines[script] for script in KILLS}  # each baseline runs alone, before the kills
    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        futures = [pool.submit(kill_and_resume, k, bases[k.script], server, tmp_path / k.name) for k in kills]
        outcomes = [future.result() for future in futures]
    for script in KILLS:
        mine = [o for o in outcomes if o.kill.script == script]
        print(f"\n{script}: {bases[script].total} requests, {bases[script].tools.total()} tool calls per run; "
              f"{sum(o.mid_run for o in mine)} of {len(mine)} kills mid-run; journaled at the kill (model, tool) "
              f"{[(o.journaled_model, o.journaled_tools) for o in mine if o.mid_run]}, requests on resume "
              f"{[o.resumed_requests for o in mine if o.mid_run]}")
    assert sum(o.mid_run for o in outcomes) >= MID_RUN_AT_LEAST, outcomes


# ---- Ctrl-C ----------------------------------------------------------------------------------------


def test_ctrl_c_stops_a_run_as_interrupted_and_it_resumes(server: FakeOpenAI, baselines: Baselines,
                                                         tmp_path: Path) -> None:
    base = baselines["sequential"]
    store, tool_log = tmp_path / "runs.db", tmp_path / "tools.log"
    process = start("sequential", store, server, "ctrl-c", tool_log, fresh=True)  # a new interpreter, as typed
    wait_for_requests(server, "ctrl-c", 5, process)  # mid-run: the four asks are done, the chat has begun
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    run_id = the_run(store)
    assert run_id is not None
    assert process.returncode == 130, stderr
    assert f"resume with: parley run --resume {run_id}" in stderr
    assert shown(run_id, store)["run"]["status"] == "interrupted"
    assert integrity(store) == "ok"
    model = journaled(store, run_id)["model"]
    assert 4 <= model < base.total
    resumed = resume(run_id, store, "ctrl-c-resumed", tool_log, fresh=True)
    assert resumed.returncode == 0, resumed.stderr
    resumed_requests = sent_by(server, "ctrl-c-resumed")
    assert resumed_requests.total() == base.total - model and resumed_requests <= base.requests
    record = shown(run_id, store)
    assert record["run"]["status"] == "done"
    assert transcript(record["events"], base.children) == base.transcript
    assert resumed.stdout == base.stdout


# ---- many runs on one store ------------------------------------------------------------------------


def test_eight_parley_runs_share_one_store(server: FakeOpenAI, baselines: Baselines, tmp_path: Path) -> None:
    """Whole `parley run` processes at once (test_store.py covers bare writers): all finish, none is locked out.

    Forked, they start within milliseconds of each other: more contention on the store than new interpreters."""
    base = baselines["concurrent"]
    store = tmp_path / "shared.db"
    processes = [start("concurrent", store, server, f"shared-{n}", tmp_path / f"tools{n}.log") for n in range(8)]
    finished = [p.communicate(timeout=120) for p in processes]
    errors = [stderr for _, stderr in finished]
    assert [p.returncode for p in processes] == [0] * 8, errors
    assert not any("locked" in e for e in errors)
    assert all(stdout == base.stdout for stdout, _ in finished)
    assert all(sent_by(server, f"shared-{n}") == base.requests for n in range(8))
    ids = [row[0] for row in query(store, "SELECT id FROM runs WHERE status = 'done'")]
    assert len(ids) == 8 and integrity(store) == "ok"
    for run_id in ids:
        assert transcript(shown(run_id, store)["events"], base.children) == base.transcript
