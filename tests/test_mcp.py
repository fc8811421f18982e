"""Tools from a real MCP server (written with the SDK's MCPServer, once FastMCP): on stdio and on 127.0.0.1
over streamable HTTP, checked at compile time, called by the scripted model, journaled, stopped at the end."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from parley.dsl.errors import FailureKind, RunError
from parley.runtime.scripted import ScriptedModel
from parley.runtime.store import Store

import parley

SERVER = Path(__file__).parent / "mcp_servers" / "notes_server.py"

RULES = {"rules": [
    {"contains": "Remember", "after_tool": False,
     "tool_call": {"name": "add_note", "arguments": {"title": "picnic", "text": "Sunday at noon"}}},
    {"contains": "Remember", "after_tool": True, "reply": "Noted."},
    {"contains": "When", "after_tool": False, "tool_call": {"name": "read_note", "arguments": {"title": "picnic"}}},
    {"contains": "Missing", "after_tool": False, "tool_call": {"name": "read_note", "arguments": {"title": "zoo"}}},
    {"contains": "Crash", "after_tool": False, "tool_call": {"name": "crash", "arguments": {}}},
    {"after_tool": True, "reply": "As the notes say."},
], "default": "OK"}


def script(tools: str, body: str) -> str:
    return ("agent keeper:\n    \"\"\"You keep notes.\"\"\"\n"
            f"    tools: {tools}\n\n{body}")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with its own copy of the server (so its processes can be told apart) and a call log."""
    shutil.copy(SERVER, tmp_path / "notes_server.py")
    monkeypatch.setenv("NOTES_LOG", str(tmp_path / "calls.log"))
    return tmp_path


