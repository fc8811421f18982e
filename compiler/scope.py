"""Scopes and effects: which variables are visible where, and what each step reads and writes."""

from __future__ import annotations

import attrs

from parley.compiler import plan as p
from parley.dsl.source import Span

#: Resources that are not variables: console I/O (prints, human prompts), Python
#: tools and code execution. Steps using the same one keep their order.
IO = "io"
PYTHON = "python"
EXEC = "exec"


def thread(agent: str) -> str:
    """How the script's thread with `agent` appears in read and write sets."""
    return f"@{agent}"


@attrs.define
class Variable:
    """A variable, input, parameter or loop variable: where it was first bound, its type if known."""

    name: str
    span: Span
    kind: str
    type: p.TypeRef | None = None
    used: bool = False
    declared: p.TypeRef | None = None  # the type written at `x: T = …`, which every later value must have


@attrs.define
class Scope:
    """Names visible in the script's body, or in one def's body (which sees inputs but no script variables)."""

    kind: str
    variables: dict[str, Variable] = attrs.Factory(dict)
    inputs: dict[str, Variable] = attrs.Factory(dict)
    hidden: dict[str, Variable] = attrs.Factory(dict)

    def lookup(self, name: str) -> Variable | None:
        return self.variables.get(name) or self.inputs.get(name)


@attrs.define
class Effects:
    """What a piece of code reads and writes: variables, `@agent` threads, and resources."""

    reads: set[str] = attrs.Factory(set)
    writes: set[str] = attrs.Factory(set)

    def merge(self, other: Effects) -> None:
        self.reads |= other.reads
        self.writes |= other.writes

    def conflicts(self, other: Effects) -> set[str]:
        """What one writes and the other uses: these two cannot run at once."""
        return (self.writes & (other.reads | other.writes)) | (other.writes & self.reads)

    def frozen(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return tuple(sorted(self.reads)), tuple(sorted(self.writes))
