"""The one protocol every model client speaks: a request of messages in, a reply with usage out.

Clients: `openai_client.OpenAIModel` (any OpenAI-compatible server) and
`scripted.ScriptedModel` (deterministic replies from rules, for tests and
demos). The runtime sees only this protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol

import attrs

from parley.dsl.errors import FailureKind, RunError

Role = Literal["system", "user", "assistant", "tool"]


@attrs.frozen(kw_only=True)
class ToolCall:
    """A tool call the model asked for: `arguments` is the raw JSON text, checked before any call."""

    id: str
    name: str
    arguments: str


@attrs.frozen(kw_only=True)
class Message:
    """One message of a conversation as sent to a model.

    `name` tells speakers apart in a group; `tool_calls` are on assistant
    messages, `tool_call_id` on the tool results that answer them.
    """

    role: Role
    content: str
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@attrs.frozen(kw_only=True)
class ToolSpec:
    """A tool offered to the model: its name, what it does, and the JSON Schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@attrs.frozen(kw_only=True)
class ModelRequest:
    """Everything that decides a model's reply (and so the response cache's key).

    `response_format` is an OpenAI-style format (`{"type": "json_schema", …}`
    or `{"type": "json_object"}`), or None for plain text; `tool_choice`
    forces a tool when set to its name. `choices` are the only words a
    plain-text reply may be (a yes/no question): the message says so too, and
    a client that can constrain its output (the local model) holds to them.
    """

    model: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str | None = None
    response_format: dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    choices: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Usage:
    """Tokens a request cost, as the server counted them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


@attrs.frozen(kw_only=True)
class ModelReply:
    """A model's answer: text and/or tool calls, the usage, why it stopped, whether it came from the cache."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = Usage()
    model: str = ""
    finish_reason: str = "stop"
    cached: bool = False
    journaled: bool = False  # served from the run's journal (a resumed or replayed run)
    cost: float = 0.0  # dollars, set by the runtime from its price table


#: Receives streamed text as it arrives (for the live console view).
TokenSink = Callable[[str], None]


class ModelClient(Protocol):
    """A model server: one async request at a time per call; calls may run concurrently."""

    async def complete(self, request: ModelRequest, on_token: TokenSink | None = None) -> ModelReply:
        """Send `request`; stream text to `on_token` when given; return the whole reply."""
        ...


class ModelError(Exception):
    """A model request failed for good (after the client's own retries); `kind` says how.

    Kinds: `unreachable`, `auth`, `rate_limit`, `timeout`, `context_length`,
    `content_filter`, `bad_request`, `server`, `bad_reply`.
    """

    def __init__(self, kind: str, message: str) -> None:
        from parley.runtime.secrets import redact

        super().__init__(redact(message))  # servers may echo the key they were sent
        self.kind = kind


def model_error(error: ModelError) -> RunError:
    """A model's failure as the run's: the `ModelError` (with its `kind`: auth, rate_limit…) is the cause."""
    failure = RunError(FailureKind.MODEL, str(error))
    failure.__cause__ = error
    return failure
