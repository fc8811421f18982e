"""Agents: one protocol, a class per kind (LLM, person, executor, Python function, `reply by` def).

Given the conversation as the agent sees it, each gives its next message.
Each class gets what it needs when it is made (a model client and the run's
requests, the host's `human` callback, the journal…), never the whole
executor. Every outside effect goes through the journal, so a resumed run
does not ask a person or run code twice; a Python function runs again on
resume, rebuilding its state, unless it is marked journaled (see journal.py).
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import attrs
from parley.compiler.plan import assert_never

from parley.compiler import plan as p
from parley.dsl.errors import FailureKind, HostError, RunError
from parley.runtime.evaluate import show
from parley.runtime.journal import Journal
from parley.runtime.models import Message, ModelReply, ModelRequest
from parley.runtime.python_thread import arguments, shape, speaker_name, takes_thread, thread_of
from parley.runtime.tools import ToolBox

if TYPE_CHECKING:
    from parley.runtime.clients import Clients
    from parley.runtime.context import StepContext
    from parley.runtime.handoffs import Transfers
    from parley.runtime.requests import ModelCalls

DEFAULT_TOOL_ROUNDS = 5

#: Answers a person's turn: (agent, prompt) → their reply (or an awaitable of it).
HumanInput = Callable[[str, str], "str | Awaitable[str]"]
#: Records an event: (kind, step, data…).
Emit = Callable[..., None]


class Agent(Protocol):
    """An agent of the script: its declaration, and how it replies."""

    decl: p.AgentDecl

    async def reply(self, messages: list[Message], at: StepContext, response_format: dict[str, Any] | None,
                    choices: tuple[str, ...]) -> tuple[str, ModelReply | None]:
        """The next message given the conversation so far; the model's reply when a model wrote it.

        `response_format` is the JSON Schema a typed reply must fit; `choices` the only words a
        model's reply may be (a yes/no question). People and functions read the question as asked.
        """
        ...


@attrs.frozen
class LLMAgent:
    """An agent answered by a model, with its tools (at most `max_tool_rounds` rounds of calls)."""

    decl: p.AgentDecl
    clients: Clients
    requests: ModelCalls
    system: Callable[[p.AgentDecl], Awaitable[str]]
    tools: ToolBox

    async def reply(self, messages: list[Message], at: StepContext, response_format: dict[str, Any] | None,
                    choices: tuple[str, ...], transfers: Transfers | None = None) -> tuple[str, ModelReply | None]:
        """`transfers`: in a `select handoff` group, the transfer tools offered beside the agent's own
        (a reply that calls one runs its other calls, then ends the turn: runtime/handoffs.py)."""
        client, model_id, params = self.clients.for_agent(self.decl)
        system = await self.system(self.decl)
        settings = self.decl.settings
        memory = settings.memory
        conversation = list(messages[-memory:] if memory is not None else messages)
        offered_tools = await self.tools.offered(self.decl, at)
        if transfers is not None:
            offered_tools = (*offered_tools, *transfers.specs)
        rounds = settings.max_tool_rounds if settings.max_tool_rounds is not None else DEFAULT_TOOL_ROUNDS
        for round_number in range(rounds + 1):
            offered = offered_tools if round_number < rounds else ()  # the last round must answer
            request = ModelRequest(
                model=model_id, messages=(*((Message(role="system", content=system),) if system else ()), *conversation),
                tools=offered, response_format=response_format,
                temperature=params.get("temperature") if settings.temperature is None else settings.temperature,
                top_p=params.get("top_p") if settings.top_p is None else settings.top_p,
                max_tokens=params.get("max_tokens") if settings.max_tokens is None else settings.max_tokens,
                seed=params.get("seed") if settings.seed is None else settings.seed, choices=choices,
            )
            reply = await self.requests.request(client, request, self.decl, at, stream=response_format is None)
            if not reply.tool_calls or not offered:
                return reply.text, reply
            if transfers is not None and transfers.requested(reply.tool_calls):
                others = transfers.others(reply.tool_calls)
                if others:
                    await self.tools.run_all(self.decl, others, at)
                return reply.text, reply
            conversation.append(Message(role="assistant", content=reply.text, tool_calls=reply.tool_calls))
            results = await self.tools.run_all(self.decl, reply.tool_calls, at)  # at most MAX_TOOL_CALLS run
            for call, result in zip(reply.tool_calls, results):
                conversation.append(Message(role="tool", content=result, tool_call_id=call.id))
        raise AssertionError("unreachable: the last round offers no tools")  # pragma: no cover


@attrs.frozen
class HumanAgent:
    """A person, asked through the host's `human` callback (the console's prompt on the command line)."""

    decl: p.AgentDecl
    ask: HumanInput
    journal: Journal
    emit: Emit

    async def reply(self, messages: list[Message], at: StepContext, response_format: dict[str, Any] | None,
                    choices: tuple[str, ...]) -> tuple[str, ModelReply | None]:
        return await ask_person(self.ask, self.journal, self.emit, self.decl.name, incoming(messages), at), None


async def ask_person(ask: HumanInput, journal: Journal, emit: Emit, who: str, prompt: str, at: StepContext) -> str:
    """A person's answer; journaled, so a resumed run never asks the same question twice.

    `ask` may be a function or a coroutine function (an async host awaits its own input there).

    The callback is the host's code: if it raises, that is a `HostError` (a `RunError` it raises
    on purpose, such as "the input has ended", stays the run's failure).
    """

    async def answer() -> str:
        try:
            given = ask(who, prompt)
            return str(await given if inspect.isawaitable(given) else given)
        except RunError:
            raise
        except Exception as error:  # noqa: BLE001 - the host's callback failed: its bug, named as such
            raise HostError("the human callback", error, at.span) from error

    started = time.monotonic()
    text = str(await journal.effect("human", [who, prompt], answer, at))
    emit("human_input", at, agent=who, text=text, seconds=round(time.monotonic() - started, 6))  # the wait
    return text


@attrs.frozen
class ExecutorAgent:
    """Runs the fenced code blocks of the message it gets (only when the run allows code)."""

    decl: p.AgentDecl
    allow_code: bool
    journal: Journal
    emit: Emit
    _told: list[bool] = attrs.field(factory=list, init=False, eq=False)

    async def reply(self, messages: list[Message], at: StepContext, response_format: dict[str, Any] | None,
                    choices: tuple[str, ...]) -> tuple[str, ModelReply | None]:
        if not self.allow_code:
            raise RunError(FailureKind.CODE, f"`{self.decl.name}` runs code, and this run does not allow it: "
                                             "run with --allow-code (or allow_code=True) if you trust the script")
        from parley.runtime.confine import isolation  # only a script with an executor runs code
        from parley.runtime.sandbox import CodeRunner

        runner = CodeRunner.of(self.decl)
        blocks, refusal = runner.blocks(incoming(messages))
        if refusal is not None:
            return refusal, None
        if not self._told:  # once per agent and run: what this machine cannot contain
            self._told.append(True)
            for gap in isolation().describe():
                self.emit("notice", at, text=f"`{self.decl.name}`: {gap} (docs/code-execution.md)")
        outputs = []
        for language, code in blocks:

            async def run_block(language: str = language, code: str = code) -> list[Any]:
                return list(await asyncio.to_thread(runner.run, language, code))

            result = await self.journal.effect("code", [language, code, runner.folder], run_block, at)
            self.emit("code", at, agent=self.decl.name, language=language, exit_code=result[0])
            outputs.append(f"exit code: {result[0]}\n{result[1]}")
        return "\n\n".join(outputs), None


@attrs.frozen
class PythonAgent:
    """A Python function of the script's module (`module:function`) that answers each message."""

    decl: p.AgentDecl
    function: Callable[..., Any]
    journal: Journal
    agents: tuple[str, ...] = ()  # the script's agents, to name each message's sender

    async def reply(self, messages: list[Message], at: StepContext, response_format: dict[str, Any] | None,
                    choices: tuple[str, ...]) -> tuple[str, ModelReply | None]:
        raised: list[BaseException] = []
        how = shape(self.function)
        said = incoming(messages)
        names = {speaker_name(a): a for a in self.agents}
        thread = thread_of(messages, self.decl.name, lambda name: names.get(name, name))
        request: list[Any] = [self.decl.name, said] + ([thread] if takes_thread(how) else [])

        async def answer() -> dict[str, str]:
            try:
                return {"text": show(await call_python(self.function, *arguments(how, said, copy.deepcopy(thread))))}
            except Exception as error:  # noqa: BLE001 - the agent's own failure stops the run, named
                raised.append(error)
                return {"error": f"python agent `{self.decl.name}` ({self.decl.target}) raised "
                                 f"{type(error).__name__}: {error}"}

        outcome = await self.journal.python("python", request, answer, at, self.function)
        if "error" in outcome:
            failure = RunError(FailureKind.PYTHON, outcome["error"])
            failure.__cause__ = raised[0] if raised else None
            raise failure
        return outcome["text"], None


