"""Python agents and tools that keep state resume correctly: their calls run again, in order, on resume.

The two stateful examples — `examples/counter.agent` (a python agent that
counts) and `examples/board.agent` (a Python tic-tac-toe board the script
moves on) — run as `parley run` processes against a fake OpenAI server whose
replies depend only on the request (the board's players pick a free square
by a hash of the conversation, so a board rebuilt wrong would change the game).
Each is killed with SIGKILL while its request number N+1 is held by the
server, then resumed: the resumed run must end with the transcript, stdout
and journal keys of an uninterrupted run, and send none of the N requests
answered before the kill again.

Processes are forked from the kill tests' fork server (test_resume_kill.py):
each is a new process, so its Python modules start with fresh state, as
`parley run --resume` does.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Reply, reply, server_error
from helpers import EXAMPLES
from parley.compiler import python_modules
from parley.runtime.store import Store
from test_resume_kill import TAG_HEADER, integrity, query, sent_by, shown, spawn, the_run, transcript

import parley

MODEL = "stateful-model"
SCRIPTS = {"counter": EXAMPLES / "counter.agent", "board": EXAMPLES / "board.agent"}
#: Kill points: the run is killed while the server holds its request number N + 1 (N answered before it).
KILLS = [("counter", 1), ("counter", 3), ("board", 1), ("board", 4), ("board", 7)]


# ---- the server -----------------------------------------------------------------------------------


def answer(body: dict[str, Any]) -> Reply:
    """A player names one of the free squares its question lists (chosen by a hash of the conversation);
    anyone else gets `r-` and that hash."""
    messages = body["messages"]
    key = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:8]
    free = re.search(r"free squares: \[([^\]]*)\]", str(messages[-1]["content"]))
    if free:
        squares = [int(n) for n in re.findall(r"\d", free.group(1))]
        return reply(f"I take {squares[int(key, 16) % len(squares)]}.")
    return reply(f"r-{key}")


class Holding:
    """Answers every request, except that it holds the request numbered `hold_at` (counted from `arm`) and
    says so: the process that sent it is killed while it waits."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hold_at: int | None = None
        self.count = 0
        self.holding = threading.Event()

    def arm(self, hold_at: int | None) -> None:
        with self.lock:
            self.hold_at, self.count = hold_at, 0
            self.holding.clear()

    def __call__(self, body: dict[str, Any]) -> Reply:
        with self.lock:
            self.count += 1
            held = self.count == self.hold_at
        if held:
            self.holding.set()
            return reply("never sent", delay=120)  # cut short when the server closes
        return answer(body)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    fake.handler = Holding()
    try:
        yield fake
    finally:
        fake.close()
    fake.check()


_phases = threading.Lock()  # one process at a time: the server counts its requests


def run_script(script: str, server: FakeOpenAI, store: Path, tag: str, folder: Path,
               hold_at: int | None = None) -> tuple[int | None, str, str]:
    """`parley run` of the example, to its end, or killed while the server holds its request `hold_at`."""
    handler = server.handler
    assert isinstance(handler, Holding)
    with _phases:
        handler.arm(hold_at)
        process = spawn(["run", str(SCRIPTS[script]), "--model", MODEL, "--base-url", server.base_url,
                         "--store", str(store)], tag, folder / f"{tag}.log")
        if hold_at is not None:
            assert handler.holding.wait(30), f"{tag}: the run never sent request {hold_at}"
            process.kill()
        stdout, stderr = process.communicate(timeout=60)
        handler.arm(None)
    return process.returncode, stdout, stderr


def resume_run(run_id: str, server: FakeOpenAI, store: Path, tag: str, folder: Path) -> tuple[int | None, str, str]:
    with _phases:
        process = spawn(["run", "--resume", run_id, "--store", str(store)], tag, folder / f"{tag}.log")
        stdout, stderr = process.communicate(timeout=60)
    return process.returncode, stdout, stderr


def journal_keys(store: Path, run_id: str) -> list[tuple[str, int, str]]:
    return sorted(query(store, "SELECT path, call, kind FROM journal WHERE run = ?", run_id))


# ---- the baselines ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    requests: Counter[str]
    transcript: list[tuple[Any, ...]]
    stdout: str
    keys: list[tuple[str, int, str]]
    run_id: str
    store: Path


