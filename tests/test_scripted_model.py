"""The scripted model: rules, successive replies, tool calls, JSON for typed asks, streaming, bad files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jsonschema
import pytest

from parley.runtime.models import Message, ModelError, ModelRequest, ToolSpec
from parley.runtime.scripted import ScriptedModel, simplest_value

RULES = {
    "rules": [
        {"system": "review drafts", "contains": "score", "json": {"score": 8, "verdict": "publish"}},
        {"system": "review drafts", "replies": ["Tighten it.", "APPROVED"]},
        {"contains": "weather", "after_tool": False, "tool_call": {"name": "forecast", "arguments": {"city": "Oslo"}}},
        {"contains": "weather", "after_tool": True, "reply": "Sunny, says the tool."},
        {"matches": "^Summari[sz]e", "reply": "A short summary."},
    ],
    "default": "OK",
}


def ask(model: ScriptedModel, text: str, system: str = "You help.", **extra: object) -> object:
    request = ModelRequest(model="m", messages=(Message(role="system", content=system),
                                                Message(role="user", content=text)), **extra)  # type: ignore[arg-type]
    return asyncio.run(model.complete(request))


def test_rules_answer_in_order_and_replies_advance() -> None:
    model = ScriptedModel.from_data(RULES)
    critic = "You review drafts for clarity."
    assert json.loads(ask(model, "Please score this", critic).text) == {"score": 8, "verdict": "publish"}  # type: ignore[attr-defined]
    assert ask(model, "Draft one", critic).text == "Tighten it."  # type: ignore[attr-defined]
    assert ask(model, "Draft two", critic).text == "APPROVED"  # type: ignore[attr-defined]
    assert ask(model, "Draft three", critic).text == "APPROVED"  # type: ignore[attr-defined]
    assert ask(model, "Summarise the plan").text == "A short summary."  # type: ignore[attr-defined]
    assert ask(model, "Anything else").text == "OK"  # type: ignore[attr-defined]


def test_tool_calls_and_the_answer_after_the_tool() -> None:
    model = ScriptedModel.from_data(RULES)
    forecast = ToolSpec(name="forecast", description="Weather.", parameters={"type": "object"})
    assert ask(model, "What is the weather?").tool_calls == ()  # type: ignore[attr-defined]  # no tools offered
    first = ask(model, "What is the weather?", tools=(forecast,))
    assert first.tool_calls[0].name == "forecast"  # type: ignore[attr-defined]
    assert json.loads(first.tool_calls[0].arguments) == {"city": "Oslo"}  # type: ignore[attr-defined]
    request = ModelRequest(model="m", messages=(
        Message(role="user", content="What is the weather?"),
        Message(role="assistant", content="", tool_calls=first.tool_calls),  # type: ignore[attr-defined]
        Message(role="tool", content="sunny", tool_call_id="call_1"),
    ), tools=(forecast,))
    assert asyncio.run(model.complete(request)).text == "Sunny, says the tool."


def test_typed_asks_get_a_valid_value_without_a_rule() -> None:
    schema = {
        "type": "object",
        "properties": {"score": {"type": "integer"}, "verdict": {"type": "string", "enum": ["publish", "revise"]},
                       "notes": {"type": "array", "items": {"type": "string"}}},
        "required": ["score", "verdict", "notes"], "additionalProperties": False,
    }
    model = ScriptedModel()
    reply = ask(model, "Score it", response_format={"type": "json_schema", "json_schema": {"name": "V", "schema": schema}})
    value = json.loads(reply.text)  # type: ignore[attr-defined]
    jsonschema.validate(value, schema)
    assert simplest_value({"anyOf": [{"type": "null"}, {"type": "string"}]}) is None


def test_streaming_sends_the_reply_in_pieces_and_usage_counts_words() -> None:
    model = ScriptedModel(default="one two three")
    pieces: list[str] = []
    request = ModelRequest(model="m", messages=(Message(role="user", content="count to three please"),))
    reply = asyncio.run(model.complete(request, pieces.append))
    assert "".join(pieces) == reply.text == "one two three" and len(pieces) == 3
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (4, 3)


def test_echo_without_default() -> None:
    assert ask(ScriptedModel(), "Draft   a title").text == "(scripted reply to: Draft a title)"  # type: ignore[attr-defined]


@pytest.mark.parametrize("content, message", [
    ("not json", "cannot read"),
    ('{"rules": [{"reply": 1, "bogus": 2}]}', "unknown keys"),
    ('{"rules": [{"contains": "x"}]}', "give `reply`"),
    ('{"rules": [{"matches": "(", "reply": "x"}]}', "bad regular expression"),
    ('{"rules": {}}', "expected"),
])
def test_bad_rule_files_are_explained(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "rules.json"
    path.write_text(content)
    with pytest.raises(ModelError) as caught:
        ScriptedModel.from_file(path)
    assert message in str(caught.value)
