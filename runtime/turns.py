"""One agent's turn: an LLM with its tools (bounded), a person, or a Python function.

Tool calls are checked before anything runs: an unknown tool, arguments that
are not JSON or do not fit the tool's schema go back to the model as an
error message (counted against `max_tool_rounds`); a tool that raises
becomes an error message and an event.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import jsonschema

from parley.compiler import plan as p
from parley.dsl.errors import FailureKind, RunError
from parley.runtime.evaluate import show
from parley.runtime.models import Message, ModelError, ModelReply, ModelRequest, ToolCall, ToolSpec

if TYPE_CHECKING:
    from parley.runtime.executor import Executor

DEFAULT_TOOL_ROUNDS = 5

#: Answers a person's turn: (agent, prompt) → their reply.
HumanInput = Callable[[str, str], "str | Awaitable[str]"]


def tool_name(plan_name: str) -> str:
    """Tool names as models accept them (`text.numbered` → `text__numbered`)."""
    return plan_name.replace(".", "__")


class Turns:
    """Takes turns for the agents of one run."""

    def __init__(self, run: Executor) -> None:
        self.run = run
        self.plan = run.plan

    async def reply(self, agent: p.AgentDecl, messages: list[Message], step: Any,
                    response_format: dict[str, Any] | None = None,
                    choices: tuple[str, ...] = ()) -> tuple[str, ModelReply | None]:
        """The agent's next message given the conversation so far (as the agent sees it); `choices`
        are the only words a model's reply may be (a yes/no question)."""
        self.run.budget.check(starting=True)  # a turn budget stops the run before one more turn
        result = await self._reply(agent, messages, step, response_format, choices)
        self.run.budget.count_turn()
        return result

    async def _reply(self, agent: p.AgentDecl, messages: list[Message], step: Any,
                     response_format: dict[str, Any] | None, choices: tuple[str, ...]) -> tuple[str, ModelReply | None]:
        incoming = next((m.content for m in reversed(messages) if m.role == "user"), "")
        if agent.reply_by is not None:
            value = await self.run.call(agent.reply_by, "def", [incoming], {})
            return show(value), None
        if agent.agent_kind == "human":
            return await self.human(agent.name, incoming, step), None
        if agent.agent_kind == "python":
            return await self.python(agent, incoming), None
        if agent.agent_kind == "executor":
            return await self.execute(agent, incoming, step), None
        return await self.llm(agent, messages, step, response_format, choices)

    async def llm(self, agent: p.AgentDecl, messages: list[Message], step: Any,
                  response_format: dict[str, Any] | None, choices: tuple[str, ...] = ()) -> tuple[str, ModelReply]:
        client, model_id, params = self.run.clients.for_agent(agent)
        system = await self.run.system_message(agent)
        settings = {o.name: o.value for o in agent.settings}
        memory = settings.get("memory")
        window = messages[-int(memory):] if isinstance(memory, int) else messages
        tools = self._tools(agent)
        conversation = list(window)
        rounds = int(settings.get("max_tool_rounds", DEFAULT_TOOL_ROUNDS))
        for round_number in range(rounds + 1):
            offered = tools if round_number < rounds else ()
            request = ModelRequest(
                model=model_id, messages=(*((Message(role="system", content=system),) if system else ()), *conversation),
                tools=offered, response_format=response_format,
                temperature=settings.get("temperature", params.get("temperature")),
                top_p=settings.get("top_p", params.get("top_p")),
                max_tokens=settings.get("max_tokens", params.get("max_tokens")),
                seed=settings.get("seed", params.get("seed")), choices=choices,
            )
            reply = await self.run.request(client, request, agent, step, stream=response_format is None)
            if not reply.tool_calls or not offered:
                return reply.text, reply
            conversation.append(Message(role="assistant", content=reply.text, tool_calls=reply.tool_calls))
            for call in reply.tool_calls:
                conversation.append(Message(role="tool", content=await self.tool(agent, call, step),
                                            tool_call_id=call.id))
        raise AssertionError("unreachable: the last round offers no tools")  # pragma: no cover

    def _tools(self, agent: p.AgentDecl) -> tuple[ToolSpec, ...]:
        specs = []
        for name in agent.tools:
            decl_def = next((d for d in self.plan.defs if d.name == name), None)
            if decl_def is not None:
                specs.append(ToolSpec(name=tool_name(name), description=decl_def.doc or name, parameters=decl_def.schema))
                continue
            tool = next(t for t in self.plan.tools if t.name == name)
            specs.append(ToolSpec(name=tool_name(name), description=tool.description or name, parameters=tool.schema))
        return tuple(specs)

    async def tool(self, agent: p.AgentDecl, call: ToolCall, step: Any) -> str:
        """Run one tool call, or explain to the model why it was not run."""
        names = {tool_name(t): t for t in agent.tools}
        target = names.get(call.name)
        if target is None:
            return self._refused(call, step, f"there is no tool `{call.name}`; tools: {', '.join(names) or 'none'}")
        try:
            arguments = json.loads(call.arguments or "{}")
        except ValueError as error:
            return self._refused(call, step, f"the arguments are not valid JSON ({error}); send a JSON object")
        if not isinstance(arguments, dict):
            return self._refused(call, step, "the arguments must be a JSON object")
        schema = next((d.schema for d in self.plan.defs if d.name == target), None)
        if schema is None:
            schema = next(t.schema for t in self.plan.tools if t.name == target)
        try:
            jsonschema.validate(arguments, schema)
        except jsonschema.ValidationError as error:
            return self._refused(call, step, f"wrong arguments: {error.message}")
        kind = "def" if any(d.name == target for d in self.plan.defs) else "tool"
        self.run.emit("tool_call", step, agent=agent.name, tool=target, arguments=arguments, call_id=call.id)
        started = time.monotonic()
        try:
            value = await self.run.call(target, kind, [], arguments)
        except RunError as failure:
            if failure.kind not in (FailureKind.VALUE, FailureKind.PYTHON):
                raise  # a spent budget or an unreachable model stops the run
            self.run.emit("tool_error", step, tool=target, error=failure.message, call_id=call.id,
                          seconds=round(time.monotonic() - started, 6))
            return f"error: the tool failed: {failure.message}"
        self.run.emit("tool_result", step, tool=target, call_id=call.id, seconds=round(time.monotonic() - started, 6))
        return show(value)

    def _refused(self, call: ToolCall, step: Any, why: str) -> str:
        self.run.emit("tool_error", step, tool=call.name, error=why)
        return f"error: {why}"

    async def human(self, agent: str, prompt: str, step: Any) -> str:
        """A person's answer; journaled, so a resumed run never asks the same question twice."""

        async def ask() -> str:
            answer = self.run.human(agent, prompt)
            return str(await answer if inspect.isawaitable(answer) else answer)

        text = str(await self.run.journal.effect("human", [agent, prompt], ask, step))
        self.run.emit("human_input", step, agent=agent, text=text)
        return text

    async def execute(self, agent: p.AgentDecl, incoming: str, step: Any) -> str:
        """Run the fenced code blocks of the message (only when the run allows code execution)."""
        if not self.run.allow_code:
            raise RunError(FailureKind.CODE, f"`{agent.name}` runs code, and this run does not allow it: "
                                     "run with --allow-code (or allow_code=True) if you trust the script")
        settings = {o.name: o.value for o in agent.settings}
        languages = settings.get("languages", ["python", "sh"])
        found = [(lang or "python", code) for lang, code in _FENCED.findall(incoming)]
        blocks = [(lang, code) for lang, code in found if lang in languages or (lang == "bash" and "sh" in languages)]
        if not blocks:
            refused = sorted({lang for lang, _ in found} - set(languages))
            if refused:
                return f"exit code: none (this executor runs {', '.join(languages)}, not {', '.join(refused)})"
            return f"exit code: none (no code block found; send code in ```{languages[0]} fences)"
        folder = settings.get("workdir")
        outputs = []
        for language, code in blocks:
            command = [sys.executable, "-I", "-c", code] if language == "python" else ["sh", "-c", code]
            timeout = float(settings.get("timeout", 30.0))

            async def run_block(command: list[str] = command, timeout: float = timeout) -> list[Any]:
                return list(await asyncio.to_thread(_run_code, command, timeout, folder))

            result = await self.run.journal.effect("code", [language, code, folder], run_block, step)
            self.run.emit("code", step, agent=agent.name, language=language, exit_code=result[0])
            outputs.append(f"exit code: {result[0]}\n{result[1]}")
        return "\n\n".join(outputs)

    async def python(self, agent: p.AgentDecl, incoming: str) -> str:
        module, _, name = (agent.target or ":").partition(":")
        function = getattr(importlib.import_module(module), name)

        async def answer() -> dict[str, str]:
            try:
                return {"text": show(await call_python(function, [incoming], {}))}
            except Exception as error:  # noqa: BLE001 - the agent's own failure stops the run, named
                return {"error": f"python agent `{agent.name}` ({agent.target}) raised {type(error).__name__}: {error}"}

        outcome = await self.run.journal.effect("python", [agent.name, incoming], answer)
        if "error" in outcome:
            raise RunError(FailureKind.PYTHON, outcome["error"])
        return outcome["text"]