@pytest.fixture(scope="module")
def baselines(server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Baseline]:
    folder = tmp_path_factory.mktemp("stateful-baselines")
    made = {}
    for script in SCRIPTS:
        store, tag = folder / f"{script}.db", f"stateful-baseline-{script}"
        code, stdout, stderr = run_script(script, server, store, tag, folder)
        assert code == 0, stderr
        run_id = the_run(store)
        assert run_id is not None
        requests = sent_by(server, tag)
        assert max(requests.values()) == 1  # every request differs, so a repeat would show
        made[script] = Baseline(requests, transcript(shown(run_id, store)["events"], {}), stdout,
                                journal_keys(store, run_id), run_id, store)
    return made


def test_the_uninterrupted_runs_are_what_the_examples_promise(baselines: dict[str, Baseline]) -> None:
    counter, board = baselines["counter"], baselines["board"]
    assert json.loads(counter.stdout.strip().splitlines()[-1]) == {"counts": ["1", "2", "3", "4"]}
    assert sum(counter.requests.values()) == 4
    game = json.loads(board.stdout.strip().splitlines()[-1])
    assert len(game["moves"]) == len(set(game["moves"])) == sum(board.requests.values()) >= 8
    assert {kind for _, _, kind in board.keys} == {"model", "tool"}


# ---- kill and resume --------------------------------------------------------------------------------

@pytest.mark.parametrize(("script", "answered"), KILLS, ids=[f"{s}-after-{n}" for s, n in KILLS])
def test_a_killed_stateful_run_resumes_to_the_uninterrupted_run(
        script: str, answered: int, server: FakeOpenAI, baselines: dict[str, Baseline], tmp_path: Path) -> None:
    base = baselines[script]
    store, killed_tag, resumed_tag = tmp_path / "runs.db", f"{script}-{answered}-killed", f"{script}-{answered}-resumed"
    code, _, _ = run_script(script, server, store, killed_tag, tmp_path, hold_at=answered + 1)
    assert code != 0
    assert integrity(store) == "ok"
    run_id = the_run(store)
    assert run_id is not None and shown(run_id, store)["run"]["status"] in ("running", "died")  # killed
    killed = [r for r in server.received if r.headers.get(TAG_HEADER) == killed_tag]
    held = json.dumps({k: v for k, v in killed[-1].json.items() if k != "model"}, sort_keys=True)
    answered_requests = sent_by(server, killed_tag) - Counter([held])
    assert sum(answered_requests.values()) == answered
    kinds = Counter(kind for _, _, kind in journal_keys(store, run_id))
    assert kinds["model"] == answered and kinds["python" if script == "counter" else "tool"] >= answered

    code, stdout, stderr = resume_run(run_id, server, store, resumed_tag, tmp_path)
    assert code == 0, stderr
    resumed_requests = sent_by(server, resumed_tag)
    repeated = sum((resumed_requests & answered_requests).values())
    print(f"\n{script}, killed after {answered} answered requests: {sum(resumed_requests.values())} sent on "
          f"resume; requests repeated after kill-and-resume: {repeated}")
    assert repeated == 0, "a request answered before the kill was sent again"
    assert resumed_requests + answered_requests == base.requests
    record = shown(run_id, store)
    assert record["run"]["status"] == "done" and record["run"]["attempts"] == 2
    assert transcript(record["events"], {}) == base.transcript  # the count and the board went on where they were
    assert stdout == base.stdout
    assert journal_keys(store, run_id) == base.keys  # the Python calls run again took their own keys, no others
    served = [e for e in record["events"] if e["kind"] == "model_call" and e["data"]["journaled"]]
    assert len(served) == answered
    assert not [e for e in record["events"] if e["kind"] == "notice" and "another result" in e["data"]["text"]]
    assert integrity(store) == "ok"


# ---- replay -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_a_replay_runs_the_python_calls_again_and_matches_the_record(
        script: str, server: FakeOpenAI, baselines: dict[str, Baseline], tmp_path: Path) -> None:
    base = baselines[script]
    with _phases:
        process = spawn(["run", str(SCRIPTS[script]), "--replay", base.run_id, "--store", str(base.store)],
                        f"replay-{script}", tmp_path / "replay.log")
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert stdout == base.stdout
    assert sent_by(server, f"replay-{script}") == Counter()


