"""What the applications' own parts do: the chess board's refusals, and the runs' failure paths.

tests/test_applications.py pins what each application prints; these check the
parts it cannot see: every reason the chess board gives for refusing a move,
that the board needs python-chess only once a game starts, that the product
team's chair is asked again when it names a member `flow` does not allow, and
that the orchestrator re-plans after two steps without progress.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner

import parley
from parley.cli import main
from parley.runtime.scripted import ScriptedModel
from helpers import EXAMPLES

chess = pytest.importorskip("chess")


def _board_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chessboard_under_test", EXAMPLES / "lib" / "chessboard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def board() -> ModuleType:
    module = _board_module()
    module.new_game()
    return module


def _at(module: ModuleType, fen: str) -> None:
    module._game = chess.Board(fen)


@pytest.mark.parametrize(("fen", "proposal", "reason"), [
    ("r3k3/8/8/8/8/8/8/4K2R w K - 0 1", "O-O-O", "White can no longer castle on that side"),
    ("4k3/8/8/8/8/8/8/R3K2r w Q - 0 1", "O-O-O", "White cannot castle out of check"),
    ("4k3/8/8/8/8/8/8/RN2K3 w Q - 0 1", "0-0-0", "castling needs the squares between the king and the rook empty"),
    ("3rk3/8/8/8/8/8/8/R3K3 w Q - 0 1", "O-O-O", "the king may not pass through or land on an attacked square"),
    ("4k3/8/8/8/8/8/4P3/4K3 w - - 0 1", "e4=Q", "no White piece can make that move"),
    ("4k3/8/8/8/8/8/8/3K1r2 w - - 0 1", "Ke1", "it would leave White's king in check"),
    ("4k3/8/8/8/8/8/4P3/3K4 w - - 0 1", "Qd4", "no White piece can make that move"),
    ("4k3/8/8/8/8/8/8/N1N1K3 w - - 0 1", "Nb3", "more than one piece can make it"),
    ("4k3/8/8/8/8/8/4P3/4K3 w - - 0 1", "I resign", "no move in standard algebraic notation"),
])
def test_the_board_refuses_with_the_reason_and_the_legal_moves(board: ModuleType, fen: str, proposal: str,
                                                                reason: str) -> None:
    _at(board, fen)
    before = board._game.fen()
    said = board.referee(proposal)
    assert said.startswith("Refused"), said
    assert reason in said
    assert "White to move; legal moves: " in said
    assert board._game.fen() == before  # a refused move changes nothing


def test_a_game_is_played_to_its_end_and_the_turn_passes(board: ModuleType) -> None:
    members = ["white", "black", "board"]
    assert board.next_turn([{"sender": "script"}], members) == "board"
    for proposal in ["I open with e4.", "e5", "Bc4", "Nc6", "Qh5", "Nf6"]:
        assert "played" in board.referee(proposal)
        assert board.next_turn([{"sender": "board"}], members) == ("white" if board._game.turn else "black")
    assert not board.game_over() and board.result() == "*"
    assert board.referee("Qxf7#") == "White played Qxf7#. Game over by checkmate: White wins, 1-0."
    assert board.game_over() and board.result() == "1-0"
    assert board.movetext() == "1. e4 e5 2. Bc4 Nc6 3. Qh5 Nf6 4. Qxf7#"
    assert board.referee("Ke7").startswith("The game is over: 1-0")


def test_without_python_chess_the_script_checks_and_the_run_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "chess", None)  # `import chess` now fails, as on a machine without it
    module = _board_module()
    assert not module.game_over()
    with pytest.raises(RuntimeError, match="pip install chess"):
        module.new_game()
    script = str(EXAMPLES / "chess.agent")
    checked = CliRunner().invoke(main, ["check", script])
    assert checked.exit_code == 0, checked.output
    rules = f"scripted:{EXAMPLES / 'chess.rules.json'}"
    ran = CliRunner().invoke(main, ["run", script, "--model", rules, "--no-store", "--quiet"])
    assert ran.exit_code == 3
    assert "chess.agent:" in ran.output and "pip install chess" in ran.output and "Traceback" not in ran.output


def _run(name: str, **options: Any) -> Any:
    program = parley.load(EXAMPLES / f"{name}.agent")
    model = ScriptedModel.from_file(EXAMPLES / f"{name}.rules.json")
    return program.run(model=model, **options), model


def test_the_chair_is_asked_again_when_it_names_a_member_flow_does_not_allow() -> None:
    result, model = _run("product_team")
    retries = [{k: v for k, v in e.data.items() if k != "path"} for e in result.events if e.kind == "retry"]
    assert retries == [{"what": "speaker selection", "attempt": 1, "reply": "engineer"}]
    asked = [r.messages[-1].content for r in model.requests if "You chair a product team" in r.messages[-1].content]
    assert len(asked) == 7  # six choices, one of them asked twice
    after_researcher = next(a for a in asked if "\nresearcher: " in a.split("Conversation so far:")[1])
    members = after_researcher.split("Members:\n")[1].split("\nConversation so far:")[0]
    assert [line.split(":")[0] for line in members.splitlines()] == ["- pm", "- designer"]  # what `flow` allows


def test_the_orchestrator_replans_after_two_steps_without_progress(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result, _ = _run("orchestrator", allow_code=True)
    printed = result.printed
    assert [line.split(":")[0] for line in printed] == [
        "researcher", "coder", "coder", "Re-planned", "coder", "writer", "Done"]
    ran = [e.data["text"] for e in result.events if e.kind == "turn" and e.data.get("agent") == "runner"]
    assert ["FileNotFoundError" in r for r in ran] == [True, True, False]
    assert ran[-1].startswith("exit code: 0") and "779.9 days, 25.6 months" in ran[-1]
    assert "780 days" in result.output
