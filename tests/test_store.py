"""The run store: schema, journal, history commands, file mode, and concurrent writers."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from parley.cli import main
from helpers import EXAMPLES, ROOT
from parley.runtime.events import make_event
from parley.runtime.store import SCHEMA_VERSION, Store

RULES = f"scripted:{EXAMPLES / 'hello.rules.json'}"


def test_schema_is_versioned_and_pinned(tmp_path: Path, snapshot) -> None:
    store = Store(tmp_path / "s.db")
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    schema = [row[0] for row in db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")]
    assert schema == snapshot
    store.close()
    Store(tmp_path / "s.db").close()  # opening again migrates nothing and keeps the data


def test_the_store_file_is_private(tmp_path: Path) -> None:
    Store(tmp_path / "private" / "s.db").close()
    assert stat.S_IMODE(os.stat(tmp_path / "private" / "s.db").st_mode) == 0o600


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "new.db")
    db.execute("PRAGMA user_version = 99")
    db.close()
    result = CliRunner().invoke(main, ["runs", "--store", str(tmp_path / "new.db")])
    assert result.exit_code == 2 and "newer Parley" in result.output


def test_runs_are_journaled_and_shown(tmp_path: Path) -> None:
    store_file = str(tmp_path / "runs.db")
    ran = CliRunner().invoke(main, ["run", str(EXAMPLES / "hello.agent"), "name=Ada", "--model", RULES,
                                    "--store", store_file])
    assert ran.exit_code == 0
    listed = CliRunner().invoke(main, ["runs", "--store", store_file])
    header, row = listed.output.splitlines()
    assert header.split() == ["RUN", "STARTED", "STATUS", "TURNS", "TOKENS", "COST", "TIME", "SCRIPT"]
    run_id, _, _, status, turns, *_ = row.split()
    assert (status, turns) == ("done", "2") and row.endswith("hello.agent")
    shown = CliRunner().invoke(main, ["show", run_id[:6], "--store", store_file, "--json"])
    record = json.loads(shown.output)
    assert record["run"]["status"] == "done" and record["run"]["inputs"] == '{"name": "Ada"}'
    kinds = [e["kind"] for e in record["events"]]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end" and kinds.count("turn") == 2
    transcript = CliRunner().invoke(main, ["show", run_id, "--store", store_file])
    assert "Hello, Ada! Welcome." in transcript.output


def test_failed_runs_keep_what_they_did(tmp_path: Path) -> None:
    store_file = str(tmp_path / "runs.db")
    script = tmp_path / "budget.agent"
    script.write_text('budget 1 turns\nagent w:\n    """W."""\na = @w One.\nb = @w Two.\nprint b\n')
    ran = CliRunner().invoke(main, ["run", str(script), "--model", RULES, "--store", store_file])
    assert ran.exit_code == 4
    store = Store(store_file)
    (run,) = store.runs()
    assert run["status"] == "budget" and "turn budget" in run["error"]
    assert [e["kind"] for e in store.events(run["id"])].count("turn") == 1


def test_no_store_writes_nothing(tmp_path: Path) -> None:
    store_file = tmp_path / "never.db"
    ran = CliRunner().invoke(main, ["run", str(EXAMPLES / "hello.agent"), "--model", RULES, "--no-store",
                                    "--store", str(store_file)])
    assert ran.exit_code == 0 and not store_file.exists()


_WRITER = """
import sys
sys.path.insert(0, {root!r})
from parley.runtime.events import make_event
from parley.runtime.store import Store
store = Store(sys.argv[1])
for n in range(20):
    run = store.start_run("w.agent", "x", "1", {{"n": n}})
    for k in range(10):
        store.record(run, make_event("human_input", None, agent="a", text=str(k)))
    store.finish_run(run, "done", {{"turns": 10}})
