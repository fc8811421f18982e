"""Tools from MCP servers: each server started once per run, on first use, and stopped when the run ends.

A server's connection lives in a task of its own (the SDK's transports are
`anyio` contexts that must be left by the task that entered them); calls are
made from any step through its session. Each call is an outside effect:
journaled, so a resumed run is served its result and never calls twice. A
call that fails on the server, or takes longer than the server's `timeout`,
goes back to the model as a tool error; a server that cannot be started, or
stops while the run needs it, stops the run with a `RunError` naming it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parley.compiler import plan as p
from parley.dsl.errors import FailureKind, RunError
from parley.runtime.bounds import MAX_TOOL_ARGUMENT_BYTES, clip, loads
from parley.runtime.journal import Journal
from parley.runtime.models import ToolCall, ToolSpec
from parley.runtime.modules import plan_folder

if TYPE_CHECKING:
    from parley.runtime.context import StepContext

#: JSON-RPC error codes the SDK uses for a closed connection and a call that ran out of time.
_CONNECTION_CLOSED = -32000
_REQUEST_TIMEOUT = -32001
_MODEL_NAME = re.compile(r"[^A-Za-z0-9_-]")
INSTALL_HINT = "MCP tools need the `mcp` package: pip install 'parley-lang[mcp]'"


def model_name(tool: str) -> str:
    """An MCP tool's name as models accept it (letters, digits, `_` and `-`, at most 64)."""
    return _MODEL_NAME.sub("_", tool)[:64] or "_"


def command_line(server: p.McpServer) -> list[str]:
    """The program and arguments to start a stdio server: `python` (or `python3`) is the Python running
    Parley, so the server sees the packages Parley sees."""
    program, *arguments = server.command
    if program in ("python", "python3"):
        program = sys.executable
    else:
        import shutil  # only to start a server

        program = shutil.which(program) or program
    return [program, *arguments]


def server_env(server: p.McpServer) -> dict[str, str]:
    """The variables a stdio server gets besides the SDK's safe few (PATH, HOME…): those it names, if set."""
    return {name: os.environ[name] for name in server.env if name in os.environ}


def describe(server: p.McpServer) -> str:
    """The server as a person recognizes it: its command line or its URL."""
    return " ".join(server.command) if server.transport == "stdio" else str(server.url)


