"""What a turn does that grows with the history: each member's view is kept from turn to turn, and a
request is hashed for the journal only when a run store keeps (or compares) it."""

from __future__ import annotations

from typing import Any

import pytest
from fake_openai import fake_openai_fixture  # noqa: F401  (registers the `fake_openai` fixture)
from parley.runtime import journal
from parley.runtime.store import Store

import parley

TURNS = 7


def chat(base_url: str, members: str = "a, b, c") -> parley.Program:
    names = [m.strip() for m in members.split(",")]
    agents = "".join(f'agent {n}:\n    """You are {n}."""\n' for n in names)
    kind, select = ("group", "    select round_robin\n") if len(names) > 2 else ("chat", "")
    return parley.compile(f'model m = openai("gpt-4o-mini", base_url="{base_url}", max_retries=0)\n'
                          f"default model m\n{agents}{kind} {members}:\n    \"Plan a trip.\"\n{select}"
                          f"    until {TURNS} turns\n", "turns.agent")


def seen_by(member: str, said: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The conversation as `member` should see it, made from scratch."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Plan a trip.", "name": "script"}]
    for speaker, text in said:
        messages.append({"role": "assistant", "content": text} if speaker == member
                        else {"role": "user", "content": text, "name": speaker})
    return messages


def test_every_turn_sends_the_whole_conversation_as_its_member_sees_it(fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.handler = lambda body: f"Reply {len(fake_openai.requests)}."
    result = chat(fake_openai.base_url).run()
    turns = [e for e in result.events if e.kind == "turn"]
    assert [e.data["agent"] for e in turns] == ["a", "b", "c", "a", "b", "c", "a"]
    said = [(e.data["agent"], e.data["text"]) for e in turns]
    for number, body in enumerate(fake_openai.requests):
        speaker = said[number][0]
        assert body["messages"][0] == {"role": "system", "content": f"You are {speaker}."}
        assert body["messages"][1:] == seen_by(speaker, said[:number]), number


def test_a_run_without_a_store_hashes_no_request(fake_openai, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    hashed: list[Any] = []
    real = journal.digest
    monkeypatch.setattr(journal, "digest", lambda data: hashed.append(data) or real(data))
    fake_openai.handler = lambda body: "Fine."
    program = chat(fake_openai.base_url, "a, b")
    program.run()
    assert hashed == []
    store = Store(tmp_path / "runs.db")
    program.run(store=store)
    assert len(hashed) == TURNS  # recorded: each model request is hashed once, as the model request it was
    kind, request = hashed[0]
    assert kind == "model" and request["model"] == "gpt-4o-mini" and request["messages"][1]["name"] == "script"
