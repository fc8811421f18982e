"""A fake OpenAI-compatible chat server on 127.0.0.1, for testing the real client over real HTTP.

The server runs `http.server.ThreadingHTTPServer` in a background thread on a
free port and answers `POST /v1/chat/completions`. Each request is answered
by the next scripted response (`fake.script(...)`), else by `fake.handler`
(`request_json -> Response | str`); a request nothing answers gets a 500 and
fails the test at teardown. A `Reply` is rendered as one JSON completion, or
as server-sent events when the request asks to stream, so one script serves
both modes:

    fake_openai.script(reply(["Hel", "lo"], usage=(5, 2)), rate_limited())
    model = OpenAIModel(base_url=fake_openai.base_url)

Helpers: `reply`, `tool_call`, `error`, `rate_limited`, `server_error`,
`unauthorized` (echoes the key it got), `context_length_exceeded`; `Raw` for
anything else. Any response may carry a `delay` (seconds slept before
answering), a streamed reply a `stall` mid-stream; teardown cuts both short.
`in_flight` and `most_in_flight` count the requests being answered at once
(what a concurrency limit must hold); each `Received` has its arrival time.
A test module gets the `fake_openai` fixture by importing `fake_openai_fixture`.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

__all__ = [
    "CHAT_PATH",
    "FakeOpenAI",
    "Handler",
    "Raw",
    "Received",
    "Reply",
    "Response",
    "ToolCallSpec",
    "completion_chunks",
    "completion_json",
    "context_length_exceeded",
    "error",
    "fake_openai_fixture",
    "rate_limited",
    "reply",
    "server_error",
    "serving",
    "tool_call",
    "unauthorized",
]

CHAT_PATH = "/v1/chat/completions"

#: Replaced, in an error's message, by the bearer token the request carried (a server that echoes keys).
ECHO_KEY = "{api_key}"


@dataclass(frozen=True)
class ToolCallSpec:
    """A tool call in a reply; when streamed, each piece of `arguments` travels in its own chunk."""

    id: str
    name: str
    arguments: tuple[str, ...]


@dataclass(frozen=True)
class Reply:
    """A successful completion, rendered as JSON or as SSE chunks to suit the request.

    When streamed, the server pauses `stall` seconds after the first `stall_after` events.
    """

    pieces: tuple[str, ...] = ()
    tool_calls: tuple[ToolCallSpec, ...] = ()
    finish_reason: str | None = None
    usage: tuple[int, int] = (0, 0)
    model: str | None = None
    delay: float = 0.0
    stall: float = 0.0
    stall_after: int = 1

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def finish(self) -> str:
        return self.finish_reason or ("tool_calls" if self.tool_calls else "stop")


@dataclass(frozen=True)
class Raw:
    """Any status, body and headers: a body is sent as JSON, or as it is when bytes (errors, odd bodies)."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Response = Reply | Raw
Handler = Callable[[dict[str, Any]], "Response | str"]


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    at: float = 0.0  # when it arrived (time.monotonic())


# ---- helpers that make scripts read well -------------------------------------------------------


def reply(
    text: str | Sequence[str] = "",
    *,
    tool_calls: Sequence[ToolCallSpec] = (),
    finish_reason: str | None = None,
    usage: tuple[int, int] = (10, 5),
    model: str | None = None,
    delay: float = 0.0,
    stall: float = 0.0,
    stall_after: int = 1,
) -> Reply:
    """A reply; `text` as a list gives the pieces it is streamed in. `usage` is (prompt, completion)."""
    pieces = (text,) if isinstance(text, str) else tuple(text)
    return Reply(
        pieces=tuple(p for p in pieces if p), tool_calls=tuple(tool_calls), finish_reason=finish_reason,
        usage=usage, model=model, delay=delay, stall=stall, stall_after=stall_after,
    )


def tool_call(id: str, name: str, arguments: str | Sequence[str]) -> ToolCallSpec:
    """A tool call; `arguments` as a list gives the fragments it is streamed in."""
    return ToolCallSpec(id=id, name=name, arguments=(arguments,) if isinstance(arguments, str) else tuple(arguments))


