"""Handoffs (`select handoff`, AutoGen's Swarm): a member hands the conversation on by calling a tool.

The first member listed answers the opening. A member keeps the floor until it
hands off: each LLM member is offered, beside its own tools, `transfer_to_NAME`
for each member it may hand to (the `flow` edges from it, else every other
member), and calling one ends its turn and gives the floor to NAME. A member
that cannot call tools (a person, an executor, a python agent, a `reply by`
def) speaks once and gives the floor back to the member that handed it to it,
when its `flow` edges allow that, else to the first member they allow that can
hand off (the first member listed that can, without edges).

A reply that calls a transfer tool and other tools runs the other calls (their
results stay within the turn, as all tool results do) and then hands off; of
several transfer calls in one reply the first is followed and the others are
not. The thread keeps the reply's text with a line saying who took over
(`handed_text`), as every member sees it; the `turn` event has the reply's own
text, and a `handoff` event follows it.

A handoff is read from the model's reply, and model replies are journaled: a
resumed run gets the same reply and hands to the same member, so a handoff
needs no journal entry of its own (the other tool calls are journaled as tools).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
from parley.compiler import plan as p
from parley.runtime.models import ToolCall, ToolSpec
from parley.runtime.tools import tool_name

if TYPE_CHECKING:
    from parley.runtime.executor import Executor

#: The name of the tool that hands the conversation to a member: PREFIX + the member's tool-safe name.
PREFIX = "transfer_to_"
#: A transfer tool takes no arguments: what the next member should know goes in the reply's text.
NO_ARGUMENTS: dict[str, object] = {"type": "object", "properties": {}, "additionalProperties": False}


def can_hand_off(agent: p.AgentDecl) -> bool:
    """Whether the agent's replies come from a model that may call tools, so a transfer tool."""
    return agent.agent_kind == "llm" and agent.reply_by is None and agent.settings.max_tool_rounds != 0


def transfer_tool(member: str) -> str:
    """The tool that hands the conversation to `member`."""
    return PREFIX + tool_name(member)


def targets(step: p.GroupStep, member: str) -> tuple[str, ...]:
    """Whom `member` may hand to, in the order the group lists them: its `flow` edges (all of
    them: several edges from one member add up), else every other member."""
    edges = [e for e in step.flow if e.source == member]
    allowed = {t for e in edges for t in e.targets} if edges else set(step.members)
    return tuple(m for m in step.members if m in allowed and m != member)


@attrs.define
class Transfers:
    """The transfer tools one turn offers (tool name → member), and the member it handed to, if any."""

    tools: dict[str, str]
    specs: tuple[ToolSpec, ...]
    chosen: str | None = None
    ignored: tuple[str, ...] = ()  # members that further transfer calls of the same reply named

    def requested(self, calls: tuple[ToolCall, ...]) -> bool:
        """Whether the reply hands off; records to whom (the first transfer call's member)."""
        named = [self.tools[c.name] for c in calls if c.name in self.tools]
        if not named:
            return False
        self.chosen, self.ignored = named[0], tuple(named[1:])
        return True

    def others(self, calls: tuple[ToolCall, ...]) -> tuple[ToolCall, ...]:
        """The reply's calls that are not transfers: they run before the handoff."""
        return tuple(c for c in calls if c.name not in self.tools)


def handed_text(text: str, member: str, target: str) -> str:
    """What the thread keeps of a turn that handed off: the reply's text, then who took over."""
    note = f"[{member} hands the conversation to {target}]"
    return f"{text.rstrip()}\n{note}" if text.strip() else note


class Floor:
    """Who holds the floor of a `select handoff` group, and what each turn is offered."""

    def __init__(self, step: p.GroupStep, run: Executor) -> None:
        self.step = step
        self.run = run
        self.pending: str | None = None  # the member the last turn handed to
        self.handed_by: dict[str, str] = {}  # member → who last handed the floor to it

    def next(self, previous: str) -> str:
        """The next speaker after `previous` (the first member answers the opening: see `_Chooser`)."""
        if self.pending is not None:
            chosen, self.pending = self.pending, None
            return chosen
        if can_hand_off(self.run.plan.agent(previous)):
            return previous  # it keeps the floor until it hands off
        allowed = targets(self.step, previous)  # who may follow it: its `flow` edges, else anyone
        back = self.handed_by.get(previous)
        if back in allowed:
            return back
        return next((m for m in allowed if can_hand_off(self.run.plan.agent(m))), allowed[0] if allowed else previous)

    def offer(self, speaker: str) -> Transfers | None:
        """The transfer tools `speaker` is offered this turn (None for a member that calls no tools)."""
        if not can_hand_off(self.run.plan.agent(speaker)):
            return None
        tools: dict[str, str] = {}
        specs = []
        for member in targets(self.step, speaker):
            agent = self.run.plan.agent(member)
            name = transfer_tool(member)
            tools[name] = member
            about = agent.description or member
            specs.append(ToolSpec(name=name, description=f"Hand the conversation to {member}: {about}",
                                  parameters=dict(NO_ARGUMENTS)))
        return Transfers(tools=tools, specs=tuple(specs)) if specs else None

    def kept(self, speaker: str, said: str, transfers: Transfers | None) -> str:
        """What the thread keeps of `speaker`'s turn: what it said, and whom it handed to."""
        if transfers is None or transfers.chosen is None:
            return said
        return handed_text(said, speaker, transfers.chosen)

    def record(self, speaker: str, transfers: Transfers | None) -> None:
        """After the turn's message: a handoff passes the floor (and is an event)."""
        if transfers is None or transfers.chosen is None:
            return
        target = transfers.chosen
        self.pending = target
        self.handed_by[target] = speaker
        self.run.emit("handoff", self.step, agent=speaker, to=target, conversation=self.step.id,
                      ignored=list(transfers.ignored))


__all__ = ["PREFIX", "Floor", "Transfers", "can_hand_off", "handed_text", "targets", "transfer_tool"]
