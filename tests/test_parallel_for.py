"""`parallel for x in items max N:`: a bounded fan-out with results in the items' order.

Iterations run at once, at most N inside the body (counted on a real HTTP
server, the fake OpenAI one, with a delay on every reply); each has its own
variables and its own thread with each agent; the variables first set in the
body come out as lists in the items' order, however the replies arrive; what
iterations would share (a variable set before, the terminal, a person) is a
compile error (P281); a failure in one iteration cancels the others.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fake_openai import (  # noqa: F401  (fake_openai_fixture registers the `fake_openai` fixture)
    FakeOpenAI,
    error,
    fake_openai_fixture,
    reply,
)
from parley.compiler import compile_source
from parley.dsl.errors import RunError, ScriptError
from parley.runtime.executor import Executor
from parley.runtime.models import ModelReply, ModelRequest, TokenSink, Usage

import parley


def header(base_url: str) -> str:
    return (f'model smart = openai("gpt-4o-mini", base_url="{base_url}")\ndefault model smart\n'
            'agent expert:\n    """You answer in one word."""\n')


def last_user(body: dict[str, Any]) -> str:
    return str([m for m in body["messages"] if m["role"] == "user"][-1]["content"])


def test_at_most_n_requests_are_in_flight_and_results_keep_the_items_order(fake_openai: FakeOpenAI) -> None:
    # Later items answer sooner, so replies arrive out of order; the lists still follow the items.
    def answer(body: dict[str, Any]) -> Any:
        number = int(last_user(body).split()[-1])
        return reply(f"answer {number}", delay=0.02 + 0.01 * (8 - number))

    fake_openai.handler = answer
    source = header(fake_openai.base_url) + (
        "numbers = [1, 2, 3, 4, 5, 6, 7, 8]\n"
        "parallel for n in numbers max 3:\n"
        "    a = @expert Say {n}\n"
        "    doubled = n * 2\n"
        "print a\n"
        "print doubled\n"
    )
    result = parley.compile(source).run({})
    assert fake_openai.most_in_flight == 3
    assert json.loads(result.printed[0]) == [f"answer {n}" for n in range(1, 9)]
    assert json.loads(result.printed[1]) == [2 * n for n in range(1, 9)]


def test_a_bound_of_one_runs_the_items_one_at_a_time(fake_openai: FakeOpenAI) -> None:
    fake_openai.handler = lambda body: reply("ok", delay=0.01)
    source = header(fake_openai.base_url) + (
        "parallel for n in [1, 2, 3, 4] max limit:\n"
        "    a = @expert Say {n}\n"
        "print a\n"
    ).replace("max limit", "max size")
    source = "input size: int = 1\n" + source
    assert parley.compile(source).run({}).printed == ['["ok", "ok", "ok", "ok"]']
    assert fake_openai.most_in_flight == 1
    assert [last_user(r) for r in fake_openai.requests] == [f"Say {n}" for n in (1, 2, 3, 4)]


class Recorder:
    """Replies with how many messages the agent saw, after some turns of the event loop (later items sooner)."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    async def complete(self, request: ModelRequest, on_token: TokenSink | None = None) -> ModelReply:
        said = [m.content for m in request.messages if m.role != "system"]
        self.seen.append(said)
        for _ in range(10 - len(said[-1])):
            await asyncio.sleep(0)
        return ModelReply(text=f"{len(said)} seen", usage=Usage(prompt_tokens=1, completion_tokens=1))


def run_plan(source: str, model: Any) -> tuple[Any, Executor]:
    compiled = compile_source(source, "t.agent")
    assert compiled.plan is not None, [d.message for d in compiled.diagnostics]
    executor = Executor(compiled.plan, model=model)
    return asyncio.run(executor.run({})), executor


