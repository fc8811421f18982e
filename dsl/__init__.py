"""Parley as users meet it: parsing, diagnostics, and (later) compiling and running scripts."""

from dsl.diagnostics import Diagnostic, Severity, render
from dsl.errors import InternalError, ParleyError, RunError, ScriptError, UsageError
from dsl.parser import ParseResult, parse, parse_expression, parse_path, parse_source
from dsl.source import Source, Span

__all__ = [
    "Diagnostic", "InternalError", "ParleyError", "ParseResult", "RunError", "ScriptError", "Severity",
    "Source", "Span", "UsageError", "parse", "parse_expression", "parse_path", "parse_source", "render",
]