def test_a_replay_fails_when_python_gives_another_result(server: FakeOpenAI, tmp_path: Path) -> None:
    """The module changed since the run was recorded: the replay names the call whose result differs."""
    (tmp_path / "lib").mkdir()
    shutil.copy(SCRIPTS["counter"], tmp_path / "counter.agent")
    shutil.copy(EXAMPLES / "lib" / "tally.py", tmp_path / "lib" / "tally.py")
    store = tmp_path / "runs.db"
    with _phases:
        process = spawn(["run", str(tmp_path / "counter.agent"), "rounds=2", "--model", MODEL, "--base-url",
                         server.base_url, "--store", str(store)], "replay-changed-record", tmp_path / "x.log")
        assert process.communicate(timeout=60) and process.returncode == 0
    run_id = the_run(store)
    assert run_id is not None
    tally = tmp_path / "lib" / "tally.py"
    tally.write_text(tally.read_text().replace("_count += 1", "_count += 2"))
    with _phases:
        process = spawn(["run", str(tmp_path / "counter.agent"), "--replay", run_id, "--store", str(store)],
                        "replay-changed", tmp_path / "y.log")
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 3, stderr
    assert "counter.agent:22: this python agent's reply gave another result than the recorded one" in stderr
    assert '"1"' in stderr and '"2"' in stderr  # recorded, and now


# ---- in one process: journaled functions, and state the process already had -------------------------


COUNTING = '''\
model m = openai("m", base_url="{url}", max_retries=0)
default model m
agent counter is python "tally:tick"
agent mail is python "outbox:send"
agent host:
    """You announce counts."""
repeat 3:
    c = @counter tick
    sent = @mail count {{c}}
    line = @host Announce {{c}}.
    print "{{c}} {{sent}} {{line}}"
'''

OUTBOX = '''\
"""Sends a message: an outside effect, so it is journaled and never sent twice."""
from pathlib import Path

SENT = Path(__file__).with_name("sent.txt")


def send(message: str) -> str:
    with SENT.open("a") as sent:
        sent.write(message + "\\n")
    return "sent"


send.parley_journal = True
'''


def test_in_one_process_a_journaled_function_runs_once_and_state_already_changed_is_named(
        server: FakeOpenAI, tmp_path: Path) -> None:
    """Resumes in the process where the run failed. With the count given its starting state again (as a new
    process has it), the resume ends as the uninterrupted run did, and the marked `send` is served from the
    journal: nothing is sent twice. Left at the count the failed run reached, the counter's calls run again give
    other results than the record: the run goes on from them, and a notice names each."""
    shutil.copy(EXAMPLES / "lib" / "tally.py", tmp_path / "tally.py")
    (tmp_path / "outbox.py").write_text(OUTBOX)
    (tmp_path / "count.agent").write_text(COUNTING.format(url=server.base_url))
    program = parley.load(tmp_path / "count.agent")
    tally = python_modules.load("tally", tmp_path)  # the module object the run calls
    assert tally is not None
    sent = tmp_path / "sent.txt"
    store = Store(tmp_path / "runs.db")
    handler = server.handler
    assert isinstance(handler, Holding)

    def failing_run() -> str:
        tally._count = 0
        fails = iter([False, True])  # the second model request (the host, in round 2) fails
        server.handler = lambda body: server_error() if next(fails, False) else answer(body)
        try:
            with pytest.raises(parley.RunError) as failed:
                program.run(store=store)
        finally:
            server.handler = handler
        return str(failed.value.result.run_id)

    with _phases:
        tally._count = 0
        baseline = program.run(store=store)
        assert sent.read_text().splitlines() == ["count 1", "count 2", "count 3"]
        sent.unlink()
        run_id = failing_run()
        assert sent.read_text().splitlines() == ["count 1", "count 2"]
        tally._count = 0
        resumed = program.run(store=store, resume=run_id)
        assert resumed.printed == baseline.printed
        assert sent.read_text().splitlines() == ["count 1", "count 2", "count 3"]  # nothing sent twice
        assert not [e for e in resumed.events if e.kind == "notice"]

        sent.unlink()
        run_id = failing_run()
        stale = program.run(store=store, resume=run_id)  # the count is at 2 already
    notices = [e.data["text"] for e in stale.events if e.kind == "notice"]
    assert len(notices) == 2 and all("python agent's reply gave another result than the recorded one" in n
                                     for n in notices), notices
    assert '"1"' in notices[0] and '"3"' in notices[0] and "parley_journal = True" in notices[0]
    assert [line.split()[0] for line in stale.printed] == ["3", "4", "5"]  # from the count the process had
    assert sent.read_text().splitlines() == ["count 1", "count 2", "count 3", "count 4", "count 5"]  # new messages