def test_each_iteration_has_its_own_thread_starting_from_the_scripts() -> None:
    model = Recorder()
    source = (
        'model m = openai("gpt-4o-mini")\ndefault model m\nagent expert:\n    """Brief."""\n'
        "first = @expert hello\n"
        'parallel for w in ["a", "bb", "ccc"] max 3:\n'
        "    one = @expert {w}\n"
        "    two = @expert again {w}\n"
        "print one\n"
        "print two\n"
        "after = @expert done\n"
        "print after\n"
    )
    result, executor = run_plan(source, model)
    # Every iteration sees the script's thread (hello and its reply), then only its own messages.
    assert result.printed[:2] == ['["3 seen", "3 seen", "3 seen"]', '["5 seen", "5 seen", "5 seen"]']
    # The iterations' threads are dropped: the script's thread is as it was before the loop, then goes on.
    assert result.printed[2] == "3 seen"
    assert [m.content for m in executor.threads["expert"]] == ["hello", "1 seen", "done", "3 seen"]
    iterations = sorted(said[2:] for said in model.seen[1:-1])
    assert iterations == sorted([[w] for w in ("a", "bb", "ccc")]
                                + [[w, "3 seen", f"again {w}"] for w in ("a", "bb", "ccc")])
    assert all(said[:2] == ["hello", "1 seen"] for said in model.seen[1:-1])


def test_the_loop_variable_and_body_variables_are_the_iterations_own() -> None:
    source = (
        "base = 10\n"
        "parallel for x in [1, 2, 3] max 2:\n"
        "    y = base + x\n"
        "    if x > 1:\n"
        "        big = x\n"
        "print y\n"
        "print big\n"
        "print base\n"
    )
    result, _ = run_plan(source, None)
    assert result.printed == ["[11, 12, 13]", "[null, 2, 3]", "10"]


def test_a_dict_gives_its_keys_and_an_empty_list_gives_empty_lists() -> None:
    source = (
        'parallel for k in {"a": 1, "b": 2} max 4:\n    key = k\nprint key\n'
        "empty = []\n"
        "parallel for e in empty max 4:\n    seen = e\nprint seen\n"
    )
    assert run_plan(source, None)[0].printed == ['["a", "b"]', "[]"]


def test_a_bound_below_one_at_run_time_stops_the_run() -> None:
    source = "input n: int = 0\nparallel for x in [1] max n:\n    y = x\nprint y\n"
    with pytest.raises(RunError, match=r"`parallel for … max` needs 1 or more, not 0") as caught:
        run_plan(source, None)
    assert caught.value.span is not None and caught.value.span.line == 2


def test_a_failure_in_one_iteration_cancels_the_others(fake_openai: FakeOpenAI) -> None:
    def answer(body: dict[str, Any]) -> Any:
        if last_user(body) == "Say 2":
            return error(400, "bad request for item two")
        return reply("slow", delay=1.5)

    fake_openai.handler = answer
    source = header(fake_openai.base_url) + (
        "parallel for n in [1, 2, 3, 4, 5, 6] max 3:\n"
        "    a = @expert Say {n}\n"
        "print a\n"
    )
    with pytest.raises(RunError) as caught:
        parley.compile(source).run({})
    assert caught.value.span is not None and caught.value.span.line == 6  # the ask in the body
    # Items 4 to 6 never started: the failure cancelled the waiting iterations with the running ones.
    # (Items 1 and 3 were started; their requests may or may not have reached the server.)
    sent = {last_user(r) for r in fake_openai.requests}
    assert "Say 2" in sent and sent <= {"Say 1", "Say 2", "Say 3"}


def compile_errors(body: str) -> list[tuple[str, int, str]]:
    source = ('model m = openai("gpt-4o-mini")\ndefault model m\nagent expert:\n    """Brief."""\n'
              'agent you is human:\n    description: "A person"\n' + body)
    result = compile_source(source, "t.agent")
    return [(d.code, d.span.line, d.message) for d in result.diagnostics if d.severity.name == "ERROR"]