class Connection:
    """One server's session for one run, owned by a task that enters and leaves the SDK's contexts."""

    def __init__(self, server: p.McpServer, folder: Path) -> None:
        self.server = server
        self.folder = folder
        self.session: Any = None
        self.tools: dict[str, dict[str, Any]] = {}  # the server's tools by name, as the protocol writes them
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._errlog = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115 - the server's stderr, closed by `close`

    async def start(self, at: StepContext) -> None:
        """Start the server and list its tools, within the server's timeout."""
        self._task = asyncio.create_task(self._own(), name=f"mcp:{self.server.name}")
        ready = asyncio.ensure_future(self._ready.wait())
        try:
            await asyncio.wait({ready, self._task}, timeout=self.server.timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # the run stopped meanwhile: the server it was starting stops too
            await asyncio.shield(self.close())
            raise
        finally:
            ready.cancel()
        if not self._ready.is_set():
            why = self._why() if self._error is not None else f"it did not answer within {self.server.timeout:g}s"
            await self.close()
            raise RunError(FailureKind.TOOL, f"MCP server `{self.server.name}` ({clip(describe(self.server), 120)}, "
                                             f"line {self.server.span.line}) could not be started: {why}", at.span)

    async def _own(self) -> None:
        try:
            from mcp import ClientSession
        except ImportError:
            self._error = ImportError(INSTALL_HINT)
            return
        try:
            async with contextlib.AsyncExitStack() as stack:
                read, write = await self._enter_transport(stack)
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
                self.tools = await list_tools(session)
                self.session = session
                self._ready.set()
                await self._stop.wait()
        except Exception as error:  # noqa: BLE001 - the server's failure, reported by whoever waits on it
            self._error = error

    async def _enter_transport(self, stack: contextlib.AsyncExitStack) -> tuple[Any, Any]:
        if self.server.transport == "stdio":
            from mcp.client.stdio import StdioServerParameters, stdio_client

            program, *arguments = command_line(self.server)
            parameters = StdioServerParameters(command=program, args=arguments, env=server_env(self.server),
                                               cwd=str(self.folder))
            streams = await stack.enter_async_context(stdio_client(parameters, errlog=self._errlog))
        else:
            from mcp.client.streamable_http import streamable_http_client

            streams = await stack.enter_async_context(streamable_http_client(str(self.server.url)))
        return streams[0], streams[1]

    async def call(self, tool: str, arguments: dict[str, Any], at: StepContext) -> dict[str, Any]:
        """The call's result as `{"text": …, "error": bool}`; a `RunError` when the server is gone."""
        from mcp.shared.exceptions import MCPError

        if self._task is None or self._task.done() or self.session is None:
            raise self._gone(at)
        try:
            result = await self.session.call_tool(tool, arguments, read_timeout_seconds=self.server.timeout)
        except MCPError as error:
            if error.code == _CONNECTION_CLOSED:
                raise self._gone(at) from None
            if error.code == _REQUEST_TIMEOUT:
                return {"text": f"the tool did not answer within {self.server.timeout:g}s", "error": True}
            return {"text": f"the server refused the call: {error.error.message}", "error": True}
        data = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        return {"text": result_text(data), "error": bool(data.get("isError"))}

    def _gone(self, at: StepContext) -> RunError:
        return RunError(FailureKind.TOOL, f"MCP server `{self.server.name}` (line {self.server.span.line}) "
                                          f"stopped during the run: {self._why()}", at.span)

    def _why(self) -> str:
        if self._error is not None:
            error = self._error
            while getattr(error, "exceptions", None):  # an exception group from the SDK's task groups
                error = error.exceptions[0]  # type: ignore[attr-defined]
            text = str(error) if isinstance(error, ImportError) else f"{type(error).__name__}: {error}"
        else:
            text = "the connection closed"
        self._errlog.seek(0)
        lines = [line for line in self._errlog.read().splitlines() if line.strip()]
        return text + (f"; its last words: {clip(lines[-1], 200)}" if lines else "")

    async def close(self) -> None:
        """Leave the session and stop the server (the SDK bounds how long a stdio server may take to exit)."""
        self._stop.set()
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=10)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task
        self._errlog.close()


async def list_tools(session: Any) -> dict[str, dict[str, Any]]:
    """Every tool the server offers (all pages), by name, as the protocol writes them (`inputSchema`…)."""
    tools: dict[str, dict[str, Any]] = {}
    cursor = None
    from mcp import types

    for _ in range(100):  # a server that pages forever is not followed further
        listing = await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor) if cursor else None)
        for tool in listing.tools:
            data = tool.model_dump(by_alias=True, mode="json", exclude_none=True)
            tools[data["name"]] = data
        cursor = listing.next_cursor
        if not cursor:
            break
    return tools


def result_text(data: dict[str, Any]) -> str:
    """A call's result as the model reads it: its text blocks, else its structured content as JSON."""
    texts = [block.get("text", "") for block in data.get("content", []) if block.get("type") == "text"]
    others = [block.get("type", "?") for block in data.get("content", []) if block.get("type") != "text"]
    if not texts and "structuredContent" in data:
        return json.dumps(data["structuredContent"], ensure_ascii=False)
    text = "\n".join(texts)
    if others:
        text += ("\n" if text else "") + f"({len(others)} non-text parts: {', '.join(sorted(set(others)))})"
    return text