def calls(folder: Path) -> list[str]:
    log = folder / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def servers_running(folder: Path) -> list[int]:
    """The processes still running this folder's copy of the server."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(folder / "notes_server.py") in command or (
                    "notes_server.py" in command and (entry / "cwd").resolve() == folder.resolve()):
                found.append(int(entry.name))
    return found


def load(folder: Path, text: str) -> parley.Program:
    path = folder / "notes.agent"
    path.write_text(text)
    return parley.load(path)


STDIO = 'mcp("python notes_server.py", env=["NOTES_LOG"])'


def test_check_lists_the_servers_tools_and_names_a_misspelt_one(folder: Path) -> None:
    path = folder / "notes.agent"
    path.write_text(script('mcp("python notes_server.py", tools=["add_note", "raed_note"])',
                           "@keeper Remember the picnic.\n"))
    with pytest.raises(parley.ScriptError) as failure:
        parley.load(path)
    text = str(failure.value)
    assert "P292" in text and "has no tool `raed_note`" in text and "did you mean `read_note`?" in text
    assert "notes.agent:3:" in text


def test_with_the_check_off_nothing_is_started_and_a_misspelt_tool_waits_for_the_run(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_MCP_CHECK", "off")
    program = load(folder, script('mcp("python notes_server.py", tools=["raed_note"])', "@keeper Remember the picnic.\n"))
    warnings = [d for d in program.diagnostics if d.code == "P291"]
    assert warnings and "listing is off (PARLEY_MCP_CHECK=off)" in warnings[0].message
    assert servers_running(folder) == []


def test_a_server_that_cannot_start_is_a_warning_and_the_plan_keeps_it(folder: Path) -> None:
    program = load(folder, script('mcp("python missing_server.py")', "@keeper Remember the picnic.\n"))
    warnings = [d for d in program.diagnostics if d.code == "P291"]
    assert warnings and "cannot list the tools of MCP server `missing_server`" in warnings[0].message
    assert [s.name for s in program.plan.mcp_servers] == ["missing_server"]
    with pytest.raises(RunError) as failure:
        program.run(model=ScriptedModel.from_data(RULES))
    assert failure.value.kind is FailureKind.TOOL
    assert "could not be started" in failure.value.message and failure.value.span.line == 5
    assert servers_running(folder) == []


def test_an_agent_calls_stdio_tools_and_server_errors_go_back_to_the_model(folder: Path) -> None:
    program = load(folder, script(STDIO, "@keeper Remember the picnic.\n"
                                         "when = @keeper When is the picnic?\n"
                                         "missing = @keeper Missing note?\nprint when\n"))
    model = ScriptedModel.from_data(RULES)
    result = program.run(model=model)
    assert result.printed == ["As the notes say."]
    assert calls(folder) == ["add_note picnic", "read_note picnic", "read_note zoo"]
    tool_messages = [m.content for r in model.requests for m in r.messages if m.role == "tool"]
    assert "Sunday at noon" in tool_messages
    assert any(m.startswith("error: the tool failed:") and "no note titled 'zoo'" in m for m in tool_messages)
    offered = {t.name for t in model.requests[0].tools}
    assert offered == {"add_note", "read_note", "list_notes", "crash"}
    assert model.requests[0].tools[0].parameters["required"] == ["title", "text"]
    kinds = [(e.kind, e.data.get("tool")) for e in result.events if e.kind.startswith("tool_")]
    assert ("tool_call", "notes_server.add_note") in kinds and ("tool_error", "notes_server.read_note") in kinds
    assert servers_running(folder) == []


def test_calls_are_journaled_and_not_repeated_on_resume(folder: Path) -> None:
    program = load(folder, script(STDIO, "agent you is human\nnote = @keeper Remember the picnic.\n"
                                         "ok = @you {note} Ready?\nwhen = @keeper When is the picnic? {ok}\nprint when\n"))
    store = Store(folder / "runs.db")

    def gone(agent: str, prompt: str) -> str:
        raise RunError(FailureKind.HUMAN, "nobody is there")

    with pytest.raises(RunError) as failure:
        program.run(model=ScriptedModel.from_data(RULES), human=gone, store=store)
    assert calls(folder) == ["add_note picnic"]
    resumed = program.run(model=ScriptedModel.from_data(RULES), human=lambda agent, prompt: "yes", store=store,
                          resume=failure.value.result.run_id)
    # The note was added by the first run's server; the resumed run's server never saw `add_note` again,
    # so its `read_note` fails (the server is new): what matters is that the call was not made twice.
    assert calls(folder) == ["add_note picnic", "read_note picnic"]
    assert resumed.usage.get("journaled", 0) >= 1
    assert servers_running(folder) == []


def test_a_server_that_dies_stops_the_run_naming_the_line(folder: Path) -> None:
    program = load(folder, script(STDIO, "@keeper Remember the picnic.\n@keeper Crash now.\n"))
    with pytest.raises(RunError) as failure:
        program.run(model=ScriptedModel.from_data(RULES))
    assert failure.value.kind is FailureKind.TOOL
    assert "MCP server `notes_server` (line 3) stopped during the run" in failure.value.message
    assert failure.value.span.line == 6
    assert servers_running(folder) == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def http_server(folder: Path) -> Any:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(folder / "notes_server.py"), "--http", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert process.poll() is None, "the HTTP server exited"
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/mcp"
    process.terminate()
    process.wait(timeout=10)


def test_an_agent_calls_tools_over_streamable_http(folder: Path, http_server: str) -> None:
    program = load(folder, script(f'mcp(url="{http_server}", tools=["add_note", "read_note"])',
                                  "@keeper Remember the picnic.\nwhen = @keeper When is the picnic?\nprint when\n"))
    assert not [d for d in program.diagnostics if d.code == "P291"]
    model = ScriptedModel.from_data(RULES)
    result = program.run(model=model)
    assert result.printed == ["As the notes say."]
    assert {t.name for t in model.requests[0].tools} == {"add_note", "read_note"}
    assert "Sunday at noon" in [m.content for r in model.requests for m in r.messages if m.role == "tool"]
    assert calls(folder) == ["add_note picnic", "read_note picnic"]


def test_bad_mcp_settings_are_diagnosed(folder: Path) -> None:
    for tools, expected in [('mcp("python s.py", url="http://x/mcp")', "one of the two"),
                            ('mcp(url="ftp://x")', "http:// or https://"),
                            ('mcp("python s.py", tool=["a"])', "did you mean `tools`?"),
                            ('mcp("python s.py", timeout="soon")', "is a duration")]:
        path = folder / "bad.agent"
        path.write_text(script(tools, "@keeper Hello.\n"))
        with pytest.raises(parley.ScriptError) as failure:
            parley.load(path)
        assert "P290" in str(failure.value) and expected in str(failure.value), tools


def test_the_example_files_and_reads_a_note_through_its_server(monkeypatch: pytest.MonkeyPatch) -> None:
    examples = Path(__file__).parent.parent / "examples"
    monkeypatch.chdir(examples)
    program = parley.load("mcp_notes.agent")
    assert not program.diagnostics
    model = ScriptedModel.from_file(examples / "mcp_notes.rules.json")
    result = program.run(model=model)
    assert result.printed == ["The picnic is on Sunday at noon, by the lake."]
    tool_results = [m.content for r in model.requests for m in r.messages if m.role == "tool"]
    assert tool_results[-1] == "Sunday at noon, by the lake"  # the server's answer, not the rules'
    assert servers_running(examples / "lib") == []
