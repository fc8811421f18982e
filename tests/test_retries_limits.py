"""Retries that show, and limits that hold, against the fake OpenAI-compatible server over real HTTP.

Each retry of a model request (429, 5xx, timeout) is an event with its try,
wait and reason, on the console, in `--trace`, in the store and in OTLP;
the final error says how many tries over how long. `max_concurrency`, `rpm`
and `tpm` hold for every step and run of the process, measured at the server.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fake_openai import (  # noqa: F401  (fake_openai_fixture registers the `fake_openai` fixture)
    FakeOpenAI,
    fake_openai_fixture,
    rate_limited,
    reply,
    server_error,
)
from parley.runtime import limits
from parley.runtime.openai_client import OpenAIModel
from parley.runtime.retries import retry_after, wait_before, worth_retrying

import parley
from parley.cli import main


def script(base_url: str, options: str = "", body: str = 'print(@writer "Write.")\n', model: str = "gpt-4o-mini") -> str:
    return (f'model smart = openai("{model}", base_url="{base_url}"{options})\ndefault model smart\n'
            'agent writer:\n    """You write."""\n' + body)


def many_asks(base_url: str, options: str, count: int) -> str:
    """`count` independent asks, each of its own agent, in one `parallel:` block."""
    agents = "".join(f'agent a{i}:\n    """You answer."""\n' for i in range(count))
    branches = "".join(f'    x{i} = @a{i} "Say {i}."\n' for i in range(count))
    return (f'model smart = openai("gpt-4o-mini", base_url="{base_url}"{options})\ndefault model smart\n'
            f"{agents}parallel:\n{branches}print(x0)\n")


def cli(tmp_path: Path, source: str, *args: str) -> Any:
    path = tmp_path / "t.agent"
    path.write_text(source)
    return CliRunner().invoke(main, ["run", str(path), "--store", str(tmp_path / "runs.db"), *args])


# ---- retries -----------------------------------------------------------------------------------


def test_a_429_storm_shows_every_retry_and_the_tries_in_the_final_error(fake_openai: FakeOpenAI,
                                                                          tmp_path: Path) -> None:
    fake_openai.handler = lambda body: rate_limited("0.05")
    trace = tmp_path / "trace.jsonl"
    result = cli(tmp_path, script(fake_openai.base_url, ", max_retries=3"), "--trace", str(trace))
    assert result.exit_code == 3
    assert len(fake_openai.requests) == 4
    # the console: one line per retry (stderr is not a terminal here, so no countdown)
    assert [line for line in result.stderr.splitlines() if "↻" in line] == [
        f"  ↻ writer: HTTP 429 rate limit (gpt-4o-mini); try {n} of 4 in 0.1 s" for n in (2, 3, 4)]
    assert "answered 429 (rate limit)" in result.stderr
    assert "(after 4 tries over 0." in result.stderr or "(after 4 tries over 1." in result.stderr
    # the trace
    retries = [e for e in map(json.loads, trace.read_text().splitlines()) if e["kind"] == "retry"]
    assert [(e["data"]["attempt"], e["data"]["tries"], e["data"]["wait"], e["data"]["reason"]) for e in retries] == [
        (n, 4, 0.05, "HTTP 429 rate limit") for n in (1, 2, 3)]
    assert {(e["line"], e["data"]["agent"], e["data"]["model"]) for e in retries} == {(5, "writer", "gpt-4o-mini")}
    # the store, and OTLP (the request failed for good: its retries are events of the run's span)
    run_id = result.stderr.split("parley run --resume ")[1].split()[0]
    stored = CliRunner().invoke(main, ["trace", run_id, "--store", str(tmp_path / "runs.db")])
    assert [json.loads(line)["data"]["attempt"] for line in stored.output.splitlines()
            if json.loads(line)["kind"] == "retry"] == [1, 2, 3]
    otlp = json.loads(CliRunner().invoke(main, ["trace", run_id, "--store", str(tmp_path / "runs.db"),
                                                "--format", "otlp-json"]).output)
    root = otlp["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert [e["name"] for e in root["events"]] == ["retry"] * 3


def test_retries_that_end_well_are_events_of_the_chat_span(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.script(server_error(retry_after="0.01"), rate_limited("0.01"), reply("Done."))
    result = cli(tmp_path, script(fake_openai.base_url), "--max-retries", "2")
    assert result.exit_code == 0, result.output
    assert "Done." in result.stderr
    assert sum("↻" in line for line in result.stderr.splitlines()) == 2
    run_id = result.stderr.rsplit("run ", 1)[1].split()[0]
    otlp = json.loads(CliRunner().invoke(main, ["trace", run_id, "--store", str(tmp_path / "runs.db"),
                                                "--format", "otlp-json"]).output)
    chat = next(s for s in otlp["resourceSpans"][0]["scopeSpans"][0]["spans"] if s["name"].startswith("chat "))
    assert [next(a["value"] for a in e["attributes"] if a["key"] == "error.type") for e in chat["events"]] == [
        {"stringValue": "HTTP 500 server error"}, {"stringValue": "HTTP 429 rate limit"}]
    assert {"key": "parley.retries", "value": {"intValue": "2"}} in chat["attributes"]


def test_max_retries_on_the_command_line_replaces_the_scripts(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.script(rate_limited("0.01"), rate_limited("0.01"), rate_limited("0.01"), reply("Fine."))
    result = cli(tmp_path, script(fake_openai.base_url, ", max_retries=0"), "--max-retries", "3")
    assert result.exit_code == 0, result.output
    assert len(fake_openai.requests) == 4


def test_no_retries_says_so(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.script(rate_limited("0.01"))
    result = cli(tmp_path, script(fake_openai.base_url), "--max-retries", "0")
    assert result.exit_code == 3
    assert "(1 try: retries are off, `max_retries` is 0)" in result.stderr
    assert len(fake_openai.requests) == 1


def test_timeout_on_the_command_line_bounds_each_try(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.script(reply("Too late.", delay=3.0), reply("Too late.", delay=3.0))
    started = time.monotonic()
    result = cli(tmp_path, script(fake_openai.base_url, ", timeout=30s"), "--timeout", "0.3", "--max-retries", "1")
    assert result.exit_code == 3
    assert time.monotonic() - started < 2.5
    assert "did not answer in time (after 2 tries over" in result.stderr
    assert "↻ writer: timeout (gpt-4o-mini); try 2 of 2" in result.stderr


def test_bad_retry_and_timeout_values_are_refused(tmp_path: Path) -> None:
    for args in (["--max-retries", "-1"], ["--timeout", "0"], ["--timeout", "nan"]):
        result = cli(tmp_path, script("http://127.0.0.1:9/v1"), *args)
        assert result.exit_code == 2, (args, result.output)


def test_model_override_keeps_the_scripts_model_options(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.script(*[rate_limited("0.01")] * 4, reply("Kept."))
    source = script("http://127.0.0.1:9/v1", ", max_retries=4, temperature=0.3", model="declared-model")
    result = cli(tmp_path, source, "--model", "other-model", "--base-url", fake_openai.base_url)
    assert result.exit_code == 0, result.output
    assert len(fake_openai.requests) == 5  # max_retries=4 was kept (the default is 2)
    assert {(r["model"], r["temperature"]) for r in fake_openai.requests} == {("other-model", 0.3)}


def test_the_retry_rules_are_the_openai_clients() -> None:
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after({"retry-after": "2"}) == 2.0
    assert 55 < (retry_after({"retry-after": time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                                           time.gmtime(time.time() + 60))}) or 0) <= 60
    assert retry_after({"retry-after": "soon"}) is None
    assert wait_before(1, 3.0) == 3.0
    assert 0.375 <= wait_before(1, None) <= 0.5 and 0.75 <= wait_before(2, None) <= 1.0
    assert 6.0 <= wait_before(9, 500.0) <= 8.0  # a wait beyond two minutes is not taken as asked
    assert [worth_retrying(s, {}) for s in (400, 401, 404, 408, 409, 429, 500, 503)] == [
        False, False, False, True, True, True, True, True]
    assert not worth_retrying(429, {"retry-after": "600"})
    assert worth_retrying(400, {"x-should-retry": "true"}) and not worth_retrying(503, {"x-should-retry": "false"})


# ---- limits ------------------------------------------------------------------------------------


def test_max_concurrency_holds_at_the_server_under_100_asks(fake_openai: FakeOpenAI) -> None:
    fake_openai.handler = lambda body: reply("ok", delay=0.03)
    result = parley.compile(many_asks(fake_openai.base_url, ", max_concurrency=4", 100), "t.agent").run()
    assert result.printed == ["ok"]
    assert len(fake_openai.requests) == 100
    assert fake_openai.most_in_flight == 4


def test_limits_are_shared_by_the_runs_of_the_process(fake_openai: FakeOpenAI) -> None:
    fake_openai.handler = lambda body: reply("ok", delay=0.03)
    program = parley.compile(many_asks(fake_openai.base_url, ", max_concurrency=3", 10), "t.agent")

    async def together() -> None:
        await asyncio.gather(*(program.run_async() for _ in range(5)))

    asyncio.run(together())
    assert len(fake_openai.requests) == 50
    assert fake_openai.most_in_flight == 3


def test_a_server_gets_the_default_cap_without_max_concurrency(fake_openai: FakeOpenAI) -> None:
    fake_openai.handler = lambda body: reply("ok", delay=0.6)  # long enough for the first 100 to overlap, even under load
    parley.compile(many_asks(fake_openai.base_url, "", 120), "t.agent").run()
    assert fake_openai.most_in_flight == limits.DEFAULT_SERVER_CONCURRENCY == 100


def test_rpm_spreads_the_requests_over_the_minute(fake_openai: FakeOpenAI) -> None:
    fake_openai.handler = lambda body: reply("ok")
    parley.compile(many_asks(fake_openai.base_url, ", rpm=240", 8), "t.agent").run()  # 4 in any one second
    arrived = sorted(r.at for r in fake_openai.received)
    assert arrived[3] - arrived[0] < 0.5  # the first second's four at once (each opening its connection)
    assert arrived[7] - arrived[0] >= 0.9  # then one every quarter of a second: 1 s for the other four
    assert arrived[7] - arrived[4] >= 0.7


def test_retries_pass_the_rate_limit_again(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(rate_limited("0.01"), reply("ok"))
    parley.compile(script(fake_openai.base_url, ", rpm=60"), "t.agent").run()  # one request a second
    first, second = (r.at for r in fake_openai.received)
    assert second - first >= 0.95


def test_tpm_charges_the_estimate_first_and_the_rest_afterwards() -> None:
    async def timings() -> tuple[float, float, float]:
        gate = limits.gate("http://tpm.test/v1", "m", limits.Limits(tpm=600))  # 10 tokens a second
        started = time.monotonic()
        async with gate.slot(600):  # a full minute's worth at once
            pass
        async with gate.slot(5):  # must wait for 5 tokens to drain: 0.5 s
            pass
        waited = time.monotonic() - started
        gate.settle(estimated=0, used=3)  # the server counted 3 more than estimated
        await asyncio.sleep(0.05)
        again = time.monotonic()
        async with gate.slot(3):
            pass
        return waited, time.monotonic() - again, time.monotonic() - started

    waited, after_settling, _ = asyncio.run(timings())
    assert 0.45 <= waited < 0.9
    assert after_settling >= 0.5  # the 3 extra tokens, then these 3


def test_limits_for_one_server_and_model_take_the_tighter_of_each() -> None:
    async def merged() -> limits.Limits:
        limits.gate("http://tight.test/v1", "m", limits.Limits(max_concurrency=8, rpm=100))
        return limits.gate("http://tight.test/v1", "m", limits.Limits(max_concurrency=2, tpm=1000)).limits

    assert asyncio.run(merged()) == limits.Limits(max_concurrency=2, rpm=100, tpm=1000)


def test_one_client_per_server_and_key_opened_before_the_first_step(fake_openai: FakeOpenAI) -> None:
    source = (f'model a = openai("m1", base_url="{fake_openai.base_url}")\n'
              f'model b = openai("m2", base_url="{fake_openai.base_url}", temperature=0.5)\n'
              'agent x:\n    """X."""\n    model: a\nagent y:\n    """Y."""\n    model: b\n'
              'print("first")\nprint(@x "Hi.")\nprint(@y "Hi.")\n')
    fake_openai.script("one", "two")
    seen: list[Any] = []

    def on_event(event: Any) -> None:
        if event.kind == "print" and event.data["text"] == "first":  # no request yet: the clients are open
            from parley.runtime.openai_client import _Lease

            leases = _Lease._shared.get(asyncio.get_running_loop(), {})
            seen.extend(lease.holders for lease in leases.values())

    parley.compile(source, "t.agent").run(on_event=on_event)
    assert seen == [2]  # one client for the server, held by both models
    assert len(fake_openai.requests) == 2


def test_models_on_one_server_share_its_client_until_the_loop_ends(fake_openai: FakeOpenAI) -> None:
    clients: list[Any] = []

    async def shared() -> tuple[bool, bool, bool]:
        first = OpenAIModel(base_url=fake_openai.base_url, api_key="k")
        second = first.with_options(max_retries=5)
        other_key = OpenAIModel(base_url=fake_openai.base_url, api_key="other")
        for model in (first, second, other_key):
            model.open()
        assert first._lease is not None and second._lease is not None and other_key._lease is not None
        same, different = first._lease is second._lease, first._lease is not other_key._lease
        clients.extend((first._lease.client, other_key._lease.client))
        for model in (first, second, other_key):
            await model.close()
        again = OpenAIModel(base_url=fake_openai.base_url, api_key="k")  # the loop's next run
        again.open()
        reused = again._lease is not None and again._lease.client is clients[0]
        return same and different, reused, not clients[0].is_closed()

    assert asyncio.run(shared()) == (True, True, True)
    assert all(client.is_closed() for client in clients)  # closed as the loop shut down


@pytest.mark.parametrize("option, message", [
    ("max_concurrency=0", "`max_concurrency` must be a whole number, from 1 to 10000"),
    ("rpm=-5", "`rpm` must be a number, 0.01 or more"),
    ('tpm="lots"', "`tpm` must be a whole number, 1 or more"),
    ("max_retries=2.5", "`max_retries` must be a whole number, from 0 to 100"),
])
def test_bad_limit_options_are_compile_errors(option: str, message: str) -> None:
    with pytest.raises(parley.ScriptError) as caught:
        parley.compile(script("http://127.0.0.1:9/v1", ", " + option), "t.agent")
    assert message in str(caught.value)