class McpTools:
    """The MCP servers of one run: started on first use, their tools offered and called, stopped at the end."""

    def __init__(self, journal: Journal, emit: Callable[..., None], folder: str | None) -> None:
        self.journal = journal
        self.emit = emit
        self.folder = folder  # what the plan's script folder is taken from (see `plan_folder`)
        self._connections: dict[str, Connection] = {}
        self._starting: dict[str, asyncio.Lock] = {}

    async def connection(self, plan: p.Plan, name: str, at: StepContext) -> Connection:
        """The running connection to server `name`, started now if this is its first use."""
        lock = self._starting.setdefault(name, asyncio.Lock())
        async with lock:
            if name not in self._connections:
                server = next(s for s in plan.mcp_servers if s.name == name)
                connection = Connection(server, plan_folder(plan, self.folder))
                await connection.start(at)
                self._connections[name] = connection
                self.emit("notice", at.step, text=f"MCP server `{name}` started: {len(connection.tools)} tools")
        return self._connections[name]

    async def offered(self, plan: p.Plan, agent: p.AgentDecl, at: StepContext) -> dict[str, tuple[str, dict[str, Any]]]:
        """The agent's MCP tools by the name the model sees: (server, the tool as the server lists it)."""
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        for use in agent.mcp:
            connection = await self.connection(plan, use.server, at)
            for name, tool in connection.tools.items():
                if use.tools is not None and name not in use.tools:
                    continue
                seen = model_name(name)
                if seen in found or seen in {t.replace(".", "__") for t in agent.tools}:
                    raise RunError(FailureKind.TOOL, f"agent `{agent.name}` has two tools named `{seen}` "
                                                     f"(one from MCP server `{use.server}`): list the ones it "
                                                     "needs with `mcp(…, tools=[…])`", use.span)
                found[seen] = (use.server, tool)
            if use.tools is not None:
                missing = [name for name in use.tools if name not in connection.tools]
                if missing:
                    raise RunError(FailureKind.TOOL, f"MCP server `{use.server}` has no tool `{missing[0]}`; its "
                                                     f"tools: {', '.join(connection.tools) or 'none'}", use.span)
        return found

    async def specs(self, plan: p.Plan, agent: p.AgentDecl, at: StepContext) -> tuple[ToolSpec, ...]:
        """The agent's MCP tools as the model is offered them."""
        return tuple(
            ToolSpec(name=seen, description=tool.get("description") or tool["name"],
                     parameters=tool.get("inputSchema") or {"type": "object", "properties": {}})
            for seen, (_, tool) in (await self.offered(plan, agent, at)).items()
        )

    async def run(self, plan: p.Plan, agent: p.AgentDecl, call: ToolCall, at: StepContext) -> str | None:
        """Run the model's call of one of the agent's MCP tools; None when it names none of them."""
        if not agent.mcp:
            return None
        target = (await self.offered(plan, agent, at)).get(call.name)
        if target is None:
            return None
        server, tool = target
        label = f"{server}.{tool['name']}"
        try:
            arguments = loads(call.arguments or "{}", "the arguments", MAX_TOOL_ARGUMENT_BYTES)
        except ValueError as error:
            return self._refused(label, at, f"the arguments are not valid JSON ({clip(str(error))}); send a JSON object")
        if not isinstance(arguments, dict):
            return self._refused(label, at, "the arguments must be a JSON object")
        import jsonschema  # loaded by the first call of an MCP tool, not by every run

        try:
            jsonschema.validate(arguments, tool.get("inputSchema") or {})
        except jsonschema.ValidationError as error:
            return self._refused(label, at, f"wrong arguments: {clip(error.message)}")
        except jsonschema.SchemaError:
            pass  # the server's schema is its own business; the server checks the arguments too
        self.emit("tool_call", at, agent=agent.name, tool=label, arguments=arguments, call_id=call.id)
        started = time.monotonic()
        connection = await self.connection(plan, server, at)

        async def live() -> dict[str, Any]:
            return await connection.call(tool["name"], arguments, at)

        outcome = await self.journal.effect("tool", {"mcp": server, "tool": tool["name"], "arguments": arguments},
                                            live, at)
        seconds = round(time.monotonic() - started, 6)
        if outcome.get("error"):
            self.emit("tool_error", at, tool=label, error=clip(str(outcome["text"]), 500), call_id=call.id,
                      seconds=seconds)
            return f"error: the tool failed: {outcome['text']}"
        self.emit("tool_result", at, tool=label, call_id=call.id, seconds=seconds)
        return str(outcome["text"])

    def _refused(self, tool: str, at: StepContext, why: str) -> str:
        self.emit("tool_error", at, tool=tool, error=why)
        return f"error: {why}"

    async def close(self) -> None:
        """Stop every server this run started."""
        connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            await connection.close()