def error(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    headers: dict[str, str] | None = None,
    delay: float = 0.0,
) -> Raw:
    """An HTTP error with an OpenAI-style JSON body `{"error": {message, type, param, code}}`."""
    body = {"error": {"message": message, "type": type, "param": None, "code": code}}
    return Raw(status=status, body=body, headers=dict(headers or {}), delay=delay)


def rate_limited(retry_after: str = "0") -> Raw:
    """429 with `retry-after` (seconds, as sent)."""
    return error(429, "Rate limit reached for requests", type="requests", code="rate_limit_exceeded",
                 headers={"retry-after": retry_after})


def server_error(retry_after: str | None = None) -> Raw:
    """500: the server failed (with `retry-after`, in seconds, when given)."""
    return error(500, "The server had an error while processing your request.", type="server_error",
                 headers={"retry-after": retry_after} if retry_after is not None else None)


def unauthorized() -> Raw:
    """401 whose message echoes the key it got, as a careless server might."""
    return error(401, f"Incorrect API key provided: {ECHO_KEY}.", code="invalid_api_key")


def context_length_exceeded(message: str | None = None, *, code: str | None = "context_length_exceeded",
                            type: str = "invalid_request_error") -> Raw:
    """400: the conversation does not fit the model's context (OpenAI's wording unless `message` is given)."""
    message = message or ("This model's maximum context length is 8192 tokens. However, your messages "
                          "resulted in 9000 tokens. Please reduce the length of the messages.")
    return error(400, message, type=type, code=code)


# ---- rendering ---------------------------------------------------------------------------------


def _usage(usage: tuple[int, int]) -> dict[str, int]:
    return {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": usage[0] + usage[1]}


def completion_json(r: Reply, model: str, id: str) -> dict[str, Any]:
    """`r` as one `chat.completion` object."""
    message: dict[str, Any] = {"role": "assistant", "content": r.text or None, "refusal": None}
    if r.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": "".join(c.arguments)}}
            for c in r.tool_calls
        ]
    return {
        "id": id, "object": "chat.completion", "created": 1_700_000_000, "model": r.model or model,
        "choices": [{"index": 0, "message": message, "finish_reason": r.finish, "logprobs": None}],
        "usage": _usage(r.usage), "system_fingerprint": "fp_fake",
    }


