"""`parley check`: output, exit status, JSON, and the installed console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import parley
from parley.cli import main
from helpers import EXAMPLES, ROOT

BAD = "agent writer:\n    model smart\n\nwhile not done:\n    print 1\n"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_check_examples_is_clean() -> None:
    files = [str(p) for p in sorted(EXAMPLES.rglob("*.agent"))]
    code, output = run("check", *files)
    assert code == 0, output
    # the examples with executor agents are named, as `parley run` needs --allow-code for them
    lines = output.strip().splitlines()
    assert lines[-1] == f"checked {len(files)} files: no problems"
    assert [line.split(":")[1].strip() for line in lines[:-1]] == [
        str(EXAMPLES / "analyst.agent"), str(EXAMPLES / "math.agent"), str(EXAMPLES / "math_with_human.agent"),
        str(EXAMPLES / "orchestrator.agent"), str(EXAMPLES / "software_team.agent"),
        str(EXAMPLES / "supply_chain.agent")]


def test_check_reports_every_error_and_fails(tmp_path: Path) -> None:
    script = tmp_path / "bad.agent"
    script.write_text(BAD)
    code, output = run("check", str(script))
    assert code == 1
    assert f"{script}:2:11: error[P166]: an agent setting is written `key: value`" in output
    assert f"{script}:4:15: error[P135]: `while` needs a bound: `max N`" in output
    assert output.rstrip().endswith("checked 1 file: 2 errors")


def test_check_json(tmp_path: Path) -> None:
    script = tmp_path / "bad.agent"
    script.write_text(BAD)
    code, output = run("check", "--json", str(script))
    assert code == 1
    payload = json.loads(output)
    assert payload["errors"] == 2 and payload["warnings"] == 0 and payload["files"] == 1
    first = payload["diagnostics"][0]
    assert set(first) == {"code", "severity", "message", "span", "label", "help"}
    assert first["span"] == {"file": str(script), "line": 2, "column": 11, "end_line": 2, "end_column": 15}


def test_warnings_fail_only_with_strict(tmp_path: Path) -> None:
    script = tmp_path / "empty.agent"
    script.write_text("# nothing yet\n")
    assert run("check", str(script))[0] == 0
    assert run("check", "--strict", str(script))[0] == 1


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("check")[0] == 2
    assert run("check", str(tmp_path / "missing.agent"))[0] == 2
    assert run("check", "--no-such-flag", str(EXAMPLES / "review.agent"))[0] == 2


def test_readme_error_example_is_true(tmp_path: Path) -> None:
    """The README shows real output: rebuild its script and compare."""
    readme = (ROOT / "README.md").read_text()
    shown = readme.split("$ parley check review.agent\n", 1)[1].split("```", 1)[0].rstrip()
    lines = ["agent writer:", '    """Writes."""', "", "approved = false", "", "", "",
             "while not approved:", '    approved = @writer? "Done?"']
    (tmp_path / "review.agent").write_text("\n".join(lines) + "\n")
    completed = subprocess.run(
        [sys.executable, "-m", "parley", "check", "review.agent"], cwd=tmp_path, capture_output=True, text=True,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 1
    assert completed.stdout.startswith(shown)


def test_console_script_is_installed() -> None:
    parley = shutil.which("parley") or str(Path(sys.executable).parent / "parley")
    completed = subprocess.run([parley, "--version"], capture_output=True, text=True)
    assert completed.returncode == 0 and completed.stdout.startswith("parley, version")


def test_a_reply_waited_for_on_a_terminal_shows_its_agent_then_gives_way(capsys: pytest.CaptureFixture[str]) -> None:
    from parley.console import Console
    from parley.runtime.events import Event

    def event(kind: str, **data: object) -> Event:
        return Event(kind=kind, step="s1", file="t.agent", line=7, time=0.0, data=dict(data))

    console = Console(color=False, waiting=True)
    console(event("reply_start", agent="planner", streamed=False))
    console(event("turn", agent="planner", text='{"food": "bread"}'))
    assert capsys.readouterr().err == 'planner [line 7] …\r\x1b[2Kplanner [line 7]\n  {"food": "bread"}\n'
    console(event("reply_start", agent="planner", streamed=True))
    console.token("planner", "Hel")
    console.token("planner", "lo")
    console(event("turn", agent="planner", text="Hello"))
    assert capsys.readouterr().err == "planner [line 7]\n  Hello\n"
    Console(color=False, waiting=False)(event("reply_start", agent="planner", streamed=False))
    assert capsys.readouterr().err == ""


def test_check_and_fmt_take_folders(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "a.agent").write_text("x = 1\nprint x\n")
    (tmp_path / "sub" / "b.agent").write_text("y=2\nprint y\n")
    (tmp_path / ".hidden" / "c.agent").write_text("this is not a script\n")
    runner = CliRunner()
    checked = runner.invoke(main, ["check", str(tmp_path)])
    assert checked.exit_code == 0 and checked.stdout.strip().endswith("checked 2 files: no problems")
    would = runner.invoke(main, ["fmt", "--check", str(tmp_path)])
    assert would.exit_code == 1 and "b.agent" in would.output and "a.agent" not in would.output
    assert runner.invoke(main, ["fmt", str(tmp_path)]).exit_code == 0
    assert (tmp_path / "sub" / "b.agent").read_text() == "y = 2\nprint y\n"
    (tmp_path / "empty").mkdir()
    assert runner.invoke(main, ["check", str(tmp_path / "empty")]).exit_code == 2


def test_a_parley_process_ends_with_its_outputs_whole_and_its_objects_left_to_the_shutdown(tmp_path: Path) -> None:
    """The `parley` process freezes what it made as it ends (the shutdown's last collection would only walk
    it again): whatever it printed or wrote is complete, and its exit status is the command's."""
    script = tmp_path / "messy.agent"
    script.write_text('x   =  1\nprint    "{x}"\n', encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PARLEY"))}
    probe = ("import atexit, gc, sys\natexit.register(lambda: print('frozen', gc.get_freeze_count() > 0, "
             "file=sys.stderr))\nsys.argv = ['parley', *sys.argv[1:]]\nfrom parley.cli import main\nmain()\n")

    def run_parley(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=tmp_path,
                              env=environ, timeout=120, check=False)

    plan = run_parley("plan", str(EXAMPLES / "review.agent"), "--format", "json")
    assert plan.returncode == 0 and "frozen True" in plan.stderr
    assert json.loads(plan.stdout) == json.loads(parley.load(EXAMPLES / "review.agent").plan_json())
    formatted = run_parley("fmt", str(script))
    assert formatted.returncode == 0 and "frozen True" in formatted.stderr
    assert script.read_text(encoding="utf-8") == 'x = 1\nprint "{x}"\n'
    failed = run_parley("check", str(tmp_path / "missing.agent"))
    assert failed.returncode == 2 and "frozen True" in failed.stderr
