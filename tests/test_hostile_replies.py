"""Hostile JSON from a model, a tool call or the command line: fed back or reported, never a traceback.

Typed replies and tool-call arguments nested 100,000 deep, megabytes long, or holding numbers JSON
does not have go back to the model (a retry reason, an error result) and the run goes on; one reply's
calls beyond `MAX_TOOL_CALLS` are answered with an error, not run; a typed input that is too deep or
not a finite number is an input error (exit 2); a limit that is not a finite number of zero or more
is a usage error. Every test that sends a malformed tool call checks that the tool did not run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fake_openai import (  # noqa: F401  (fake_openai_fixture registers the `fake_openai` fixture)
    fake_openai_fixture,
    reply,
    tool_call,
)

import parley
from parley.cli import main
from parley.dsl.errors import BudgetExceeded, FailureKind
from parley.runtime.bounds import MAX_DEPTH, MAX_REPLY_BYTES, MAX_TOOL_ARGUMENT_BYTES, MAX_TOOL_CALLS
from parley.runtime.scripted import ScriptedModel
from parley.runtime.store import Store

DEEP = "[" * 100_000
#: A guard against hangs only (the quadratic scans these tests were written against took minutes).
SECONDS = 10.0

TYPED = '''agent judge:
    """You judge."""
type Verdict:
    score: float
v: Verdict = @judge Score it.
print v.score
'''

TOOLS = '''from python "json" import dumps
agent writer:
    """You write."""
    tools: dumps
    max_tool_rounds: 3
x = @writer Encode it.
print x
'''


def scripted(*rules: dict[str, Any]) -> ScriptedModel:
    return ScriptedModel.from_data({"rules": list(rules)})


def events_of(kind: str, seen: list[Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.data.items() if k != "path"} for e in seen if e.kind == kind]


class Tool:
    """Stands in for `dumps`: records every call it gets (a malformed call must never arrive)."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def __call__(self, obj: Any) -> str:
        self.calls.append(obj)
        return "encoded"


# --- typed replies ------------------------------------------------------------------


