"""A deterministic model: replies come from rules, for tests, demos and embedding.

A rules file is JSON::

    {"rules": [
        {"system": "review drafts", "contains": "Score", "json": {"score": 8, "verdict": "publish"}},
        {"system": "review drafts", "replies": ["Tighten the second sentence.", "APPROVED"]},
        {"contains": "weather", "tool_call": {"name": "forecast", "arguments": {"city": "Oslo"}}},
        {"matches": "^Summarize", "reply": "A short summary."}
     ],
     "default": "OK"}

The first rule whose conditions all hold answers: `system` (text in the
system message), `contains` (text in the last user message), `matches` (a
regular expression searched in it), `after_tool` (true: the last message is
a tool result). A rule answers with `reply`, successive `replies` (the last
one repeats), `json` (written as JSON), or a `tool_call` (with the text of a
`reply` beside it, if given). Without a match,
a reply that must follow a JSON Schema gets the simplest valid value, and a
plain one gets `default` (or an echo of the request). Token counts are
words, so usage is exact and repeatable. The format, with examples the
tests run: docs/scripted-model.md.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import attrs

from parley.runtime.bounds import loads
from parley.runtime.models import ModelError, ModelReply, ModelRequest, TokenSink, ToolCall, Usage


@attrs.define
class Rule:
    """One rule: conditions, then what to answer; `used` counts its answers (for `replies`)."""

    system: str | None = None
    contains: str | None = None
    matches: re.Pattern[str] | None = None
    after_tool: bool | None = None
    replies: tuple[str, ...] = ()
    tool_call: dict[str, Any] | None = None
    delay: float = 0.0
    used: int = 0

    def applies(self, request: ModelRequest) -> bool:
        system = next((m.content for m in request.messages if m.role == "system"), "")
        last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        last = request.messages[-1] if request.messages else None
        return (
            (self.system is None or self.system.lower() in system.lower())
            and (self.contains is None or self.contains.lower() in last_user.lower())
            and (self.matches is None or self.matches.search(last_user) is not None)
            and (self.after_tool is None or self.after_tool == (last is not None and last.role == "tool"))
        )


class ScriptedModel:
    """Answers requests from rules; safe to use concurrently (rules are tried in order)."""

    provider = "parley.scripted"

    def __init__(self, rules: list[Rule] | None = None, default: str | None = None) -> None:
        self.rules = rules or []
        self.default = default
        self.requests: list[ModelRequest] = []

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedModel:
        """Load rules from a JSON file; `ModelError` (kind `bad_request`) explains a bad file."""
        try:
            data = loads(Path(path).read_text(encoding="utf-8"), "")  # bounded: nesting, numbers
        except (OSError, ValueError) as error:
            raise ModelError("bad_request", f"cannot read the scripted model's rules from {path}: {error}") from None
        return cls.from_data(data, str(path))

    @classmethod
    def from_data(cls, data: Any, where: str = "rules") -> ScriptedModel:
        if not isinstance(data, dict) or not isinstance(data.get("rules", []), list):
            raise ModelError("bad_request", f'{where}: expected {{"rules": [...], "default": "..."}}')
        rules = [_rule(item, f"{where}: rule {index + 1}") for index, item in enumerate(data.get("rules", []))]
        default = data.get("default")
        if default is not None and not isinstance(default, str):
            raise ModelError("bad_request", f"{where}: `default` is a string")
        return cls(rules, default)

    async def complete(self, request: ModelRequest, on_token: TokenSink | None = None) -> ModelReply:
        self.requests.append(request)
        rule = next((r for r in self.rules if r.applies(request) and (r.tool_call is None or request.tools)), None)
        if rule is not None and rule.delay:
            await asyncio.sleep(rule.delay)
        if rule is not None and rule.tool_call is not None:
            rule.used += 1
            call = ToolCall(
                id=f"call_{len(self.requests)}", name=str(rule.tool_call.get("name", "")),
                arguments=_arguments_text(rule.tool_call.get("arguments", {})),
            )
            said = rule.replies[0] if rule.replies else ""  # a `reply` beside the call: its text
            return ModelReply(text=said, tool_calls=(call,), usage=_usage(request, f"{said} {call.arguments}"),
                              model=request.model, finish_reason="tool_calls")
        if rule is not None and rule.replies:
            text = rule.replies[min(rule.used, len(rule.replies) - 1)]
            rule.used += 1
        else:
            text = self._fallback(request)
        if on_token is not None:
            for piece in re.findall(r"\S+\s*|\s+", text):
                on_token(piece)
        return ModelReply(text=text, usage=_usage(request, text), model=request.model)

    def _fallback(self, request: ModelRequest) -> str:
        schema = _schema(request.response_format)
        if schema is not None:
            return json.dumps(simplest_value(schema))
        if request.response_format is not None:
            return "{}"
        if self.default is not None:
            return self.default
        last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        return f"(scripted reply to: {' '.join(last_user.split())[:80]})"


def _rule(item: Any, where: str) -> Rule:
    if not isinstance(item, dict):
        raise ModelError("bad_request", f"{where}: a rule is an object")
    known = {"system", "contains", "matches", "after_tool", "reply", "replies", "json", "tool_call", "delay"}
    unknown = set(item) - known
    if unknown:
        raise ModelError("bad_request", f"{where}: unknown keys {sorted(unknown)} (known: {sorted(known)})")
    replies: tuple[str, ...] = ()
    if "reply" in item:
        replies = (str(item["reply"]),)
    elif "replies" in item:
        replies = tuple(str(r) for r in item["replies"])
    elif "json" in item:
        replies = (json.dumps(item["json"]),)
    elif "tool_call" not in item:
        raise ModelError("bad_request", f"{where}: give `reply`, `replies`, `json` or `tool_call`")
    try:
        pattern = re.compile(item["matches"]) if "matches" in item else None
    except re.error as error:
        raise ModelError("bad_request", f"{where}: bad regular expression in `matches`: {error}") from None
    return Rule(
        system=item.get("system"), contains=item.get("contains"), matches=pattern, after_tool=item.get("after_tool"),
        replies=replies, tool_call=item.get("tool_call"), delay=float(item.get("delay", 0.0)),
    )


def _arguments_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _words(text: str) -> int:
    return len(text.split())


def _usage(request: ModelRequest, reply: str) -> Usage:
    prompt = sum(_words(m.content) for m in request.messages)
    return Usage(prompt_tokens=prompt, completion_tokens=_words(reply))


def _schema(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    if not response_format:
        return None
    if response_format.get("type") == "json_schema":
        schema = response_format.get("json_schema", {}).get("schema")
        return schema if isinstance(schema, dict) else None
    schema = response_format.get("schema")
    return schema if isinstance(schema, dict) else None


def simplest_value(schema: dict[str, Any]) -> Any:
    """The simplest value valid for a JSON Schema of the kind the compiler writes."""
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return simplest_value(schema["anyOf"][0])
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: simplest_value(properties[name]) for name in schema.get("required", properties)}
    if kind == "array":
        return []
    return {"string": "example", "integer": 1, "number": 1.0, "boolean": True, "null": None}.get(kind or "", "example")
