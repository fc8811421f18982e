"""MCP servers in `tools:` settings: `mcp("python notes.py", tools=[…])`, `mcp(url="http://…/mcp")`.

Each distinct server becomes one `McpServer` of the plan (agents writing
the same `mcp(…)` share it), and each agent's use of it an `McpUse` with the
tools it keeps. When the compiler can start the server (or reach its URL)
it lists the server's tools, so a misspelt name in `tools=[…]` or two tools
of one agent with the same name is an error before anything runs; when it
cannot, that is a warning and the names are checked when the script runs.
Starting a tool server to read its schemas is the one outside call the
compiler makes (it never calls a model); listings are kept for the life of
the process, keyed by the server and the files it names.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import sys
import threading
from pathlib import Path
from typing import Any

from parley.compiler import plan as p
from parley.compiler._context import did_you_mean
from parley.compiler.declarations import constant, is_constant
from parley.compiler.unit import Unit
from parley.dsl import nodes as n

#: Seconds one call of a server's tool (and its start) may take unless `timeout=` says otherwise.
DEFAULT_TIMEOUT = 30.0
_KEYWORDS = ("url", "tools", "env", "timeout")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[^A-Za-z0-9_]+")
_listings: dict[Any, dict[str, dict[str, Any]] | str] = {}  # listings (or why none) by server and its files


def mcp_use(call: n.Call, unit: Unit, folder: Path | None) -> p.McpUse | None:
    """The agent's use of the server `call` describes (the server registered in `unit`); None after an error."""
    ctx = unit.ctx
    keywords: dict[str, Any] = {}
    for keyword in call.keywords:
        key = keyword.name.id
        if key not in _KEYWORDS:
            ctx.error("P290", f"`mcp` takes no `{key}`", keyword.name.span, "unknown option",
                      did_you_mean(key, _KEYWORDS) or f"options of `mcp`: {', '.join(_KEYWORDS)}")
            return None
        value = constant(keyword.value)
        if not is_constant(value):
            ctx.error("P290", f"`{key}=` of `mcp` is a constant", keyword.value.span, "not a constant",
                      _EXAMPLE)
            return None
        keywords[key] = (value, keyword.value)
    command: tuple[str, ...] = ()
    url = keywords.get("url", (None, None))[0]
    if len(call.args) > 1 or (call.args and url is not None) or (not call.args and url is None):
        ctx.error("P290", "`mcp` takes a command to start or a `url=`, one of the two", call.span,
                  "expected one server", _EXAMPLE)
        return None
    if call.args:
        text = constant(call.args[0])
        try:
            command = tuple(shlex.split(text)) if isinstance(text, str) else ()
        except ValueError as error:
            ctx.error("P290", f"the command of `mcp` cannot be split into words: {error}", call.args[0].span,
                      "bad command", "close the quotes inside the command")
            return None
        if not command:
            ctx.error("P290", "`mcp` starts a server with a command, as a plain string", call.args[0].span,
                      "not a command", _EXAMPLE)
            return None
    elif not isinstance(url, str) or not url.startswith(("http://", "https://")):
        ctx.error("P290", "`url=` of `mcp` is an http:// or https:// address", keywords["url"][1].span, "not a URL",
                  'write `mcp(url="http://127.0.0.1:8000/mcp")`')
        return None
    tools = _names(unit, keywords, "tools", '`tools=` names the tools to keep: `tools=["search", "fetch"]`')
    env = _names(unit, keywords, "env", 'write `env=["NOTES_DIR"]`', pattern=_ENV_NAME)
    if isinstance(tools, bool) or isinstance(env, bool):  # False: already reported
        return None
    if env and not command:
        ctx.error("P290", "`env=` is for servers `mcp` starts, not for a `url=`", keywords["env"][1].span,
                  "not for a URL", "remove `env=`")
        return None
    timeout = DEFAULT_TIMEOUT
    if "timeout" in keywords:
        value, node = keywords["timeout"]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            ctx.error("P290", "`timeout=` of `mcp` is a duration", node.span, "not a duration", "write `timeout=10s`")
            return None
        timeout = float(value)
    server = _register(unit, command, url, tuple(env or ()), timeout, call.span)
    use = p.McpUse(server=server.name, tools=tuple(tools) if tools is not None else None, span=call.span)
    listing = listed(server, folder)
    if isinstance(listing, str):
        ctx.warning("P291", f"cannot list the tools of MCP server `{server.name}`: {listing}", call.span,
                    "not checked", "its tools are checked when the script runs; start it by hand to see why")
    elif tools is not None:
        given = keywords["tools"][1]
        for name, node in zip(tools, given.items if isinstance(given, n.ListExpr) else [given] * len(tools)):
            if name not in listing:
                ctx.error("P292", f"MCP server `{server.name}` has no tool `{name}`", node.span, "no such tool",
                          did_you_mean(name, listing) or f"its tools: {', '.join(listing) or 'none'}")
    return use


_EXAMPLE = 'write `mcp("python notes_server.py")` or `mcp(url="http://127.0.0.1:8000/mcp")`'


