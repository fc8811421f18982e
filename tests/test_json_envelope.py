"""`parley run --json`: one JSON envelope on stdout, for a run that finished and for one that did not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fake_openai import FakeOpenAI, reply, serving

from parley.cli import main

EXAMPLES = Path(__file__).parent.parent / "examples"
AGENTS = 'agent writer:\n    """You write."""\n'


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    yield from serving()


def envelope(*args: str) -> tuple[int, dict[str, Any]]:
    """The exit status and the envelope, with what changes from run to run (its id, its time) made fixed."""
    ran = CliRunner().invoke(main, ["run", *args, "--json", "--no-store"])
    data = json.loads(ran.stdout)  # stdout holds the envelope alone
    assert isinstance(data["run_id"], str) and isinstance(data["usage"]["time"], float)
    data["run_id"], data["usage"]["time"] = "RUN", 0.0
    return ran.exit_code, data


def test_a_finished_run_gives_its_outputs_and_usage(snapshot: Any) -> None:
    status, data = envelope(str(EXAMPLES / "hello.agent"), "name=Ada",
                            "--model", f"scripted:{EXAMPLES / 'hello.rules.json'}")
    assert status == 0 == data["exit_code"] and data["error"] is None
    assert data == snapshot


def test_a_spent_budget_gives_the_envelope_with_what_was_done(tmp_path: Path, snapshot: Any) -> None:
    script = tmp_path / "spent.agent"
    script.write_text("budget 1 turns\n" + AGENTS + "a = @writer One.\noutput a\nb = @writer Two.\nprint b\n")
    rules = tmp_path / "rules.json"
    rules.write_text('{"rules": [], "default": "First draft."}')
    status, data = envelope(str(script), "--model", f"scripted:{rules}")
    assert status == 4 == data["exit_code"] and data["status"] == "budget"
    assert data["error"]["line"] == 6 and data["outputs"] == ["First draft."]
    assert data == snapshot


def test_a_failed_run_names_the_kind_and_the_line(tmp_path: Path, snapshot: Any) -> None:
    script = tmp_path / "bad.agent"
    script.write_text("x = 5\nprint x\nfor i in x:\n    print i\n")
    status, data = envelope(str(script))
    assert status == 3 == data["exit_code"]
    assert data == snapshot


def test_an_unknown_cost_is_null_never_zero(server: FakeOpenAI, tmp_path: Path) -> None:
    server.script(reply("Hi there.", usage=(10, 5)))
    script = tmp_path / "t.agent"
    script.write_text(f'model own = openai("my-own-model", base_url="{server.base_url}", max_retries=0)\n'
                      "default model own\n" + AGENTS + "x = @writer Hi.\noutput x\n")
    status, data = envelope(str(script))
    assert status == 0 and data["output"] == "Hi there."
    assert data["usage"] == {"turns": 1, "tokens": 15, "cost": None, "cost_known": False, "time": 0.0}
