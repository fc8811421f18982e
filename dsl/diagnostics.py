"""Diagnostics: one record for every problem found in a script, one renderer.

A diagnostic renders as::

    review.agent:12:9: error[P201]: unknown agent `writr`
       |
    12 | draft = @writr Draft a blurb about {topic}.
       |         ^^^^^^ not declared in this script
       |
    help: did you mean `writer` (declared at review.agent:4:7)?
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import attrs

from parley.dsl.source import Source, Span


class Severity(str, enum.Enum):
    """How bad a diagnostic is: errors stop a script, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


@attrs.frozen
class Diagnostic:
    """A problem in a script.

    `code` is stable (P0xx input, P1xx syntax, P2xx+ compiler) so docs and
    editors can refer to it; `label` is the short text under the caret;
    `help` says how to fix it.
    """

    code: str
    message: str
    span: Span
    severity: Severity = Severity.ERROR
    label: str = ""
    help: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_json(self) -> dict[str, Any]:
        """The diagnostic as plain data for editors (`parley check --json`)."""
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "span": attrs.asdict(self.span),
            "label": self.label,
            "help": self.help,
        }


def render(diagnostic: Diagnostic, source: Source | None, color: bool = False) -> str:
    """The diagnostic as text: header, the source line(s), a caret underline and the help line."""
    paint = _Paint(color)
    span = diagnostic.span
    severity = diagnostic.severity.value
    header = (
        f"{paint.bold(str(span))}: "
        f"{paint.severity(severity, f'{severity}[{diagnostic.code}]')}: {paint.bold(diagnostic.message)}"
    )
    out = [header]
    if source is not None and 1 <= span.line <= len(source.lines):
        gutter = len(str(span.line))
        bar = paint.blue(" " * gutter + " |")
        text = _visible(source.line_text(span.line))
        start = min(span.column, len(text) + 1)
        end = span.end_column if span.end_line == span.line else len(text)
        end = max(start, min(end, len(text) + 1))
        caret = " " * (start - 1) + "^" * (end - start + 1)
        label = f" {diagnostic.label}" if diagnostic.label else ""
        if span.end_line > span.line:
            label += f" (continues to line {span.end_line})"
        out += [
            bar,
            paint.blue(f"{span.line:>{gutter}} |") + (" " + text if text else ""),
            bar + " " + paint.severity(severity, caret + label),
            bar,
        ]
    if diagnostic.help:
        out.append(f"{paint.bold('help')}: {diagnostic.help}")
    return "\n".join(out)


def render_all(
    diagnostics: Iterable[Diagnostic], sources: Mapping[str, Source], color: bool = False
) -> str:
    """Several diagnostics separated by blank lines, each rendered against its own file."""
    return "\n\n".join(render(d, sources.get(d.span.file), color) for d in diagnostics)


def _visible(line: str) -> str:
    # Tabs would misalign the caret; show them as single spaces (columns count characters).
    return line.replace("\t", " ").rstrip("\r")


class _Paint:
    """ANSI colouring, or nothing when output is not a terminal."""

    _CODES: ClassVar[dict[str, str]] = {"error": "31", "warning": "33"}

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and text else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def blue(self, text: str) -> str:
        return self._wrap("34", text)

    def severity(self, severity: str, text: str) -> str:
        return self._wrap("1;" + self._CODES.get(severity, "31"), text)
