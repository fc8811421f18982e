"""Resources two `parallel` branches must not share, beyond variables and threads.

Variables and `@agent` threads conflict through read and write sets (P280).
Three resources do not show there precisely enough, so they are checked here:

- the console: two branches that `print` would interleave their lines in an
  order no run can promise;
- code execution: two branches that ask executor agents would run code at the
  same time in the same working folder;
- a Python module: two branches that call tools of the same module share its
  module-level state. Tools of different modules do not conflict.

Python run through an agent's tools or a python agent is not traced to its
module, so it does not conflict here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
from parley.compiler import plan as p
from parley.compiler.scope import EXEC, Effects


def resources(steps: tuple[Any, ...], effects: Effects, tool_modules: dict[str, str]) -> dict[str, str]:
    """What a branch uses that another branch may not: resource key → how to say it."""
    used: dict[str, str] = {}
    if EXEC in effects.writes:
        used["exec"] = "runs code through an executor agent"
    for node in _walk(steps):
        if isinstance(node, p.PrintStep):
            used["print"] = "prints"
        elif isinstance(node, p.Call) and node.callee_kind == "tool" and node.callee in tool_modules:
            module = tool_modules[node.callee]
            used[f"python:{module}"] = f"calls a tool of the Python module `{module}`"
    return used


def _walk(node: Any) -> Iterator[Any]:
    """Every plan object under `node` (steps, expressions, texts), depth first."""
    if isinstance(node, tuple | list):
        for item in node:
            yield from _walk(item)
    elif attrs.has(type(node)):
        yield node
        for field in attrs.fields(type(node)):
            value = getattr(node, field.name)
            if isinstance(value, tuple | list) or attrs.has(type(value)):
                yield from _walk(value)


def check_parallel_resources(
    ctx: Any, unit: Any, branches: list[tuple[Any, tuple[Any, ...]]], effects: list[Effects],
) -> None:
    """P280 for two branches of one `parallel` block that use the same console, executor or Python module."""
    tool_modules = {name: tool.module for name, tool in unit.registry.tools.items()}
    used = [resources(tuple(steps), fx, tool_modules) for (_, steps), fx in zip(branches, effects)]
    for index, (statement, _) in enumerate(branches):
        for earlier_index in range(index):
            earlier = branches[earlier_index][0]
            shared = sorted(set(used[index]) & set(used[earlier_index]))
            if not shared:
                continue
            what = used[index][shared[0]]
            ctx.error(
                "P280", f"branches of `parallel` both {_both(what)}", statement.span,
                f"conflicts with line {earlier.span.line}",
                _HELP[shared[0].split(":")[0]],
            )
            break


def _both(what: str) -> str:
    """`prints` → `print`: the verb after "both"."""
    verb, _, rest = what.partition(" ")
    return f"{verb[:-1]} {rest}".rstrip() if verb.endswith("s") else what


_HELP = {
    "print": "branches run at the same time, so their lines would come out in any order: "
             "keep the results in variables and print them after the block",
    "exec": "branches run at the same time: executed code would run side by side in one folder; "
            "move one of them after the block",
    "python": "branches run at the same time and share the module's state: "
              "move one of the calls after the block, or put the tools in separate modules",
}
