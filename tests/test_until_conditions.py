"""`until` with any condition: variables, calls of defs and Python functions, and turn counts that
are expressions (`until done() or moves turns`), checked at compile time when constant, else as the
conversation starts."""

from __future__ import annotations

from pathlib import Path

import pytest

import parley
from parley.compiler import compile_source
from parley.compiler import plan as p
from parley.compiler.source_text import condition_source
from parley.dsl.errors import RunError
from parley.runtime.scripted import ScriptedModel

AGENTS = ('agent a:\n    """You are A."""\nagent b:\n    """You are B."""\n'
          'agent referee:\n    """You judge the game."""\n')
ASKED = "Is the game over?"


def referee(*answers: str) -> ScriptedModel:
    return ScriptedModel.from_data({"rules": [{"contains": ASKED, "replies": list(answers)}], "default": "hi"})


def asked(model: ScriptedModel) -> int:
    return sum(ASKED in r.messages[-1].content for r in model.requests)


def chat_with(until: str, before: str = "") -> str:
    return (AGENTS + before + f't = chat a, b:\n    "Play."\n    until {until}\n'
            'print t.turns\nprint t.stop_reason\n')


def codes(source: str) -> list[str]:
    return [d.code for d in compile_source(source, "t.agent").diagnostics]


def test_a_def_is_asked_after_each_message_and_once_per_check() -> None:
    source = chat_with("over() or 6 turns",
                       f'def over() -> bool:\n    return @referee? "{ASKED}"\n')
    model = referee("no", "no", "yes")
    result = parley.compile(source, "t.agent").run(model=model)
    assert result.printed == ["3", "until condition met"]
    assert asked(model) == 3  # one check per message, not a second one to tell why it stopped


def test_a_python_function_and_a_variable(tmp_path: Path) -> None:
    (tmp_path / "board.py").write_text(
        "import pathlib\nMOVES = pathlib.Path(__file__).with_suffix('.moves')\n"
        "def board_done(limit):\n"
        "    seen = int(MOVES.read_text()) + 1 if MOVES.exists() else 1\n"
        "    MOVES.write_text(str(seen))\n"
        "    return seen >= limit\n", encoding="utf-8")
    script = tmp_path / "t.agent"
    script.write_text('from python "board" import board_done\n'
                      + chat_with("board_done(target) or 40 turns", "target = 4\n"), encoding="utf-8")
    result = parley.load(script).run(model=referee())
    assert result.printed == ["4", "until condition met"]
    assert (tmp_path / "board.moves").read_text() == "4"
    flag = parley.compile(chat_with("not waiting or 9 turns", "waiting = false\n"), "t.agent").run(model=referee())
    assert flag.printed == ["1", "until condition met"]


def test_an_input_bounds_the_turns_when_the_conversation_starts() -> None:
    source = "input moves: int = 5\n" + chat_with("over() or moves turns",
                                                   f'def over() -> bool:\n    return @referee? "{ASKED}"\n')
    program = parley.compile(source, "t.agent")
    (step,) = [s for s in program.plan.body if isinstance(s, p.ChatStep)]
    assert step.max_turns == 0  # no constant limit: `moves` alone bounds it
    assert condition_source(step.until) == "over() or moves turns"
    assert "P260" not in codes(source)  # a turn count that is an expression is a limit
    model = referee("no")
    assert program.run({"moves": 2}, model=model).printed == ["2", "turn limit (2 turns)"]
    assert asked(model) == 2
    assert program.run(model=referee("no", "no", "no", "no", "no", "no")).printed == ["5", "turn limit (5 turns)"]
    both = parley.compile("input moves: int = 5\n" + chat_with("moves * 2 turns or 3 turns"), "t.agent")
    assert both.run(model=referee()).printed == ["3", "turn limit (3 turns)"]  # the smaller of the two


@pytest.mark.parametrize("moves", [0, -3])
def test_a_turn_count_below_one_stops_the_run_naming_the_line(moves: int) -> None:
    program = parley.compile("input moves: int\n" + chat_with('a says "X" or moves turns'), "t.agent")
    with pytest.raises(RunError) as failure:
        program.run({"moves": moves}, model=referee())
    assert "a turn limit needs a whole number of at least 1" in failure.value.message
    assert failure.value.span is not None and failure.value.span.line == 8  # the `chat` line


def test_a_turn_count_that_is_not_a_number_stops_the_run() -> None:
    program = parley.compile("input moves: str\n" + chat_with("moves turns"), "t.agent")
    with pytest.raises(RunError, match="whole number of at least 1, not"):
        program.run({"moves": "many"}, model=referee())


def test_a_name_is_a_condition_unless_it_is_an_agent() -> None:
    assert codes(chat_with("done or 4 turns", "done = false\n")) == []
    assert codes(chat_with("b or 4 turns")) == ["P159"]
    assert codes(chat_with("done or 4 turns")) == ["P201"]  # an unknown name, not a syntax error
    assert codes(chat_with("4")) == ["P158", "P260"]
    assert codes(chat_with("0 turns")) == ["P261"]
    assert codes(chat_with('"over" and 2.5 turns or 3 turns')) == ["P261"]
    assert codes(chat_with("critic says \"X\" or 3 turns".replace("critic", "a"))) == []


def test_a_group_takes_the_same_conditions() -> None:
    source = (AGENTS + "input rounds: int = 2\nscore = 0\n"
              + 't = group a, b, referee:\n    "Play."\n    select round_robin\n'
                '    until score > 0 or rounds * 2 turns\nprint t.turns\nprint t.stop_reason\n')
    result = parley.compile(source, "t.agent").run(model=referee())
    assert result.printed == ["4", "turn limit (4 turns)"]
    assert "P243" not in codes(source)  # `score` is read by the condition