def completion_chunks(r: Reply, model: str, id: str, include_usage: bool) -> list[dict[str, Any]]:
    """`r` as `chat.completion.chunk` objects: role, text pieces, tool-call fragments, finish, then usage."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": r.model or model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        if include_usage:
            data["usage"] = None
        return data

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": piece}) for piece in r.pieces]
    for index, call in enumerate(r.tool_calls):
        head = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        chunks.append(chunk({"tool_calls": [head]}))
        chunks += [chunk({"tool_calls": [{"index": index, "function": {"arguments": a}}]}) for a in call.arguments]
    chunks.append(chunk({}, r.finish))
    if include_usage:
        chunks.append({**chunk({}), "choices": [], "usage": _usage(r.usage)})
    return chunks


# ---- the server --------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many clients connect at once; the default 5 would drop SYNs
    fake: FakeOpenAI

    def handle_error(self, request: Any, client_address: Any) -> None:
        problem = sys.exc_info()[1]
        if not isinstance(problem, OSError):  # a dropped connection is the client's business
            self.fake._note_error(problem)


class _RequestHandler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # headers and body in separate sends must not wait on delayed ACKs
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30  # an idle keep-alive connection is dropped after this

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        self.server.fake._track(self.connection, add=False)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._answer_unknown()

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record = Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
        number = fake._record(record)
        fake._flight(+1)
        try:
            self._answer(fake, body, number)
        finally:
            fake._flight(-1)

    def _answer(self, fake: FakeOpenAI, body: Any, number: int) -> None:
        if self.path != CHAT_PATH or not isinstance(body, dict):
            self._answer_unknown()
            return
        response = fake._next(body, number)
        if response.delay and fake._closing.wait(response.delay):
            self.close_connection = True
            return
        try:
            if isinstance(response, Raw):
                key = self.headers.get("authorization", "").removeprefix("Bearer ")
                self._send_json(response.status, _echo_key(response.body, key), response.headers)
            elif body.get("stream"):
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                chunks = completion_chunks(response, body.get("model", ""), f"chatcmpl-fake-{number}", include_usage)
                self._send_events(chunks, response.stall, response.stall_after)
            else:
                self._send_json(200, completion_json(response, body.get("model", ""), f"chatcmpl-fake-{number}"))
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client gave up (its timeout); nothing to answer

    def _answer_unknown(self) -> None:
        self._send_json(404, {"error": {"message": f"fake_openai serves only POST {CHAT_PATH}",
                                        "type": "invalid_request_error", "param": None, "code": None}})

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """`body` as JSON, or as it is when bytes (with the `content-type` in `headers`)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.send_response(status)
        self.send_header("content-type", headers.pop("content-type", "application/json"))
        self.send_header("content-length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_events(self, chunks: list[dict[str, Any]], stall: float, stall_after: int) -> None:
        """Server-sent events, one HTTP chunk (chunked transfer encoding) per event; pause as told."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        events = [f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]
        for number, event in enumerate(events):
            if stall and number == stall_after and self.server.fake._closing.wait(stall):
                self.close_connection = True
                return
            data = event.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _echo_key(body: Any, key: str) -> Any:
    if isinstance(body, dict):
        return {k: _echo_key(v, key) for k, v in body.items()}
    if isinstance(body, str):
        return body.replace(ECHO_KEY, key)
    return body


class FakeOpenAI:
    """The fake server: start it, script it, read what it received, close it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Response] = deque()
        self._received: list[Received] = []
        self._unanswered: list[int] = []
        self._errors: list[str] = []
        self._connections: set[socket.socket] = set()
        self.in_flight = 0  # requests being answered now
        self.most_in_flight = 0  # the most ever answered at once
        self._closing = threading.Event()
        self.handler: Handler | None = None
        self._server = _Server(("127.0.0.1", 0), _RequestHandler)
        self._server.fake = self
        self.port: int = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-openai-{self.port}", daemon=True)
        self._thread.start()

    # -- programming

    def script(self, *responses: Response | str) -> None:
        """Queue responses, consumed one per request in order (a str is a plain reply)."""
        with self._lock:
            self._queue.extend(_coerce(r) for r in responses)

    @property
    def pending(self) -> int:
        """Scripted responses not yet consumed."""
        with self._lock:
            return len(self._queue)

    # -- what arrived

    @property
    def requests(self) -> list[Any]:
        """The JSON bodies received, in order (a copy)."""
        with self._lock:
            return [r.json for r in self._received]

    @property
    def received(self) -> list[Received]:
        """Everything received (method, path, headers, body), in order (a copy)."""
        with self._lock:
            return list(self._received)

    # -- lifecycle

    def close(self) -> None:
        """Stop serving, cut short any delays, drop open connections, and free the port."""
        self._closing.set()
        self._server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._thread.join(timeout=5)

    def check(self) -> None:
        """Fail if a request found nothing to answer it or the server itself failed."""
        with self._lock:
            unanswered, errors = list(self._unanswered), self._errors
        assert not unanswered, f"fake_openai: nothing scripted for request(s) {unanswered}"
        assert not errors, f"fake_openai: the server failed: {'; '.join(errors)}"

    # -- used by the request threads

    def _record(self, record: Received) -> int:
        with self._lock:
            self._received.append(record)
            return len(self._received)

    def _next(self, body: dict[str, Any], number: int) -> Response:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            handler = self.handler
        if handler is not None:
            return _coerce(handler(body))
        with self._lock:
            self._unanswered.append(number)
        return Raw(500, {"error": {"message": f"fake_openai: nothing scripted for request {number}",
                                   "type": "server_error", "param": None, "code": None}},
                   headers={"x-should-retry": "false"})

    def _flight(self, change: int) -> None:
        with self._lock:
            self.in_flight += change
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _note_error(self, problem: BaseException | None) -> None:
        with self._lock:
            self._errors.append(repr(problem))


def _coerce(response: Response | str) -> Response:
    return reply(response) if isinstance(response, str) else response


def serving() -> Iterator[FakeOpenAI]:
    """A running fake server; closed, and checked for unanswered requests, at teardown (the body of a
    fixture of any scope: `yield from serving()`)."""
    fake = FakeOpenAI()
    try:
        yield fake
    finally:
        fake.close()
    fake.check()


@pytest.fixture(name="fake_openai")
def fake_openai_fixture() -> Iterator[FakeOpenAI]:
    """A running fake server for one test."""
    yield from serving()
