"""Budgets that hold: prices from maintained data, exact money, and turn, token, cost and time budgets
kept under concurrency and over time.

Runs go through the real `openai` client against the tests' fake server,
whose handler here behaves like a real one where budgets are concerned: it
honours `max_tokens` (a reply cut there ends with `length`) and may be slow.
Every run with a budget is checked by `within`: what it spent never passes
what it was given.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner
from fake_openai import (  # noqa: F401  (fake_openai_fixture registers the `fake_openai` fixture)
    Reply,
    fake_openai_fixture,
    reply,
    tool_call,
)
from parley.compiler.prices import dollars, price_of
from parley.runtime.budget import Budget, shown_cost

import parley
from parley.cli import main

AGENTS = 'agent writer:\n    """You write."""\nagent critic:\n    """You review."""\n'


def script(base_url: str, body: str, model: str = "gpt-4o-mini", options: str = "") -> str:
    """A script whose `default model` is served by the fake server (agents name no `model:`)."""
    return (f'model smart = openai("{model}", base_url="{base_url}", max_retries=0{options})\n'
            "default model smart\n" + AGENTS + body)


def server(completion: int = 100, prompt: int = 10, delay: float = 0.0) -> Any:
    """A handler answering like a real server: `completion` tokens, fewer when `max_tokens` says so."""

    def answer(body: dict[str, Any]) -> Reply:
        cap = body.get("max_tokens")
        written = completion if cap is None else min(completion, cap)
        return reply("word " * min(written, 50), usage=(prompt, written), delay=delay,
                     finish_reason="length" if written < completion else "stop")

    return answer


def beside(count: int) -> str:
    """`count` agents of their own, asked at once in a `parallel:` block."""
    agents = "".join(f'agent a{i}:\n    """A."""\n' for i in range(count))
    return agents + "parallel:\n" + "".join(f"    x{i} = @a{i} Part {i}.\n" for i in range(count)) + "print x0\n"


#: Every budgeted run these tests made, and whether it stayed within its budget.
CHECKED: list[bool] = []


def within(usage: dict[str, Any], *, turns: int | None = None, tokens: int | None = None,
           cost: str | None = None, seconds: float | None = None) -> None:
    """What a run spent never passes its budget (time: with the slack of stopping a step)."""
    kept = ((turns is None or usage["turns"] <= turns) and (tokens is None or usage["tokens"] <= tokens)
            and (cost is None or usage["cost"] <= Decimal(cost))
            and (seconds is None or usage["seconds"] <= seconds + 0.5))
    CHECKED.append(kept)
    assert kept, usage


def stopped(program: parley.Program, **options: Any) -> parley.RunError:
    with pytest.raises(parley.RunError) as caught:
        program.run(**options)
    assert caught.value.kind is parley.FailureKind.BUDGET, caught.value
    return caught.value


# --- prices -------------------------------------------------------------------------------------------


def test_dated_snapshots_and_new_models_have_prices() -> None:
    dated = price_of("openai", "gpt-4o-mini-2024-07-18", {})
    assert dated is not None and (dated.input, dated.output) == (Decimal("0.15"), Decimal("0.6"))
    newer = price_of("openai", "gpt-5-mini", {})
    assert newer is not None and newer.input > 0 and newer.output > newer.input
    assert price_of("openai", "llama3.1:8b", {"base_url": "http://localhost:11434/v1"}) is None
    assert price_of("scripted", "rules.json", {}) is not None  # a test double costs nothing, knowingly


def test_a_models_own_price_wins_and_is_exact() -> None:
    price = price_of("openai", "gpt-4o-mini", {"price_input": "0.1", "price_output": 0.3})
    assert price is not None and price.source == "options"
    assert price.cost(3, 7) == Decimal("0.0000024")  # 3 × 0.1 + 7 × 0.3 = 2.4 dollars per million
    assert dollars(Decimal("0.00005")) == "$0.00005" and dollars(Decimal(2)) == "$2.00"


def test_a_reply_is_charged_in_exact_decimal_dollars(fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.script(reply("a", usage=(1000, 500)))
    source = script(fake_openai.base_url, "x = @writer Hi.\nprint x.cost\n", model="llama3.1:8b",
                    options=", price_input=$0.15, price_output=$0.60")
    result = parley.compile(source, "t.agent").run()
    assert result.usage["cost"] == Decimal("0.00045") and isinstance(result.usage["cost"], Decimal)
    assert result.printed == ["0.00045"]
    end = next(e for e in result.events if e.kind == "run_end")
    assert end.data["usage"]["cost"] == "0.00045"  # JSON (trace, store, events): exact decimal text


def test_a_dated_model_under_a_budget_is_charged_and_stopped(fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.handler = server(completion=40, prompt=10)
    source = script(fake_openai.base_url, "budget $0.0001\nrepeat 10:\n    @writer Go on.\n",
                    model="gpt-4o-mini-2024-07-18")
    failure = stopped(parley.compile(source, "t.agent"))
    usage = failure.result.usage
    assert usage["cost"] > 0 and len(fake_openai.requests) >= 2  # priced, not $0: it did stop
    assert "$0.0001" in str(failure)
    within(usage, cost="0.0001")


# --- unknown prices -----------------------------------------------------------------------------------


def test_a_cost_budget_on_an_unpriced_model_warns_and_refuses_before_any_request(fake_openai) -> None:  # type: ignore[no-untyped-def]
    source = script(fake_openai.base_url, "budget $0.50\nx = @writer Hi.\nprint x\n", model="llama3.1:8b")
    compiled = parley.compile(source, "t.agent")
    assert [d.code for d in compiled.diagnostics] == ["P263"]
    failure = stopped(compiled)
    assert "`llama3.1:8b`" in str(failure) and "price_input=$0.15, price_output=$0.60" in str(failure)
    assert fake_openai.requests == [] and failure.result.usage["turns"] == 0


def test_max_cost_on_an_unpriced_model_is_refused_by_the_cli(fake_openai, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "t.agent"
    path.write_text(script(fake_openai.base_url, "x = @writer Hi.\nprint x\n", model="my-own-model"))
    ran = CliRunner().invoke(main, ["run", str(path), "--max-cost", "0.00005"])
    assert ran.exit_code == 4, ran.output
    assert "cost budget ($0.00005)" in ran.output and "`my-own-model`" in ran.output
    assert fake_openai.requests == []


def test_an_unpriced_models_cost_is_shown_as_unknown_not_zero(fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.script(reply("a", usage=(10, 5)))
    result = parley.compile(script(fake_openai.base_url, "x = @writer Hi.\nprint x\n", model="llama3.1:8b"),
                            "t.agent").run()
    assert result.usage["unpriced"] == 1
    assert shown_cost(result.usage) == "$0.00 + unknown (1 reply of unpriced models)"


# --- cost budgets -------------------------------------------------------------------------------------


def test_the_cost_budget_applies_to_the_default_model(fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.handler = server(completion=1000, prompt=10)  # $0.0006 a reply at gpt-4o-mini's price
    source = script(fake_openai.base_url, "budget $0.001\nrepeat 5:\n    @writer Go on.\n")
    failure = stopped(parley.compile(source, "t.agent"))
    first, second = fake_openai.requests  # the second reply was cut to what was left, and the run stopped
    assert 1000 < first["max_tokens"] < 4096 and second["max_tokens"] < 1000
    assert "cut" in str(failure)
    within(failure.result.usage, cost="0.001")


def test_concurrent_asks_share_one_cost_budget(fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.handler = server(completion=300, prompt=10, delay=0.2)
    source = script(fake_openai.base_url, "budget $0.0005\n" + beside(6))
    failure = stopped(parley.compile(source, "t.agent"))
    within(failure.result.usage, cost="0.0005")


# --- turns and tokens under concurrency ------------------------------------------------------------------


def test_turns_are_reserved_before_concurrent_asks_start(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "rules.json"
    rules.write_text('{"rules": [{"contains": "Part", "reply": "ok", "delay": 0.1}]}')
    program = parley.compile("budget 2 turns\n" + beside(5), "t.agent")
    failure = stopped(program, model=f"scripted:{rules}")  # the third turn is refused, which stops the run
    assert "turn budget (2 turns)" in str(failure)
    within(failure.result.usage, turns=2)
    result = parley.compile("budget 5 turns\n" + beside(5), "t.agent").run(model=f"scripted:{rules}")
    assert [e.kind for e in result.events].count("model_call") == 5  # a budget that fits lets all run
    within(result.usage, turns=5)


def test_tokens_are_held_before_concurrent_requests_are_sent(fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.handler = server(completion=100, prompt=10, delay=0.2)
    source = script(fake_openai.base_url, "budget 300 tokens\n" + beside(5))
    failure = stopped(parley.compile(source, "t.agent"))
    assert "token budget (300 tokens)" in str(failure)
    within(failure.result.usage, tokens=300)


def test_independent_asks_still_overlap_under_a_roomy_token_budget(fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.handler = server(completion=20, prompt=10, delay=0.3)
    source = script(fake_openai.base_url, "budget 20000 tokens\n" + beside(4))
    result = parley.compile(source, "t.agent").run()
    assert fake_openai.most_in_flight == 4 and "max_tokens" not in fake_openai.requests[0]
    within(result.usage, tokens=20000)


def test_a_stopped_turn_is_counted_with_its_tokens(fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.script(reply(tool_calls=[tool_call("c1", "dumps", '{"obj": [1]}')], usage=(10, 380)))
    source = ('from python "json" import dumps\n' + script(fake_openai.base_url, "").replace(
        '"""You write."""', '"""You write."""\n    tools: dumps') + "budget 600 tokens\nx = @writer Go.\nprint x\n")
    failure = stopped(parley.compile(source, "t.agent"))
    assert "token budget (600 tokens)" in str(failure) and len(fake_openai.requests) == 1
    assert failure.result.usage["turns"] == 1 and failure.result.usage["tokens"] == 390
    within(failure.result.usage, tokens=600)


# --- time -------------------------------------------------------------------------------------------------


def test_the_time_budget_stops_a_request_in_flight(fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.script(reply("late", delay=10))
    source = script(fake_openai.base_url, "budget 1s\nx = @writer Hi.\nprint x\n")
    start = time.monotonic()
    failure = stopped(parley.compile(source, "t.agent"))
    assert time.monotonic() - start < 3
    assert "time budget (1s)" in str(failure) and failure.result.usage["turns"] == 1
    within(failure.result.usage, seconds=1)


def test_the_time_budget_stops_a_loop_that_makes_no_request() -> None:
    program = parley.compile("budget 1s\nx = 0\nrepeat 1000000000:\n    x += 1\nprint x\n", "t.agent")
    start = time.monotonic()
    failure = stopped(program)
    assert time.monotonic() - start < 3 and "time budget (1s)" in str(failure)
    within(failure.result.usage, seconds=1)


def test_max_time_stops_a_while_loop_from_the_cli(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "spin.agent"
    path.write_text("n = 0\nwhile n >= 0 max 1000000000:\n    n += 1\nprint n\n")
    start = time.monotonic()
    ran = CliRunner().invoke(main, ["run", str(path), "--max-time", "0.5"])
    assert ran.exit_code == 4 and "time budget (0.5s)" in ran.output
    assert time.monotonic() - start < 3


# --- limits that are not limits ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1"])
def test_non_finite_or_negative_limits_are_refused(value: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    program = parley.compile("print 1\n", "t.agent")
    for name in ("seconds", "cost", "tokens"):
        with pytest.raises(parley.UsageError, match="must be a finite number"):
            program.run(limits={name: float(value)})
    path = tmp_path / "one.agent"
    path.write_text("print 1\n")
    for flag in ("--max-time", "--max-cost"):
        ran = CliRunner().invoke(main, ["run", str(path), flag, value])
        assert ran.exit_code == 2 and "Traceback" not in ran.output, ran.output


def test_a_script_budget_is_not_loosened_by_a_nan_limit() -> None:
    program = parley.compile("budget 5s\nprint 1\n", "t.agent")
    with pytest.raises(parley.UsageError):
        program.run(limits={"seconds": float("nan")})
    assert Budget(cost="0.00005").cost == Decimal("0.00005")


def test_no_budgeted_run_passed_its_budget() -> None:
    """The tally of the checks above (in file order): budgets exceeded, 0."""
    assert CHECKED.count(False) == 0
