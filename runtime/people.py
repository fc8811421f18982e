"""A person in a chat or group: a human agent's turn, and a person speaking for an agent (`human_input`).

The `human_input` setting of an LLM or executor agent says when the run's
`human` callback is asked to reply in its place (AutoGen's
`human_input_mode`; an executor with it is AutoGen's `UserProxyAgent`):

- `always`: at each of the agent's turns, first. Typed text is sent as the
  agent's message; an empty answer lets the model reply; `exit` ends the
  conversation.
- `on_stop`: when the conversation would stop (its `until` holds, its turn
  limit is reached, or the agent reached its `max_auto_replies`). Typed text
  is sent as the agent's message and the conversation goes on; an empty
  answer or `exit` lets it stop. (`always` asks there too.)
- `never` (the default): never.

Bounds: every message a person sends is a turn (of the run's turn budget and
of the conversation). A person going on past the turn limit allows one more
reply each time, and never beyond twice the limit, so a host callback that
always answers cannot keep a conversation going forever.

Each question says who spoke last and what they said, then what the answer
does, so it reads on its own at a terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parley.compiler import plan as p
from parley.runtime.agents import ask_person
from parley.runtime.events import EventKind
from parley.runtime.values import Said, Thread

if TYPE_CHECKING:
    from parley.runtime.context import StepContext
    from parley.runtime.executor import Executor

#: What a person types to end a conversation (any case, surrounding spaces ignored).
EXIT = "exit"
#: How far a person may take a conversation past its turn limit: this many times the limit, in all.
EXTENSION_FACTOR = 2


class People:
    """The people of one chat or group: asks them, sends what they type, and keeps the turn limit."""

    def __init__(self, step: p.ChatStep | p.GroupStep, run: Executor, at: StepContext, opening: str,
                 limit: int | None = None) -> None:
        self.step = step
        self.run = run
        self.at = at
        self.opening = opening
        self.max_turns = step.max_turns if limit is None else limit
        """The turn limit now: a person going on past it raises it by one reply at a time."""
        self.cap = EXTENSION_FACTOR * self.max_turns

    def mode(self, name: str) -> p.HumanInputMode:
        decl = self.run.plan.agent(name)
        return (decl.settings.human_input or "never") if decl.agent_kind in ("llm", "executor") else "never"

    async def human_turn(self, name: str, thread: Thread) -> bool:
        """A human agent's turn: False when the person ended the conversation (enter or `exit`)."""
        self.run.budget.reserve_turn()
        said_by, text = self._last(thread)
        answer = await self._ask(name, f"{said_by} said: {text}\nYour reply (enter or '{EXIT}': end the chat)?")
        if _ends(answer):
            self.run.budget.give_back_turn()  # the answer that ends the chat is no message: no turn
            return False
        self._send(thread, name, answer)
        return True

    async def before_turn(self, name: str, thread: Thread) -> str | None:
        """With `always`, the person is asked first: what they typed (sent as `name`'s message), `EXIT`,
        or None to let the model reply."""
        if self.mode(name) != "always":
            return None
        self.run.budget.check()
        said_by, text = self._last(thread)
        answer = await self._ask(name, f"{said_by} said: {text}\nYour reply as {name} "
                                       f"(enter: let {name} answer, '{EXIT}': end the chat)?", "always")
        if answer.strip().lower() == EXIT:
            return EXIT
        if not answer.strip():
            return None
        self.run.budget.reserve_turn()
        self._send(thread, name, answer)
        return answer

    async def at_stop(self, thread: Thread, reason: str, previous: str | None, due: str | None) -> str | None:
        """The conversation would stop for `reason`: a person may go on, speaking for `due` (the agent
        whose turn it is) or else for the next member after `previous` that has the setting. Returns
        whom they spoke for (their message sent), or None: it stops."""
        if due is not None:
            name = due if self.mode(due) != "never" else None
        else:
            name = self._stand_in(previous)
        if name is None or thread.turns >= self.cap:
            return None
        self.run.budget.check()
        said_by, text = self._last(thread)
        answer = await self._ask(name, f"{said_by} said: {text}\nThe chat would stop here ({reason}). "
                                       f"Your reply as {name}, to go on (enter: let it stop)?", "on_stop")
        if _ends(answer):
            return None
        self.run.budget.reserve_turn()
        self._send(thread, name, answer)
        self.max_turns = min(self.cap, max(self.max_turns, thread.turns + 1))  # room for one reply to it
        return name

    def _stand_in(self, previous: str | None) -> str | None:
        """The member a person speaks for at a stop: the first with the setting in turn order after
        `previous`, the last speaker, who is not asked to answer itself (in a chat: the other member)."""
        members = list(self.step.members)
        start = members.index(previous) + 1 if previous in members else 0
        order = [m for m in members[start:] + members[:start] if m != previous]
        return next((m for m in order if self.mode(m) != "never"), None)

    def _last(self, thread: Thread) -> tuple[str, str]:
        if not thread.messages:
            return "the script", self.opening
        last = thread.messages[-1]
        return last.speaker, last.text

    async def _ask(self, name: str, question: str, mode: p.HumanInputMode | None = None) -> str:
        extra: dict[str, Any] = {"conversation": self.step.id} | ({"mode": mode} if mode is not None else {})

        def emit(kind: EventKind, step: Any, **data: Any) -> None:  # the `human_input` event says where and why
            self.run.emit(kind, step, **data, **extra)

        return await ask_person(self.run.human, self.run.journal, emit, name, question, self.at)

    def _send(self, thread: Thread, name: str, text: str) -> None:
        thread.messages.append(Said(speaker=name, text=text, tokens=0, cost=0.0))
        self.run.emit("turn", self.at, agent=name, text=text, conversation=self.step.id, cached=False,
                      journaled=False)


def _ends(answer: str) -> bool:
    return answer.strip().lower() in ("", EXIT)
