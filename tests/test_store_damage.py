"""The run store and the command line under damage: a malformed file, rows that are not JSON, a store on a
read-only file system, outputs that cannot be written. Each ends in a clear message with a way out (exit 1 or 2),
never a traceback; what can still be read is read."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from helpers import EXAMPLES, ROOT
from parley.runtime.store import SCHEMA_VERSION

from parley.cli import main

RULES = f"scripted:{EXAMPLES / 'hello.rules.json'}"
HELLO = str(EXAMPLES / "hello.agent")
GOLDEN = ROOT / "tests" / "golden"


def parley(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def clean(result: Result) -> None:
    """The command ended on purpose: no traceback, no exception escaping, not a 'bug in Parley'."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.output)


def store_with_runs(folder: Path, count: int = 3) -> tuple[str, list[str]]:
    """A store with `count` runs of hello.agent, and their ids (oldest first)."""
    store = str(folder / "runs.db")
    for _ in range(count):
        assert parley("run", HELLO, "name=Ada", "--model", RULES, "--store", store).exit_code == 0
    db = sqlite3.connect(store)
    ids = [row[0] for row in db.execute("SELECT id FROM runs ORDER BY started")]
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the file itself, where the damage goes
    db.close()
    return store, ids


def damage(store: str, offset: int, size: int, seed: int = 13) -> None:
    data = random.Random(seed).randbytes(size)
    with open(store, "r+b") as file:
        file.seek(offset)
        file.write(data)


def says_the_way_out(result: Result, store: str) -> None:
    assert f"the run store at {store} is damaged" in result.output, result.output
    assert f"parley runs --check --store {store}" in result.output
    assert f"mv {store} {store}.damaged" in result.output


# --- a malformed file ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", [0.25, 0.5, 0.75])
def test_garbage_in_the_middle_of_the_store_is_reported_not_raised(tmp_path: Path, where: float) -> None:
    store, ids = store_with_runs(tmp_path)
    size = os.path.getsize(store)
    assert size > 40_000  # 20 KB of garbage lands in the middle, not over the whole file
    damage(store, int(size * where) - 10_000, 20_000)
    commands = [["runs"], ["show", ids[-1]], ["show", ids[0], "--json"], ["trace", ids[1]],
                ["trace", ids[1], "--format", "otlp-json"], ["run", "--replay", ids[-1]],
                ["run", HELLO, "--model", RULES]]
    failed = 0
    for command in commands:
        result = parley(*command, "--store", store)
        clean(result)
        if result.exit_code:
            failed += 1
            says_the_way_out(result, store)
    assert failed  # the garbage was noticed somewhere
    checked = parley("runs", "--check", "--store", store)
    clean(checked)
    assert checked.exit_code == 1 and "damaged: " in checked.output, checked.output
    assert f"mv {store} {store}.damaged" in checked.output


def test_a_store_whose_header_is_garbage_is_not_taken_for_one(tmp_path: Path) -> None:
    """Nothing is done to a file that does not begin as an SQLite database: it may be another file named by
    mistake (no mode set, no WAL made beside it, no `mv` suggested)."""
    store, ids = store_with_runs(tmp_path, 1)
    for wal in tmp_path.glob("runs.db-*"):  # empty since the checkpoint: made again only if the file is opened
        wal.unlink()
    damage(store, 0, 100)
    os.chmod(store, 0o644)
    for command in (["runs"], ["show", ids[0]], ["run", HELLO, "--model", RULES], ["run", "--replay", ids[0]]):
        result = parley(*command, "--store", store)
        clean(result)
        assert result.exit_code == 2 and f"{store} is not an SQLite database" in result.output, result.output
        assert "mv " not in result.output
    assert os.stat(store).st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.db"]
    checked = parley("runs", "--check", "--store", store)
    assert checked.exit_code == 1 and "file is not a database" in checked.output, checked.output
    not_a_file = parley("runs", "--store", "/dev/null")
    assert not_a_file.exit_code == 2 and "/dev/null is not a file" in not_a_file.output