def _names(unit: Unit, keywords: dict[str, Any], key: str, hint: str,
           pattern: re.Pattern[str] | None = None) -> list[str] | None | bool:
    """The strings of a list option; None when it is not given, False after an error."""
    if key not in keywords:
        return None
    value, node = keywords[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and (pattern is None or pattern.fullmatch(v))
                                             for v in value):
        unit.ctx.error("P290", f"`{key}=` of `mcp` is a list of names, as strings", node.span, "not names", hint)
        return False
    return value


def _register(unit: Unit, command: tuple[str, ...], url: str | None, env: tuple[str, ...], timeout: float,
              span: Any) -> p.McpServer:
    """The plan's server for these settings: one already registered, or a new one with a name of its own."""
    for server in unit.mcp_servers.values():
        if (server.command, server.url, server.env, server.timeout) == (command, url, env, timeout):
            return server
    base = _NAME.sub("_", _stem(command, url)).strip("_") or "mcp"
    name, count = base, 1
    while name in unit.mcp_servers:
        count += 1
        name = f"{base}_{count}"
    server = p.McpServer(name=name, transport="stdio" if command else "http", command=command, url=url, env=env,
                         timeout=timeout, span=span)
    unit.mcp_servers[name] = server
    return server


def _stem(command: tuple[str, ...], url: str | None) -> str:
    """A readable name: the script a command runs (`notes_server.py` → notes_server), or the URL's host."""
    if url is not None:
        host = url.split("://", 1)[1].split("/", 1)[0]
        return host.split(":")[0] if not host.startswith("[") else "mcp"
    scripts = [word for word in command[1:] if not word.startswith("-")]
    return Path(scripts[-1] if scripts else command[0]).name.split(".")[0]


# --- listing a server's tools at compile time -----------------------------------------


def listed(server: p.McpServer, folder: Path | None) -> dict[str, dict[str, Any]] | str:
    """The server's tools by name, or why they could not be listed (kept for the life of the process).
    `PARLEY_MCP_CHECK=off` lists nothing: a check that must start no process and open no connection."""
    if os.environ.get("PARLEY_MCP_CHECK", "").strip().lower() == "off":
        return "listing is off (PARLEY_MCP_CHECK=off)"
    key = (server.command, server.url, server.env, str(folder), _fingerprint(server, folder))
    if key not in _listings:
        _listings[key] = _list_now(server, folder)
    return _listings[key]


def _fingerprint(server: p.McpServer, folder: Path | None) -> tuple[Any, ...]:
    """When the files a command names last changed: a changed server script is listed again."""
    stamps = []
    for word in server.command:
        path = Path(folder or ".") / word
        try:
            stamps.append((word, path.stat().st_mtime_ns))
        except (OSError, ValueError):
            continue
    return tuple(stamps)


def _list_now(server: p.McpServer, folder: Path | None) -> dict[str, dict[str, Any]] | str:
    """List the tools in a thread with its own event loop (the compiler may be called inside a running one)."""
    import asyncio  # only a script naming an MCP server needs it: `parley check` of others starts faster

    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["tools"] = asyncio.run(asyncio.wait_for(_list(server, folder), server.timeout))
        except asyncio.TimeoutError:
            outcome["error"] = f"it did not answer within {server.timeout:g}s"
        except ImportError:
            outcome["error"] = "the `mcp` package is not installed (pip install 'parley-lang[mcp]')"
        except BaseException as error:  # noqa: BLE001 - whatever stopped it, said in the warning
            while getattr(error, "exceptions", None):
                error = error.exceptions[0]  # type: ignore[attr-defined]
            outcome["error"] = f"{type(error).__name__}: {error}"

    thread = threading.Thread(target=work, name=f"mcp-list-{server.name}", daemon=True)
    thread.start()
    thread.join()
    return outcome["tools"] if "tools" in outcome else str(outcome.get("error", "unknown failure"))


async def _list(server: p.McpServer, folder: Path | None) -> dict[str, dict[str, Any]]:
    import tempfile

    from mcp import ClientSession, types

    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
        async with contextlib.AsyncExitStack() as stack:
            if server.command:
                import shutil

                from mcp.client.stdio import StdioServerParameters, stdio_client

                program, *arguments = server.command
                program = sys.executable if program in ("python", "python3") else (shutil.which(program) or program)
                parameters = StdioServerParameters(
                    command=program, args=arguments, cwd=str(folder) if folder else None,
                    env={name: os.environ[name] for name in server.env if name in os.environ})
                streams = await stack.enter_async_context(stdio_client(parameters, errlog=errlog))
            else:
                from mcp.client.streamable_http import streamable_http_client

                streams = await stack.enter_async_context(streamable_http_client(str(server.url)))
            session = await stack.enter_async_context(ClientSession(streams[0], streams[1]))
            await session.initialize()
            tools: dict[str, dict[str, Any]] = {}
            cursor = None
            for _ in range(100):  # a server that pages forever is not followed further
                listing = await session.list_tools(
                    params=types.PaginatedRequestParams(cursor=cursor) if cursor else None)
                for tool in listing.tools:
                    tools[tool.name] = tool.model_dump(by_alias=True, mode="json", exclude_none=True)
                cursor = listing.next_cursor
                if not cursor:
                    break
            return tools
