"""`chat` and `group`: members take turns until the `until` condition holds or the turn limit.

Who sees what: the opening is a message from the script that every member
sees; each member sees its own messages as its own (`assistant`) and the
others' as `user` messages named by their speaker.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from parley.compiler import plan as p
from parley.runtime.agents import ask_person
from parley.runtime.bounds import MAX_REPLY_BYTES, clip, loads
from parley.runtime.evaluate import Frame, evaluate, show, text
from parley.runtime.models import Message, ModelRequest
from parley.runtime.people import EXIT, People
from parley.runtime.replies import origin
from parley.runtime.values import Said, Thread

if TYPE_CHECKING:
    from parley.runtime.context import StepContext
    from parley.runtime.executor import Executor

SELECT_RETRIES = 2


def view(thread: Thread, member: str, opening: str) -> list[Message]:
    """The conversation as `member` sees it."""
    messages = [Message(role="user", content=opening, name="script")]
    for said in thread.messages:
        if said.speaker == member:
            messages.append(Message(role="assistant", content=said.text))
        else:
            messages.append(Message(role="user", content=said.text, name=_name(said.speaker)))
    return messages


def _name(speaker: str) -> str:
    return speaker.replace(".", "_")


async def converse(step: p.ChatStep | p.GroupStep, frame: Frame, run: Executor) -> Thread:
    """Run a chat or group to its end; the thread records why it stopped. A person may speak for an
    agent, at its turns or where the conversation would stop (`human_input`: people.py)."""
    opening = show(await evaluate(step.opening, frame, run))
    thread = Thread(members=list(step.members))
    chooser = _Chooser(step, run, frame.context)
    people = People(step, run, frame.context, opening)
    speaker: str | None = None
    replies: dict[str, int] = {}
    while True:
        stop: str | None = None  # why the conversation would stop here
        due: str | None = None  # whose turn it was, when it would stop at an agent's turn
        if thread.turns >= people.max_turns:
            stop = f"turn limit ({step.max_turns} turns)"
        else:
            speaker = await chooser.next(thread, speaker, opening, frame)
            agent = run.plan.agent(speaker)
            limit = agent.settings.max_auto_replies
            if limit is not None and replies.get(speaker, 0) >= limit:
                stop, due = f"{speaker} reached its max_auto_replies ({limit})", speaker
            elif agent.agent_kind == "human":
                if not await people.human_turn(speaker, thread):
                    thread.stop_reason = f"{speaker} ended it"  # the ending word is not part of the conversation
                    break
            else:
                typed = await people.before_turn(speaker, thread)
                if typed == EXIT:
                    thread.stop_reason = f"a person ended it at {speaker}'s turn"
                    break
                if typed is None:  # the agent replies itself
                    replies[speaker] = replies.get(speaker, 0) + 1
                    said, reply = await run.reply(agent, view(thread, speaker, opening), frame.context)
                    tokens, cost = (reply.usage.total_tokens, reply.cost) if reply is not None else (0, 0.0)
                    if reply is not None:
                        thread.usage = thread.usage + reply.usage
                        thread.cost += cost
                    thread.messages.append(Said(speaker=speaker, text=said, tokens=tokens, cost=cost))
                    run.emit("turn", step, agent=speaker, text=said, conversation=step.id, **origin(reply))
            if stop is None and step.until is not None and await holds(step.until, thread, frame, run):
                by_turns = not await holds(step.until, thread, frame, run, count_turns=False)
                stop = f"turn limit ({step.max_turns} turns)" if by_turns else "until condition met"
        if stop is not None:
            went_on = await people.at_stop(thread, stop, speaker, due)
            if went_on is None:
                thread.stop_reason = stop
                break
            speaker = went_on  # a person spoke for `went_on`: the next member answers them
    run.emit("conversation_stop", step, reason=thread.stop_reason, turns=thread.turns)
    return thread


async def holds(condition: p.Condition, thread: Thread, frame: Frame, run: Executor,
                count_turns: bool = True) -> bool:
    """Whether an `until` condition holds after the last message (`count_turns` False: whether it
    holds for another reason than a turn count)."""
    match condition:
        case p.TurnsCondition():
            return count_turns and thread.turns >= condition.count
        case p.SaysCondition():
            last = thread.messages[-1]
            wanted = await text(condition.text, frame, run)
            return (condition.agent is None or last.speaker == condition.agent) and wanted in last.text
        case p.UsageCondition():
            limit = await evaluate(condition.limit, frame, run)
            current = {"tokens": thread.tokens, "cost": thread.cost, "time": run.budget.elapsed}[condition.metric]
            return bool(current > limit)
        case p.ProseCondition():
            return await run.judge(await text(condition.text, frame, run), thread, frame.context)
        case p.BoolCondition():
            left = await holds(condition.left, thread, frame, run, count_turns)
            if condition.op == "and":
                return left and await holds(condition.right, thread, frame, run, count_turns)
            return left or await holds(condition.right, thread, frame, run, count_turns)
        case _:
            p.assert_never(condition)


class _Chooser:
    """Who speaks next: alternation for a chat, the `select` mode (within `flow`) for a group."""

    def __init__(self, step: p.ChatStep | p.GroupStep, run: Executor, at: StepContext) -> None:
        self.step = step
        self.run = run
        self.at = at
        seed = step.seed if isinstance(step, p.GroupStep) and step.seed is not None else run.seed
        self.random = random.Random(seed)

    def allowed(self, previous: str | None) -> list[str]:
        members = list(self.step.members)
        if isinstance(self.step, p.GroupStep) and previous is not None:
            for edge in self.step.flow:
                if edge.source == previous:
                    return [m for m in members if m in edge.targets]
        return [m for m in members if m != previous] or members

    async def next(self, thread: Thread, previous: str | None, opening: str, frame: Frame) -> str:
        members = list(self.step.members)
        if previous is None:
            return members[0]  # the first member listed answers the opening, whatever the mode
        candidates = self.allowed(previous)
        if isinstance(self.step, p.ChatStep) or self.step.select == "round_robin":
            start = members.index(previous) + 1 if previous in members else 0
            ordered = members[start:] + members[:start]
            return next(m for m in ordered if m in candidates)
        if self.step.select == "random":
            pick = self.random.choice(candidates)  # drawn always, so a seeded sequence stays the same

            async def draw() -> str:
                return pick

            return str(await self.run.journal.effect("choice", candidates, draw, self.at))
        if self.step.select == "manual":
            return await self._ask_person(candidates)
        return await self._ask_model(candidates, thread, opening)

    async def _ask_person(self, candidates: list[str]) -> str:
        for _ in range(SELECT_RETRIES + 1):
            answer = await ask_person(self.run.human, self.run.journal, self.run.emit, "selector",
                                      f"Who speaks next? ({', '.join(candidates)})", self.at)
            if answer.strip() in candidates:
                return answer.strip()
        return candidates[0]

    async def _ask_model(self, candidates: list[str], thread: Thread, opening: str) -> str:
        assert isinstance(self.step, p.GroupStep)
        agents = [self.run.plan.agent(m) for m in candidates]
        roles = "\n".join(f"- {a.name}: {a.description or a.name}" for a in agents)
        history = "\n".join(f"{s.speaker}: {s.text}" for s in thread.messages[-10:]) or "(nobody has spoken yet)"
        prompt = (f"You choose who speaks next in a group conversation.\nTask: {opening}\nMembers:\n{roles}\n"
                  f"Conversation so far:\n{history}\nReply with the name of the next speaker only.")
        client, model_id, _ = self.run.clients.for_selection(self.step.manager, agents[0])
        schema = {"type": "object", "properties": {"speaker": {"type": "string", "enum": candidates}},
                  "required": ["speaker"], "additionalProperties": False}
        for attempt in range(SELECT_RETRIES + 1):
            request = ModelRequest(
                model=model_id, messages=(Message(role="user", content=prompt),), temperature=0,
                response_format={"type": "json_schema", "json_schema": {"name": "speaker", "schema": schema}},
            )
            reply = await self.run.request(client, request, None, self.at)
            chosen = _speaker(reply.text, candidates)
            if chosen is not None:
                return chosen
            self.run.emit("retry", self.step, what="speaker selection", attempt=attempt + 1, reply=clip(reply.text))
        return candidates[0]


def _speaker(reply: str, candidates: list[str]) -> str | None:
    text_reply = reply.strip()
    try:
        data = loads(text_reply, "the reply", MAX_REPLY_BYTES)  # bounded: a model wrote it
        if isinstance(data, dict):
            text_reply = str(data.get("speaker", ""))
    except ValueError:
        pass
    cleaned = text_reply.strip().strip("@").strip(".").strip()
    return cleaned if cleaned in candidates else None
