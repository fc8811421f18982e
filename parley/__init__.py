"""Parley: a programming language for conversations between LLM agents, humans and tools.

The front door. `parley.load(path)` / `parley.compile(text)` give a `Program`
(raising `ScriptError` with every diagnostic); `program.run(inputs, …)` or
`await program.run_async(…)` gives a `Result`; `parley.run(path, …)` does both.
The stages live inside this namespace: `parley.grammar`, `parley.dsl`
(syntax tree, diagnostics), `parley.compiler` (checks, the plan) and
`parley.runtime` (executing a plan). Names are loaded on first use, so
`import parley` costs no parser and no runtime.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# In a source checkout the stage folders sit beside this one (`grammar/`, `dsl/`, … at the
# repository's top) instead of inside it, as they are once installed. Run from the checkout
# (`python -m pytest`, `python -m parley`), `parley.dsl` is then found there.
_checkout = Path(__file__).resolve().parent.parent
if not (Path(__file__).parent / "dsl").is_dir() and (_checkout / "grammar" / "parley.lark").is_file():
    __path__.append(str(_checkout))

_EXPORTS = {
    "load": "parley.program", "compile": "parley.program", "run": "parley.program", "Program": "parley.program",
    "Result": "parley.runtime.results",
    "ParleyError": "parley.dsl.errors", "ScriptError": "parley.dsl.errors", "RunError": "parley.dsl.errors",
    "UsageError": "parley.dsl.errors", "HostError": "parley.dsl.errors", "InternalError": "parley.dsl.errors",
    "PlanError": "parley.dsl.errors", "FailureKind": "parley.dsl.errors",
    "Diagnostic": "parley.dsl.diagnostics", "Severity": "parley.dsl.diagnostics",
    "Event": "parley.runtime.events",
    "format_source": "parley.dsl.fmt", "parse": "parley.dsl.parser",
}

__all__ = sorted(_EXPORTS) + ["__version__"]

if TYPE_CHECKING:
    from parley.dsl.diagnostics import Diagnostic, Severity
    from parley.dsl.errors import (
        FailureKind, HostError, InternalError, ParleyError, PlanError, RunError, ScriptError, UsageError,
    )
    from parley.dsl.fmt import format_source
    from parley.dsl.parser import parse
    from parley.program import Program, compile, load, run
    from parley.runtime.events import Event
    from parley.runtime.results import Result


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'parley' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
