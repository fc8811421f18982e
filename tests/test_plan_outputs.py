"""`parley plan` on every example: tree, Mermaid and DOT pinned by snapshots; DOT accepted by Graphviz."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from parley.compiler import compile_path, draw
from parley.compiler.serialize import plan_from_json
from parley.cli import main
from helpers import EXAMPLES, ROOT

PROGRAMS = sorted(EXAMPLES.glob("*.agent"))


@pytest.fixture(autouse=True)
def _run_from_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def _plan(path: Path):  # type: ignore[no-untyped-def]
    result = compile_path(path, display=str(path.relative_to(ROOT)))
    assert result.plan is not None
    return result.plan


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.name)
def test_tree(path: Path, snapshot) -> None:
    assert draw.plan_tree(_plan(path)) == snapshot


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.name)
def test_mermaid(path: Path, snapshot) -> None:
    text = draw.plan_mermaid(_plan(path))
    assert text.startswith("flowchart TD")
    assert text.count("subgraph ") == text.count("\n    end") + text.count("\n        end")
    assert text == snapshot


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.name)
def test_dot(path: Path, snapshot) -> None:
    text = draw.plan_dot(_plan(path))
    assert text == snapshot
    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed")
    checked = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr == ""


def test_cli_plan_formats() -> None:
    runner = CliRunner()
    path = "examples/review.agent"
    as_json = runner.invoke(main, ["plan", path, "--format", "json"])
    assert as_json.exit_code == 0
    assert plan_from_json(as_json.output) == _plan(ROOT / path)
    assert json.loads(as_json.output)["kind"] == "plan"
    tree = runner.invoke(main, ["plan", path])
    assert tree.exit_code == 0 and tree.output.startswith("plan examples/review.agent")
    verbose = runner.invoke(main, ["plan", path, "--verbose"])
    assert "writes" in verbose.output
    for fmt, start in (("mermaid", "flowchart TD"), ("dot", "digraph")):
        drawn = runner.invoke(main, ["plan", path, "--format", fmt])
        assert drawn.exit_code == 0 and drawn.output.startswith(start)


def test_cli_plan_on_a_broken_script_fails_with_diagnostics(tmp_path: Path) -> None:
    script = tmp_path / "bad.agent"
    script.write_text("x = @nobody Hi.\n")
    result = CliRunner().invoke(main, ["plan", str(script)])
    assert result.exit_code == 1
    assert "error[P202]: unknown agent `nobody`" in result.output
