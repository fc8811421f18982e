"""The applications in `examples/` run offline: from their rules files, and with the embedded model.

An example with a sibling `NAME.rules.json` is an application: `parley run` with
that scripted model must finish (exit 0) and print what its snapshot pins. A
sibling `NAME.input.txt` is what the person types, line by line. The same
scripts run with the embedded model (marked `local`), with prose replies capped
at 48 tokens and runs at 4 turns: a small model need not solve anything, but every step it
reaches must run and the run must end as the script says (done, or stopped by
its budget), never with a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

import parley
from parley.cli import main
from parley.dsl.errors import BudgetExceeded
from helpers import EXAMPLES

APPLICATIONS = sorted(p for p in EXAMPLES.glob("*.agent") if p.with_name(p.stem + ".rules.json").exists())


def _typed(path: Path) -> str | None:
    typed = path.with_name(path.stem + ".input.txt")
    return typed.read_text(encoding="utf-8") if typed.exists() else None


def test_there_are_applications() -> None:
    assert len(APPLICATIONS) >= 3


@pytest.mark.parametrize("path", APPLICATIONS, ids=lambda p: p.stem)
def test_an_application_runs_from_its_rules_file(path: Path, tmp_path: Path, snapshot: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # anything the example's code writes lands here
    monkeypatch.setenv("NO_COLOR", "1")
    rules = path.with_name(path.stem + ".rules.json")
    result = CliRunner().invoke(
        main, ["run", str(path), "--model", f"scripted:{rules}", "--allow-code", "--no-store", "--quiet"],
        input=_typed(path),
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert result.stdout == snapshot


@attrs.define
class _Capped:
    """The embedded model with prose replies cut to a few tokens, so each example runs in seconds
    (structured replies, JSON or tool calls, keep their room: a cut one would not parse)."""

    model: Any
    max_tokens: int = 48

    @property
    def name(self) -> str:
        return str(self.model.name)

    async def complete(self, request: Any, on_token: Any = None) -> Any:
        if request.response_format is None and not request.tools:
            request = attrs.evolve(request, max_tokens=min(request.max_tokens or self.max_tokens, self.max_tokens))
        if request.seed is None:  # sampling above temperature 0 repeats itself from run to run
            request = attrs.evolve(request, seed=7)
        return await self.model.complete(request, on_token)


@pytest.fixture(scope="module")
def embedded() -> Any:
    import importlib.util

    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("xllamacpp is not installed: install the parley-lang[local] extra")
    from parley.runtime.local_model import LocalModel

    return _Capped(LocalModel())


@pytest.mark.local
@pytest.mark.parametrize("path", APPLICATIONS, ids=lambda p: p.stem)
def test_an_application_runs_with_the_embedded_model(path: Path, embedded: Any, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    typed = iter((_typed(path) or "").splitlines())
    program = parley.load(path)
    try:
        result = program.run(model=embedded, allow_code=True, limits={"turns": 4},
                             human=lambda agent, prompt: next(typed, ""))
    except BudgetExceeded as stopped:
        assert "turn" in str(stopped)
        return
    assert result.usage["turns"] >= 1  # the run ended as the script says: done, having spoken
