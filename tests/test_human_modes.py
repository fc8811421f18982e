"""`human_input: always | on_stop | never`: a person speaking for an LLM agent in chats and groups.

Each test runs a chat with the scripted model and a human callback that
records the questions it is asked and answers from a list, then checks the
questions, the conversation and the events.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from helpers import ROOT
from parley.compiler import compile_source
from parley.compiler import plan as p
from parley.dsl.errors import BudgetExceeded
from parley.runtime.scripted import ScriptedModel

import parley

RULES = {"rules": [{"system": "You review", "replies": ["Tighten it.", "APPROVED"]},
                   {"system": "You write", "replies": ["Draft one.", "Draft two.", "Draft three."]}]}


def script(writer: str = "", critic: str = "", until: str = 'critic says "APPROVED" or 6 turns', head: str = "") -> str:
    return (f'{head}agent writer:\n    """You write slogans."""\n{writer}'
            f'agent critic:\n    """You review slogans."""\n{critic}'
            f'r = chat writer, critic:\n    "Write a slogan for tea."\n    until {until}\n'
            'print r.turns\nprint r.stop_reason\n')


class Person:
    """A human callback that answers from a list (then presses enter) and records what it was asked."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, str]] = []

    def __call__(self, agent: str, prompt: str) -> str:
        self.asked.append((agent, prompt))
        return self.answers.pop(0) if self.answers else ""


class AsyncPerson(Person):
    """The same person, as a coroutine function (a host awaiting its own input)."""

    async def __call__(self, agent: str, prompt: str) -> str:  # type: ignore[override]
        await asyncio.sleep(0)
        return super().__call__(agent, prompt)


def run(source: str, person: Any, rules: dict[str, Any] | None = None, **options: Any) -> tuple[Any, ScriptedModel]:
    model = ScriptedModel.from_data(rules or RULES)
    return parley.compile(source, "t.agent").run(model=model, human=person, **options), model


def turns(result: Any) -> list[tuple[str, str]]:
    return [(e.data["agent"], e.data["text"]) for e in result.events if e.kind == "turn"]


def inputs(result: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.data.items() if k not in ("path", "seconds")} for e in result.events
            if e.kind == "human_input"]  # where in the run, and how long the person took: not these tests' concern


@pytest.mark.parametrize("setting", ["", "    human_input: never\n"])
def test_never_asks_nobody(setting: str) -> None:
    person = Person("should not be used")
    result, _ = run(script(writer=setting), person)
    assert person.asked == []
    assert turns(result) == [("writer", "Draft one."), ("critic", "Tighten it."), ("writer", "Draft two."),
                             ("critic", "APPROVED")]
    assert result.printed == ["4", "until condition met"]


@pytest.mark.parametrize("make", [Person, AsyncPerson], ids=["sync", "async"])
def test_always_asks_at_each_turn_and_typed_text_replaces_the_reply(make: type[Person]) -> None:
    person = make("", "Steep it, love it.")  # enter first: the model drafts; then the person writes the draft
    result, model = run(script(writer="    human_input: always\n"), person)
    assert person.asked == [
        ("writer", ("the script said: Write a slogan for tea.\n"
                   "Your reply as writer (enter: let writer answer, 'exit': end the chat)?")),
        ("writer", "critic said: Tighten it.\nYour reply as writer (enter: let writer answer, 'exit': end the chat)?"),
        ("writer", ("critic said: APPROVED\nThe chat would stop here (until condition met). "
                   "Your reply as writer, to go on (enter: let it stop)?")),
    ]
    assert turns(result) == [("writer", "Draft one."), ("critic", "Tighten it."), ("writer", "Steep it, love it."),
                             ("critic", "APPROVED")]
    assert result.printed == ["4", "until condition met"]
    # the critic reads the person's words as the writer's message; the writer's model was asked once
    assert model.requests[-1].messages[-1].content == "Steep it, love it."
    assert sum(1 for r in model.requests if "You write" in r.messages[0].content) == 1
    assert [(d["agent"], d["text"], d["mode"], d["conversation"]) for d in inputs(result)] == [
        ("writer", "", "always", "s1"), ("writer", "Steep it, love it.", "always", "s1"),
        ("writer", "", "on_stop", "s1")]
    assert result.usage["turns"] == 4