@attrs.frozen
class DefAgent:
    """An agent whose replies a `def` of the script computes (`reply by NAME`)."""

    decl: p.AgentDecl
    call: Callable[[str, str, list[Any], dict[str, Any], StepContext], Awaitable[Any]]

    async def reply(self, messages: list[Message], at: StepContext, response_format: dict[str, Any] | None,
                    choices: tuple[str, ...]) -> tuple[str, ModelReply | None]:
        assert self.decl.reply_by is not None
        return show(await self.call(self.decl.reply_by, "def", [incoming(messages)], {}, at)), None


def incoming(messages: list[Message]) -> str:
    """What an agent that reads only the last message is asked: the last message to it."""
    return next((m.content for m in reversed(messages) if m.role == "user"), "")


async def call_python(function: Callable[..., Any], args: list[Any], keywords: dict[str, Any]) -> Any:
    """Call a Python function or coroutine; blocking functions run off the event loop."""
    if inspect.iscoroutinefunction(function):
        return await function(*args, **keywords)
    result = await asyncio.to_thread(function, *args, **keywords)
    return await result if inspect.isawaitable(result) else result


def is_person(decl: p.AgentDecl) -> bool:
    """Whether the agent reads questions as asked (no format instructions): a person, a function, a def."""
    return decl.agent_kind in ("human", "python") or decl.reply_by is not None


def kind_of(decl: p.AgentDecl) -> str:
    """Which class answers for the agent (a `reply by` def overrides the declared kind)."""
    return "def" if decl.reply_by is not None else decl.agent_kind


__all__ = [
    "Agent", "DefAgent", "ExecutorAgent", "HumanAgent", "HumanInput", "LLMAgent", "PythonAgent", "ask_person",
    "call_python", "incoming", "is_person", "kind_of",
]
