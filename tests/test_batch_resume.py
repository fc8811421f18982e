"""`parley batch --resume`: a batch killed (SIGKILL) or stopped (SIGTERM) part-way runs only the rows that did
not end, each row resuming its own run, so no call its journal holds is sent again, and every row appears once
in the output. Also: the progress a terminal and a pipe get, and what a resume refuses."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fake_openai import (  # noqa: F401  (fake_openai_fixture registers the `fake_openai` fixture)
    FakeOpenAI,
    Reply,
    fake_openai_fixture,
    reply,
)

from parley._batch_progress import progress_for
from parley.batch import RowResult
from parley.cli import main

SCRIPT = ('agent writer:\n    """You write one line."""\ninput topic: str\n'
          'first = @writer Name a fact about {topic}.\nsecond = @writer Say more about: {first}\n'
          'output "{first} / {second}"\n')
ROWS = 12
ASKS = 2


def answer(body: dict[str, Any]) -> Reply:
    """A reply that depends only on what was asked, so a resumed row says what an uninterrupted one would."""
    said = body["messages"][-1]["content"]
    return reply("r-" + hashlib.sha256(said.encode()).hexdigest()[:8], delay=0.12)


def expected(topic: str) -> str:
    first = "r-" + hashlib.sha256(f"Name a fact about {topic}.".encode()).hexdigest()[:8]
    second = "r-" + hashlib.sha256(f"Say more about: {first}".encode()).hexdigest()[:8]
    return f"{first} / {second}"


@pytest.fixture()
def batch_files(tmp_path: Path, fake_openai: FakeOpenAI) -> dict[str, Any]:
    fake_openai.handler = answer
    script, rows = tmp_path / "facts.agent", tmp_path / "rows.jsonl"
    script.write_text(SCRIPT, encoding="utf-8")
    rows.write_text("".join(json.dumps({"topic": f"topic {i}"}) + "\n" for i in range(ROWS)), encoding="utf-8")
    return {"script": script, "rows": rows, "out": tmp_path / "out.jsonl", "store": tmp_path / "runs.db",
            "fake": fake_openai}


def start(files: dict[str, Any], *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "parley", "batch", str(files["script"]), str(files["rows"]),
               "--out", str(files["out"]), "--store", str(files["store"]), "--concurrency", "3",
               "--model", "gpt-4o-mini", "--base-url", files["fake"].base_url, *extra]
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "NO_COLOR": "1"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for(condition: Any, process: subprocess.Popen[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def query(store: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(store)
    try:
        return db.execute(sql).fetchall()
    except sqlite3.OperationalError:  # not made yet
        return []
    finally:
        db.close()


def resumed_in_flight(store: Path) -> int:
    """Rows whose run started and journaled a call, with no result yet: the ones a resume must pick up."""
    found = query(store, "SELECT count(*) FROM batch_rows b WHERE b.result IS NULL AND b.run IS NOT NULL AND "
                         "EXISTS (SELECT 1 FROM journal j WHERE j.run = b.run)")
    return found[0][0] if found else 0


def resume(files: dict[str, Any], batch_id: str) -> Any:
    return CliRunner().invoke(main, ["batch", "--resume", batch_id, "--store", str(files["store"])],
                              env={"OPENAI_API_KEY": "sk-test", "NO_COLOR": "1"})


def check_every_row_once(out: Path) -> None:
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["row"] for r in lines] == list(range(1, ROWS + 1))
    assert all(r["status"] == "done" for r in lines), lines
    assert [r["output"] for r in lines] == [expected(f"topic {i}") for i in range(ROWS)]


def test_a_killed_batch_resumes_without_sending_a_journaled_request_again(batch_files: dict[str, Any]) -> None:
    fake, store = batch_files["fake"], batch_files["store"]
    process = start(batch_files)
    wait_for(lambda: resumed_in_flight(store) >= 1 and len(query(store, "SELECT 1 FROM batch_rows "
                                                                        "WHERE result IS NOT NULL")) >= 2, process)
    process.kill()  # SIGKILL: nothing is settled, the batch and its runs still read `running`
    process.wait()
    (batch_id,), = query(store, "SELECT id FROM batches")
    again = subprocess.Popen([sys.executable, "-m", "parley", "batch", "--resume", batch_id, "--store", str(store)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env={**os.environ, "OPENAI_API_KEY": "sk-test"})
    time.sleep(random.Random(ROWS).uniform(0.9, 1.4))  # a resume killed in its turn, somewhere in its rows
    again.kill()
    again.wait()
    sent_before = len(fake.requests)
    journaled = query(store, "SELECT count(*) FROM journal")[0][0]
    ended_before = query(store, "SELECT count(*) FROM batch_rows WHERE result IS NOT NULL")[0][0]

    result = resume(batch_files, batch_id)
    assert result.exit_code == 0, result.output
    assert f"batch {batch_id}: {ROWS} rows, {ended_before} ended already" in result.stderr
    assert len(fake.requests) - sent_before == ROWS * ASKS - journaled  # every journaled call served, not sent
    check_every_row_once(batch_files["out"])
    runs = query(store, "SELECT status, attempts FROM runs")
    assert len(runs) == ROWS and all(status == "done" for status, _ in runs)  # each row kept its run
    assert sum(attempts >= 2 for _, attempts in runs) >= 1  # the rows in flight were resumed, not restarted
    assert query(store, "SELECT status FROM batches") == [("done",)]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_batch_as_interrupted_and_says_how_to_resume(batch_files: dict[str, Any],
                                                                        signum: int) -> None:
    store = batch_files["store"]
    process = start(batch_files, "--unordered")
    wait_for(lambda: len(query(store, "SELECT 1 FROM batch_rows WHERE result IS NOT NULL")) >= 3, process)
    process.send_signal(signum)  # SIGINT: Ctrl-C
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + signum, stderr
    (batch_id, status), = query(store, "SELECT id, status FROM batches")
    assert status == "interrupted"
    assert f"resume with: parley batch --resume {batch_id} --store {store}" in stderr
    said = "terminated" if signum == signal.SIGTERM else "interrupted"
    assert f"{said}: " in stderr and f" of {ROWS} rows ended" in stderr
    statuses = {s for (s,) in query(store, "SELECT status FROM runs")}
    assert statuses <= {"done", "interrupted"} and "interrupted" in statuses  # the rows in flight were settled

    result = resume(batch_files, batch_id[:6])  # an id is found by its start, as for runs
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in batch_files["out"].read_text().splitlines()]
    assert sorted(r["row"] for r in lines) == list(range(1, ROWS + 1))  # once each, as they ended

    again = resume(batch_files, batch_id)
    assert again.exit_code == 2 and f"batch {batch_id} finished" in again.stderr


def test_a_row_whose_run_finished_unrecorded_is_read_from_its_run(batch_files: dict[str, Any]) -> None:
    fake, store = batch_files["fake"], batch_files["store"]
    first = CliRunner().invoke(main, ["batch", str(batch_files["script"]), str(batch_files["rows"]), "--out",
                                      str(batch_files["out"]), "--store", str(store), "--concurrency", "12",
                                      "--model", "gpt-4o-mini", "--base-url", fake.base_url],
                               env={"OPENAI_API_KEY": "sk-test", "NO_COLOR": "1"})
    assert first.exit_code == 0, first.output
    (batch_id,), = query(store, "SELECT id FROM batches")
    db = sqlite3.connect(store)  # as if killed after row 5's run ended, before its line was written
    with db:
        db.execute("UPDATE batch_rows SET result = NULL WHERE row = 5")
        db.execute("UPDATE batches SET status = 'interrupted'")
    db.close()
    sent = len(fake.requests)
    result = resume(batch_files, batch_id)
    assert result.exit_code == 0, result.output
    assert len(fake.requests) == sent  # nothing asked: its run's record says it all
    check_every_row_once(batch_files["out"])
    row5 = json.loads(batch_files["out"].read_text().splitlines()[4])
    assert row5["usage"]["turns"] == 2 and row5["outputs"] == [expected("topic 4")]

    db = sqlite3.connect(store)  # the rows file changes: its row numbers would name other rows
    with db:
        db.execute("UPDATE batches SET status = 'interrupted'")
    db.close()
    batch_files["rows"].write_text('{"topic": "other"}\n', encoding="utf-8")
    changed = resume(batch_files, batch_id)
    assert changed.exit_code == 2 and "changed since batch" in changed.stderr
    unknown = resume(batch_files, "nope")
    assert unknown.exit_code == 2 and "no batch" in unknown.stderr


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_progress_bar_and_a_pipe_plain_lines() -> None:
    results = [RowResult(i, {}, "done" if i != 2 else "failed", usage={"tokens": 10, "cost": "0.001"})
               for i in range(1, 5)]
    bar, lines = Terminal(), io.StringIO()
    for stream in (bar, lines):
        progress = progress_for(4, stream)
        assert progress is not None
        for result in results:
            progress.add(result)
        progress.close()
    assert "4/4" in bar.getvalue() and "━" in bar.getvalue() and "3 done · 1 not" in bar.getvalue()
    assert "\x1b[" in bar.getvalue()  # drawn in place
    assert lines.getvalue().splitlines()[-1].startswith("4/4 rows · 3 done · 1 not · 40 tokens · $0.004 · ")
    assert "\x1b[" not in lines.getvalue()
    unpriced = io.StringIO()
    progress = progress_for(1, unpriced)
    assert progress is not None
    progress.add(RowResult(1, {}, "done", usage={"tokens": 5, "cost": "0", "unpriced": 1}))
    assert "cost unknown" in unpriced.getvalue() and "$0" not in unpriced.getvalue()
