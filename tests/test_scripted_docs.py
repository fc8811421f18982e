"""docs/scripted-model.md: every rules file in it loads, and every example prints what the page says."""

from __future__ import annotations

import json
import re

import pytest
from helpers import ROOT
from parley.runtime.models import ModelError
from parley.runtime.scripted import ScriptedModel

import parley

PAGE = (ROOT / "docs" / "scripted-model.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def examples() -> dict[str, tuple[str, str, str]]:
    """Each "### " section under "## Examples": its (rules, script, printed) blocks."""
    section = PAGE.split("\n## Examples\n", 1)[1]
    found = {}
    for part in section.split("\n### ")[1:]:
        title = part.split("\n", 1)[0]
        blocks = {kind: text for kind, text in BLOCK.findall(part)}
        assert set(blocks) == {"json", "parley", "text"}, f"{title}: a rules file, a script and its output"
        found[title] = (blocks["json"], blocks["parley"], blocks["text"])
    return found


def test_the_page_has_examples_of_each_kind_of_answer() -> None:
    rules = "".join(r for r, _, _ in examples().values())
    assert len(examples()) >= 4
    for key in ('"replies"', '"reply"', '"json"', '"tool_call"', '"matches"', '"contains"', '"after_tool"',
                '"system"', '"default"'):
        assert key in rules, key


@pytest.mark.parametrize("json_text", [text for kind, text in BLOCK.findall(PAGE) if kind == "json"])
def test_every_rules_file_on_the_page_loads(json_text: str) -> None:
    model = ScriptedModel.from_data(json.loads(json_text))
    assert model.rules


@pytest.mark.parametrize("title", list(examples()))
def test_each_example_prints_what_the_page_says(title: str) -> None:
    rules, script, printed = examples()[title]
    result = parley.compile(script, "example.agent").run(model=ScriptedModel.from_data(json.loads(rules)))
    assert result.printed == printed.rstrip("\n").split("\n")


def test_the_tool_example_calls_the_tool_once() -> None:
    rules, script, _ = examples()["A tool call, then an answer from its result"]
    result = parley.compile(script, "example.agent").run(model=ScriptedModel.from_data(json.loads(rules)))
    assert [(e.data["tool"], e.data["arguments"]) for e in result.events if e.kind == "tool_call"] == [
        ("forecast", {"city": "Oslo"})]


@pytest.mark.parametrize(("data", "message"), [
    ({"rules": [{"reply_text": "hi"}]}, r"rule 1: unknown keys \['reply_text'\]"),
    ({"rules": [{"contains": "x"}]}, "rule 1: give `reply`, `replies`, `json` or `tool_call`"),
    ({"rules": [{"matches": "(", "reply": "x"}]}, "bad regular expression in `matches`"),
    ({"rules": [], "default": 3}, "`default` is a string"),
])
def test_the_mistakes_the_page_names_are_refused(data: object, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        ScriptedModel.from_data(data)