@pytest.mark.parametrize("word", ["exit", "  EXIT "])
def test_exit_ends_the_chat_at_the_agents_turn(word: str) -> None:
    person = Person("", word)
    result, _ = run(script(writer="    human_input: always\n"), person)
    assert turns(result) == [("writer", "Draft one."), ("critic", "Tighten it.")]
    assert result.printed == ["2", "a person ended it at writer's turn"]
    stop = [{k: v for k, v in e.data.items() if k != "path"} for e in result.events if e.kind == "conversation_stop"]
    assert stop == [{"reason": "a person ended it at writer's turn", "turns": 2}]


@pytest.mark.parametrize("make", [Person, AsyncPerson], ids=["sync", "async"])
def test_on_stop_asks_only_where_the_chat_would_stop_and_may_go_on(make: type[Person]) -> None:
    rules = {"rules": [{"system": "You review", "reply": "APPROVED"},
                       {"system": "You write", "replies": ["Draft one.", "Draft two."]}]}
    person = make("Make it rhyme.")
    result, model = run(script(writer="    human_input: on_stop\n"), person, rules)
    assert person.asked == [
        ("writer", ("critic said: APPROVED\nThe chat would stop here (until condition met). "
                   "Your reply as writer, to go on (enter: let it stop)?"))] * 2
    assert turns(result) == [("writer", "Draft one."), ("critic", "APPROVED"), ("writer", "Make it rhyme."),
                             ("critic", "APPROVED")]
    assert result.printed == ["4", "until condition met"]
    critic_view = model.requests[-1].messages
    assert (critic_view[-1].role, critic_view[-1].name, critic_view[-1].content) == ("user", "writer", "Make it rhyme.")
    assert [d["mode"] for d in inputs(result)] == ["on_stop", "on_stop"]


def test_on_stop_is_not_asked_to_answer_its_own_last_message() -> None:
    """In a chat, the person speaks for the member whose turn would be next: here the critic spoke
    last with the setting, so the writer would answer, and nobody is asked."""
    person = Person("never asked")
    result, _ = run(script(critic="    human_input: on_stop\n"), person)
    assert person.asked == [] and result.printed == ["4", "until condition met"]


def test_a_person_going_on_at_the_turn_limit_cannot_pass_twice_the_limit() -> None:
    person = Person(*["more"] * 10)
    result, _ = run(script(writer="    human_input: on_stop\n", until='critic says "NEVER" or 4 turns'), person,
                    {"rules": [], "default": "ok"})
    assert len(person.asked) == 2  # at 4 turns and at 6; at 8 (twice the limit) the chat stops
    assert [a for a, _ in turns(result)] == ["writer", "critic"] * 4
    assert [t for a, t in turns(result) if a == "writer"][2:] == ["more", "more"]
    assert result.printed == ["8", "turn limit (4 turns)"]
    assert "The chat would stop here (turn limit (4 turns))" in person.asked[0][1]


def test_a_persons_messages_count_toward_the_turn_budget() -> None:
    person = Person(*["more"] * 10)
    with pytest.raises(BudgetExceeded, match="turn budget .5 turns."):
        run(script(writer="    human_input: on_stop\n", until='critic says "NEVER" or 4 turns',
                   head="budget 5 turns\n"), person, {"rules": [], "default": "ok"})
    assert len(person.asked) == 1  # the 5th turn is the person's; the critic's reply to it is one too many


def test_on_stop_at_max_auto_replies_asks_for_the_agent_whose_turn_it_is() -> None:
    person = Person("By hand: Tea time.")
    result, _ = run(script(writer="    human_input: on_stop\n    max_auto_replies: 1\n"), person,
                    {"rules": [], "default": "Tighten it."})
    assert person.asked == [
        ("writer", ("critic said: Tighten it.\nThe chat would stop here (writer reached its max_auto_replies (1)). "
                   "Your reply as writer, to go on (enter: let it stop)?"))] * 2
    assert turns(result) == [("writer", "Tighten it."), ("critic", "Tighten it."), ("writer", "By hand: Tea time."),
                             ("critic", "Tighten it.")]
    assert result.printed == ["4", "writer reached its max_auto_replies (1)"]