"""


def test_eight_processes_write_one_store_without_losing_a_row(tmp_path: Path) -> None:
    store_file = str(tmp_path / "busy.db")
    Store(store_file).close()
    code = _WRITER.format(root=str(ROOT))
    writers = [subprocess.Popen([sys.executable, "-c", code, store_file], stderr=subprocess.PIPE, text=True)
               for _ in range(8)]
    errors = [w.communicate(timeout=120)[1] for w in writers]
    assert all(w.returncode == 0 for w in writers), errors
    assert not any("locked" in e for e in errors)
    db = sqlite3.connect(store_file)
    assert db.execute("SELECT count(*) FROM runs WHERE status = 'done'").fetchone()[0] == 160
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 1600
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_events_keep_their_step_and_line(tmp_path: Path) -> None:
    store = Store(tmp_path / "e.db")
    run = store.start_run("x.agent", "sha", "1", {})

    class Step:
        id = "s3"

        class span:  # noqa: N801 - stands in for a Span
            file, line = "x.agent", 7

    store.record(run, make_event("human_input", Step, agent="w", text="hi"))
    (event,) = store.events(run)
    assert (event["step"], event["file"], event["line"], event["data"]) == ("s3", "x.agent", 7,
                                                                           {"agent": "w", "text": "hi"})


def test_an_older_store_is_migrated_and_keeps_its_runs(tmp_path: Path) -> None:
    from parley.runtime.store import MIGRATIONS

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for statement in MIGRATIONS[1]:
        db.execute(statement)
    db.execute("INSERT INTO runs (id, script, script_sha256, plan_version, inputs, status, started) "
               "VALUES ('abc', 'x.agent', 's', '1', '{}', 'done', 1.0)")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = Store(path)
    assert [r["id"] for r in store.runs()] == ["abc"]
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.cached("nothing") is None


def test_trace_prints_a_stored_runs_events_as_json_lines(tmp_path: Path) -> None:
    store_file = str(tmp_path / "runs.db")
    CliRunner().invoke(main, ["run", str(EXAMPLES / "hello.agent"), "--model", RULES, "--store", store_file])
    run_id = CliRunner().invoke(main, ["runs", "--store", store_file]).output.splitlines()[1].split()[0]
    traced = CliRunner().invoke(main, ["trace", run_id, "--store", store_file])
    lines = [json.loads(line) for line in traced.output.splitlines()]
    assert traced.exit_code == 0 and lines[0]["kind"] == "run_start" and lines[-1]["kind"] == "run_end"


def test_a_run_with_replies_of_unknown_price_lists_its_cost_as_unknown(tmp_path: Path) -> None:
    from fake_openai import FakeOpenAI, reply

    fake = FakeOpenAI()
    fake.handler = lambda body: reply("hello", usage=(20, 5))
    try:
        script = tmp_path / "hi.agent"
        script.write_text('agent a:\n    """You greet."""\nx = @a Say hello.\noutput x\n')
        store = str(tmp_path / "s.db")
        env = {"OPENAI_API_KEY": "sk-test", "NO_COLOR": "1"}
        ran = CliRunner().invoke(main, ["run", str(script), "--model", "house-model-7", "--base-url", fake.base_url,
                                        "--store", store], env=env)
        assert ran.exit_code == 0, ran.output
    finally:
        fake.close()
    listed = CliRunner().invoke(main, ["runs", "--store", store], env=env)
    assert listed.exit_code == 0
    row = listed.output.splitlines()[1]
    assert " unknown " in row and "$0.0000" not in row
    shown = CliRunner().invoke(main, ["show", row.split()[0], "--store", store], env=env)
    assert "unknown (1 reply of unpriced models)" in shown.stderr


def test_runs_in_flight_share_syncs_of_the_disk_and_wait_for_them(tmp_path: Path, monkeypatch) -> None:
    import asyncio
    import time

    import parley

    store = Store(tmp_path / "s.db")
    syncs: list[tuple[float, float]] = []  # (started, ended)
    real_sync, real_write = store._sync_files, store.write_effect

    def slow_sync() -> None:
        started = time.monotonic()
        time.sleep(0.05)
        real_sync()
        syncs.append((started, time.monotonic()))

    written: dict[object, float] = {}  # each run's (task's) last journal write

    def write(*args: object, **kwargs: object) -> None:
        real_write(*args, **kwargs)  # type: ignore[arg-type]
        written[asyncio.current_task()] = time.monotonic()

    monkeypatch.setattr(store, "_sync_files", slow_sync)
    monkeypatch.setattr(store, "write_effect", write)
    program = parley.compile('agent a:\n    """You answer."""\ninput n: int\nx = @a One {n}?\ny = @a Two {n}?\n'
                             'output y\n', "t.agent")
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [], "default": "ok"}))
    went_on = []

    def on_event(event: object) -> None:
        if event.kind == "turn":  # type: ignore[attr-defined]  # the run went past its call: its entry is synced
            wrote, now = written[asyncio.current_task()], time.monotonic()
            went_on.append(any(started >= wrote and ended <= now for started, ended in syncs))

    results = program.run_many([{"n": i} for i in range(30)], concurrency=30, model=f"scripted:{rules}",
                               store=store, on_event=on_event)
    assert [r.status for r in results] == ["done"] * 30
    assert store.db.execute("SELECT count(*) FROM journal").fetchone()[0] == 60
    assert len(went_on) == 60 and all(went_on)  # no run went past a call before a sync begun after it ended
    assert 1 <= len(syncs) <= 15  # shared: many entries a sync
