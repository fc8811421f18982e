"""An LLM agent's tools: what it is offered, and each call it makes, checked before anything runs.

An unknown tool, arguments that are not JSON, too large or too deep (see
bounds.py) or do not fit the tool's schema go back to the model as an error
message (the round still counts against `max_tool_rounds`); so do the calls
of one reply beyond `MAX_TOOL_CALLS`, which are not run. A tool that fails
becomes an error message and an event. A spent budget or an unreachable
model stops the run instead.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from parley.compiler import plan as p
from parley.dsl.errors import FailureKind, RunError
from parley.runtime import schemas
from parley.runtime.bounds import MAX_TOOL_ARGUMENT_BYTES, MAX_TOOL_CALLS, JSONBoundsError, clip, loads
from parley.runtime.evaluate import show
from parley.runtime.models import ToolCall, ToolSpec

if TYPE_CHECKING:
    from parley.runtime.context import StepContext
    from parley.runtime.mcp import McpTools

#: Calls a def or a Python tool by name: (callee, kind, args, keywords, at) → value.
Call = Callable[[str, str, list[Any], dict[str, Any], "StepContext"], Awaitable[Any]]


def tool_name(plan_name: str) -> str:
    """Tool names as models accept them (`text.numbered` → `text__numbered`)."""
    return plan_name.replace(".", "__")


class ToolBox:
    """The tools of one run's agents: their specs for requests, and running the calls models make."""

    def __init__(self, plan: p.Plan, call: Call, emit: Callable[..., None], mcp: McpTools | None = None) -> None:
        self.plan = plan
        self.call = call
        self.emit = emit
        self.mcp = mcp  # the run's MCP servers, if its plan has any

    async def offered(self, agent: p.AgentDecl, at: StepContext) -> tuple[ToolSpec, ...]:
        """The agent's tools as a request offers them: its defs and Python tools, then its MCP servers' tools."""
        specs = self.specs(agent)
        if agent.mcp and self.mcp is not None:
            specs = (*specs, *await self.mcp.specs(self.plan, agent, at))
        return specs

    async def close(self) -> None:
        """Stop the MCP servers the run started."""
        if self.mcp is not None:
            await self.mcp.close()

    def specs(self, agent: p.AgentDecl) -> tuple[ToolSpec, ...]:
        """What the agent is offered: each tool's model-safe name, description and argument schema."""
        specs = []
        for name in agent.tools:
            decl_def = next((d for d in self.plan.defs if d.name == name), None)
            if decl_def is not None:
                specs.append(ToolSpec(name=tool_name(name), description=decl_def.doc or name, parameters=decl_def.schema))
                continue
            tool = next(t for t in self.plan.tools if t.name == name)
            specs.append(ToolSpec(name=tool_name(name), description=tool.description or name, parameters=tool.schema))
        return tuple(specs)

    async def run_all(self, agent: p.AgentDecl, calls: tuple[ToolCall, ...], at: StepContext) -> list[str]:
        """The results of one reply's calls, in order: the first `MAX_TOOL_CALLS` run one after another,
        the others are answered with an error (every call gets an answer, as the model's API requires)."""
        results = [await self.run(agent, call, at) for call in calls[:MAX_TOOL_CALLS]]
        excess = calls[MAX_TOOL_CALLS:]
        if excess:
            why = (f"not run: one reply may make at most {MAX_TOOL_CALLS} tool calls, and this one made "
                   f"{len(calls)}; make the calls still needed in your next reply")
            names = ", ".join(dict.fromkeys(call.name for call in excess))
            self.emit("tool_error", at, tool=clip(names, 120), error=f"{len(excess)} calls {why}")
            results.extend(f"error: {why}" for _ in excess)
        return results

    async def run(self, agent: p.AgentDecl, call: ToolCall, at: StepContext) -> str:
        """Run one tool call, or explain to the model why it was not run."""
        names = {tool_name(t): t for t in agent.tools}
        target = names.get(call.name)
        if target is None and self.mcp is not None:
            answer = await self.mcp.run(self.plan, agent, call, at)
            if answer is not None:
                return answer
        if target is None:
            return self._refused(call, at, f"there is no tool `{clip(call.name, 80)}`; tools: {', '.join(names) or 'none'}")
        try:
            arguments = loads(call.arguments or "{}", "the arguments", MAX_TOOL_ARGUMENT_BYTES)
        except JSONBoundsError as error:
            return self._refused(call, at, str(error))
        except ValueError as error:
            return self._refused(call, at, f"the arguments are not valid JSON ({clip(str(error))}); send a JSON object")
        if not isinstance(arguments, dict):
            return self._refused(call, at, "the arguments must be a JSON object")
        schema = next((d.schema for d in self.plan.defs if d.name == target), None)
        if schema is None:
            schema = next(t.schema for t in self.plan.tools if t.name == target)
        try:
            schemas.validate(arguments, schema)
        except schemas.ValidationError as error:
            return self._refused(call, at, f"wrong arguments: {clip(error.message)}")
        kind = "def" if any(d.name == target for d in self.plan.defs) else "tool"
        self.emit("tool_call", at, agent=agent.name, tool=target, arguments=arguments, call_id=call.id)
        started = time.monotonic()
        try:
            value = await self.call(target, kind, [], arguments, at)
        except RunError as failure:
            if failure.kind not in (FailureKind.VALUE, FailureKind.PYTHON):
                raise  # a spent budget or an unreachable model stops the run
            self.emit("tool_error", at, tool=target, error=failure.message, call_id=call.id,
                      seconds=round(time.monotonic() - started, 6))
            return f"error: the tool failed: {failure.message}"
        self.emit("tool_result", at, tool=target, call_id=call.id, seconds=round(time.monotonic() - started, 6))
        return show(value)

    def _refused(self, call: ToolCall, at: StepContext, why: str) -> str:
        self.emit("tool_error", at, tool=call.name, error=why)
        return f"error: {why}"
