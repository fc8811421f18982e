"""Running plans with the scripted model: every construct, every example, the CLI and its exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import parley
from parley.cli import main
from helpers import EXAMPLES, ROOT
from parley.compiler import plan as p
from parley.runtime.scripted import ScriptedModel

AGENTS = 'agent writer:\n    """You write."""\nagent critic:\n    """You review drafts."""\n'


def run(source: str, rules: dict[str, Any] | None = None, human: Any = None, **options: Any) -> Any:
    program = parley.compile(source, "t.agent")
    model = ScriptedModel.from_data(rules or {"rules": [], "default": "OK"})
    return program.run(model=model, human=human or (lambda agent, prompt: "yes"), **options)


def turns(result: Any) -> list[tuple[str, str]]:
    return [(e.data["agent"], e.data["text"]) for e in result.events if e.kind == "turn"]


def test_asks_share_the_scripts_thread_with_an_agent() -> None:
    model = ScriptedModel(default="noted")
    program = parley.compile(AGENTS + "a = @writer First.\nb = @writer Second.\nprint a + b\n", "t.agent")
    result = program.run(model=model)
    second = model.requests[1]
    assert [m.content for m in second.messages] == ["You write.", "First.", "noted", "Second."]
    assert result.printed == ["notednoted"]


def test_typed_ask_retries_with_the_error_then_fails_naming_the_line() -> None:
    source = AGENTS + "type V:\n    score: int\nv: V = @critic Score it.\nprint v.score\n"
    ok = run(source, {"rules": [{"system": "review", "replies": ["not json", "{\"score\": 7}"]}]})
    assert ok.printed == ["7"]
    assert [e.kind for e in ok.events].count("retry") == 1
    with pytest.raises(parley.RunError) as caught:
        run(source, {"rules": [{"system": "review", "reply": "{\"score\": \"high\"}"}]})
    assert str(caught.value).startswith("t.agent:7: `critic` did not give a valid reply after 3 tries")
    assert caught.value.exit_code == 3


def test_yes_no_tell_and_forget() -> None:
    source = AGENTS + ('tell writer "Be brief."\nif @writer? "Ready?":\n    print "ready"\nforget writer\n'
                       'x = @writer Again.\nprint x\n')
    model = ScriptedModel.from_data({"rules": [{"contains": "Ready", "reply": "Yes, quite."}], "default": "fresh"})
    result = parley.compile(source, "t.agent").run(model=model)
    assert result.printed == ["ready", "fresh"]
    assert [m.content for m in model.requests[0].messages][1:] == ["Be brief.", "Ready?\n\nAnswer with yes or no."]
    assert [m.content for m in model.requests[1].messages] == ["You write.", "Again."]  # forgotten


def test_chat_alternates_stops_on_says_and_records_why() -> None:
    source = AGENTS + ('t = chat writer, critic:\n    "Improve: draft"\n    until critic says "APPROVED" or 9 turns\n'
                       'print t.turns\nprint t.stop_reason\nprint t.last\n')
    rules = {"rules": [{"system": "review", "replies": ["More.", "APPROVED"]}, {"system": "write", "reply": "v2"}]}
    result = run(source, rules)
    assert turns(result) == [("writer", "v2"), ("critic", "More."), ("writer", "v2"), ("critic", "APPROVED")]
    assert result.printed == ["4", "until condition met", "APPROVED"]


def test_turn_limit_always_holds() -> None:
    source = AGENTS + 't = chat writer, critic:\n    "Go."\n    until critic says "never" or 3 turns\nprint t.stop_reason\n'
    result = run(source)
    assert len(turns(result)) == 3 and result.printed == ["turn limit (3 turns)"]


def test_group_round_robin_follows_flow_and_random_is_seeded() -> None:
    three = AGENTS + 'agent editor:\n    """You edit."""\n'
    source = three + ('g = group writer, critic, editor:\n    "Go."\n    select round_robin\n'
                      '    flow writer -> editor, editor -> critic, critic -> writer\n    until 5 turns\n')
    speakers = [agent for agent, _ in turns(run(source))]
    assert speakers == ["writer", "editor", "critic", "writer", "editor"]
    seeded = three + 'g = group writer, critic, editor:\n    "Go."\n    select random(seed=3)\n    until 6 turns\n'
    first = [a for a, _ in turns(run(seeded))]
    assert first == [a for a, _ in turns(run(seeded))] and first[0] == "writer"


def test_select_auto_asks_a_model_and_retries_on_a_bad_name() -> None:
    source = AGENTS + 'g = group writer, critic:\n    "Go."\n    select auto\n    until 3 turns\n'
    rules = {"rules": [{"contains": "choose who speaks", "replies": ["nobody", "critic", "writer"]}]}
    result = run(source.replace("You choose", "x"), {**rules})
    assert [a for a, _ in turns(result)] == ["writer", "critic", "writer"]
    assert any(e.kind == "retry" for e in result.events)


def test_the_console_says_why_a_speaker_is_chosen_again(tmp_path: Path) -> None:
    script, rules = tmp_path / "g.agent", tmp_path / "rules.json"
    script.write_text(AGENTS.replace("You choose", "x") + 'g = group writer, critic:\n    "Go."\n    select auto\n'
                      '    until 2 turns\n', encoding="utf-8")
    rules.write_text(json.dumps({"rules": [{"contains": "choose who speaks", "replies": ["nobody", "critic"]}]}))
    result = CliRunner().invoke(main, ["run", str(script), "--model", f"scripted:{rules}", "--no-store"],
                                env={"NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert "↻ retry: the selector's reply 'nobody' names no member who may speak next" in result.stderr


def test_tools_are_checked_before_they_run(tmp_path: Path) -> None:
    source = ('from python "json" import dumps\nagent helper:\n    """You help."""\n    tools: dumps\n'
              'x = @helper Encode it.\nprint x\n')
    rules = {"rules": [
        {"after_tool": False, "contains": "Encode", "tool_call": {"name": "dumps", "arguments": "{not json"}},
        {"after_tool": True, "reply": "done"},
    ]}
    result = run(source, rules)
    errors = [e for e in result.events if e.kind == "tool_error"]
    assert errors and "not valid JSON" in errors[0].data["error"]
    assert result.printed == ["done"]
    called = run(source, {"rules": [
        {"after_tool": False, "contains": "Encode", "tool_call": {"name": "dumps", "arguments": {"obj": [1, 2]}}},
        {"after_tool": True, "reply": "done"},
    ]})
    assert [e.data["tool"] for e in called.events if e.kind == "tool_call"] == ["dumps"]


def test_parallel_and_independent_asks_run_concurrently() -> None:
    source = AGENTS + "a = @writer One.\nb = @critic Two.\nprint a + b\n"
    rules = {"rules": [{"contains": "One", "reply": "1", "delay": 0.3}, {"contains": "Two", "reply": "2", "delay": 0.3}]}
    import time

    start = time.perf_counter()
    result = run(source, rules)
    assert result.printed == ["12"]
    assert time.perf_counter() - start < 0.55  # both asks waited at once


def test_budget_stops_the_run_cleanly() -> None:
    source = "budget 2 turns\n" + AGENTS + "a = @writer One.\nb = @writer Two.\nc = @writer Three.\nprint c\n"
    with pytest.raises(parley.RunError) as caught:
        run(source)
    assert caught.value.exit_code == 4 and "turn budget" in str(caught.value)
    assert caught.value.result.usage["turns"] == 2  # stopped before a third request


def test_inputs_are_typed_and_checked() -> None:
    source = "input n: int = 2\ninput name: str\nprint n * 2\nprint name\n"
    assert run(source, inputs={"n": "5", "name": "Ada"}).printed == ["10", "Ada"]
    with pytest.raises(parley.RunError, match="input `n`"):
        run(source, inputs={"n": "five", "name": "Ada"})
    with pytest.raises(parley.RunError, match="input `name` has no value"):
        run(source)


def test_defs_loops_and_values() -> None:
    source = ("def double(xs: list[int]) -> list[int]:\n    out = []\n    for x in xs:\n        out += [x * 2]\n"
              "    return out\nys = [1, 2, 3]\nzs = ys\nzs[0] = 9\nprint double(ys)\nprint ys\nn = 0\n"
              "while n < 10 max 3:\n    n += 1\nprint n\n")
    assert run(source).printed == ["[2, 4, 6]", "[1, 2, 3]", "3"]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.agent")), ids=lambda p: p.name)
def test_every_example_runs_offline(path: Path, snapshot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    program = parley.load(path.relative_to(ROOT))
    inputs = {"version": "1.2"} if path.name == "approval.agent" else {}
    model = ScriptedModel.from_data({"rules": [], "default": "DONE. APPROVED. AGREED."})
    result = program.run(inputs, model=model, human=lambda agent, prompt: "yes", allow_code=True, seed=1)
    transcript = [(e.kind, e.line, e.data.get("agent"), e.data.get("text")) for e in result.events
                  if e.kind in ("turn", "print", "tool_call", "conversation_stop", "human_input")]
    assert {"printed": result.printed, "transcript": transcript} == snapshot


def test_cli_run_outputs_json_and_trace(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [], "default": "Hello there."}))
    trace = tmp_path / "trace.jsonl"
    result = CliRunner().invoke(main, ["run", str(EXAMPLES / "hello.agent"), "name=Ada", "--model",
                                       f"scripted:{rules}", "--json", "--trace", str(trace)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout[result.stdout.index("{\n"):])
    assert payload["output"] == {"text": "example", "mood": "cheerful"}
    kinds = [json.loads(line)["kind"] for line in trace.read_text().splitlines()]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end" and "turn" in kinds


def test_cli_run_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.agent"
    bad.write_text("x = @nobody Hi.\n")
    assert CliRunner().invoke(main, ["run", str(bad)]).exit_code == 1
    assert CliRunner().invoke(main, ["run", str(EXAMPLES / "hello.agent"), "oops"]).exit_code == 2
    budget = tmp_path / "budget.agent"
    budget.write_text("budget 1 turns\n" + AGENTS + "a = @writer One.\nb = @writer Two.\nprint b\n")
    rules = tmp_path / "rules.json"
    rules.write_text('{"rules": []}')
    spent = CliRunner().invoke(main, ["run", str(budget), "--model", f"scripted:{rules}"])
    assert spent.exit_code == 4 and "turn budget" in spent.output
    no_model = tmp_path / "none.agent"
    no_model.write_text(AGENTS + "a = @writer One.\nprint a\n")
    monkeypatch.setattr("parley.runtime.local_model.unavailable", lambda: "no embedded model")  # no parley-lang[local]
    failed = CliRunner().invoke(main, ["run", str(no_model)])
    assert failed.exit_code == 3 and "none.agent:5: `writer` has no model" in failed.output


def test_replies_stream_to_the_console_except_when_steps_run_at_once() -> None:
    pieces: list[tuple[str, str]] = []
    source = AGENTS + "a = @writer One.\nprint a\nb = @writer Two.\nc = @critic Three.\nprint b + c\n"
    run(source, {"rules": [], "default": "two words"}, stream=lambda agent, piece: pieces.append((agent, piece)))
    assert pieces == [("writer", "two "), ("writer", "words")]  # the concurrent pair is not streamed


def test_run_limits_tighten_the_scripts_budgets() -> None:
    source = "budget 10 turns\n" + AGENTS + "a = @writer One.\nb = @writer Two.\nprint b\n"
    with pytest.raises(parley.RunError, match="turn budget \\(1 turns\\)"):
        run(source, limits={"turns": 1})


def test_executor_agents_run_code_only_when_allowed() -> None:
    source = ('agent runner is executor:\n    timeout: 5s\nagent coder:\n    """You code."""\n'
              't = chat coder, runner:\n    "Print 6 * 7."\n    until 2 turns\nprint t.last\n')
    rules = {"rules": [{"system": "You code", "reply": "```python\nprint(6 * 7)\n```"}]}
    result = run(source, rules, allow_code=True)
    assert result.printed == ["exit code: 0\n42\n"]
    with pytest.raises(parley.RunError, match="does not allow it"):
        run(source, rules)


def test_max_auto_replies_bounds_a_members_turns() -> None:
    source = ('agent writer:\n    """You write."""\n    max_auto_replies: 2\nagent critic:\n    """You review drafts."""\n'
              't = chat writer, critic:\n    "Go."\n    until 10 turns\nprint t.turns\nprint t.stop_reason\n')
    assert run(source).printed == ["4", "writer reached its max_auto_replies (2)"]


@pytest.mark.parametrize("body, message", [
    ("x = 1\nx.y = 2\n", "cannot set the field `y` of 1: it is not a record"),
    ("x = [1]\nx[3] = 2\n", "index 3 is out of range (the list has 1 item)"),
    ("for i in 5:\n    print i\n", "a `for` loop goes over a list, a dict or a text, not 5"),
    ("for a, b in [1, 2]:\n    print a\n", "cannot unpack"),
    ("x = 10 ** 10 ** 10\n", "power above 10,000"),
])
def test_bad_values_stop_the_run_naming_the_line(body: str, message: str) -> None:
    with pytest.raises(parley.RunError) as caught:
        run(body)
    assert message in str(caught.value) and str(caught.value).startswith("t.agent:")
    assert caught.value.exit_code == 3


def test_python_agents_that_raise_stop_the_run_cleanly() -> None:
    with pytest.raises(parley.RunError, match="python agent `p` \\(json:loads\\) raised JSONDecodeError"):
        run('agent p is python "json:loads"\nx = @p "not json"\nprint x\n')


def test_replies_and_messages_say_who_spoke() -> None:
    source = AGENTS + ('t = chat writer, critic:\n    "Go."\n    until 2 turns\n'
                       'for m in t.messages:\n    print "{m.agent}: {m}"\n')
    assert run(source).printed == ["writer: OK", "critic: OK"]


def test_cli_prints_the_output_and_json_mode_keeps_stdout_clean(tmp_path: Path) -> None:
    rules = f"scripted:{EXAMPLES / 'hello.rules.json'}"
    plain = CliRunner().invoke(main, ["run", str(EXAMPLES / "hello.agent"), "--model", rules])
    assert plain.exit_code == 0 and plain.stdout.rstrip().endswith('"mood": "cheerful"}')
    as_json = CliRunner().invoke(main, ["run", str(EXAMPLES / "hello.agent"), "--model", rules, "--json"])
    assert json.loads(as_json.stdout)["output"]["mood"] == "cheerful"
    bad_trace = CliRunner().invoke(main, ["run", str(EXAMPLES / "hello.agent"), "--model", rules,
                                          "--trace", str(tmp_path / "missing" / "t.jsonl")])
    assert bad_trace.exit_code == 2 and "cannot write" in bad_trace.output


def test_bad_inputs_are_usage_errors() -> None:
    result = CliRunner().invoke(main, ["run", str(EXAMPLES / "review.agent"), "wrds=5"])
    assert result.exit_code == 2 and "unknown input 'wrds'" in result.output


def test_conversation_messages_carry_their_usage() -> None:
    source = AGENTS + ('t = chat writer, critic:\n    "Go now."\n    until 2 turns\n'
                       'print "{t.messages[0].tokens} {t.last.tokens} {t.tokens}"\n')
    first, last, total = map(int, run(source).printed[0].split())
    assert first > 0 and last > 0 and first + last == total


def test_api_misuse_is_a_usage_error() -> None:
    program = parley.compile(AGENTS + "x = @writer Hi.\nprint x\n", "t.agent")
    with pytest.raises(parley.UsageError, match="model client"):
        program.run(model=42)
    with pytest.raises(parley.UsageError, match="names sav"):
        program.run(model=ScriptedModel(), tools={"sav": print})


def test_every_builtin_the_compiler_accepts_exists_at_run_time() -> None:
    from parley.compiler.builtins import BUILTINS as CHECKED
    from parley.runtime.builtins import BUILTINS as RUN

    assert set(CHECKED) == set(RUN)


@pytest.mark.parametrize(("source", "message"), [
    ('def f(n: int) -> str:\n    return n\nx = f(2)\nprint x\n', "t.agent:3: what `f()` returns is declared `str`, and got 2"),
    ('def f(n: int) -> int:\n    return n\ns = "3"\nprint f(s)\n', "t.agent:4: `f()`'s parameter `n` is declared `int`, and got \"3\""),
    ('type P:\n    n: int\nx: list[P] = []\ny = {"n": "a"}\nx = [y]\nprint x\n',
     "t.agent:5: `x` is declared `list[P]`, and got [{\"n\": \"a\"}] ([0].n: 'a' is not of type 'integer')"),
])
def test_declared_types_are_enforced_as_values_are_stored(source: str, message: str) -> None:
    with pytest.raises(parley.RunError) as failed:
        parley.compile(source, "t.agent").run()
    assert str(failed.value) == message and failed.value.kind is parley.FailureKind.VALUE


def test_a_later_ask_into_a_declared_variable_is_a_typed_ask() -> None:
    """`n: int = 1` then `n = @o …`: the reply is asked for, and checked, as an int, not stored as text."""
    source = 'agent o:\n    """You count."""\nn: int = 1\nn = @o How many?\nprint n + 1\n'
    plan = parley.compile(source, "t.agent").plan
    assert [type(s).__name__ for s in plan.body] == ["AssignStep", "AskStep", "PrintStep"]
    assert plan.body[1].type == p.NamedType(name="int")
    rules = {"rules": [{"contains": "How many", "json": 3}]}
    result = parley.compile(source, "t.agent").run(model=ScriptedModel.from_data(rules))
    assert result.printed == ["4"]


def test_values_of_the_declared_type_pass() -> None:
    source = ('def half(n: float) -> float:\n    return n / 2\nx: float = half(3)\nx = 4\n'
              'names: list[str] = ["a"]\nnames = append(names, "b")\nprint "{x} {names}"\n')
    assert parley.compile(source, "t.agent").run().printed == ['4 ["a", "b"]']


def test_a_thread_reads_as_its_last_message_in_operators_and_built_ins() -> None:
    source = ('agent a:\n    """x"""\nagent b:\n    """y"""\n'
              't = chat a, b:\n    "Go."\n    until 2 turns\n'
              'print "{t + \'!\'} {upper(t)} {t == t.last} {len(t) == len(t.last)} {len(t.messages)}"\n')
    rules = {"rules": [], "default": "done"}
    from parley.runtime.scripted import ScriptedModel

    result = parley.compile(source, "t.agent").run(model=ScriptedModel.from_data(rules))
    assert result.printed == ["done! DONE true true 2"]