def test_a_human_member_is_asked_a_question_and_enter_ends_the_chat() -> None:
    source = ('agent writer:\n    """You write slogans."""\nagent you is human\n'
              'r = chat writer, you:\n    "Write a slogan for tea."\n    until 6 turns\nprint r.stop_reason\n')
    person = Person("Shorter.")
    result, _ = run(source, person, {"rules": [], "default": "Tea, please."})
    assert person.asked == [("you", "writer said: Tea, please.\nYour reply (enter or 'exit': end the chat)?")] * 2
    assert turns(result) == [("writer", "Tea, please."), ("you", "Shorter."), ("writer", "Tea, please.")]
    assert result.printed == ["you ended it"]


def test_in_a_group_the_person_speaks_for_the_next_member_with_the_setting() -> None:
    source = ('agent a:\n    """You are A."""\nagent b:\n    """You are B."""\n    human_input: on_stop\n'
              'agent c:\n    """You are C."""\n'
              'g = group a, b, c:\n    "Plan a picnic."\n    select round_robin\n    until c says "DONE" or 9 turns\n'
              'print g.turns\n')
    person = Person("Bring lemonade.")
    result, _ = run(source, person, {"rules": [{"system": "You are C", "reply": "DONE"}], "default": "ok"})
    assert [a for a, _ in turns(result)] == ["a", "b", "c", "b", "c"]
    assert [a for a, _ in person.asked] == ["b", "b"]
    assert result.printed == ["5"]


# --- compiling the setting ---------------------------------------------------------------------

def errors(source: str) -> list[str]:
    result = compile_source(source, "t.agent")
    return [f"{d.span.line}: {d.code} {d.message} ({d.help})" for d in result.diagnostics if d.is_error]


def test_the_setting_is_a_bare_word_or_a_string_and_lands_in_the_plan() -> None:
    for written in ("on_stop", '"on_stop"'):
        result = compile_source(script(writer=f"    human_input: {written}\n"), "t.agent")
        assert result.plan is not None
        assert result.plan.agent("writer").settings.human_input == "on_stop"
        assert result.plan.agent("critic").settings.human_input is None


def test_a_bad_mode_or_a_non_llm_agent_is_refused_with_a_hint() -> None:
    assert errors(script(writer="    human_input: alwys\n")) == [
        "3: P223 `human_input` is one of always, on_stop, never (did you mean `always`?)"]
    assert errors(script(writer="    human_input: 3\n")) == [
        ("3: P223 `human_input` is one of always, on_stop, never (write `human_input: on_stop` "
        "(a person is asked when the conversation would stop))")]
    assert errors("agent you is human:\n    human_input: always\n") == [
        "2: P222 unknown setting `human_input` for a human agent (`human_input` is a setting of llm and executor agents)"]


def test_a_chat_where_a_person_may_speak_is_not_run_beside_another_human_ask() -> None:
    """Asking a person uses the console: the compiler keeps such a chat in order with other questions."""

    def body(setting: str) -> list[p.Step]:
        source = (f'agent a:\n    """A."""\n{setting}agent b:\n    """B."""\nagent h is human\n'
                  'r = chat a, b:\n    "Go."\n    until 2 turns\nq = @h "Your name?"\nprint "{r}{q}"\n')
        plan = compile_source(source, "t.agent").plan
        assert plan is not None
        return list(plan.body)

    assert isinstance(body("")[0], p.ConcurrentStep)
    assert not any(isinstance(s, p.ConcurrentStep) for s in body("    human_input: on_stop\n"))


# --- the example -------------------------------------------------------------------------------

def test_the_math_example_lets_a_person_send_the_assistant_back_to_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    person = Person("Check it with the formula.")  # then enter: the answer stands
    result = parley.load("examples/math_with_human.agent").run(
        model="scripted:examples/math_with_human.rules.json", human=person, allow_code=True)
    question = ("assistant said: The sum of the squares from 1 to 10 is 385. TERMINATE\n"
                "The chat would stop here (until condition met). Your reply as runner, to go on (enter: let it stop)?")
    assert person.asked == [("runner", question)] * 2
    assert [a for a, _ in turns(result)] == ["assistant", "runner", "assistant", "runner", "assistant", "runner",
                                             "assistant"]
    assert [t for a, t in turns(result) if a == "runner"] == ["exit code: 0\n385\n", "Check it with the formula.",
                                                              "exit code: 0\n385\n"]
    assert result.printed == ["The sum of the squares from 1 to 10 is 385. TERMINATE", "Turns taken: 7"]
