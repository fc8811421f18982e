"""The response cache: identical model requests answered from the store.

On by default only where a reply is meant to be repeatable (temperature 0 or
a seed), or when a model's `cache` option or the run says so; off otherwise.
Keys are hashes of the request (model, messages, tools, response format,
sampling parameters) and of the server it goes to — no keys or headers.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import attrs

from parley.runtime.models import ModelReply, ModelRequest, ToolCall, Usage


def cache_key(request: ModelRequest, server: str) -> str:
    """A hash of everything that decides the reply (never credentials)."""
    data = {"server": server, "request": attrs.asdict(request)}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def wanted(request: ModelRequest, mode: str, option: Any) -> bool:
    """Whether this request uses the cache: `mode` is the run's choice (on/off/auto), `option` the model's."""
    if mode in ("on", "off"):
        return mode == "on"
    if isinstance(option, bool):
        return option
    return request.temperature == 0 or request.seed is not None


def stored(reply: ModelReply) -> dict[str, Any]:
    return {
        "text": reply.text, "model": reply.model, "finish_reason": reply.finish_reason,
        "tool_calls": [attrs.asdict(c) for c in reply.tool_calls],
        "usage": [reply.usage.prompt_tokens, reply.usage.completion_tokens],
    }


def restored(data: dict[str, Any]) -> ModelReply:
    return ModelReply(
        text=data["text"], model=data["model"], finish_reason=data["finish_reason"],
        tool_calls=tuple(ToolCall(**c) for c in data["tool_calls"]),
        usage=Usage(prompt_tokens=data["usage"][0], completion_tokens=data["usage"][1]), cached=True,
    )
