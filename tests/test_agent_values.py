"""Agents as values: `player = white if n % 2 == 0 else black`, `@player …`, agents passed to defs and
listed in loops; the type `agent`; and the concurrency analysis, which must treat an ask through a
variable as touching every agent the variable may hold."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from parley.compiler import compile_source
from parley.compiler import plan as p
from parley.compiler.draw import plan_tree
from parley.compiler.serialize import plan_from_json, plan_to_json
from parley.runtime.scripted import ScriptedModel
from parley.runtime.values import AgentValue

import parley

HEAD = ('model smart = openai("gpt-4o-mini", temperature=0)\ndefault model smart\n'
        + "".join(f'agent {name}:\n    """You play {name}."""\n' for name in ("white", "black", "judge")))
RULES = {"rules": [{"system": "play white", "replies": ["e4", "Nf3", "Bc4"]},
                   {"system": "play black", "replies": ["e5", "Nc6", "Bc5"]},
                   {"system": "play judge", "reply": "fine"}], "default": "?"}


def run(body: str, model: ScriptedModel | None = None) -> parley.RunResult:
    return parley.compile(HEAD + body, "t.agent").run(model=model or ScriptedModel.from_data(RULES))


def compiled(body: str) -> p.Plan:
    result = compile_source(HEAD + body, "t.agent")
    assert result.plan is not None, [d.message for d in result.diagnostics]
    return result.plan


def codes(body: str) -> list[str]:
    return [d.code for d in compile_source(HEAD + body, "t.agent").diagnostics]


def asked(model: ScriptedModel) -> list[str]:
    """Who was asked, in order: the system message says."""
    return [r.messages[0].content.removeprefix("You play ").rstrip(".") for r in model.requests]


# --- the language ---------------------------------------------------------------------


def test_players_alternate_through_a_conditional_choice() -> None:
    model = ScriptedModel.from_data(RULES)
    result = run('board = ""\nfor n in range(4):\n    player = white if n % 2 == 0 else black\n'
                 '    move = @player Your move on: {board}\n    board = board + " " + move\n'
                 '    print "{player}: {move}"\noutput board\n', model)
    assert result.printed == ["white: e4", "black: e5", "white: Nf3", "black: Nc6"]
    assert asked(model) == ["white", "black", "white", "black"]
    # each player's thread holds only its own asks: white's second ask sees its first, not black's
    assert [m.content for m in model.requests[2].messages[1:]] == ["Your move on: ", "e4", "Your move on:  e4 e5"]


def test_an_agent_passed_to_a_def_is_asked_there() -> None:
    model = ScriptedModel.from_data(RULES)
    result = run("def turn(p: agent, board: str) -> str:\n    return @p Board: {board}. Your move.\n"
                 'print turn(black, "empty")\nprint turn(white, "empty")\n', model)
    assert result.printed == ["e5", "e4"]
    assert asked(model) == ["black", "white"]


def test_a_list_of_agents_in_a_for_loop_and_values_that_print_compare_and_join() -> None:
    model = ScriptedModel.from_data(RULES)
    result = run('players = [white, black]\nfor q in players:\n    tell q "Be brief."\n    print @q "Move."\n'
                 "first = players[0]\nprint [first == white, first == black, first != black, white in players]\n"
                 'print "{first} vs {players[1]} {len(players)} {players}"\nforget first\n'
                 'print @first "Again."\n', model)
    assert result.printed == ["e4", "e5", "[true, false, true, true]", 'white vs black 2 ["white", "black"]', "Nf3"]
    told = [m.content for m in model.requests[0].messages[1:]]
    assert told == ["Be brief.", "Move."]  # `tell q` reached white's thread before the ask
    assert [m.content for m in model.requests[2].messages[1:]] == ["Again."]  # `forget first` cleared it


def test_a_def_returns_an_agent_and_an_annotated_variable_holds_one() -> None:
    model = ScriptedModel.from_data({**RULES, "rules": [{"contains": "Ready?", "reply": "yes"}, *RULES["rules"]]})
    result = run("def other(q: agent) -> agent:\n    return black if q == white else white\n"
                 "p: agent = white\np = other(p)\nprint @p \"Move.\"\nq = other(p)\nprint @q? \"Ready?\"\n", model)
    assert result.printed == ["e5", "true"]
    assert asked(model) == ["black", "white"]


def test_python_tools_get_the_agent_as_its_name(tmp_path: Any) -> None:
    (tmp_path / "names_mod.py").write_text("def shout(x):\n    return x.upper() + '!' + str(isinstance(x, str))\n",
                                           encoding="utf-8")
    (tmp_path / "t.agent").write_text('from python "names_mod" import shout\n' + HEAD + "print shout(white)\n",
                                      encoding="utf-8")
    result = parley.load(tmp_path / "t.agent").run(model=ScriptedModel.from_data(RULES))
    assert result.printed == ["WHITE!True"]


def test_the_runtime_refuses_a_string_where_an_agent_is_declared_or_asked() -> None:
    with pytest.raises(parley.RunError) as caught:
        run('def turn(p: agent) -> str:\n    return @p Move.\nname = "white"\nprint turn(name)\n')
    assert str(caught.value) == ('t.agent:12: `turn()`\'s parameter `p` is declared `agent`, and got "white", '
                                 "which is not an agent")
    plan = compiled("player = white\nprint @player Move.\n")
    ask = plan.body[1]
    assert isinstance(ask, p.PrintStep) and isinstance(ask.value, p.Ask)
    forged = attrs.evolve(plan, body=(plan.body[0], attrs.evolve(
        ask, value=attrs.evolve(ask.value, agent_expr=p.Const(value="white")))))
    with pytest.raises(parley.RunError) as caught:
        parley.Program.from_plan(forged).run(model=ScriptedModel.from_data(RULES))
    assert str(caught.value) == 't.agent:10: `"white"` holds "white", which is not an agent: it cannot be asked'


# --- compile-time checks ---------------------------------------------------------------


@pytest.mark.parametrize(("body", "expected"), [
    ('name = "white"\n@name Move.\n', "P254"),
    ("def f(x: str) -> str:\n    return @x Move.\nprint f(\"a\")\n", "P254"),
    ("x = len([1])\ntell x \"Hi.\"\nprint x\n", "P254"),
    ('p: agent = "white"\nprint p\n', "P228"),
    ("input first: agent\nprint first\n", "P255"),
    ("type Move:\n    by: agent\nm: Move = @judge Move.\nprint m\n", "P255"),
    ("q: agent = @judge Who moves?\nprint q\n", "P255"),
    ("player = 3\nchat player, judge:\n    \"Go.\"\n    until 2 turns\n", "P254"),
    ("m = 1\nchat white, judge:\n    \"Go.\"\n    until m says \"x\" or 2 turns\n", "P224"),
])
def test_compile_errors(body: str, expected: str) -> None:
    assert expected in codes(body)


def test_agent_is_a_type_everywhere_a_value_of_the_script_goes() -> None:
    assert codes("type Side = agent\ndef f(xs: list[agent], d: dict[str, agent], o: agent | none) -> Side:\n"
                 "    return d[\"w\"] if o is none else xs[0]\nw = f([white], {\"w\": black}, none)\nprint @w Go.\n") == []


# --- concurrency ---------------------------------------------------------------------


def grouped(plan: p.Plan) -> list[int]:
    """How many steps each step of the body runs at once (a `concurrent` step: its steps)."""
    return [len(step.steps) if isinstance(step, p.ConcurrentStep) else 1 for step in plan.body]


def test_an_ask_through_a_variable_touches_every_agent_taken_as_a_value() -> None:
    plan = compiled("player = white\na = @player Move.\nb = @black Move.\nc = @judge Score.\nprint a + b + c\n")
    assert grouped(plan) == [1, 3, 1]  # black is never a value: it cannot be `player`
    ask = plan.body[1].steps[0]
    assert ask.agent == "" and ask.agent_expr == p.Var(name="player")
    assert "@white" in ask.writes and "@black" not in ask.writes
    plan = compiled("player = white\na = @player Move.\nb = @black Move.\nc = @judge Score.\n"
                    "print a + b + c\nprint black\n")
    assert grouped(plan) == [1, 1, 2, 1, 1]  # `player` may hold black: in order
    assert {"@white", "@black"} <= set(plan.body[1].writes)


def test_a_def_asking_its_agent_parameter_keeps_its_calls_in_order_with_those_agents() -> None:
    plan = compiled("def turn(q: agent) -> str:\n    return @q Move.\n"
                    "a = turn(white)\nb = @black Move.\nc = @judge Score.\nd = turn(black)\nprint a + b + c + d\n")
    assert grouped(plan) == [1, 2, 1, 1]  # `@black` waits for the call; `@judge` (never a value) runs beside it


def test_parallel_branches_that_could_share_an_agent_are_refused() -> None:
    assert "P280" in codes("player = black\nparallel:\n    a = @player Move.\n    b = @black Move.\nprint a + b\n")
    assert "P280" in codes("def turn(q: agent) -> str:\n    return @q Move.\nx = white\n"
                           "parallel:\n    a = turn(black)\n    b = @white Move.\nprint a + b\n")
    assert codes("player = black\nparallel:\n    a = @player Move.\n    b = @judge Move.\nprint a + b\n") == []


def test_asks_through_variables_never_share_a_thread_at_run_time() -> None:
    """Run for real with delays: replies to one agent's thread never overlap, and the order is the script's."""
    model = ScriptedModel.from_data({"rules": [{"system": "play white", "replies": ["w1", "w2"], "delay": 0.05},
                                               {"system": "play black", "replies": ["b1"], "delay": 0.05}]})
    result = run("ps = [white, black]\nfirst = ps[0]\na = @first One.\nb = @white Two.\nc = @black Three.\n"
                 "print \"{a} {b} {c}\"\n", model)
    assert result.printed == ["w1 w2 b1"]
    second_white = model.requests[1].messages
    assert [m.content for m in second_white[1:]] == ["One.", "w1", "Two."]  # the same thread, in order


# --- the plan ---------------------------------------------------------------------------


def test_plan_json_round_trip_and_drawing() -> None:
    plan = compiled("def turn(q: agent) -> str:\n    tell q \"Hi.\"\n    forget q, judge\n    return @q Move.\n"
                    "players = [white, black]\nfor q in players:\n    print turn(q)\n    m = @q Again.\n"
                    "    print @q? \"Sure?\"\n    print m\n")
    text = plan_to_json(plan)
    assert plan_from_json(text) == plan
    assert '"kind": "agent_ref"' in text and '"agent_expr"' in text
    tree = plan_tree(plan)
    for line in ("tell    q \"Hi.\"", "forget  judge, q", "return  @q \"Move.\"", "players = [white, black]",
                 "m = @q \"Again.\"", "print   @q? \"Sure?\""):
        assert line in tree, tree


def test_agent_values_are_strings_of_their_own_kind() -> None:
    value = AgentValue("white")
    assert value == "white" and isinstance(value, str) and type(value) is AgentValue


# --- conversations with agent values as members ------------------------------------------------


def test_a_def_holds_a_chat_between_the_agents_it_is_given() -> None:
    """A reusable conversation: `until b says …` means whichever agent `b` holds when the chat starts."""
    rules = {"rules": [{"system": "play judge", "replies": ["hmm", "YIELD"]}], "default": "point"}
    body = ('def bout(a: agent, b: agent) -> str:\n    t = chat a, b:\n        "Debate."\n'
            '        until b says "YIELD" or 6 turns\n    return "{t.turns} {t.stop_reason}"\n'
            'print bout(white, judge)\nprint bout(black, white)\n')
    model = ScriptedModel.from_data(rules)
    result = run(body, model)
    assert result.printed == ["4 until condition met", "6 turn limit (6 turns)"]
    assert asked(model) == ["white", "judge"] * 2 + ["black", "white"] * 3


def test_a_group_member_through_a_variable_follows_flow_under_its_agents_name() -> None:
    body = ('p = black\ng = group p, judge, white:\n    "Go."\n    select round_robin\n'
            '    flow p -> white, white -> judge, judge -> p\n    until p says "Nc6" or 5 turns\n'
            'print "{g.turns} {g.stop_reason}"\n')
    result = run(body)
    assert result.printed == ["4 until condition met"]
    turns = [e.data["agent"] for e in result.events if e.kind == "turn"]
    assert turns == ["black", "white", "judge", "black"]


def test_the_same_agent_twice_through_variables_stops_the_run_naming_the_line() -> None:
    body = 'p = white\nq = white if true else black\nt = chat p, q:\n    "Go."\n    until 2 turns\nprint t.last\n'
    with pytest.raises(parley.RunError) as failed:
        run(body)
    assert "t.agent:" in str(failed.value) and "`white` would be a member of this conversation twice" in str(failed.value)


def test_a_member_variable_that_is_no_agent_is_p254() -> None:
    assert "P254" in codes('p = "white"\nt = chat p, judge:\n    "Go."\n    until 2 turns\nprint t.last\n')


def test_held_members_round_trip_and_a_plan_naming_a_stranger_is_refused() -> None:
    plan = compiled('p = black\nt = chat p, judge:\n    "Go."\n    until p says "x" or 2 turns\nprint t.last\n')
    chat = next(s for s in plan.body if isinstance(s, p.ChatStep))
    assert chat.members == ("p", "judge") and chat.held == ("p",)
    assert plan_from_json(plan_to_json(plan)) == plan
    assert "chat p, judge" in plan_tree(plan)
    stranger = attrs.evolve(plan, body=tuple(attrs.evolve(s, held=("q",)) if s is chat else s for s in plan.body))
    with pytest.raises(parley.PlanError, match="'q' is not a member of this conversation"):
        plan_from_json(plan_to_json(stranger))
