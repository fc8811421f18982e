"""`select handoff` (AutoGen's Swarm): members hand the conversation on with transfer tools the runtime offers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLES
from parley.compiler import handoffs as compiled
from parley.compiler.driver import compile_source
from parley.dsl.errors import BudgetExceeded, FailureKind, RunError
from parley.runtime import handoffs
from parley.runtime.models import ModelReply, ModelRequest, ToolCall, Usage
from parley.runtime.scripted import ScriptedModel
from parley.runtime.store import Store

import parley

HEADER = '''\
from python "json" import dumps

agent triage:
    """You route requests."""
    description: "Routes requests."

agent refunds:
    """You refund orders."""
    description: "Refunds orders."
    tools: dumps

agent billing:
    """You send invoices."""
    description: "Sends invoices."

agent customer is human
'''

DESK = HEADER + '''
desk = group triage, refunds, billing, customer:
    "Refund order 7, please."
    select handoff
    flow refunds -> customer | triage
    until anyone says "RESOLVED" or 12 turns
for m in desk.messages:
    print "{m.agent}: {m}"
print desk.stop_reason
'''

RULES = {"rules": [
    {"system": "route requests", "reply": "Passing you to refunds.", "tool_call": {"name": "transfer_to_refunds"}},
    {"system": "refund orders", "contains": "order 7 is", "after_tool": False,
     "tool_call": {"name": "dumps", "arguments": {"obj": "refund 7"}}},
    {"system": "refund orders", "contains": "order 7 is", "after_tool": True, "reply": "Refunded. Anything else?",
     "tool_call": {"name": "transfer_to_customer"}},
    {"system": "refund orders", "contains": "that's all", "reply": "Goodbye. RESOLVED"},
    {"system": "refund orders", "reply": "Which order exactly?", "tool_call": {"name": "transfer_to_customer"}},
]}


class Desk:
    """Runs the desk: counts the person's answers and the tool's runs, keeps the events."""

    def __init__(self, answers: tuple[str, ...] = ("The order 7 is the lamp.", "No, that's all.")) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []
        self.dumped = 0
        self.events: list[Any] = []

    def person(self, agent: str, prompt: str) -> str:
        self.asked.append(prompt)
        return self.answers.pop(0)

    def dumps(self, obj: Any) -> str:
        self.dumped += 1
        return json.dumps(obj)

    dumps.parley_journal = True  # type: ignore[attr-defined]  # it counts its runs: an outside effect, done once

    def run(self, program: Any, model: Any, **options: Any) -> Any:
        return program.run(model=model, human=self.person, tools={"dumps": self.dumps},
                           on_event=self.events.append, **options)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [dict(e.data) for e in self.events if e.kind == kind]


def offered(model: ScriptedModel, system: str) -> list[list[str]]:
    """The tools each request of the agent whose system message holds `system` offered, by name."""
    return [[t.name for t in r.tools] for r in model.requests
            if system in next((m.content for m in r.messages if m.role == "system"), "")]


def test_the_floor_moves_only_by_handoffs_and_a_person_gives_it_back() -> None:
    desk, model = Desk(), ScriptedModel.from_data(RULES)
    result = desk.run(parley.compile(DESK, "desk.agent"), model)
    assert result.printed == [
        "triage: Passing you to refunds.\n[triage hands the conversation to refunds]",
        "refunds: Which order exactly?\n[refunds hands the conversation to customer]",
        "customer: The order 7 is the lamp.",
        "refunds: Refunded. Anything else?\n[refunds hands the conversation to customer]",
        "customer: No, that's all.",
        "refunds: Goodbye. RESOLVED",
        "until condition met",
    ]
    assert [(h["agent"], h["to"]) for h in desk.of("handoff")] == [
        ("triage", "refunds"), ("refunds", "customer"), ("refunds", "customer")]
    assert all(h["conversation"] == "s1" for h in desk.of("handoff"))
    # the turn event has the model's own text; the thread keeps it with the handoff line
    assert desk.of("turn")[0]["text"] == "Passing you to refunds."
    assert desk.asked[0].startswith("refunds said: Which order exactly?\n[refunds hands the conversation to customer]")
    assert desk.dumped == 1


def test_each_member_is_offered_a_transfer_per_member_flow_allows() -> None:
    model = ScriptedModel.from_data(RULES)
    Desk().run(parley.compile(DESK, "desk.agent"), model)
    # no flow from triage: any other member; refunds: its own tool, then its flow's targets
    assert offered(model, "route requests")[0] == ["transfer_to_refunds", "transfer_to_billing", "transfer_to_customer"]
    assert offered(model, "refund orders")[0] == ["dumps", "transfer_to_triage", "transfer_to_customer"]
    triage = model.requests[0]
    spec = next(t for t in triage.tools if t.name == "transfer_to_billing")
    assert spec.description == "Hand the conversation to billing: Sends invoices."
    assert spec.parameters == {"type": "object", "properties": {}, "additionalProperties": False}
    assert compiled.transfer_tool("lib.desk") == handoffs.transfer_tool("lib.desk") == "transfer_to_lib__desk"


PING_PONG = HEADER + '''
desk = group triage, refunds:
    "Refund order 7, please."
    select handoff
    until anyone says "RESOLVED" or 5 turns
print desk.turns
print desk.stop_reason
'''


def test_handing_back_and_forth_ends_at_the_turn_limit() -> None:
    model = ScriptedModel.from_data({"rules": [
        {"system": "route requests", "tool_call": {"name": "transfer_to_refunds"}},
        {"system": "refund orders", "tool_call": {"name": "transfer_to_triage"}},
    ]})
    desk = Desk()
    result = desk.run(parley.compile(PING_PONG, "desk.agent"), model)
    assert result.printed == ["5", "turn limit (5 turns)"]
    assert [h["to"] for h in desk.of("handoff")] == ["refunds", "triage", "refunds", "triage", "refunds"]
    assert result.usage["turns"] == 5


def test_a_speaker_that_does_not_hand_off_keeps_the_floor() -> None:
    model = ScriptedModel.from_data({"rules": [{"system": "route requests", "replies": ["One.", "Two.", "RESOLVED"]}]})
    result = Desk().run(parley.compile(PING_PONG.replace("print desk.turns", "print desk.messages"), "d.agent"), model)
    assert result.printed[0] == '["One.", "Two.", "RESOLVED"]'
    assert len(model.requests) == 3  # triage, three times: refunds never spoke
    assert all("route requests" in r.messages[0].content for r in model.requests)
    assert [r.messages[-1].content for r in model.requests[1:]] == ["One.", "Two."]  # its own last message


class Replies:
    """A model that answers each request with the next of its replies (several tool calls in one)."""

    provider = "test"

    def __init__(self, *replies: ModelReply) -> None:
        self.replies = list(replies)
        self.requests: list[ModelRequest] = []

    async def complete(self, request: ModelRequest, on_token: Any = None) -> ModelReply:
        self.requests.append(request)
        return self.replies.pop(0) if self.replies else ModelReply(text="RESOLVED", usage=Usage(prompt_tokens=1, completion_tokens=1), model="m")


def calls(*names: str, arguments: str = "{}") -> ModelReply:
    return ModelReply(text="", tool_calls=tuple(ToolCall(id=f"c{i}", name=n, arguments=arguments)
                                                for i, n in enumerate(names)),
                      usage=Usage(prompt_tokens=1, completion_tokens=1), model="m", finish_reason="tool_calls")


def test_a_reply_with_a_transfer_and_other_calls_runs_them_then_hands_off_to_the_first() -> None:
    source = PING_PONG.replace('"""You route requests."""\n', '"""You route requests."""\n    tools: dumps\n', 1).replace(
        "group triage, refunds:", "group triage, refunds, billing:")
    model = Replies(
        ModelReply(text="", usage=Usage(prompt_tokens=1, completion_tokens=1), model="m", finish_reason="tool_calls", tool_calls=(
            ToolCall(id="a", name="transfer_to_billing", arguments="{}"),
            ToolCall(id="b", name="dumps", arguments='{"obj": 1}'),
            ToolCall(id="c", name="transfer_to_refunds", arguments="{}"),
        )),
    )
    desk = Desk()
    result = desk.run(parley.compile(source, "desk.agent"), model)
    assert desk.dumped == 1  # the other call ran, once
    assert desk.of("handoff") == [{"agent": "triage", "to": "billing", "conversation": "s1", "ignored": ["refunds"]}]
    assert result.printed == ["2", "until condition met"]  # billing spoke next, and ended it
    assert len(model.requests) == 2  # the handoff ended triage's turn: no round after the tools


def test_an_unknown_transfer_is_an_unknown_tool_and_the_speaker_keeps_the_floor() -> None:
    model = Replies(calls("transfer_to_nobody"), ModelReply(text="Sorry. RESOLVED", usage=Usage(prompt_tokens=1, completion_tokens=1), model="m"))
    desk = Desk()
    result = desk.run(parley.compile(PING_PONG, "desk.agent"), model)
    assert desk.of("handoff") == []
    assert desk.of("tool_error")[0]["tool"] == "transfer_to_nobody"
    assert "there is no tool `transfer_to_nobody`" in desk.of("tool_error")[0]["error"]
    assert result.printed == ["1", "until condition met"]
    assert model.requests[1].messages[-1].role == "tool"  # told, in the same turn


def test_a_member_that_cannot_call_tools_gets_no_transfers_and_a_first_person_passes_to_the_first_model() -> None:
    source = HEADER + '''
desk = group customer, billing, triage:
    "Start."
    select handoff
    until anyone says "RESOLVED" or 4 turns
print desk.messages
'''
    model = ScriptedModel.from_data({"rules": [{"system": "send invoices", "reply": "RESOLVED"}]})
    desk = Desk(("Hello.",))
    result = desk.run(parley.compile(source, "desk.agent"), model)
    assert result.printed == ['["Hello.", "RESOLVED"]']  # the person, then billing: the first that can hand off


def test_a_stopped_handoff_run_resumes_without_repeating_a_request_a_tool_or_a_question(tmp_path: Path) -> None:
    program = parley.compile(DESK, "desk.agent")
    baseline_desk = Desk()
    baseline = baseline_desk.run(program, ScriptedModel.from_data(RULES))
    store = Store(tmp_path / "runs.db")

    class Gone(Desk):
        def person(self, agent: str, prompt: str) -> str:
            if self.asked:  # the person answers once, then the input ends
                raise RunError(FailureKind.HUMAN, "the input has ended")
            return super().person(agent, prompt)

    stopped, stopped_model = Gone(), ScriptedModel.from_data(RULES)
    with pytest.raises(RunError) as failed:
        stopped.run(program, stopped_model, store=store)
    run_id = failed.value.result.run_id
    assert store.run(run_id)["status"] == "failed"
    assert stopped.dumped == 1 and len(stopped_model.requests) == 4  # triage, refunds, refunds' tool round, reply

    desk, model = Desk(("No, that's all.",)), ScriptedModel.from_data(RULES)
    resumed = desk.run(program, model, store=store, resume=run_id)
    assert resumed.printed == baseline.printed
    assert len(model.requests) == 1  # only refunds' goodbye: every earlier reply came from the journal
    assert [(h["agent"], h["to"]) for h in desk.of("handoff")] == [
        ("triage", "refunds"), ("refunds", "customer"), ("refunds", "customer")]  # the same handoffs, from the journal
    assert desk.dumped == 0 and len(desk.asked) == 1  # the tool is not run again; only the unanswered question
    assert store.run(run_id)["status"] == "done"


CHECKED = HEADER + 'agent runner is python "json:dumps"\n\n'


@pytest.mark.parametrize(("group", "codes"), [
    ("group customer, runner:\n    select handoff\n", ["P236"]),  # nobody can call a transfer tool
    ("group triage, refunds, billing:\n    select handoff\n    flow triage -> refunds, refunds -> triage\n",
     ["P237"]),  # billing: no edge leads to it
    ("group customer, triage, billing:\n    select handoff\n    flow triage -> customer, customer -> billing\n",
     []),  # billing is reached through the person's edge
    ("group customer, triage, billing:\n    select handoff\n    flow triage -> customer\n",
     ["P237"]),  # the person goes back to triage, who handed to them
    ("group runner, billing:\n    select handoff\n", []),  # the first member passes to the first model
])
def test_compile_checks(group: str, codes: list[str]) -> None:
    header, clauses = group.split("\n", 1)
    source = CHECKED + f'desk = {header}\n    "Hi."\n{clauses}    until anyone says "X" or 4 turns\n'
    found = [d for d in compile_source(source, "g.agent").diagnostics if d.code not in ("P243",)]
    assert [d.code for d in found] == codes, [str(d) for d in found]


def test_a_group_of_models_that_cannot_call_tools_is_refused() -> None:
    source = HEADER.replace('    description: "Refunds orders."\n    tools: dumps\n',
                            '    description: "Refunds orders."\n    max_tool_rounds: 0\n')
    source += 'desk = group refunds, customer:\n    "Hi."\n    select handoff\n    until anyone says "X" or 4 turns\n'
    found = compile_source(source, "g.agent").diagnostics
    assert [d.code for d in found] == ["P236"]
    assert found[0].message == "no member of this group can hand off"


@pytest.mark.local
def test_the_embedded_model_calls_transfer_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its grammar-constrained tool calls include the transfer tools: the swarm example hands off, within `flow`."""
    import importlib.util

    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("xllamacpp is not installed: install the parley-lang[local] extra")
    from parley.runtime.local_model import LocalModel

    monkeypatch.chdir(tmp_path)
    desk = Desk(("It is A1002.", "No, that's all."))
    program = parley.load(EXAMPLES / "swarm.agent")
    with pytest.raises(BudgetExceeded):  # a small model does not finish the job in 4 turns
        program.run(model=LocalModel(), human=desk.person, on_event=desk.events.append, limits={"turns": 4})
    handed = [(h["agent"], h["to"]) for h in desk.of("handoff")]
    assert handed, "the embedded model handed off at least once"
    allowed = {"triage": {"refunds", "billing", "customer"}, "refunds": {"customer", "triage"},
               "billing": {"customer", "triage"}}
    assert all(to in allowed[source] for source, to in handed)
