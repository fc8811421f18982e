"""Any OpenAI-compatible server (OpenAI, Azure, vLLM, Ollama, llama.cpp, LM Studio) through `openai.AsyncOpenAI`.

One `AsyncOpenAI` per server and key is shared by every model and run of the
process on one event loop (its connections and TLS setup are made once; it
is closed when the loop shuts down). Its own retries are off:
Parley retries with the same rules (`runtime.retries`) so that each retry
passes the model's limits again (`runtime.limits`) and is reported as an
event. What still fails becomes one `ModelError` whose message says what to
do and how long it tried.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import ssl
import sys
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import openai
from parley.runtime import limits as gates
from parley.runtime.models import Message, ModelError, ModelReply, ModelRequest, TokenSink, ToolCall, Usage
from parley.runtime.retries import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    GaveUp,
    Retry,
    RetrySink,
    retry_after,
    with_retries,
    worth_retrying,
)

#: Placeholder key for servers that want none (a local llama.cpp, Ollama, vLLM).
_NO_KEY = "no-key-needed"
#: Where requests go without a `base_url` (the key of its limits).
OPENAI_API = "https://api.openai.com/v1"


class OpenAIModel:
    """A model on an OpenAI-compatible server, with its retries, timeout and limits."""

    provider = "openai"  # as OpenTelemetry's `gen_ai.provider.name` says it
    reports_retries = True  # `complete` takes `on_retry`

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float = DEFAULT_TIMEOUT,
        limits: gates.Limits = gates.NO_LIMITS,
    ) -> None:
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        if api_key_env:  # a named variable is the only source: never send another provider's key
            key = api_key or os.environ.get(api_key_env) or None
            if key is None and base_url is None:
                raise ModelError("auth", f"no API key: the model's `api_key_env` names {api_key_env}, which is not set")
        else:
            key = api_key or os.environ.get("OPENAI_API_KEY") or None
        if not key and base_url is None:
            raise ModelError(
                "auth",
                "no API key: set OPENAI_API_KEY (or the variable named by `api_key_env`), "
                "or point `base_url` / OPENAI_BASE_URL at a local OpenAI-compatible server",
            )
        self.base_url = base_url
        self._key = key or _NO_KEY
        self.max_retries = max_retries
        self.timeout = timeout
        self.limits = limits
        self._lease: _Lease | None = None

    def with_options(self, *, max_retries: int | None = None, timeout: float | None = None,
                     limits: gates.Limits | None = None) -> OpenAIModel:
        """The same server and key with other retries, timeout or limits (a model's, under `--model`)."""
        sibling = object.__new__(OpenAIModel)
        sibling.base_url, sibling._key, sibling._lease = self.base_url, self._key, None
        sibling.max_retries = self.max_retries if max_retries is None else max_retries
        sibling.timeout = self.timeout if timeout is None else timeout
        sibling.limits = self.limits if limits is None else limits
        return sibling

    def open(self) -> None:
        """Take the process's client for this server and key (made now if it is the first), so that the
        first request does not wait for it. Needs the running event loop."""
        if self._lease is None:
            self._lease = _Lease.take(self.base_url, self._key)

    async def complete(self, request: ModelRequest, on_token: TokenSink | None = None,
                       on_retry: RetrySink | None = None) -> ModelReply:
        """One chat completion; streamed to `on_token` when given; `on_retry` told of each retry."""
        self.open()
        assert self._lease is not None
        lease = self._lease
        arguments = _arguments(request)
        gate = gates.gate(self.base_url or OPENAI_API, request.model, self.limits)
        estimate = 0 if gate.limits.tpm is None else gates.estimate_tokens(json.dumps(
            arguments.get("messages", ())) + json.dumps(arguments.get("tools", ())), request.max_tokens)

        async def attempt(number: int) -> ModelReply:
            options = _request_options(self.timeout, number)
            async with gate.slot(estimate):
                with lease.lend() as client:
                    if on_token is None:
                        return _reply(await _post(client, arguments, options, stream=False))
                    stream = await _post(client, {**arguments, "stream_options": {"include_usage": True}}, options,
                                         stream=True)
                    return await self._read(stream, arguments["model"], on_token)

        try:
            reply = await with_retries(attempt, max_retries=self.max_retries, classify=_retryable, on_retry=on_retry)
        except GaveUp as gave_up:
            assert isinstance(gave_up.error, openai.APIError)
            failure = _explain(gave_up.error, self.base_url)
            raise ModelError(failure.kind, f"{failure} {gave_up.summary()}") from gave_up.error
        except openai.APIError as error:
            raise _explain(error, self.base_url) from None
        except json.JSONDecodeError:
            raise ModelError("bad_reply", f"the model server at {self.base_url or 'the OpenAI API'} answered with "
                                          "something that is not JSON: is the URL right (it usually ends in /v1)?") from None
        gate.settle(estimate, reply.usage.total_tokens)
        if reply.finish_reason == "content_filter":
            raise ModelError("content_filter", "the server's content filter stopped the reply")
        return reply

    async def close(self) -> None:
        """Give back the shared client (it stays open for the loop's next run)."""
        lease, self._lease = self._lease, None
        if lease is not None:
            await lease.give_back()

    async def _read(self, stream: Any, model: str, on_token: TokenSink) -> ModelReply:
        """A streamed reply, read to its end; a failure once it has begun is final (its text was shown)."""
        try:
            return await self._chunks(stream, model, on_token)
        except openai.APIError as error:
            raise _explain(error, self.base_url) from None

    async def _chunks(self, stream: Any, model: str, on_token: TokenSink) -> ModelReply:
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        usage = Usage()
        finish = "stop"
        chunks = 0
        async with stream:  # closed at once, even when on_token raises or the task is cancelled
            async for chunk in stream:
                chunks += 1
                model = chunk.model or model
                if chunk.usage is not None:
                    usage = Usage(prompt_tokens=chunk.usage.prompt_tokens or 0,
                                  completion_tokens=chunk.usage.completion_tokens or 0)
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta.content:
                        text.append(delta.content)
                        on_token(delta.content)
                    for call in delta.tool_calls or ():
                        slot = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                        slot["id"] = call.id or slot["id"]
                        if call.function is not None:
                            slot["name"] += call.function.name or ""
                            slot["arguments"] += call.function.arguments or ""
                    if choice.finish_reason:
                        finish = choice.finish_reason
        if not chunks:
            raise ModelError("bad_reply", "the server answered a streamed request with no stream events: "
                                          "is the URL right, and does the server support streaming?")
        tool_calls = tuple(
            ToolCall(id=slot["id"] or f"call_{index}", name=slot["name"], arguments=slot["arguments"])
            for index, slot in sorted(calls.items())
        )
        return ModelReply(text="".join(text), tool_calls=tool_calls, usage=usage, model=model, finish_reason=finish)


def _post(client: openai.AsyncOpenAI, body: dict[str, Any], options: Any, *, stream: bool) -> Any:
    """`chat.completions.create` without its parameter transform, which walks the whole history against
    the SDK's type hints on every request (its cost grows with the history), to give back what Parley
    built already: plain JSON. The same client method (`post`), headers, auth, timeout and streaming."""
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    return client.post("/chat/completions", body={**body, "stream": True} if stream else body, options=options,
                       cast_to=ChatCompletion, stream=stream, stream_cls=openai.AsyncStream[ChatCompletionChunk])


def _request_options(timeout: float | None, attempt: int) -> Any:
    """What `create` would give `post` for these options (the SDK's own `make_request_options`)."""
    from openai._base_client import make_request_options

    extra: dict[str, Any] = {"security": {"bearer_auth": True}} if _TAKES_SECURITY else {}
    return make_request_options(extra_headers={"x-stainless-retry-count": str(attempt - 1)}, timeout=timeout,
                                **extra)


def _takes_security() -> bool:
    import inspect

    from openai._base_client import make_request_options

    return "security" in inspect.signature(make_request_options).parameters


_TAKES_SECURITY = _takes_security()


def _arguments(request: ModelRequest) -> dict[str, Any]:
    arguments: dict[str, Any] = {"model": request.model, "messages": [_message(m) for m in request.messages]}
    if request.tools:
        arguments["tools"] = [
            {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in request.tools
        ]
        if request.tool_choice is not None:
            arguments["tool_choice"] = {"type": "function", "function": {"name": request.tool_choice}}
    if request.response_format is not None:
        arguments["response_format"] = request.response_format
    for name in ("temperature", "top_p", "max_tokens", "seed"):
        value = getattr(request, name)
        if value is not None:
            arguments[name] = value
    return arguments


def _message(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.name is not None and message.role in ("user", "assistant"):
        data["name"] = message.name
    if message.tool_calls:
        data["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id is not None:
        data["tool_call_id"] = message.tool_call_id
    return data


def _reply(response: Any) -> ModelReply:
    if not getattr(response, "choices", None):
        raise ModelError("bad_reply", "the server sent a reply with no choices: is the URL right (it usually ends in /v1)?")
    choice = response.choices[0]
    if getattr(choice, "message", None) is None:
        raise ModelError("bad_reply", "the server sent a choice with no message")
    calls = tuple(
        ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments or "")
        for c in (choice.message.tool_calls or ())
        if getattr(c, "function", None) is not None
    )
    usage = Usage(
        prompt_tokens=getattr(response.usage, "prompt_tokens", 0) or 0,
        completion_tokens=getattr(response.usage, "completion_tokens", 0) or 0,
    )
    return ModelReply(
        text=choice.message.content or "", tool_calls=calls, usage=usage, model=response.model or "",
        finish_reason=choice.finish_reason or "stop",
    )


def _retryable(error: BaseException) -> Retry | None:
    """Whether a failed try is worth another, and why, by the `openai` client's own rules."""
    if isinstance(error, openai.APITimeoutError):  # a subclass of APIConnectionError: first
        return Retry(reason="timeout")
    if isinstance(error, openai.APIConnectionError):
        return Retry(reason="connection error")
    if isinstance(error, openai.APIStatusError):
        headers = error.response.headers
        if not worth_retrying(error.status_code, headers):
            return None
        what = {429: "rate limit", 408: "request timeout", 409: "conflict"}.get(error.status_code, "server error")
        return Retry(reason=f"HTTP {error.status_code} {what}", after=retry_after(headers))
    return None


class _Lease:
    """The process's `AsyncOpenAI` clients for one server and key on one event loop, and how many models hold them.

    One client while few requests are in flight; another for every `PER_CLIENT` more, up to `MOST_CLIENTS`:
    a client's connection pool does work for every pooled connection on each request (httpcore's pool is
    quadratic in its connections), so a hundred requests in flight cost less over a few pools than one.
    They stay open while their loop runs, for the next run on the loop, and are closed as the loop shuts
    down (`asyncio.run` closes the loop's async generators, among them those holding them)."""

    PER_CLIENT = 24
    MOST_CLIENTS = 8

    _shared: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str | None, str], _Lease]]] = (
        weakref.WeakKeyDictionary())

    def __init__(self, base_url: str | None, api_key: str) -> None:
        self.base_url, self._key = base_url, api_key
        self.clients: list[openai.AsyncOpenAI] = []
        self.lent: list[int] = []  # requests in flight on each client
        self._keepers: list[AsyncIterator[None]] = []  # strong references: the loop keeps only weak ones
        self.holders = 0
        self._add()

    @property
    def client(self) -> openai.AsyncOpenAI:
        return self.clients[0]

    def _add(self) -> int:
        # Retries are Parley's (`runtime.retries`); the timeout is given with each request.
        tls = _tls_context()
        http = openai.DefaultAsyncHttpxClient(verify=tls) if tls is not None else None
        client = openai.AsyncOpenAI(api_key=self._key, base_url=self.base_url, max_retries=0, timeout=DEFAULT_TIMEOUT,
                                    http_client=http)
        keeper = _open_until_shutdown(client)
        asyncio.ensure_future(keeper.__anext__())  # started now, so its `finally` runs at shutdown
        self.clients.append(client)
        self.lent.append(0)
        self._keepers.append(keeper)
        return len(self.clients) - 1

    @contextlib.contextmanager
    def lend(self) -> Iterator[openai.AsyncOpenAI]:
        """The client with the fewest requests in flight (a new one when all have `PER_CLIENT`), for one request."""
        index = min(range(len(self.lent)), key=self.lent.__getitem__)
        if self.lent[index] >= self.PER_CLIENT and len(self.clients) < self.MOST_CLIENTS:
            index = self._add()
        self.lent[index] += 1
        try:
            yield self.clients[index]
        finally:
            self.lent[index] -= 1

    @classmethod
    def take(cls, base_url: str | None, api_key: str) -> _Lease:
        leases = cls._shared.setdefault(asyncio.get_running_loop(), {})
        lease = leases.get((base_url, api_key))
        if lease is None or lease.client.is_closed():
            lease = leases[(base_url, api_key)] = _Lease(base_url, api_key)
        lease.holders += 1
        return lease

    async def give_back(self) -> None:
        self.holders -= 1