def test_a_damaged_run_record_does_not_hide_the_others(tmp_path: Path) -> None:
    store, ids = store_with_runs(tmp_path)
    db = sqlite3.connect(store)  # records of 2.5 KB, without their (larger) plans: one record per 4 KB page
    db.execute("UPDATE runs SET plan = NULL, error = ? || id", ("#" * 2500,))
    db.commit()
    db.execute("VACUUM")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    page = _page_of_run(store, ids[1])
    size = sqlite3.connect(store).execute("PRAGMA page_size").fetchone()[0]
    with open(store, "r+b") as file:  # the page's cell pointers and cells: garbage
        file.seek(page * size + 8)
        file.write(b"\xff" * (size // 2))
    listed = parley("runs", "--store", store)
    clean(listed)
    assert ids[0] in listed.output and ids[2] in listed.output and ids[1] not in listed.output
    assert listed.output.count("damaged: ") == 1 and listed.exit_code == 2
    says_the_way_out(listed, store)
    shown = parley("show", ids[2], "--store", store)  # a whole run still shows in full
    assert shown.exit_code == 0 and "Hello again, Ada!" in shown.output
    assert parley("runs", "--check", "--store", store).exit_code == 1


def _page_of_run(store: str, run_id: str) -> int:
    """The (0-based) table leaf page holding run `run_id`'s record (its id, and the error made long above)."""
    size = sqlite3.connect(store).execute("PRAGMA page_size").fetchone()[0]
    data = Path(store).read_bytes()
    pages = [n for n in range(len(data) // size)
             if data[n * size] == 0x0D and ("#" * 2500 + run_id).encode() in data[n * size:(n + 1) * size]]
    assert len(pages) == 1, pages
    return pages[0]


# --- rows that are not the JSON Parley wrote ---------------------------------------------------------------


def test_rows_that_are_not_json(tmp_path: Path) -> None:
    store, (first, second, third) = store_with_runs(tmp_path)
    db = sqlite3.connect(store)
    db.execute("UPDATE events SET payload = '{\"text\": \"cut' WHERE run = ? AND seq = 4", (first,))
    db.execute("UPDATE events SET payload = ? WHERE run = ? AND seq = 7", ("[" * 100_000, first))
    db.execute("UPDATE runs SET inputs = 'not json' WHERE id = ?", (second,))
    db.execute("UPDATE journal SET result = '{' WHERE run = ?", (third,))
    db.commit()
    db.close()

    listed = parley("runs", "--store", store)  # the listing reads no JSON: every run is there
    assert listed.exit_code == 0 and all(run in listed.output for run in (first, second, third))

    shown = parley("show", first, "--store", store)
    clean(shown)
    assert shown.exit_code == 2 and "Hello, Ada! Welcome." in shown.output  # the rest of the transcript
    assert "[event 4 is damaged: event 4 of run" in shown.output
    assert f"events 4, 7 of run {first} cannot be read" in shown.output
    says_the_way_out(shown, store)

    as_json = CliRunner().invoke(main, ["show", first, "--json", "--store", store])
    events = json.loads(as_json.stdout)["events"]
    assert [e["seq"] for e in events if "damaged" in e] == [4, 7] and as_json.exit_code == 2
    assert "nested too deeply" in events[6]["damaged"]

    traced = CliRunner().invoke(main, ["trace", first, "--store", store])
    lines = [json.loads(line) for line in traced.stdout.splitlines()]
    assert len(lines) == 9 and lines[3]["data"] is None and traced.exit_code == 2
    otlp = CliRunner().invoke(main, ["trace", first, "--format", "otlp-json", "--store", store])
    assert json.loads(otlp.stdout)["resourceSpans"] and otlp.exit_code == 2

    for run in (second, third):  # a replay needs the whole record
        replayed = parley("run", "--replay", run, "--store", store)
        clean(replayed)
        assert replayed.exit_code == 2
        says_the_way_out(replayed, store)
    assert f"the inputs of run {second} cannot be read as JSON" in parley("run", "--replay", second, "--store",
                                                                            store).output

    checked = parley("runs", "--check", "--store", store)
    assert checked.exit_code == 1
    found = sorted(line.split(":")[1].strip() for line in checked.output.splitlines() if line.startswith("damaged:"))
    assert found == sorted([f"event 4 of run {first}", f"event 7 of run {first}", f"the inputs of run {second}",
                            f"journal entry s1.0/0 of run {third}", f"journal entry s3.0/0 of run {third}"])


def test_a_record_holding_what_parley_does_not_write(tmp_path: Path) -> None:
    store, (first, second, third) = store_with_runs(tmp_path)
    db = sqlite3.connect(store)
    db.execute("UPDATE runs SET started = 'yesterday' WHERE id = ?", (first,))
    db.execute("UPDATE runs SET turns = 1.5, ended = 1e300 WHERE id = ?", (second,))
    db.commit()
    db.close()
    listed = parley("runs", "--store", store)
    clean(listed)
    assert third in listed.output and listed.output.count("damaged: run ") == 2 and listed.exit_code == 2
    shown = parley("show", first, "--store", store)
    clean(shown)
    assert f"the record of run {first}: its started is a str" in shown.output and shown.exit_code == 2
    checked = parley("runs", "--check", "--store", store)
    assert checked.exit_code == 1 and f"the record of run {second}: its turns is a float" in checked.output


def test_a_store_that_fails_under_a_run_is_not_the_hosts_fault(tmp_path: Path) -> None:
    store, _ = store_with_runs(tmp_path, 1)
    db = sqlite3.connect(store)
    db.execute("DROP TABLE journal")  # the first reply cannot be journaled
    db.commit()
    db.close()
    result = parley("run", HELLO, "--model", RULES, "--store", store)
    clean(result)
    assert result.exit_code == 2 and "no such table: journal" in result.output
    assert "on_event" not in result.output
    says_the_way_out(result, store)
    assert "failed" in parley("runs", "--store", store).output  # the run says how it ended


def test_a_whole_store_checks_clean(tmp_path: Path) -> None:
    store, _ = store_with_runs(tmp_path, 2)
    checked = parley("runs", "--check", "--store", store)
    assert checked.exit_code == 0, checked.output
    assert "2 runs, 18 events, 4 journal entries, 0 cached replies" in checked.output
    assert "no damage found" in checked.output
    missing = parley("runs", "--check", "--store", str(tmp_path / "none.db"))
    assert missing.exit_code == 2 and "no run store at" in missing.output


# --- a store on a read-only file system: the golden store ---------------------------------------------------


def test_the_golden_store_is_of_this_schema_and_whole() -> None:
    """`make_store.py` made it; a schema change needs it made again (a read-only store is not migrated)."""
    db = sqlite3.connect(f"file:{GOLDEN / 'runs.db'}?immutable=1", uri=True)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert sorted(row[0] for row in db.execute("SELECT status FROM runs")) == ["budget", "done"]


#: Run in the read-only folder: each command (with CliRunner), printed as JSON.
_READ = """
import json, sys
from click.testing import CliRunner
from parley.cli import main
results = []
for command in json.loads(sys.argv[1]):
    result = CliRunner().invoke(main, command)
    results.append({"code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr,
                    "escaped": repr(result.exception) if result.exception and not isinstance(result.exception, SystemExit) else None})
print(json.dumps(results))
"""


def _read_only_commands(folder: Path, commands: list[list[str]]) -> list[dict[str, object]]:
    """Run `commands` with `folder` read-only: a read-only bind mount in a mount namespace of its own when
    this is root (for whom permissions do not bind), else by permissions."""
    argv = [sys.executable, "-c", _READ, json.dumps(commands)]
    if os.geteuid() == 0:
        if shutil.which("unshare") is None:
            pytest.skip("a read-only file system needs unshare(1) here")
        mount = f"mount --bind -o ro {folder} {folder} && exec \"$@\""
        argv = ["unshare", "-m", "sh", "-c", mount, "sh", *argv]
    else:
        for path in (folder / "runs.db", folder):
            path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        ran = subprocess.run(argv, check=False, capture_output=True, text=True, cwd=folder.parent, timeout=120,
                             env={**os.environ, "NO_COLOR": "1"})
    finally:
        folder.chmod(0o755)
    if ran.returncode != 0 and "unshare" in ran.stderr:
        pytest.skip(f"no read-only mount here: {ran.stderr.strip()}")
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def test_the_golden_store_is_read_from_a_read_only_file_system(tmp_path: Path) -> None:
    folder = tmp_path / "golden"
    folder.mkdir()
    for name in ("runs.db", "greet.agent"):
        shutil.copy(GOLDEN / name, folder / name)
    store = str(folder / "runs.db")
    db = sqlite3.connect(f"file:{store}?immutable=1", uri=True)
    done, stopped = (row[0] for row in db.execute("SELECT id FROM runs ORDER BY status DESC"))
    db.close()
    before = hashlib.sha256(Path(store).read_bytes()).hexdigest()
    runs, show, as_json, trace, otlp, replay, new, check = _read_only_commands(folder, [
        ["runs", "--store", store],
        ["show", done, "--store", store],
        ["show", stopped, "--json", "--store", store],
        ["trace", done, "--store", store],
        ["trace", done, "--format", "otlp-json", "--store", store],
        ["run", "--replay", done, "--store", store],
        ["run", str(folder / "greet.agent"), "--model", f"scripted:{GOLDEN / 'greet.rules.json'}", "--store", store],
        ["runs", "--check", "--store", store],
    ])
    for result in (runs, show, as_json, trace, otlp, replay, new, check):
        assert result["escaped"] is None and "Traceback" not in result["stderr"], result
    assert runs["code"] == 0 and done in runs["stdout"] and stopped in runs["stdout"]
    assert "budget" in runs["stdout"] and "done" in runs["stdout"]
    assert show["code"] == 0 and "Good to see you again, Ada. (calm)" in show["stdout"]
    assert as_json["code"] == 0 and json.loads(as_json["stdout"])["run"]["status"] == "budget"
    kinds = [json.loads(line)["kind"] for line in trace["stdout"].splitlines()]
    assert trace["code"] == 0 and kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert otlp["code"] == 0 and json.loads(otlp["stdout"])["resourceSpans"]
    assert replay["code"] == 0 and "Good to see you again, Ada. (calm)" in replay["stdout"], replay
    assert "2 from the journal" in replay["stderr"]
    assert new["code"] == 2 and f"the run store at {store} is read-only" in new["stderr"], new
    assert "--no-store" in new["stderr"]
    assert check["code"] == 0 and "no damage found" in check["stdout"]
    assert sorted(p.name for p in folder.iterdir()) == ["greet.agent", "runs.db"]  # nothing written beside it
    assert hashlib.sha256(Path(store).read_bytes()).hexdigest() == before


# --- outputs that cannot be written -------------------------------------------------------------------------

needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")


@needs_dev_full
def test_a_trace_that_cannot_be_written(tmp_path: Path) -> None:
    store = str(tmp_path / "runs.db")
    result = parley("run", HELLO, "--model", RULES, "--store", store, "--trace", "/dev/full")
    clean(result)
    assert result.exit_code == 1
    assert result.output.count("cannot write the trace to /dev/full: No space left on device") == 1
    assert "parley trace RUN_ID" in result.output
    assert "Lovely to see you." in result.output  # the run went on to its end
    assert " done " in parley("runs", "--store", store).output
    missing = parley("run", HELLO, "--model", RULES, "--no-store", "--trace", str(tmp_path / "no" / "t.jsonl"))
    clean(missing)
    assert missing.exit_code == 2 and "cannot write" in missing.output and "No such file or directory" in missing.output


def _to_dev_full(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    with open("/dev/full", "w") as full:
        return subprocess.run([sys.executable, "-m", "parley", *args], check=False, stdout=full, stderr=subprocess.PIPE,
                              input=stdin, text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"})


@needs_dev_full
@pytest.mark.parametrize("command", [["plan", HELLO], ["plan", HELLO, "--format", "json"], ["fmt", "-"],
                                     ["run", HELLO, "--model", RULES, "--no-store"]])
def test_stdout_that_cannot_be_written(command: list[str]) -> None:
    ran = _to_dev_full(*command, stdin=Path(HELLO).read_text() if command == ["fmt", "-"] else None)
    assert ran.returncode == 1, ran.stderr
    assert "Traceback" not in ran.stderr and "Exception ignored" not in ran.stderr, ran.stderr
    assert "cannot write to stdout: No space left on device" in ran.stderr


def test_a_script_that_cannot_be_read() -> None:
    if not os.path.exists("/proc/self/mem"):
        pytest.skip("needs /proc")
    for command in (["run", "/proc/self/mem"], ["plan", "/proc/self/mem"], ["check", "/proc/self/mem"]):
        result = parley(*command)
        clean(result)
        assert result.exit_code in (1, 2) and "/proc/self/mem" in result.output, result.output
