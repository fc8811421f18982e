"""`chat` and `group`: members take turns until the `until` condition holds or the turn limit.

Who sees what: the opening is a message from the script that every member
sees; each member sees its own messages as its own (`assistant`) and the
others' as `user` messages named by their speaker.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from parley.compiler import plan as p
from parley.runtime.agent_values import with_held_members
from parley.runtime.agents import ask_person
from parley.runtime.bounds import MAX_REPLY_BYTES, clip, loads
from parley.runtime.evaluate import Frame, evaluate, show, text, truthy
from parley.runtime.handoffs import Floor
from parley.runtime.models import Message, ModelRequest
from parley.runtime.people import EXIT, People
from parley.runtime.python_thread import speaker_name
from parley.runtime.turn_bounds import settle
from parley.runtime.replies import origin
from parley.runtime.select_by import pick_by
from parley.runtime.values import Said, Thread

if TYPE_CHECKING:
    from parley.runtime.context import StepContext
    from parley.runtime.executor import Executor

SELECT_RETRIES = 2
#: The first line of the prompt `select auto` sends; `select auto(prompt=TEXT)` replaces it.
SELECT_INSTRUCTION = "You choose who speaks next in a group conversation."


class Views:
    """The conversation as each member sees it, kept from turn to turn: a turn sends the whole history,
    and making each message of it again every turn would cost time in proportion to its length."""

    def __init__(self, thread: Thread, opening: str) -> None:
        self.thread = thread
        self.opening = opening
        self._seen: dict[str, tuple[list[Message], int]] = {}  # a member's view, and how many messages it has

    def of(self, member: str) -> list[Message]:
        """The conversation as `member` sees it (a list of its own: the caller may change it)."""
        said = self.thread.messages
        kept = self._seen.get(member)
        if kept is None or kept[1] > len(said):  # a thread only grows; rebuilt if it ever did not
            kept = [Message(role="user", content=self.opening, name="script")], 0
        messages, count = kept
        messages.extend(_seen_by(member, s) for s in said[count:])
        self._seen[member] = (messages, len(said))
        return list(messages)


def _seen_by(member: str, said: Said) -> Message:
    """One message as `member` sees it: its own as `assistant`, the others' as `user` named by their speaker."""
    if said.speaker == member:
        return Message(role="assistant", content=said.text)
    return Message(role="user", content=said.text, name=_name(said.speaker))


def _name(speaker: str) -> str:
    return speaker_name(speaker)


async def converse(step: p.ChatStep | p.GroupStep, frame: Frame, run: Executor) -> Thread:
    """Run a chat or group to its end; the thread records why it stopped. A person may speak for an
    agent, at its turns or where the conversation would stop (`human_input`: people.py)."""
    step = await with_held_members(step, frame, run)  # `chat player, judge:`: the agents they hold now
    opening = show(await evaluate(step.opening, frame, run))
    until, turn_limit = await settle(step, frame, run)
    thread = Thread(members=list(step.members))
    views = Views(thread, opening)
    chooser = _Chooser(step, run, frame.context)
    people = People(step, run, frame.context, opening, turn_limit)
    run.emit("conversation_start", frame.context, conversation=step.id, members=list(step.members),
             max_turns=people.max_turns, select=step.select if isinstance(step, p.GroupStep) else None)
    speaker: str | None = None
    replies: dict[str, int] = {}
    while True:
        stop: str | None = None  # why the conversation would stop here
        due: str | None = None  # whose turn it was, when it would stop at an agent's turn
        if thread.turns >= people.max_turns:
            stop = f"turn limit ({turn_limit} turns)"
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
                    transfers = chooser.floor.offer(speaker) if chooser.floor is not None else None
                    said, reply = await run.reply(agent, views.of(speaker), frame.context, transfers=transfers)
                    tokens, cost = (reply.usage.total_tokens, reply.cost) if reply is not None else (0, 0.0)
                    if reply is not None:
                        thread.usage = thread.usage + reply.usage
                        thread.cost += cost
                    kept = chooser.floor.kept(speaker, said, transfers) if chooser.floor is not None else said
                    thread.messages.append(Said(speaker=speaker, text=kept, tokens=tokens, cost=cost))
                    run.emit("turn", frame.context, agent=speaker, text=said, conversation=step.id, **origin(reply))
                    if chooser.floor is not None:
                        chooser.floor.record(speaker, transfers)  # a handoff passes the floor
            # After each message, `until` is checked: its expressions are evaluated again each time.
            if stop is None and until is not None:
                met, otherwise = await holds(until, thread, frame, run)
                if met:
                    stop = "until condition met" if otherwise else f"turn limit ({turn_limit} turns)"
        if stop is not None:
            went_on = await people.at_stop(thread, stop, speaker, due)
            if went_on is None:
                thread.stop_reason = stop
                break
            speaker = went_on  # a person spoke for `went_on`: the next member answers them
    run.emit("conversation_stop", frame.context, reason=thread.stop_reason, turns=thread.turns)
    return thread


