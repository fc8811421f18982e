"""Whose failure is it: the host's code raising is a `HostError` (the original kept as `__cause__`), the
script's own Python tool raising is a `RunError` naming its line, API misuse is a `UsageError`, and
anything unexpected inside Parley is an `InternalError`, never a script error because of its type."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from parley.runtime.executor import Executor
from parley.runtime.scripted import ScriptedModel
from parley.runtime.store import Store

import parley
from parley.cli import main

AGENTS = 'agent writer:\n    """You write."""\n'

#: A tool module of the script's own: it raises on the word "bad".
TOOLS = 'def check(word: str) -> str:\n    """Check a word."""\n    if word == "bad":\n' \
        '        raise ValueError("bad word: " + word)\n    return word + " ok"\n'


def compile(source: str) -> Any:
    return parley.compile(source, "t.agent")


def model(rules: dict[str, Any] | None = None) -> ScriptedModel:
    return ScriptedModel.from_data(rules or {"rules": [], "default": "fine"})


# --- the host's code ----------------------------------------------------------------------------------


def test_an_on_event_callback_raising_is_the_hosts_error_with_its_cause() -> None:
    program = compile('print "first"\nd = {"k": 1}\nprint d["k"]\nprint "last"\n')
    raised = KeyError("k")
    seen: list[str] = []

    def on_event(event: Any) -> None:  # raises from the second `print` on, as a broken host's would
        seen.append(event.kind)
        if seen.count("print") >= 2:
            raise raised if len(seen) == 3 else ConnectionError("raised again")

    with pytest.raises(parley.HostError) as caught:
        program.run(on_event=on_event)
    error = caught.value
    assert not isinstance(error, parley.RunError)
    assert error.__cause__ is raised and error.what == "the on_event callback"
    assert str(error) == "t.agent:3: the on_event callback raised KeyError: 'k'"
    assert "no key" not in str(error)
    assert error.result is not None and error.result.printed == ["first", "1"]  # the run until it stopped
    assert seen == ["run_start", "print", "print"]  # not called again once it raised: the first failure stands
    assert error.exit_code == parley.FailureKind.HOST.exit_code == 3


def test_the_scripts_own_missing_key_stays_a_script_error() -> None:
    """The contrast of the test above: the same exception type from the script's data is the script's."""
    with pytest.raises(parley.RunError) as caught:
        compile('d = {"k": 1}\nprint d["x"]\n').run(on_event=lambda event: None)
    assert caught.value.kind is parley.FailureKind.VALUE and str(caught.value).startswith("t.agent:2: ")


def test_a_human_callback_raising_is_the_hosts_error() -> None:
    program = compile(AGENTS + 'agent you is human\nx = @writer Draft.\ny = @you Is "{x}" good?\nprint y\n')
    raised = RuntimeError("the terminal went away")

    def human(agent: str, prompt: str) -> str:
        raise raised

    with pytest.raises(parley.HostError) as caught:
        program.run(model=model(), human=human)
    assert caught.value.__cause__ is raised and caught.value.what == "the human callback"
    assert str(caught.value) == "t.agent:5: the human callback raised RuntimeError: the terminal went away"
    assert [e.data["agent"] for e in caught.value.result.events if e.kind == "turn"] == ["writer"]


def test_an_async_human_callback_raising_is_the_hosts_error() -> None:
    program = compile('agent you is human\ny = @you Ready?\nprint y\n')

    async def human(agent: str, prompt: str) -> str:
        raise LookupError("no one here")

    with pytest.raises(parley.HostError) as caught:
        program.run(human=human)
    assert isinstance(caught.value.__cause__, LookupError)


TOOL_USER = 'from python "json" import dumps\n'


@pytest.mark.parametrize("call", ["direct", "by-an-agent"])
def test_a_host_tool_raising_is_the_hosts_error(call: str) -> None:
    raised = ConnectionError("the host's database is down")

    def dumps(obj: Any) -> str:
        raise raised

    if call == "direct":
        source = TOOL_USER + 'x = dumps([1, 2])\nprint x\n'
        rules = None
    else:
        source = TOOL_USER + AGENTS + '    tools: dumps\nx = @writer Encode it.\nprint x\n'
        rules = {"rules": [{"after_tool": False, "tool_call": {"name": "dumps", "arguments": {"obj": [1]}}}],
                 "default": "done"}
    with pytest.raises(parley.HostError) as caught:
        compile(source).run(model=model(rules), tools={"dumps": dumps})
    assert caught.value.__cause__ is raised and caught.value.what == "the host's tool `dumps`"
    assert "ConnectionError: the host's database is down" in str(caught.value)
    assert compile(source).run(model=model(rules)).printed  # the script's own `dumps` runs fine


# --- the script's own code ----------------------------------------------------------------------------


def test_the_scripts_python_tool_raising_is_a_run_error_naming_the_line(tmp_path: Path) -> None:
    (tmp_path / "words.py").write_text(TOOLS, encoding="utf-8")
    (tmp_path / "t.agent").write_text('from python "words" import check\nprint check("good")\n'
                                      'print check("bad")\n', encoding="utf-8")
    with pytest.raises(parley.RunError) as caught:
        parley.load(tmp_path / "t.agent").run()
    error = caught.value
    assert error.kind is parley.FailureKind.PYTHON and error.exit_code == 3
    assert str(error) == f"{tmp_path / 't.agent'}:3: `check` raised ValueError: bad word: bad"
    assert isinstance(error.__cause__, ValueError) and error.__cause__.args == ("bad word: bad",)
    assert error.result.printed == ["good ok"]


# --- API misuse and Parley's own bugs -------------------------------------------------------------------


@pytest.mark.filterwarnings("error")  # and no coroutine is left never awaited
def test_run_inside_async_code_names_run_async() -> None:
    program = compile('print "hi"\n')

    async def host() -> Any:
        with pytest.raises(parley.UsageError, match=r"run_async"):
            program.run()
        return await program.run_async()

    assert asyncio.run(host()).printed == ["hi"]


def _break_print(monkeypatch: pytest.MonkeyPatch) -> AttributeError:
    """Make the executor's `print` fail as a bug in Parley would."""
    bug = AttributeError("'NoneType' object has no attribute 'text'")

    async def broken(self: Executor, step: Any, frame: Any) -> None:
        raise bug

    monkeypatch.setattr(Executor, "_print", broken)
    return bug


