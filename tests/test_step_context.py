"""Each step runs with its own `StepContext`: what one step (or a concurrent group) set never leaks into
the steps after it. Regression tests for state once kept in context variables that were never reset."""

from __future__ import annotations

from typing import Any

import pytest
from parley.runtime.scripted import ScriptedModel

import parley

AGENTS = 'agent writer:\n    """You write."""\nagent critic:\n    """You review drafts."""\n'


def run(source: str, rules: dict[str, Any], **options: Any) -> Any:
    return parley.compile(AGENTS + source, "t.agent").run(model=ScriptedModel.from_data(rules), **options)


@pytest.mark.parametrize("group", [
    "parallel:\n    a = @writer One.\n    b = @critic Two.\n",
    "a = @writer One.\nb = @critic Two.\n",  # independent asks: the plan runs them at once
], ids=["parallel-block", "concurrent-asks"])
def test_replies_stream_again_after_a_concurrent_group(group: str) -> None:
    source = group + "print a + b\nc = @writer Three {a}.\nprint c\n" + group + "d = @critic Four {c}.\nprint d\n"
    rules = {"rules": [{"contains": "Three", "reply": "third reply"}, {"contains": "Four", "reply": "fourth one"}],
             "default": "not streamed"}
    pieces: list[tuple[str, str]] = []
    result = run(source, rules, stream=lambda agent, piece: pieces.append((agent, piece)))
    assert result.printed == ["not streamednot streamed", "third reply", "fourth one"]
    assert pieces == [("writer", "third "), ("writer", "reply"), ("critic", "fourth "), ("critic", "one")]
    started = [(e.line, e.data["streamed"]) for e in result.events if e.kind == "reply_start"]  # beside others too
    turns = [(e.line, e.data["text"] != "not streamed") for e in result.events if e.kind == "turn"]
    assert sorted(started) == sorted(turns) and [s for s in started if s[1]] == [t for t in turns if t[1]]


def test_an_ask_in_a_while_condition_is_reported_at_the_while_on_every_round() -> None:
    source = ('n = 0\n'                                    # line 5
              'while not @critic? "Done {n}?" max 5:\n'   # line 6
              '    n += 1\n'                              # line 7
              '    w = @writer Draft {n}.\n'              # line 8: an ask in the body, between the rounds
              '    print w\n'                             # line 9
              'print "end {n}"\n')
    rules = {"rules": [{"contains": "Done 3", "reply": "yes"}, {"contains": "Done", "reply": "no"}],
             "default": "draft"}
    result = run(source, rules)
    assert result.printed == ["draft", "draft", "draft", "end 3"]
    by_agent: dict[str, set[tuple[str | None, int | None]]] = {}
    for event in result.events:
        if event.kind in ("reply_start", "model_call", "turn"):
            by_agent.setdefault(event.data["agent"], set()).add((event.step, event.line))
    asks = [e for e in result.events if e.kind == "turn" and e.data["agent"] == "critic"]
    assert len(asks) == 4  # the condition was asked on four rounds
    (while_step, while_line), = by_agent["critic"]
    assert while_line == 6
    (body_step, body_line), = by_agent["writer"]
    assert body_line == 8 and body_step != while_step