async def holds(condition: p.Condition, thread: Thread, frame: Frame, run: Executor) -> tuple[bool, bool]:
    """Whether an `until` condition holds after the last message, and whether it holds for another
    reason than a turn count. Each part is evaluated at most once (a def, a Python function or a
    model judging a prose condition is asked once per check)."""
    match condition:
        case p.TurnsCondition():
            return thread.turns >= condition.count, False
        case p.SaysCondition():
            last = thread.messages[-1]
            wanted = await text(condition.text, frame, run)
            met = (condition.agent is None or last.speaker == condition.agent) and wanted in last.text
        case p.UsageCondition():
            limit = await evaluate(condition.limit, frame, run)
            current = {"tokens": thread.tokens, "cost": thread.cost, "time": run.budget.elapsed}[condition.metric]
            met = bool(current > limit)
        case p.ProseCondition():
            met = await run.judge(await text(condition.text, frame, run), thread, frame.context)
        case p.ExprCondition():
            met = truthy(await evaluate(condition.test, frame, run))
        case p.BoolCondition():
            left, left_otherwise = await holds(condition.left, thread, frame, run)
            if condition.op == "and":
                if not left:
                    return False, False
                right, right_otherwise = await holds(condition.right, thread, frame, run)
                return right, left_otherwise and right_otherwise
            if left_otherwise:
                return True, True
            right, right_otherwise = await holds(condition.right, thread, frame, run)
            return left or right, right_otherwise
        case _:
            p.assert_never(condition)
    return met, met


class _Chooser:
    """Who speaks next: alternation for a chat, the `select` mode (within `flow`) for a group."""

    def __init__(self, step: p.ChatStep | p.GroupStep, run: Executor, at: StepContext) -> None:
        self.step = step
        self.run = run
        self.at = at
        seed = step.seed if isinstance(step, p.GroupStep) and step.seed is not None else run.seed
        self.random = random.Random(seed)
        # `select handoff`: who holds the floor (runtime/handoffs.py)
        self.floor = Floor(step, run) if isinstance(step, p.GroupStep) and step.select == "handoff" else None

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
        if self.floor is not None:
            return self.floor.next(previous)
        candidates = self.allowed(previous)
        if isinstance(self.step, p.GroupStep) and self.step.select_by is not None:
            flowed = any(edge.source == previous for edge in self.step.flow)  # else anyone may follow anyone
            allowed = candidates if flowed else members
            picked = await pick_by(self.step, self.step.select_by, thread, opening, allowed, self.run, self.at)
            if picked is not None:
                return picked
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
        instruction = SELECT_INSTRUCTION
        if self.step.select_prompt is not None:
            instruction = show(await evaluate(self.step.select_prompt, frame, self.run))
        return await self._ask_model(candidates, thread, opening, instruction)

    async def _ask_person(self, candidates: list[str]) -> str:
        for _ in range(SELECT_RETRIES + 1):
            answer = await ask_person(self.run.human, self.run.journal, self.run.emit, "selector",
                                      f"Who speaks next? ({', '.join(candidates)})", self.at)
            if answer.strip() in candidates:
                return answer.strip()
        return candidates[0]

    async def _ask_model(self, candidates: list[str], thread: Thread, opening: str, instruction: str) -> str:
        assert isinstance(self.step, p.GroupStep)
        agents = [self.run.plan.agent(m) for m in candidates]
        roles = "\n".join(f"- {a.name}: {a.description or a.name}" for a in agents)
        history = "\n".join(f"{s.speaker}: {s.text}" for s in thread.messages[-10:]) or "(nobody has spoken yet)"
        prompt = (f"{instruction}\nTask: {opening}\nMembers:\n{roles}\n"
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
            self.run.emit("retry", self.at, what="speaker selection", attempt=attempt + 1, reply=clip(reply.text))
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
