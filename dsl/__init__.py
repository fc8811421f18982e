"""Parley as users meet it: parse, compile and (later) run scripts; diagnostics and errors."""

from dsl.diagnostics import Diagnostic, Severity, render
from dsl.errors import InternalError, ParleyError, RunError, ScriptError, UsageError
from dsl.fmt import format_source
from dsl.parser import ParseResult, parse, parse_expression, parse_path, parse_source
from dsl.program import Program, compile, load
from dsl.source import Source, Span

__all__ = [
    "Diagnostic", "InternalError", "ParleyError", "ParseResult", "Program", "RunError", "ScriptError", "Severity",
    "Source", "Span", "UsageError", "compile", "format_source", "load", "parse", "parse_expression", "parse_path",
    "parse_source", "render",
]
