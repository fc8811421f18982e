"""Values a running script holds besides plain data: replies, agents, threads and records."""

from __future__ import annotations

from typing import Any

import attrs

from parley.runtime.models import Usage


class Reply(str):
    """An agent's reply: its text, plus `.agent`, `.tokens` and `.cost`."""

    agent: str
    tokens: int
    cost: float

    def __new__(cls, text: str, agent: str = "", tokens: int = 0, cost: float = 0.0) -> Reply:  # noqa: PYI034
        reply = super().__new__(cls, text)
        reply.agent = agent
        reply.tokens = tokens
        reply.cost = cost
        return reply

    @property
    def text(self) -> str:
        return str.__str__(self)


class AgentValue(str):
    """An agent as a value (`player = white`): its name, which operators, built-ins and Python tools read as
    text; `@player` asks the agent. A kind of its own, so the runtime tells it from any string."""

    __slots__ = ()


@attrs.define
class Said:
    """One message of a conversation: who said it, and what."""

    speaker: str
    text: str
    tokens: int = 0
    cost: float = 0.0

    def reply(self) -> Reply:
        return Reply(self.text, self.speaker, self.tokens, self.cost)


@attrs.define
class Thread:
    """The value of a chat or group: its messages, how it stopped, and what it cost."""

    members: list[str]
    messages: list[Said] = attrs.Factory(list)
    usage: Usage = attrs.Factory(Usage)
    cost: float = 0.0
    stop_reason: str = ""
    summary_text: str | None = None

    @property
    def last(self) -> Reply:
        return self.messages[-1].reply() if self.messages else Reply("")

    @property
    def turns(self) -> int:
        return sum(1 for m in self.messages if m.speaker in self.members)

    @property
    def tokens(self) -> int:
        return self.usage.total_tokens

    def __str__(self) -> str:  # interpolating a thread gives its last message
        return self.last.text


class Record(dict[str, Any]):
    """A structured reply (a record type's value): a dict whose fields read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def jsonable(value: Any) -> Any:
    """A value as JSON data (`--json`, events): threads as their last message, turns and stop reason."""
    if isinstance(value, Thread):
        return {"last": value.last.text, "turns": value.turns, "stop_reason": value.stop_reason}
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