@pytest.mark.parametrize(("bad", "problem"), [
    (DEEP, f"arrays or objects nested 100,000 deep, over the limit of {MAX_DEPTH}"),
    ('{"score": ' + DEEP, "arrays or objects nested 100,001 deep"),
    ("Here it is: " + "{" * 50_000 + " and no end", "arrays or objects nested 50,000 deep"),
    ('{"score": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}", f"nested {MAX_DEPTH + 1} deep"),
    ('{"score": "' + "x" * MAX_REPLY_BYTES + '"}', f"the reply: {MAX_REPLY_BYTES + 13:,} bytes, over the limit of {MAX_REPLY_BYTES:,} bytes"),
    ('{"score": NaN}', "`NaN` is not a number JSON allows"),
    ('{"score": Infinity}', "`Infinity` is not a number JSON allows"),
    ('{"score": 1e999}', "1e999 is too large for a number"),
    ('{"score": ' + "9" * 5000 + "}", "an integer of 5,000 digits is too long"),
], ids=["deep", "deep-inside", "deep-in-prose", "one-too-deep", "huge", "nan", "infinity", "1e999", "digits"])
def test_an_unusable_typed_reply_is_a_retry_reason(bad: str, problem: str) -> None:
    model = scripted({"replies": [bad, '{"score": 7.5}']})
    seen: list[Any] = []
    started = time.process_time()
    result = parley.compile(TYPED, "t.agent").run(model=model, on_event=seen.append)
    assert time.process_time() - started < SECONDS
    assert result.printed == ["7.5"]
    (retry,) = events_of("retry", seen)
    assert problem in retry["problem"] and len(retry["problem"]) < 300
    told = model.requests[1].messages[-1].content
    assert told.startswith("That reply is not valid: ") and problem in told


def test_a_reply_nested_exactly_to_the_limit_is_read() -> None:
    nested = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    source = TYPED.replace("score: float", "score: list[any]").replace("print v.score", "print len(v.score)")
    result = parley.compile(source, "t.agent").run(model=scripted({"reply": '{"score": ' + nested + "}"}))
    assert result.printed == ["1"]


@pytest.mark.parametrize("text", [
    "a" + " " * 400_000 + "b",
    "[" * 400_000 + "x",
    "{" + "\\" * 400_000,
    '"' + '\\"' * 200_000,
], ids=["spaces", "open-brackets", "backslashes", "escaped-quotes"])
def test_a_long_reply_is_checked_in_linear_time(text: str) -> None:
    source = TYPED.replace("score: float", "score: str")
    started = time.process_time()
    with pytest.raises(parley.RunError) as failed:
        parley.compile(source, "t.agent").run(model=scripted({"reply": text}))
    assert time.process_time() - started < SECONDS
    assert failed.value.kind is FailureKind.REPLY and len(str(failed.value)) < 500


def test_three_unusable_replies_end_the_run_with_a_short_message() -> None:
    with pytest.raises(parley.RunError) as failed:
        parley.compile(TYPED, "t.agent").run(model=scripted({"reply": DEEP}))
    assert failed.value.kind is FailureKind.REPLY
    assert "did not give a valid reply after 3 tries: the reply: arrays or objects nested 100,000 deep" in str(failed.value)
    assert len(str(failed.value)) < 300


def test_a_resumed_run_gets_fresh_tries_after_the_journaled_bad_replies(tmp_path: Path) -> None:
    program = parley.compile(TYPED, "t.agent")
    store = Store(tmp_path / "runs.db")

    def model(*replies: str) -> str:
        rules = tmp_path / f"rules{len(list(tmp_path.glob('rules*')))}.json"
        rules.write_text(json.dumps({"rules": [{"replies": list(replies)}]}), encoding="utf-8")
        return f"scripted:{rules}"

    def fresh(seen: list[Any]) -> int:
        return len([e for e in events_of("model_call", seen) if not e["journaled"]])

    seen: list[Any] = []
    with pytest.raises(parley.RunError) as failed:
        program.run(model=model(DEEP), store=store, on_event=seen.append)
    run_id = failed.value.result.run_id
    assert failed.value.kind is FailureKind.REPLY and fresh(seen) == 3

    seen = []
    with pytest.raises(parley.RunError) as again:  # a replay ends where the run did: the same failure
        program.run(store=store, replay=run_id, on_event=seen.append)
    assert again.value.kind is FailureKind.REPLY and fresh(seen) == 0

    seen = []
    resumed = program.run(model=model(DEEP, '{"score": 2.5}'), store=store, resume=run_id, on_event=seen.append)
    assert resumed.printed == ["2.5"] and store.run(run_id)["status"] == "done"
    assert [e["journaled"] for e in events_of("turn", seen)] == [True, True, True, False, False]
    assert fresh(seen) == 2  # the three journaled replies served, then two fresh tries

    seen = []
    with pytest.raises(parley.RunError) as failed_again:
        program.run(model=model(DEEP), store=store)
    with pytest.raises(parley.RunError) as still:  # a resume that fails again fails after three tries of its own
        program.run(store=store, resume=failed_again.value.result.run_id, on_event=seen.append)
    assert "after 6 tries" in str(still.value) and fresh(seen) == 3


def test_a_deep_speaker_choice_falls_back_to_the_first_candidate() -> None:
    source = '''agent a:
    """Alpha."""
agent b:
    """Beta."""
t = group a, b:
    "Talk."
    until 3 turns
print t.turns
'''
    model = scripted({"contains": "choose who speaks next", "reply": DEEP}, {"reply": "fine"})
    result = parley.compile(source, "t.agent").run(model=model)
    assert result.printed == ["3"]


# --- tool calls -----------------------------------------------------------------------


@pytest.mark.parametrize(("arguments", "problem"), [
    ('{"obj": ' + "[" * 60_000, "the arguments: arrays or objects nested 60,001 deep, over the limit of 100"),
    ('{"obj": "' + "x" * 10_000_000 + '"}', f"the arguments: 10,000,011 bytes, over the limit of {MAX_TOOL_ARGUMENT_BYTES:,} bytes"),
    ('{"obj": NaN}', "`NaN` is not a number JSON allows"),
    ('{"obj": 1e999}', "1e999 is too large for a number"),
    ('{"obj": ', "the arguments are not valid JSON"),
    ("[1, 2]", "the arguments must be a JSON object"),
    ('{"object": 1}', "wrong arguments: 'obj' is a required property"),
], ids=["deep", "10MB", "nan", "1e999", "broken", "not-an-object", "wrong-schema"])
def test_malformed_tool_arguments_are_an_error_result_and_never_run(arguments: str, problem: str) -> None:
    tool = Tool()
    model = scripted({"after_tool": True, "reply": "gave up"},
                     {"tool_call": {"name": "dumps", "arguments": arguments}})
    seen: list[Any] = []
    started = time.process_time()
    result = parley.compile(TOOLS, "t.agent").run(model=model, tools={"dumps": tool}, on_event=seen.append)
    assert time.process_time() - started < SECONDS
    assert result.printed == ["gave up"]
    assert tool.calls == []  # malformed tool calls executed: 0
    answer = model.requests[1].messages[-1]
    assert answer.role == "tool" and answer.content.startswith("error: ") and problem in answer.content
    assert len(answer.content) < 400
    (refused,) = events_of("tool_error", seen)
    assert problem in refused["error"]


def test_an_unknown_tool_with_a_huge_name_is_refused_briefly() -> None:
    tool = Tool()
    model = scripted({"after_tool": True, "reply": "ok"}, {"tool_call": {"name": "x" * 100_000, "arguments": "{}"}})
    parley.compile(TOOLS, "t.agent").run(model=model, tools={"dumps": tool})
    answer = model.requests[1].messages[-1].content
    assert tool.calls == [] and answer.startswith("error: there is no tool `xxx") and len(answer) < 300


def test_a_tool_result_nested_without_end_goes_back_to_the_model() -> None:
    def deep(obj: Any) -> Any:
        value: Any = []
        for _ in range(100_000):
            value = [value]
        return value

    def looped(obj: Any) -> Any:
        value: list[Any] = []
        value.append(value)
        return value

    for tool in (deep, looped):
        model = scripted({"after_tool": True, "reply": "noted"}, {"tool_call": {"name": "dumps", "arguments": {"obj": 1}}})
        result = parley.compile(TOOLS, "t.agent").run(model=model, tools={"dumps": tool})
        assert result.printed == ["noted"]
        answer = model.requests[1].messages[-1].content
        assert answer == "error: the tool failed: `dumps` returned lists or dicts nested more than 100 deep"
        with pytest.raises(parley.RunError) as failed:  # called by the script: a run error naming the line
            parley.compile(TOOLS + "y = dumps(1)\n", "t.agent").run(model=model, tools={"dumps": tool})
        assert failed.value.kind is FailureKind.VALUE and str(failed.value).startswith("t.agent:8: `dumps` returned")


def test_one_reply_runs_at_most_max_tool_calls_and_answers_the_rest_with_an_error(fake_openai) -> None:  # type: ignore[no-untyped-def]
    calls = [tool_call(f"c{i}", "dumps", json.dumps({"obj": i})) for i in range(300)]
    fake_openai.script(reply(tool_calls=calls), "Done.")
    tool = Tool()
    seen: list[Any] = []
    source = (f'model smart = openai("gpt-4o-mini", base_url="{fake_openai.base_url}")\ndefault model smart\n'
              + TOOLS)
    result = parley.compile(source, "t.agent").run(tools={"dumps": tool}, on_event=seen.append)
    assert result.printed == ["Done."]
    assert tool.calls == list(range(MAX_TOOL_CALLS))  # 16 of 300 ran, in order
    answers = [m for m in fake_openai.requests[1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in answers] == [f"c{i}" for i in range(300)]  # every call answered
    assert {m["content"] for m in answers[:MAX_TOOL_CALLS]} == {"encoded"}
    refused = {m["content"] for m in answers[MAX_TOOL_CALLS:]}
    assert refused == {(f"error: not run: one reply may make at most {MAX_TOOL_CALLS} tool calls, and this one made "
                        "300; make the calls still needed in your next reply")}
    (event,) = events_of("tool_error", seen)
    assert event["tool"] == "dumps" and event["error"].startswith(f"{300 - MAX_TOOL_CALLS} calls not run")
    assert len(events_of("tool_call", seen)) == MAX_TOOL_CALLS


# --- inputs and limits ------------------------------------------------------------------

INPUTS = '''input deep: list[any] = []
input ratio: float = 0.5
input count: int = 1
print "{len(deep)} {ratio} {count}"
'''


@pytest.fixture
def inputs_script(tmp_path: Path) -> Path:
    path = tmp_path / "inputs.agent"
    path.write_text(INPUTS, encoding="utf-8")
    return path


@pytest.mark.parametrize(("given", "problem"), [
    ("deep=" + DEEP, "input `deep`: arrays or objects nested 100,000 deep, over the limit of 100"),
    ("deep=" + "[" * 101 + "]" * 101, "input `deep`: arrays or objects nested 101 deep"),
    ("ratio=1e999", "input `ratio`: 1e999 is too large for a number"),
    ("ratio=-1e999", "input `ratio`: -1e999 is too large for a number"),
    ("ratio=NaN", "input `ratio`: `NaN` is not a number JSON allows"),
    ("ratio=Infinity", "input `ratio`: `Infinity` is not a number JSON allows"),
    ("ratio=nan", "input `ratio`: 'nan' is not of type 'number'"),
    ("ratio=inf", "input `ratio`: 'inf' is not of type 'number'"),
    ("count=" + "9" * 5000, "input `count`: an integer of 5,000 digits is too long"),
], ids=["deep", "one-too-deep", "1e999", "-1e999", "NaN", "Infinity", "nan", "inf", "digits"])
def test_a_hostile_command_line_input_is_an_input_error(inputs_script: Path, given: str, problem: str) -> None:
    outcome = CliRunner().invoke(main, ["run", str(inputs_script), given, "--no-store"])
    assert outcome.exit_code == 2, outcome.output
    assert problem in outcome.output and "Traceback" not in outcome.output
    assert len(outcome.output) < 1000


def test_fine_command_line_inputs_still_run(inputs_script: Path) -> None:
    nested = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    outcome = CliRunner().invoke(main, ["run", str(inputs_script), f"deep={nested}", "ratio=1e308", "count=-7",
                                        "--no-store", "--quiet"])
    assert outcome.exit_code == 0, outcome.output
    assert outcome.output.strip() == "1 1e+308 -7"


def test_hostile_host_inputs_are_input_errors() -> None:
    program = parley.compile(INPUTS, "t.agent")
    looped: list[Any] = []
    looped.append(looped)
    nested: Any = []
    for _ in range(200_000):
        nested = [nested]
    for inputs, problem in [({"ratio": float("nan")}, "nan is not a finite number"),
                            ({"ratio": float("inf")}, "inf is not a finite number"),
                            ({"deep": [1.0, float("-inf")]}, "-inf is not a finite number"),
                            ({"deep": looped}, "lists or dicts nested more than 100 deep"),
                            ({"deep": nested}, "lists or dicts nested more than 100 deep")]:
        with pytest.raises(parley.RunError) as failed:
            program.run(inputs)
        assert failed.value.kind is FailureKind.INPUT and problem in str(failed.value)


@pytest.mark.parametrize("flag", ["--max-cost", "--max-time"])
@pytest.mark.parametrize("value", ["nan", "inf", "1e999", "-1", "-inf"])
def test_a_limit_that_is_not_a_real_amount_is_a_usage_error(tmp_path: Path, flag: str, value: str) -> None:
    script = tmp_path / "t.agent"
    script.write_text('print "x"\n', encoding="utf-8")
    outcome = CliRunner().invoke(main, ["run", str(script), f"{flag}={value}", "--no-store"])
    assert outcome.exit_code == 2, outcome.output
    assert "Traceback" not in outcome.output and "x\n" not in outcome.output


@pytest.mark.parametrize(("limits", "problem"), [
    ({"cost": float("nan")}, "the cost limit must be a finite number of dollars, zero or more, not nan"),
    ({"seconds": float("inf")}, "the time limit must be a finite number of seconds, zero or more, not inf"),
    ({"tokens": 1e999}, "the token limit must be a finite number of tokens, zero or more, not inf"),
    ({"turns": -1}, "the turn limit must be a finite number of turns, zero or more, not -1"),
    ({"minutes": 3}, "there is no run limit 'minutes': the limits are turns, tokens, cost, seconds"),
    ({"turns": True}, "the turn limit must be a finite number of turns, zero or more, not True"),
    (5, "limits is a dict such as"),
])
def test_api_limits_are_real_amounts(limits: Any, problem: str) -> None:
    with pytest.raises(parley.UsageError, match=problem):
        parley.compile('print "x"\n', "t.agent").run(limits=limits)


def test_a_limit_of_minus_zero_is_zero() -> None:
    source = 'agent a:\n    """A."""\nx = @a Hi.\nprint x\n'
    with pytest.raises(BudgetExceeded, match=r"the time budget \(0s\) is spent"):
        parley.compile(source, "t.agent").run(model=scripted({"reply": "hi"}), limits={"seconds": -0.0})
