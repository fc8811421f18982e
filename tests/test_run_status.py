"""A run's recorded status is true: real `parley run` processes, stopped by a closed pipe, SIGTERM and SIGKILL.

The scripts use the scripted model; the second ask waits 30 s (a rule's
`delay`), so a signal sent once the first reply is printed lands mid-run.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from parley.runtime.processes import start_token
from parley.runtime.store import Store

from parley.cli import main

SCRIPT = 'agent w:\n    """You answer."""\na = @w first\nprint a\nb = @w second\nprint b\n'
PRINTS = "".join(f'print "line {i}"\n' for i in range(200))


def rules(path: Path, delay: float) -> None:
    path.write_text(json.dumps({"rules": [{"contains": "first", "reply": "one"},
                                          {"contains": "second", "reply": "two", "delay": delay}], "default": "?"}))


def parley(*args: str, cwd: Path, stdout: int = subprocess.PIPE) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "PARLEY_STORE"}
    return subprocess.Popen([sys.executable, "-m", "parley", *args], cwd=cwd, stdout=stdout,
                            stderr=subprocess.PIPE, text=True, env=env)


def mid_run(tmp_path: Path) -> subprocess.Popen[str]:
    """A `parley run` waiting for its second reply (the first printed)."""
    (tmp_path / "slow.agent").write_text(SCRIPT)
    rules(tmp_path / "slow.rules.json", 30)
    process = parley("run", "slow.agent", "--model", "scripted:slow.rules.json", "--store", "s.db", cwd=tmp_path)
    assert process.stdout is not None
    assert process.stdout.readline() == "one\n"
    return process


def status(tmp_path: Path) -> tuple[str, str]:
    (found,) = Store(tmp_path / "s.db").runs()
    return found["id"], found["status"]


def resume_to_the_end(tmp_path: Path, run_id: str) -> None:
    rules(tmp_path / "slow.rules.json", 0)
    process = parley("run", "--resume", run_id, "--store", "s.db", cwd=tmp_path)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0 and stdout == "one\ntwo\n", stderr
    assert status(tmp_path) == (run_id, "done")


def test_a_run_whose_reader_left_is_done_not_failed(tmp_path: Path) -> None:
    (tmp_path / "prints.agent").write_text(PRINTS + "output 7\n")
    process = parley("run", "prints.agent", "--store", "s.db", cwd=tmp_path)
    assert process.stdout is not None
    process.stdout.close()  # `parley run … | head -0`: the reader is gone before anything is written
    stderr = process.stderr.read() if process.stderr is not None else ""
    assert process.wait(timeout=60) == 0, stderr
    assert "Error" not in stderr and "Traceback" not in stderr
    assert status(tmp_path)[1] == "done"


def test_sigterm_marks_the_run_interrupted_with_the_resume_hint(tmp_path: Path) -> None:
    process = mid_run(tmp_path)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    run_id, said = status(tmp_path)
    assert (process.returncode, said) == (143, "interrupted")
    assert f"terminated; resume with: parley run --resume {run_id} --store s.db" in stderr
    resume_to_the_end(tmp_path, run_id)


def test_a_killed_run_reads_died_and_resumes(tmp_path: Path) -> None:
    process = mid_run(tmp_path)
    process.kill()
    process.communicate(timeout=30)
    run_id, said = status(tmp_path)
    assert said == "died"
    listed = CliRunner().invoke(main, ["runs", "--store", str(tmp_path / "s.db")])
    assert f"{run_id}  " in listed.output and " died " in listed.output
    shown = CliRunner().invoke(main, ["show", run_id, "--store", str(tmp_path / "s.db")])
    assert "status: died" in shown.output
    row = sqlite3.connect(tmp_path / "s.db").execute("SELECT status FROM runs").fetchone()
    assert row == ("running",)  # what the record says; reading it tells the truth
    resume_to_the_end(tmp_path, run_id)


def test_a_pid_given_to_another_process_does_not_keep_a_run_running(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    run_id = store.start_run("x.agent", "0" * 64, "2", {})
    assert store.run(run_id)["status"] == "running"  # this process: alive
    store.db.execute("UPDATE runs SET process_start = 'another boot:1' WHERE id = ?", (run_id,))
    expected = "died" if start_token() is not None else "running"  # without /proc, only the pid is checked
    assert store.run(run_id)["status"] == expected
    assert [r["status"] for r in store.runs()] == [expected]


def test_a_failed_resume_leaves_the_run_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stop.agent").write_text('agent w:\n    """You answer."""\na = @w first\nprint a\nb = @w x\n')
    (tmp_path / "r.json").write_text(json.dumps({"rules": [{"contains": "first", "reply": "one"}],
                                                 "default": "?"}))
    store = str(tmp_path / "s.db")
    first = CliRunner().invoke(main, ["run", "stop.agent", "--model", "scripted:r.json", "--store", store,
                                      "--max-turns", "1"])
    assert first.exit_code == 4, first.output
    run_id, said = status(tmp_path)
    assert said == "budget"
    again = CliRunner().invoke(main, ["run", "--resume", run_id, "--model", "scripted:missing.json",
                                      "--store", store])
    assert again.exit_code == 2 and "missing.json" in again.output
    assert status(tmp_path) == (run_id, "budget")
    assert Store(store).run(run_id)["attempts"] == 1
