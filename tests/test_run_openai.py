"""Runs against a local fake OpenAI-compatible server, through the real `openai` client."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

import parley
from parley.cli import main
from fake_openai import (  # noqa: F401  (fake_openai_fixture registers the `fake_openai` fixture)
    error,
    fake_openai_fixture,
    rate_limited,
    reply,
    tool_call,
)


def script(base_url: str, body: str) -> str:
    return (f'model smart = openai("gpt-4o-mini", base_url="{base_url}", max_retries=2)\ndefault model smart\n'
            'agent writer:\n    """You write."""\nagent critic:\n    """You review."""\n' + body)


def test_a_chat_against_a_real_http_server(fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.script("Draft one.", "Better.", "Draft two.", "APPROVED")
    source = script(fake_openai.base_url, 't = chat writer, critic:\n    "Write a line."\n'
                                          '    until critic says "APPROVED" or 6 turns\nprint t.last\n')
    result = parley.compile(source, "t.agent").run()
    assert result.printed == ["APPROVED"]
    assert result.usage["turns"] == 4 and result.usage["tokens"] == 60
    critic_view = fake_openai.requests[1]["messages"]
    assert [m["role"] for m in critic_view] == ["system", "user", "user"]
    assert critic_view[2] == {"role": "user", "content": "Draft one.", "name": "writer"}


def test_structured_output_degrades_when_the_server_rejects_json_schema(fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.script(error(400, "response_format type json_schema is not supported"), '{"score": 9}')
    source = script(fake_openai.base_url, "type V:\n    score: int\nv: V = @critic Score it.\nprint v.score\n")
    result = parley.compile(source, "t.agent").run()
    assert result.printed == ["9"]
    first, second = fake_openai.requests
    assert first["response_format"]["type"] == "json_schema"
    assert second["response_format"]["type"] == "json_object"


def test_tool_calls_round_trip_and_bad_arguments_go_back_to_the_model(fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.script(
        reply(tool_calls=[tool_call("c1", "dumps", '{"obj": ')]),
        reply(tool_calls=[tool_call("c2", "dumps", '{"obj": [1, 2]}')]),
        "Encoded.",
    )
    source = ('from python "json" import dumps\n' + script(fake_openai.base_url, "").replace(
        '"""You write."""', '"""You write."""\n    tools: dumps') + "x = @writer Encode [1, 2].\nprint x\n")
    result = parley.compile(source, "t.agent").run()
    assert result.printed == ["Encoded."]
    tool_messages = [m for m in fake_openai.requests[2]["messages"] if m["role"] == "tool"]
    assert tool_messages[0]["content"].startswith("error: the arguments are not valid JSON")
    assert tool_messages[1]["content"] == "[1, 2]"


def test_429_then_success_and_independent_asks_overlap(fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.script(rate_limited(), "ok")
    parley.compile(script(fake_openai.base_url, "x = @writer Hi.\nprint x\n"), "t.agent").run()
    assert len(fake_openai.requests) == 2
    fake_openai.script(reply("a", delay=0.4), reply("b", delay=0.4))
    start = time.perf_counter()
    result = parley.compile(script(fake_openai.base_url, "a = @writer One.\nb = @critic Two.\nprint a + b\n"),
                         "t.agent").run()
    assert time.perf_counter() - start < 0.75
    assert sorted(result.printed[0]) == ["a", "b"]


def test_an_unreachable_server_fails_with_one_clear_message(tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = script("http://127.0.0.1:9/v1", "x = @writer Hi.\nprint x\n")
    path = tmp_path / "down.agent"
    path.write_text(source)
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 3
    assert f"{path}:7: cannot reach the model server at http://127.0.0.1:9/v1" in result.output
    assert "Traceback" not in result.output


def test_a_bad_key_never_shows_in_the_message(fake_openai, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CANARY_KEY", "sk-canary-9876")
    fake_openai.script(error(401, "bad key sk-canary-9876", type="invalid_api_key"))
    source = script(fake_openai.base_url, "x = @writer Hi.\nprint x\n").replace(
        "max_retries=2)", 'max_retries=0, api_key_env="CANARY_KEY")')
    with pytest.raises(parley.RunError) as caught:
        parley.compile(source, "t.agent").run()
    assert caught.value.kind is parley.FailureKind.MODEL and caught.value.__cause__.kind == "auth" and "sk-canary-9876" not in str(caught.value)
    assert json.dumps([e.data for e in caught.value.result.events]).count("sk-canary") == 0


def test_cli_model_and_base_url_replace_the_scripts_models(fake_openai, tmp_path) -> None:  # type: ignore[no-untyped-def]
    fake_openai.script("Hi from the fake server.")
    path = tmp_path / "one.agent"
    path.write_text('agent writer:\n    """You write."""\nx = @writer Say hi.\nprint x\n')
    result = CliRunner().invoke(main, ["run", str(path), "--model", "test-model", "--base-url", fake_openai.base_url])
    assert result.exit_code == 0, result.output
    assert "Hi from the fake server." in result.stdout
    assert fake_openai.requests[0]["model"] == "test-model"


def test_a_threads_cost_uses_the_price_table(fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.script(reply("a", usage=(1_000_000, 0)), reply("b", usage=(0, 1_000_000)))
    source = script(fake_openai.base_url, 't = chat writer, critic:\n    "Go."\n    until 2 turns\nprint t.cost\n')
    result = parley.compile(source, "t.agent").run()
    assert result.printed == ["0.75"]  # gpt-4o-mini: $0.15 per million in, $0.60 per million out


def test_repeatable_requests_are_answered_from_the_cache(fake_openai, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from parley.runtime.store import Store

    fake_openai.script("Draft.", "Warm draft.", "Fresh.")
    body = "x = @writer Draft a line.\nprint x\n"
    exact = script(fake_openai.base_url, body).replace("max_retries=2)", "max_retries=2, temperature=0)")
    store = Store(tmp_path / "cache.db")
    program = parley.compile(exact, "t.agent")
    first = program.run(store=store)
    again = program.run(store=store)
    assert first.printed == again.printed == ["Draft."]
    assert len(fake_openai.requests) == 1  # the second run never reached the server
    assert [e.kind for e in again.events].count("cached") == 1 and again.usage["cost"] == 0
    warm = parley.compile(script(fake_openai.base_url, body), "t.agent")  # no temperature 0, no seed: no cache
    assert warm.run(store=store).printed == ["Warm draft."]
    assert len(fake_openai.requests) == 2
    assert program.run(store=store, cache="off").printed == ["Fresh."]  # off: the server is asked again
    assert len(fake_openai.requests) == 3
