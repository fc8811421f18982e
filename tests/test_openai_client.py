"""`OpenAIModel` with the real `openai.AsyncOpenAI`, over real HTTP, against the fake server in `fake_openai.py`.

Nothing is mocked: every test sends real requests to 127.0.0.1, so what is
checked is what a real OpenAI-compatible server would receive and send back.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from typing import Any

import pytest
from fake_openai import (  # noqa: F401  (fake_openai_fixture registers the `fake_openai` fixture)
    FakeOpenAI,
    Raw,
    completion_json,
    context_length_exceeded,
    error,
    fake_openai_fixture,
    rate_limited,
    reply,
    server_error,
    tool_call,
    unauthorized,
)

from parley.runtime.models import Message, ModelError, ModelReply, ModelRequest, ToolCall, ToolSpec, Usage
from parley.runtime.openai_client import OpenAIModel, _Lease, _tls_context

KEY = "sk-test-0000"
HELLO = ModelRequest(model="test-model", messages=(Message(role="user", content="Hello?"),))


def complete(
    model: OpenAIModel, request: ModelRequest = HELLO, *, stream: bool = False
) -> tuple[ModelReply, list[str]]:
    """One request (streamed when `stream`), the client closed afterwards; the reply and the tokens seen."""
    tokens: list[str] = []

    async def run() -> ModelReply:
        try:
            return await model.complete(request, tokens.append if stream else None)
        finally:
            await model.close()

    return asyncio.run(run()), tokens


def failure(model: OpenAIModel, request: ModelRequest = HELLO, *, stream: bool = False) -> ModelError:
    """The ModelError a request ends in."""
    with pytest.raises(ModelError) as caught:
        complete(model, request, stream=stream)
    return caught.value


def client(fake: FakeOpenAI, **options: Any) -> OpenAIModel:
    """A model on the fake server (retries and timeout as given)."""
    return OpenAIModel(base_url=fake.base_url, api_key=KEY, **options)


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


both_modes = pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])


# ---- replies -----------------------------------------------------------------------------------


def test_plain_reply_has_text_usage_and_model(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(reply("Hello there.", usage=(12, 3), model="served-model-2"))
    answer, _ = complete(client(fake_openai))
    assert answer == ModelReply(text="Hello there.", usage=Usage(prompt_tokens=12, completion_tokens=3),
                                model="served-model-2", finish_reason="stop")
    (received,) = fake_openai.received
    assert (received.method, received.path) == ("POST", "/v1/chat/completions")
    assert received.headers["authorization"] == f"Bearer {KEY}"


def test_the_server_receives_exactly_the_request(fake_openai: FakeOpenAI) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    response_format = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}
    request = ModelRequest(
        model="test-model",
        messages=(
            Message(role="system", content="Be brief."),
            Message(role="user", content="Where is it?", name="alice"),
            Message(role="assistant", content="", name="guide",
                    tool_calls=(ToolCall(id="call_1", name="lookup", arguments='{"city": "Paris"}'),)),
            Message(role="tool", content='{"found": true}', tool_call_id="call_1"),
        ),
        tools=(ToolSpec(name="lookup", description="Find a city.", parameters=schema),),
        tool_choice="lookup",
        response_format=response_format,
        temperature=0.2,
        top_p=0.9,
        max_tokens=50,
        seed=7,
    )
    fake_openai.script(reply("Paris"))
    complete(client(fake_openai), request)
    assert fake_openai.requests == [{
        "model": "test-model",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Where is it?", "name": "alice"},
            {"role": "assistant", "content": "", "name": "guide", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"city": "Paris"}'}},
            ]},
            {"role": "tool", "content": '{"found": true}', "tool_call_id": "call_1"},
        ],
        "tools": [{"type": "function", "function": {"name": "lookup", "description": "Find a city.", "parameters": schema}}],
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "response_format": response_format,
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 50,
        "seed": 7,
    }]


@both_modes
def test_a_minimal_request_sends_nothing_unasked(fake_openai: FakeOpenAI, stream: bool) -> None:
    fake_openai.script(reply("Hi."))
    complete(client(fake_openai), stream=stream)
    expected: dict[str, Any] = {"model": "test-model", "messages": [{"role": "user", "content": "Hello?"}]}
    if stream:
        expected |= {"stream": True, "stream_options": {"include_usage": True}}
    assert fake_openai.requests == [expected]


def test_streamed_tokens_arrive_in_order_and_make_the_reply(fake_openai: FakeOpenAI) -> None:
    pieces = ["The ", "answer", " is", " 42", "."]
    fake_openai.script(reply(pieces, usage=(20, 7)))
    answer, tokens = complete(client(fake_openai), stream=True)
    assert tokens == pieces
    assert answer == ModelReply(text="The answer is 42.", usage=Usage(prompt_tokens=20, completion_tokens=7),
                                model="test-model", finish_reason="stop")


def test_streamed_tool_calls_are_reassembled(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(reply(
        ["Looking", " up."],
        tool_calls=[tool_call("call_a", "lookup", ['{"ci', 'ty": "Pa', 'ris"}']),
                    tool_call("call_b", "weather", ["{", '"day": 3', "}"])],
    ))
    answer, tokens = complete(client(fake_openai), stream=True)
    assert tokens == ["Looking", " up."]
    assert answer.text == "Looking up."
    assert answer.tool_calls == (ToolCall(id="call_a", name="lookup", arguments='{"city": "Paris"}'),
                                 ToolCall(id="call_b", name="weather", arguments='{"day": 3}'))
    assert answer.finish_reason == "tool_calls"


def test_tool_calls_in_a_plain_reply(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(reply(tool_calls=[tool_call("call_1", "lookup", '{"city": "Paris"}')], usage=(30, 9)))
    answer, _ = complete(client(fake_openai))
    assert answer == ModelReply(text="", tool_calls=(ToolCall(id="call_1", name="lookup", arguments='{"city": "Paris"}'),),
                                usage=Usage(prompt_tokens=30, completion_tokens=9), model="test-model",
                                finish_reason="tool_calls")


@both_modes
def test_malformed_tool_arguments_come_back_raw(fake_openai: FakeOpenAI, stream: bool) -> None:
    broken = ['{"city": ', '"Par', "is"]  # cut short: not JSON; the runtime checks arguments later
    fake_openai.script(reply(tool_calls=[tool_call("call_1", "lookup", broken)]))
    answer, _ = complete(client(fake_openai), stream=stream)
    assert answer.tool_calls == (ToolCall(id="call_1", name="lookup", arguments='{"city": "Paris'),)


# ---- retries and failures ----------------------------------------------------------------------


def test_a_rate_limit_is_retried_by_the_client(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(rate_limited(), reply("Made it."))
    answer, _ = complete(client(fake_openai, max_retries=2))
    assert answer.text == "Made it."
    assert len(fake_openai.requests) == 2
    assert [r.headers["x-stainless-retry-count"] for r in fake_openai.received] == ["0", "1"]


def test_a_lasting_rate_limit_fails_after_the_retries(fake_openai: FakeOpenAI) -> None:
    fake_openai.handler = lambda request: rate_limited()
    problem = failure(client(fake_openai, max_retries=2))
    assert problem.kind == "rate_limit"
    assert len(fake_openai.requests) == 3


def test_a_server_error_fails_as_server_after_a_retry(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(server_error(), server_error())
    problem = failure(client(fake_openai, max_retries=1))
    assert problem.kind == "server"
    assert "HTTP 500" in str(problem)
    assert len(fake_openai.requests) == 2


@both_modes
def test_a_refused_key_fails_as_auth_without_showing_the_key(fake_openai: FakeOpenAI, stream: bool) -> None:
    canary = "sk-canary-1234"
    fake_openai.script(unauthorized())
    problem = failure(OpenAIModel(base_url=fake_openai.base_url, api_key=canary), stream=stream)
    assert problem.kind == "auth"
    assert canary not in str(problem) and canary not in repr(problem.args)
    assert canary in str(problem.__context__)  # the server did echo it: the runtime kept it out
    assert len(fake_openai.requests) == 1  # a 401 is not retried


@both_modes
def test_too_long_a_conversation_fails_as_context_length(fake_openai: FakeOpenAI, stream: bool) -> None:
    fake_openai.script(context_length_exceeded())
    problem = failure(client(fake_openai), stream=stream)
    assert problem.kind == "context_length"
    assert "maximum context length is 8192 tokens" in str(problem)
    assert len(fake_openai.requests) == 1


def test_llama_cpp_context_overflow_fails_as_context_length(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(context_length_exceeded("the request exceeds the available context size, try increasing it",
                                               code=None, type="exceed_context_size_error"))
    assert failure(client(fake_openai)).kind == "context_length"


def test_other_client_errors_fail_as_bad_request_with_the_detail(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(error(422, "messages[1].role: unknown role 'robot'"))
    problem = failure(client(fake_openai))
    assert problem.kind == "bad_request"
    assert "unknown role 'robot'" in str(problem)


NOT_COMPLETIONS = {
    "html": Raw(200, b"<html><body>Sign in to the proxy</body></html>", {"content-type": "text/html"}),
    "broken-json": Raw(200, b'{"choices": [', {"content-type": "application/json"}),
    "no-message": Raw(200, {"id": "x", "object": "chat.completion", "model": "m",
                            "choices": [{"index": 0, "message": None, "finish_reason": "stop"}]}),
}


@pytest.mark.parametrize("body", NOT_COMPLETIONS.values(), ids=NOT_COMPLETIONS.keys())
def test_a_reply_that_is_not_a_completion_fails_as_bad_reply(fake_openai: FakeOpenAI, body: Raw) -> None:
    fake_openai.script(body)
    assert failure(client(fake_openai)).kind == "bad_reply"


NOT_STREAMS = {
    "plain-json": Raw(200, completion_json(reply("Not streamed."), "test-model", "chatcmpl-1")),
    "html": NOT_COMPLETIONS["html"],
}


@pytest.mark.parametrize("body", NOT_STREAMS.values(), ids=NOT_STREAMS.keys())
def test_a_stream_without_events_fails_as_bad_reply(fake_openai: FakeOpenAI, body: Raw) -> None:
    fake_openai.script(body)
    assert failure(client(fake_openai), stream=True).kind == "bad_reply"


def test_a_silent_server_fails_as_timeout(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(reply("Too late.", delay=3.0))
    started = time.monotonic()
    problem = failure(client(fake_openai, timeout=0.3, max_retries=0))
    assert problem.kind == "timeout"
    assert time.monotonic() - started < 1.5
    assert len(fake_openai.requests) == 1


def test_a_stream_that_stalls_fails_as_timeout(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(reply(["Start", "ed"], stall=3.0, stall_after=2))  # role chunk, "Start", then silence
    model = client(fake_openai, timeout=0.3, max_retries=0)
    tokens: list[str] = []

    async def run() -> ModelReply:
        try:
            return await model.complete(HELLO, tokens.append)
        finally:
            await model.close()

    started = time.monotonic()
    with pytest.raises(ModelError) as caught:
        asyncio.run(run())
    assert caught.value.kind == "timeout"
    assert tokens == ["Start"]  # it failed mid-stream, not before
    assert time.monotonic() - started < 1.5


def test_nothing_listening_fails_as_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    problem = failure(OpenAIModel(base_url=url, api_key=KEY, max_retries=0, timeout=2.0))
    assert problem.kind == "unreachable"
    assert url in str(problem)


@both_modes
def test_a_filtered_reply_fails_as_content_filter(fake_openai: FakeOpenAI, stream: bool) -> None:
    fake_openai.script(reply(["Once upon"], finish_reason="content_filter"))
    assert failure(client(fake_openai), stream=stream).kind == "content_filter"


# ---- concurrency -------------------------------------------------------------------------------


def test_concurrent_requests_overlap(fake_openai: FakeOpenAI) -> None:
    fake_openai.handler = lambda request: reply(f"re: {request['messages'][-1]['content']}", delay=0.2)
    model = client(fake_openai)
    prompts = [f"question {n}" for n in range(10)]

    async def run() -> list[ModelReply]:
        try:
            requests = [ModelRequest(model="test-model", messages=(Message(role="user", content=p),)) for p in prompts]
            return list(await asyncio.gather(*(model.complete(r) for r in requests)))
        finally:
            await model.close()

    started = time.monotonic()
    answers = asyncio.run(run())
    elapsed = time.monotonic() - started
    assert [a.text for a in answers] == [f"re: {p}" for p in prompts]
    assert len(fake_openai.requests) == 10
    assert elapsed < 1.5, f"10 requests of 200 ms took {elapsed:.2f} s: they did not overlap"


def test_every_client_of_the_process_shares_one_tls_context_made_as_the_http_library_makes_it(
    fake_openai: FakeOpenAI,
) -> None:
    """Loading the certificate store costs ~30 ms of CPU: made once, not once per client nor per event loop."""
    fake_openai.handler = lambda request: reply("ok", delay=0.1)
    _tls_context.cache_clear()
    request_count = 3 * _Lease.PER_CLIENT  # enough in flight for a lease to add clients

    async def run() -> int:
        model = client(fake_openai)
        try:
            await asyncio.gather(*(model.complete(HELLO) for _ in range(request_count)))
            return len(_Lease.take(fake_openai.base_url, KEY).clients)
        finally:
            await model.close()

    clients = asyncio.run(run()) + asyncio.run(run())  # a second event loop makes its own clients
    assert clients >= 4 and len(fake_openai.requests) == 2 * request_count
    assert _tls_context.cache_info().misses == 1 and _tls_context.cache_info().hits >= clients - 1
    context = _tls_context()
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname  # still verifying servers


# ---- configuration -----------------------------------------------------------------------------


def test_no_key_and_no_server_is_an_auth_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ModelError) as caught:
        OpenAIModel()
    assert caught.value.kind == "auth"
    assert "OPENAI_API_KEY" in str(caught.value)


def test_an_empty_key_counts_as_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    with pytest.raises(ModelError) as caught:
        OpenAIModel()
    assert caught.value.kind == "auth"


def test_server_and_key_from_the_environment(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("PARLEY_TEST_KEY", "sk-from-env")
    fake_openai.script(reply("Found you."))
    answer, _ = complete(OpenAIModel(api_key_env="PARLEY_TEST_KEY"))
    assert answer.text == "Found you."
    assert fake_openai.received[0].headers["authorization"] == "Bearer sk-from-env"


def test_a_local_server_needs_no_key(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(reply("No key needed."))
    answer, _ = complete(OpenAIModel(base_url=fake_openai.base_url))
    assert answer.text == "No key needed."


# ---- the network guard (tests/conftest.py) -----------------------------------------------------


def test_the_guard_refuses_other_hosts(network_guard: Any) -> None:
    with pytest.raises(RuntimeError, match=r"192\.0\.2\.1"):
        socket.create_connection(("192.0.2.1", 443), timeout=0.1)
    with socket.socket() as sock, pytest.raises(RuntimeError, match=r"198\.51\.100\.7"):
        sock.connect(("198.51.100.7", 80))
    with pytest.raises(RuntimeError, match="example.invalid"):
        socket.getaddrinfo("example.invalid", 443)
    assert len(network_guard.violations) == 3
    network_guard.violations.clear()  # provoked on purpose


def test_the_guard_stops_the_client_reaching_openai(network_guard: Any) -> None:
    with pytest.raises(Exception):  # noqa: B017  (whatever the client makes of it, the guard saw it)
        complete(OpenAIModel(api_key=KEY, max_retries=0))
    assert network_guard.violations and "api.openai.com" in network_guard.violations[0]
    network_guard.violations.clear()