def test_an_unexpected_exception_inside_the_runtime_is_an_internal_error(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    bug = _break_print(monkeypatch)
    store = Store(tmp_path / "runs.db")
    with pytest.raises(parley.InternalError) as caught:
        compile(AGENTS + 'x = @writer Draft.\nprint x\n').run(model=model(), store=store)
    error = caught.value
    assert not isinstance(error, parley.RunError | parley.HostError)
    assert error.__cause__ is bug and error.exit_code == 70
    assert "AttributeError" in str(error) and "bug in Parley" in str(error)
    assert error.result is not None and error.result.usage["turns"] == 1
    recorded = store.run(error.result.run_id)
    assert recorded is not None and recorded["status"] == "failed"
    assert "AttributeError" in (recorded["error"] or "")


# --- the command line -------------------------------------------------------------------------------------


@pytest.fixture
def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "words.py").write_text(TOOLS, encoding="utf-8")
    (tmp_path / "t.agent").write_text('from python "words" import check\ninput word: str = "good"\n'
                                      'print check(word)\n', encoding="utf-8")
    return tmp_path / "t.agent"


def test_cli_an_internal_error_exits_70_without_a_traceback(script: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _break_print(monkeypatch)
    failed = CliRunner().invoke(main, ["run", "t.agent"])
    assert failed.exit_code == 70, failed.output
    assert "bug in Parley" in failed.stderr and "AttributeError" in failed.stderr
    assert "Traceback" not in failed.output and failed.stdout == ""


@pytest.mark.parametrize("how", ["--debug", "PARLEY_DEBUG"])
def test_cli_debug_shows_the_traceback_of_an_internal_error(script: Path, monkeypatch: pytest.MonkeyPatch,
                                                            how: str) -> None:
    _break_print(monkeypatch)
    if how == "--debug":
        failed = CliRunner().invoke(main, ["--debug", "run", "t.agent"])
    else:
        failed = CliRunner().invoke(main, ["run", "t.agent"], env={"PARLEY_DEBUG": "1"})
    assert failed.exit_code == 70
    assert "Traceback (most recent call last)" in failed.stderr
    assert "in broken" in failed.stderr  # the failing frame itself
    assert "bug in Parley" in failed.stderr


def test_cli_the_scripts_python_tool_raising_exits_3_naming_the_line(script: Path) -> None:
    ok = CliRunner().invoke(main, ["run", "t.agent"])
    assert ok.exit_code == 0 and ok.stdout == "good ok\n"
    failed = CliRunner().invoke(main, ["run", "t.agent", "word=bad"])
    assert failed.exit_code == 3
    assert "t.agent:3: `check` raised ValueError: bad word: bad" in failed.stderr
    assert "Traceback" not in failed.output
    debugged = CliRunner().invoke(main, ["--debug", "run", "t.agent", "word=bad"])
    assert debugged.exit_code == 3
    assert 'raise ValueError("bad word: " + word)' in debugged.stderr  # the tool's own traceback, kept as cause


def test_cli_a_plan_files_python_tool_raising_names_the_scripts_line(script: Path) -> None:
    shown = CliRunner().invoke(main, ["plan", "t.agent", "--format", "json"])
    assert shown.exit_code == 0 and json.loads(shown.stdout)["kind"] == "plan"
    Path("p.json").write_text(shown.stdout, encoding="utf-8")
    script.unlink()
    ran = CliRunner().invoke(main, ["run", "p.json", "word=fine"])
    assert ran.exit_code == 0, ran.output
    assert ran.stdout == "fine ok\n"
    failed = CliRunner().invoke(main, ["run", "p.json", "word=bad"])
    assert failed.exit_code == 3 and "t.agent:3: `check` raised ValueError" in failed.stderr
