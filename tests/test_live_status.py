"""The live status at the foot of a terminal: who is being waited for, one row per concurrent branch, the
totals; drawn on a terminal only. Runs against the fake OpenAI server with latency."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest
from click.testing import CliRunner
from fake_openai import FakeOpenAI, reply, serving

import parley
from parley._live import LiveStatus, terminal_console
from parley.cli import main
from parley.console import Console

AGENTS = "".join(f'agent {name}:\n    """You are the {name}."""\n' for name in ("optimist", "skeptic", "economist"))
PANEL = "parallel:\n    o = @optimist Go?\n    s = @skeptic Go?\n    e = @economist Go?\nprint o + s + e\n"
FRAME = re.compile(r"\r\x1b\[2K(?:\x1b\[1A\x1b\[2K)*")  # the area taken back (rich's position_cursor)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    yield from serving()


def source(server: FakeOpenAI, body: str) -> str:
    return (f'model m = openai("gpt-4o-mini", base_url="{server.base_url}", max_retries=0)\n'
            "default model m\n" + AGENTS + body)


def watched(program: Any) -> tuple[str, Any]:
    """Run `program` with the console and its live status drawn on a terminal that is a StringIO."""
    screen = io.StringIO()
    console = Console(color=False, waiting=False)
    console.live = LiveStatus(terminal_console(screen, color=False), paused=lambda: console._streaming is not None)
    result = program.run(on_event=console, stream=console.token, human=console.ask)
    return screen.getvalue(), result


def frames(screen: str) -> list[str]:
    """What the area showed, drawing by drawing."""
    return [frame for frame in FRAME.split(screen) if frame.strip()]


def test_a_reply_waited_for_shows_its_agent_line_and_time(server: FakeOpenAI) -> None:
    server.handler = lambda request: reply("Yes, go.", delay=0.35)
    screen, result = watched(parley.compile(source(server, "x = @skeptic Go?\nprint x\n"), "t.agent"))
    assert result.printed == ["Yes, go."]
    waiting = [f for f in frames(screen) if "skeptic [line 9]" in f]
    assert len(waiting) >= 2  # redrawn while the reply is awaited, its seconds counting
    seconds = [float(m) for f in waiting for m in re.findall(r"\[line 9\] (\d+\.\d)s", f)]
    assert seconds == sorted(seconds) and seconds[-1] >= 0.2
    assert "0 turns · 0 tokens · $0.00" in waiting[0]
    assert screen.endswith("\x1b[?25h")  # the area taken away at the end, the cursor given back


def test_concurrent_branches_get_one_row_each_with_their_text_as_it_streams(server: FakeOpenAI) -> None:
    server.handler = lambda request: reply(["First ", "thoughts, ", "then more."], delay=0.1, stall=0.4, stall_after=2)
    screen, result = watched(parley.compile(source(server, PANEL), "t.agent"))
    assert result.printed == ["First thoughts, then more." * 3]
    drawn = frames(screen)
    rows = [f for f in drawn if all(f"{a} [line {n}]" in f for a, n in (("optimist", 10), ("skeptic", 11),
                                                                          ("economist", 12)))]
    assert rows, drawn[:5]
    assert any(f.count("First") == 3 for f in rows)  # each branch's reply, as it arrives, in its own row
    assert all(len(f.splitlines()) == 4 for f in rows)  # three rows and the totals


def test_a_pipe_gets_none_of_it(server: FakeOpenAI, tmp_path: Path) -> None:
    server.handler = lambda request: reply("Yes, go.", delay=0.2)
    script = tmp_path / "t.agent"
    script.write_text(source(server, PANEL), encoding="utf-8")
    ran = CliRunner().invoke(main, ["run", str(script), "--no-store"])
    assert ran.exit_code == 0, ran.output
    assert "\x1b[" not in ran.stderr and "\r" not in ran.stderr
    assert ran.stderr.count("  Yes, go.") == 3 and ran.stderr.splitlines()[-1].startswith("3 turns · 45 tokens")


def test_the_command_line_shows_the_branches_on_a_terminal_only(server: FakeOpenAI, tmp_path: Path) -> None:
    server.handler = lambda request: reply("Yes, go.", delay=0.4)
    script = tmp_path / "t.agent"
    script.write_text(source(server, PANEL), encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "TERM": "xterm", "NO_COLOR": "1", "HOME": str(tmp_path)}
    child = pexpect.spawn(sys.executable, ["-m", "parley", "run", str(script), "--no-store"], env=env,
                          encoding="utf-8", timeout=30, dimensions=(24, 100))
    child.expect_exact("economist [line 12]")  # the third row, while the replies are awaited
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "3 turns · 45 tokens" in child.before


def test_quiet_or_json_gets_none_of_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("TERM", raising=False)
    assert Console(live=True).live is not None
    assert Console(quiet=True, live=True).live is None  # --quiet, and --json (a quiet console)