async def call_python(function: Callable[..., Any], args: list[Any], keywords: dict[str, Any]) -> Any:
    """Call a Python function or coroutine; blocking functions run off the event loop."""
    if inspect.iscoroutinefunction(function):
        return await function(*args, **keywords)
    result = await asyncio.to_thread(function, *args, **keywords)
    return await result if inspect.isawaitable(result) else result


def model_error(error: ModelError) -> RunError:
    """A model's failure as the run's: the `ModelError` (with its `kind`: auth, rate_limit…) is the cause."""
    failure = RunError(FailureKind.MODEL, str(error))
    failure.__cause__ = error
    return failure


_FENCED = re.compile(r"```(python|sh|bash)?[^\n]*\n(.*?)```", re.DOTALL)


def _run_code(command: list[str], timeout: float, folder: str | None) -> tuple[int, str]:
    """One code block in a subprocess with a time limit and a working folder; output capped."""
    with tempfile.TemporaryDirectory(prefix="parley-exec-") as scratch:
        workdir = folder or scratch
        os.makedirs(workdir, exist_ok=True)
        try:
            done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout, check=False,
                                  preexec_fn=_limits(timeout) if os.name == "posix" else None)
        except subprocess.TimeoutExpired:
            return 124, f"timed out after {timeout:g}s"
        output = (done.stdout + done.stderr)[-8000:]
        return done.returncode, output


def _limits(timeout: float) -> Callable[[], None]:
    """Resource limits for code an executor runs: CPU seconds, 1 GiB of memory, 64 MiB files."""

    def apply() -> None:
        import resource

        cpu = int(timeout) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 20, 64 << 20))

    return apply