@functools.cache
def _tls_context() -> ssl.SSLContext | None:
    """The TLS settings each new client's HTTP library would make, made once for the process and shared.

    Making them loads the certificate store, about 30 ms of CPU: once per client, it was most of
    what a fan-out of a hundred asks cost beyond the requests themselves (clients are added as
    requests in flight grow, and each event loop gets its own). Made by the HTTP library the
    `openai` client runs on (httpx's `create_ssl_context`), so they are exactly its defaults,
    the `SSL_CERT_FILE`/`SSL_CERT_DIR` variables included. None: let each client make its own.
    """
    for base in openai.DefaultAsyncHttpxClient.__mro__:
        library = sys.modules.get(base.__module__.partition(".")[0])
        make = getattr(library, "create_ssl_context", None)
        if make is not None:
            context = make()
            return context if isinstance(context, ssl.SSLContext) else None
    return None


async def _open_until_shutdown(client: openai.AsyncOpenAI) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await client.close()


def _explain(error: openai.APIError, base_url: str | None) -> ModelError:
    """One clear message per way a request can fail (never including the key)."""
    where = base_url or "the OpenAI API"
    if isinstance(error, openai.APITimeoutError):
        return ModelError("timeout", f"the model server at {where} did not answer in time")
    if isinstance(error, openai.APIConnectionError):
        return ModelError("unreachable", f"cannot reach the model server at {where}: is it running, and is the URL right?")
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return ModelError("auth", f"the model server at {where} refused the API key (HTTP {error.status_code}); "
                                  "check OPENAI_API_KEY or the model's `api_key_env`")
    if isinstance(error, openai.RateLimitError):
        return ModelError("rate_limit", f"the model server at {where} answered 429 (rate limit); wait, or lower "
                                        "the request rate (the model's `rpm`, `tpm` or `max_concurrency`)")
    if isinstance(error, openai.NotFoundError):
        return ModelError("bad_request", f"the model server at {where} does not know this model or endpoint "
                                         f"(HTTP 404): {_detail(error)}")
    if isinstance(error, openai.BadRequestError):
        detail = _detail(error)
        if _is_context_overflow(error, detail):
            return ModelError("context_length", f"the conversation is too long for the model: {detail}; "
                                                "lower the agent's `memory` or use a model with a larger context")
        return ModelError("bad_request", f"the model server rejected the request (HTTP 400): {detail}")
    if isinstance(error, openai.APIStatusError) and error.status_code < 500:
        return ModelError("bad_request", f"the model server rejected the request (HTTP {error.status_code}): "
                                         f"{_detail(error)}")
    if isinstance(error, openai.APIStatusError):
        return ModelError("server", f"the model server at {where} failed (HTTP {error.status_code})")
    return ModelError("bad_reply", f"unexpected answer from the model server at {where}: {error}")


def _is_context_overflow(error: openai.APIError, detail: str) -> bool:
    """OpenAI's `context_length_exceeded` code, llama.cpp's `exceed_context_size_error`, or the words for it."""
    body = error.body if isinstance(error.body, dict) else {}
    codes = f"{body.get('code') or ''} {body.get('type') or ''}".lower()
    text = detail.lower()
    return ("context_length" in codes or "exceed_context" in codes
            or ("context" in text and any(word in text for word in ("length", "window", "size"))))


def _detail(error: openai.APIError) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return str(getattr(error, "message", "") or error)