@pytest.mark.parametrize(("body", "expected"), [
    ("notes = []\nparallel for x in [1, 2] max 2:\n    notes += [x]\nprint notes\n",
     [("P281", 9, "`parallel for`: every iteration changes `notes`, set before the loop")]),
    ("d = {}\nparallel for x in [\"a\"] max 2:\n    d[x] = 1\nprint d\n",
     [("P281", 9, "`parallel for`: every iteration changes `d`, set before the loop")]),
    ("parallel for x in [1, 2] max 2:\n    print x\n",
     [("P281", 8, "`parallel for`: every iteration prints, all at once")]),
    ("parallel for x in [1, 2] max 2:\n    output x\n",
     [("P281", 8, "`parallel for`: every iteration gives an `output`, all at once")]),
    ("parallel for x in [1, 2] max 2:\n    ok = @you Fine {x}?\nprint ok\n",
     [("P281", 8, "`parallel for`: every iteration asks a person, all at once")]),
    ("x = 1\nparallel for x in [1, 2] max 2:\n    y = x\nprint y\n",
     [("P281", 8, "`parallel for`: the loop variable `x` is already a variable")]),
    ("for i in [1]:\n    parallel for x in [1, 2] max 2:\n        break\n",
     [("P240", 9, "`break` cannot leave a `parallel:` branch")]),
    ("parallel for x in [1, 2] max 0:\n    y = x\nprint y\n",
     [("P261", 7, "`max` needs a whole number, 1 or more")]),
    ("parallel for x in [1, 2] max 2:\n    y = x\nprint x\n",
     [("P201", 9, "unknown name `x`")]),
])
def test_what_iterations_would_share_is_refused(body: str, expected: list[tuple[str, int, str]]) -> None:
    assert compile_errors(body) == expected


def test_asking_agents_and_setting_new_variables_compiles_with_list_types() -> None:
    assert compile_errors("parallel for x in [1, 2] max 2:\n    a = @expert {x}\n    n: int = x\n"
                          "print a[0]\nprint n[1] + 1\n") == []
    # After the loop a collected `int` is a list of ints, and its declared type no longer binds it.
    assert run_plan("parallel for x in [1, 2] max 2:\n    n: int = x\nn = n + [3]\nprint n\n", None)[0].printed \
        == ["[1, 2, 3]"]


def test_max_is_required() -> None:
    with pytest.raises(ScriptError, match="max"):
        parley.compile("parallel for x in [1, 2]:\n    y = x\nprint y\n")


class Echo:
    """Replies with the last message in capitals, later items sooner (so replies arrive out of order)."""

    async def complete(self, request: ModelRequest, on_token: TokenSink | None = None) -> ModelReply:
        last = request.messages[-1].content
        for _ in range(12 - len(last)):
            await asyncio.sleep(0)
        return ModelReply(text=last.upper(), usage=Usage(prompt_tokens=1, completion_tokens=1))


class Refuse:
    async def complete(self, request: ModelRequest, on_token: TokenSink | None = None) -> ModelReply:
        raise AssertionError("a replay asked the model")


def test_a_replay_serves_each_iteration_its_own_recorded_replies() -> None:
    """Journal keys follow the items' positions, not the order replies happened to arrive in: a replay
    (which checks each recorded request against the one made now) gives every iteration its own."""
    from parley.runtime.journal import Journal

    source = (
        'model m = openai("gpt-4o-mini")\ndefault model m\nagent expert:\n    """Brief."""\n'
        'parallel for w in ["a", "bb", "ccc", "dddd"] max 2:\n'
        "    one = @expert {w}\n"
        "    two = @expert again {one}\n"
        "print two\n"
    )
    compiled = compile_source(source, "t.agent")
    assert compiled.plan is not None
    recorded: dict[Any, Any] = {}

    class Keep:
        def write(self, key: Any, entry: Any) -> None:
            recorded[key] = entry

    first = asyncio.run(Executor(compiled.plan, model=Echo(), journal=Journal(recorder=Keep())).run({}))
    assert first.printed == ['["AGAIN A", "AGAIN BB", "AGAIN CCC", "AGAIN DDDD"]']
    assert len(recorded) == 8
    again = asyncio.run(Executor(compiled.plan, model=Refuse(),
                                 journal=Journal(mode="replay", recorded=recorded)).run({}))
    assert again.printed == first.printed
