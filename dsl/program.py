"""The public API for compiled scripts: `compile`, `load` and `Program`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from dsl.diagnostics import Diagnostic, render_all
from dsl.errors import ScriptError, UsageError
from dsl.source import Source

if TYPE_CHECKING:  # the compiler imports dsl's syntax tree, so dsl imports it lazily
    from compiler import CompileResult
    from compiler.plan import Plan


@attrs.frozen
class Program:
    """A compiled script: its `plan` and the warnings found while compiling it."""

    plan: Plan
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, Source]

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if not d.is_error)

    def render_warnings(self, color: bool = False) -> str:
        return render_all(self.warnings, self.sources, color)

    def plan_json(self) -> str:
        """The plan as JSON (the format `parley plan --format json` prints)."""
        from compiler.serialize import plan_to_json

        return plan_to_json(self.plan)


def compile(source: str | bytes | os.PathLike[str], filename: str | None = None) -> Program:
    """Compile a script given as text (str or bytes) or as a path (`pathlib.Path`).

    Raises `ScriptError`, which renders every diagnostic, when the script has errors.
    """
    from compiler import compile_path, compile_source

    if isinstance(source, os.PathLike):
        result = compile_path(source, filename if filename is not None else os.fspath(source))
    elif isinstance(source, str | bytes):
        result = compile_source(source, filename or "<script>")
    else:
        raise UsageError(f"dsl.compile takes script text or a path, not {type(source).__name__}")
    return _program(result)


def load(path: str | os.PathLike[str]) -> Program:
    """Compile the script file at `path`."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"no script at {os.fspath(path)}")
    return compile(file, os.fspath(path))


def _program(result: CompileResult) -> Program:
    if result.plan is None:
        raise ScriptError(result.diagnostics, result.sources)
    return Program(result.plan, result.diagnostics, result.sources)
