"""`parley batch --engine ray` on a local Ray cluster with 2 CPUs (`ray start --head`, found through `RAY_ADDRESS`
as a user's cluster is): the same output as the local engine on the same rows, and a batch stopped part-way
resumes on Ray without sending a journaled request again (the driver alone writes the store).

The batches run as `parley` processes, so that the Ray driver's threads live and die with them, not in the
test process."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, fake_openai_fixture  # noqa: F401  (registers the `fake_openai` fixture)
from test_batch_resume import ROWS, SCRIPT, answer, expected

pytest.importorskip("ray", reason="the Ray engine needs parley-lang[ray]")
RAY = Path(sys.executable).with_name("ray")
#: A throwaway cluster on 127.0.0.1: no token to share between it and the batches.
RAY_ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture(scope="module", autouse=True)
def ray_address() -> Iterator[str]:
    """A local Ray cluster of 2 CPUs for this module, stopped after it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="ray-")
    started = subprocess.run([str(RAY), "start", "--head", "--num-cpus", "2", "--port", str(port),
                              "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", folder],
                             capture_output=True, text=True, timeout=120, check=False, env=RAY_ENV)
    assert started.returncode == 0, started.stderr
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True, timeout=60, check=False, env=RAY_ENV)


@pytest.fixture(autouse=True)
def _address(ray_address: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", ray_address)


def batch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "parley", "batch", *args], capture_output=True, text=True,
                          env={**RAY_ENV, "RAY_ADDRESS": os.environ["RAY_ADDRESS"], "NO_COLOR": "1",
                               "OPENAI_API_KEY": "sk-test"}, timeout=120, check=False)


def lines(path: Path) -> list[dict[str, Any]]:
    found = [json.loads(line) for line in path.read_text().splitlines()]
    for line in found:  # what differs between two runs of the same rows
        line.pop("run_id")
        line["usage"].pop("seconds", None)
    return found


def test_the_ray_engine_gives_the_local_engines_output(tmp_path: Path) -> None:
    script, rows, rules = tmp_path / "t.agent", tmp_path / "rows.csv", tmp_path / "rules.json"
    script.write_text('agent writer:\n    """You write one line."""\ninput topic: str\ninput n: int = 1\n'
                      'line = @writer Write {n} line about {topic}.\nprint "row {topic}"\noutput line\n')
    rows.write_text("topic,n\ntea,2\nowls,3\nx,many\nrain,1\n")
    rules.write_text(json.dumps({"rules": [{"contains": "about tea", "reply": "Tea is calm."},
                                           {"contains": "about owls", "reply": "Owls see.", "delay": 0.1}],
                                 "default": "A line."}))
    found = {}
    for engine in ("local", "ray"):
        out, store = tmp_path / f"{engine}.jsonl", tmp_path / f"{engine}.db"
        result = batch(str(script), str(rows), "--out", str(out), "--model", f"scripted:{rules}", "--store",
                       str(store), "--engine", engine, "--bad-rows", "skip", "--concurrency", "4")
        assert result.returncode == 3, result.stderr  # the bad row
        found[engine] = lines(out)
        events = sqlite3.connect(store).execute("SELECT count(*) FROM events e JOIN runs r ON e.run = r.id "
                                                "WHERE r.status = 'done'").fetchone()[0]
        assert events > 0  # the transcripts are in the driver's store either way
    assert found["ray"] == found["local"]
    assert [line["status"] for line in found["ray"]] == ["done", "done", "bad_row", "done"]


def test_a_stopped_batch_resumes_on_ray_serving_what_its_journal_holds(tmp_path: Path,
                                                                      fake_openai: FakeOpenAI) -> None:
    fake_openai.handler = answer
    script, rows, out, store = (tmp_path / "facts.agent", tmp_path / "rows.jsonl", tmp_path / "out.jsonl",
                                tmp_path / "runs.db")
    script.write_text(SCRIPT)
    rows.write_text("".join(json.dumps({"topic": f"topic {i}"}) + "\n" for i in range(ROWS)))
    first = batch(str(script), str(rows), "--out", str(out), "--store", str(store), "--model", "gpt-4o-mini",
                  "--base-url", fake_openai.base_url, "--concurrency", "6")
    assert first.returncode == 0, first.stderr
    db = sqlite3.connect(store)  # as if stopped with rows 3 and 7 half done: their second reply not journaled
    with db:
        (batch_id,), = db.execute("SELECT id FROM batches").fetchall()
        for row in (3, 7):
            (run,), = db.execute("SELECT run FROM batch_rows WHERE row = ?", (row,)).fetchall()
            db.execute("UPDATE batch_rows SET result = NULL WHERE row = ?", (row,))
            db.execute("DELETE FROM journal WHERE run = ? AND path = (SELECT max(path) FROM journal WHERE run = ?)",
                       (run, run))
            db.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", (run,))
        db.execute("UPDATE batches SET status = 'interrupted'")
    db.close()
    sent = len(fake_openai.requests)
    result = batch("--resume", batch_id, "--store", str(store), "--engine", "ray")
    assert result.returncode == 0, result.stderr
    assert len(fake_openai.requests) - sent == 2  # only the two replies the journal did not hold
    found = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["output"] for line in found] == [expected(f"topic {i}") for i in range(ROWS)]
    db = sqlite3.connect(store)
    assert db.execute("SELECT count(*) FROM journal").fetchone()[0] == ROWS * 2  # written back by the driver
    assert db.execute("SELECT count(*) FROM runs WHERE status = 'done' AND attempts = 2").fetchone()[0] == 2
