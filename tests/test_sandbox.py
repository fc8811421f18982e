"""Code an executor runs is contained: environment, processes, limits, output, files and network.

Each test runs real code blocks with small time limits, on the isolation this machine allows
(`isolation()`), and the ones that hold without namespaces again on none (`BARE`). What a
machine cannot do (no `unshare`, no pids cgroup) is skipped with the reason, never faked.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from parley.compiler import compile_source
from parley.runtime.confine import Isolation, Limits, isolation
from parley.runtime.sandbox import CodeRunner, environment
from parley.runtime.scripted import ScriptedModel

import parley
from parley.cli import main

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="these tests read /proc (Linux)")

BARE = Isolation((), None)  # a machine with neither namespaces nor cgroups: limits, session kill, env only
HERE = isolation()
BOXES = [pytest.param(HERE, id="this-machine"), pytest.param(BARE, id="bare")]
#: every test's code carries a marker; what is left of it afterwards is counted by `alive`
MARK = f"parley-test-{uuid.uuid4().hex[:8]}"


def alive(marker: str = MARK) -> list[int]:
    """Processes (not yet reaped zombies excluded) whose command line holds `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != b"Z":
            found.append(int(entry))
    return found


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    """After every test here: grandchildren alive = 0."""
    yield
    deadline = time.monotonic() + 2
    while alive() and time.monotonic() < deadline:  # a SIGKILLed process takes a moment to go
        time.sleep(0.02)
    assert alive() == [], "processes outlived their block"


def rss() -> int:
    """This process's resident memory now, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def run_watching_memory(runner: CodeRunner, language: str, code: str) -> tuple[int, str, int, float]:
    """Run a block while sampling Parley's memory: exit code, output, peak growth, seconds taken."""
    base, peak, done = rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    try:
        code_, output = runner.run(language, code)
    finally:
        done.set()
        sampler.join()
    return code_, output, peak[0] - base, time.monotonic() - started


@pytest.mark.parametrize("box", BOXES)
def test_an_endless_loop_is_stopped_at_its_time_limit(box: Isolation) -> None:
    started = time.monotonic()
    code, output = CodeRunner(timeout=1, isolation=box).run("sh", f"# {MARK}\nwhile :; do :; done")
    assert code == 124
    assert output.endswith("[parley: stopped after the 1s time limit]")
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("box", BOXES)
def test_a_background_grandchild_goes_with_its_block(box: Isolation) -> None:
    started = time.monotonic()
    code, output = CodeRunner(timeout=10, isolation=box).run("sh", f"sleep 300 {MARK} 2>/dev/null &\necho started")
    # the block ends when its shell does, not at its time limit, and the `sleep` is killed with it
    assert (code, output) == (0, "started\n")
    assert time.monotonic() - started < 3


def test_a_grandchild_in_a_session_of_its_own_goes_too() -> None:
    if not HERE.namespaces:
        pytest.skip("without a PID namespace a process that calls setsid leaves the block (documented)")
    code, output = CodeRunner(timeout=10).run(
        "python", f"import subprocess\nsubprocess.Popen(['setsid', 'sh', '-c', 'sleep 300; : {MARK}'])\nprint('ok')")
    assert (code, output) == (0, "ok\n")


def test_a_fork_bomb_returns_and_leaves_nothing() -> None:
    """A bomb bounded from outside (at most 1 + 12 + 144 processes even if nothing binds)."""
    bomb = (f"import os, time  # {MARK}\nmade = 0\nfor depth in range(2):\n    for _ in range(12):\n"
            "        try:\n            if os.fork() == 0:\n                break\n            made += 1\n"
            "        except OSError as error:\n            print('refused:', error.strerror, flush=True)\n"
            "            break\n    else:\n        break\ntime.sleep(300)\n")
    started = time.monotonic()
    code, output = CodeRunner(timeout=1.5, limits=Limits(cpu=5, processes=16)).run("python", bomb)
    assert code == 124 and time.monotonic() - started < 5
    if HERE.cgroups is not None or os.geteuid() != 0:  # a process-count limit binds: forks are refused
        assert "refused: Resource temporarily unavailable" in output


def test_a_real_fork_bomb_is_held_by_the_process_limit() -> None:
    if HERE.cgroups is None and os.geteuid() == 0:
        pytest.skip("as root without a pids cgroup nothing bounds a fork bomb but the time limit")
    started = time.monotonic()
    code, _ = CodeRunner(timeout=1.5, limits=Limits(cpu=5, processes=32)).run("sh", f"b() {{ b | b & }}; b # {MARK}")
    assert time.monotonic() - started < 5
    assert code in (0, 124)


def test_a_10_gb_allocation_fails_cleanly() -> None:
    code, output = CodeRunner(timeout=5).run("python", "x = bytearray(10 * 1024 ** 3)")
    assert code == 1
    assert output.rstrip().endswith("MemoryError")


def test_the_limits_are_set_in_the_code() -> None:
    limits = Limits(cpu=7, memory=512 << 20, file_size=1 << 20, processes=20, open_files=64)
    code, output = CodeRunner(timeout=5, limits=limits).run("python", (
        "import resource as r\nprint([r.getrlimit(x)[0] for x in (r.RLIMIT_CPU, r.RLIMIT_AS, r.RLIMIT_FSIZE, "
        "r.RLIMIT_NPROC, r.RLIMIT_NOFILE, r.RLIMIT_CORE)])"))
    assert (code, output) == (0, f"{[7, 512 << 20, 1 << 20, 20, 64, 0]}\n")


def test_a_file_larger_than_the_limit_is_not_written() -> None:
    runner = CodeRunner(timeout=5, limits=Limits(file_size=1 << 20))
    _, output = runner.run("sh", "head -c 5000000 /dev/zero > big; ls -l big | awk '{print $5}'")
    assert output.splitlines()[-1] == str(1 << 20)


@pytest.mark.parametrize("box", BOXES)
def test_the_environment_is_an_allow_list(box: Isolation, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {"OPENAI_API_KEY": "sk-canary-4c1d7e0b9a", "FOO_TOKEN": "tok-canary-77aa31",
               "AWS_SECRET_ACCESS_KEY": "aws-canary-5f5f5f", "OPENAI_BASE_URL": "http://canary.invalid/v1",
               "DB_PASSWORD": "pw-canary-0909"}
    for name, value in {**secrets, "PGHOST": "db.example"}.items():
        monkeypatch.setenv(name, value)
    runner = CodeRunner(timeout=5, env=("PGHOST", "NOT_SET_ANYWHERE"), isolation=box)
    code, output = runner.run("python", "import os\nfor k in sorted(os.environ): print(k, os.environ[k])")
    seen = dict(line.split(" ", 1) for line in output.splitlines())
    assert code == 0
    assert set(seen) - {"LC_CTYPE"} == {"HOME", "LANG", "PATH", "PGHOST", "TMPDIR"}
    assert seen["PGHOST"] == "db.example" and seen["HOME"] != os.environ.get("HOME")
    code, output = runner.run("sh", "env; cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'")
    assert not [value for value in secrets.values() if value in output]
    if box.namespaces:  # Parley's own environment is out of sight too (another PID namespace)
        assert "canary" not in output


def test_the_environment_sets_home_and_tmpdir_to_the_blocks_folders() -> None:
    env = environment("/w", "/t", ("MISSING",))
    assert env["HOME"] == "/w" and env["TMPDIR"] == "/t" and "MISSING" not in env


def test_the_work_folder_is_the_only_place_written(tmp_path: Path) -> None:
    if not HERE.namespaces:
        pytest.skip("without a mount namespace code writes wherever Parley's user may (documented)")
    work, outside = tmp_path / "work", tmp_path / "outside.txt"
    code, output = CodeRunner(timeout=5, folder=str(work)).run("sh", (
        f"echo x > {outside} || echo refused\necho y > /etc/parley-test || echo refused\n"
        "echo z > inside.txt && echo written\necho t > $TMPDIR/t && echo tmp-ok"))
    assert code == 0
    assert output.count("Read-only file system") == 2 and output.count("refused") == 2, output
    assert output.endswith("written\ntmp-ok\n")
    assert not outside.exists() and not Path("/etc/parley-test").exists()
    assert (work / "inside.txt").read_text() == "z\n"


def test_the_network_is_off() -> None:
    if not HERE.namespaces:
        pytest.skip("without a network namespace code reaches the network (documented)")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code, output = CodeRunner(timeout=5).run("python", (
            f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    print('reached')\n"
            "except OSError as error:\n    print('no network:', error.strerror)"))
    assert code == 0 and output.startswith("no network:")


def test_code_has_no_capabilities() -> None:
    code, output = CodeRunner(timeout=5).run("sh", "grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status")
    assert code == 0
    assert [line.split()[1] for line in output.splitlines()] == ["0000000000000000"] * 3


@pytest.mark.parametrize("box", BOXES)
def test_50_mb_of_output_is_cut_and_does_not_grow_parley(box: Isolation) -> None:
    runner = CodeRunner(timeout=20, isolation=box)
    code, output, growth, _ = run_watching_memory(
        runner, "python", "import sys\nsys.stdout.write('a' * 50_000_000)\nsys.stdout.write('END')")
    assert code == 0
    assert output.startswith("a" * 2000) and output.endswith("a" * 5997 + "END")
    assert f"[parley: {50_000_003 - 8000:,} bytes of output cut]" in output
    assert len(output) < 8100
    assert growth < 20 << 20, f"Parley grew by {growth >> 20} MiB"


def test_1_5_gb_of_output_stops_the_block_quickly() -> None:
    code, output, growth, seconds = run_watching_memory(
        CodeRunner(timeout=60), "sh", f"head -c 1500000000 /dev/zero # {MARK}")
    assert output.endswith("[parley: stopped after 64 MiB of output]")
    assert seconds < 10 and code != 0
    assert growth < 20 << 20, f"Parley grew by {growth >> 20} MiB"


def test_output_that_is_not_utf8_is_decoded_with_replacement() -> None:
    code, output = CodeRunner(timeout=5).run("python", "import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe end\\n')")
    assert (code, output) == (0, "ok \ufffd\ufffd end\n")


# --- the run and the check ---------------------------------------------------------------------

SCRIPT = ('agent runner is executor:\n    timeout: 5s\n    env: "PGHOST"\nagent coder:\n    """You code."""\n'
          't = chat coder, runner:\n    "Print 6 * 7."\n    until 2 turns\nprint t.last\n')


def test_a_script_with_an_executor_is_refused_before_any_model_request() -> None:
    model = ScriptedModel.from_data({"rules": [], "default": "```sh\necho hi\n```"})
    program = parley.compile(SCRIPT, "t.agent")
    with pytest.raises(parley.RunError) as failure:
        program.run(model=model)
    assert model.requests == []
    assert failure.value.message == ("this script's executor agent `runner` runs code, and this run does not allow it: "
                                  "run with --allow-code (or allow_code=True) if you trust the script")
    assert failure.value.span is not None and failure.value.span.line == 1


def test_an_allowed_run_passes_only_the_named_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-4c1d7e0b9a")
    monkeypatch.setenv("PGHOST", "db.example")
    model = ScriptedModel.from_data({"rules": [], "default": "```sh\necho $PGHOST $OPENAI_API_KEY.\n```"})
    result = parley.compile(SCRIPT, "t.agent").run(model=model, allow_code=True)
    assert result.printed == ["exit code: 0\ndb.example .\n"]


def test_check_names_the_agents_that_need_allow_code(tmp_path: Path) -> None:
    script = tmp_path / "t.agent"
    script.write_text(SCRIPT)
    result = CliRunner().invoke(main, ["check", str(script)])
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        f"note: {script}: executor agent `runner` runs code: `parley run` needs --allow-code",
        "checked 1 file: no problems",
    ]


def test_env_names_are_checked() -> None:
    result = compile_source('agent r is executor:\n    env: "PGHOST", "NOT A NAME"\n', "t.agent")
    assert [d.code for d in result.diagnostics] == ["P223"]
    assert result.diagnostics[0].span.column == 20
