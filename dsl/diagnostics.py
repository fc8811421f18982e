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
import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import attrs
from parley.dsl.source import Source, Span


class Severity(str, enum.Enum):
    """How bad a diagnostic is: errors stop a script, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


#: A quoted piece of the script (a name, a token) longer than this is cut to its first KEPT_QUOTED characters.
MAX_QUOTED = 120
KEPT_QUOTED = 80
#: A message, label or help longer than this is cut (a backstop: messages are one line of prose).
MAX_MESSAGE = 1_000
#: A source line longer than this is shown clipped around the caret.
MAX_LINE_SHOWN = 160
#: How much of a clipped line is kept before the caret.
CONTEXT_BEFORE = 80

_LONG_QUOTE = re.compile(rf"`([^`\n]{{{KEPT_QUOTED}}})[^`\n]{{{MAX_QUOTED - KEPT_QUOTED + 1},}}`")


def clip_text(text: str) -> str:
    """`text` with each long `quoted` piece shortened to its start and `…`, and at most MAX_MESSAGE characters."""
    if len(text) <= MAX_QUOTED:
        return text
    text = _LONG_QUOTE.sub(lambda m: f"`{m.group(1)}…`", text)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _clip_help(text: str | None) -> str | None:
    return None if text is None else clip_text(text)


@attrs.frozen
class Diagnostic:
    """A problem in a script.

    `code` is stable (P0xx input, P1xx syntax, P2xx+ compiler) so docs and
    editors can refer to it; `label` is the short text under the caret;
    `help` says how to fix it.
    """

    code: str
    message: str = attrs.field(converter=clip_text)
    span: Span = attrs.field()
    severity: Severity = Severity.ERROR
    label: str = attrs.field(default="", converter=clip_text)
    help: str | None = attrs.field(default=None, converter=_clip_help)

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


@attrs.frozen
class Omitted(Diagnostic):
    """The note that ends a capped list: how many errors and warnings were counted but not shown.

    Scripts (and the files they import) can hold thousands of mistakes; showing
    each would bury the first ones and take unbounded time and memory, so the
    list is cut (see `parley.dsl.caps`) and this note keeps the totals honest.
    """

    errors: int = 0
    warnings: int = 0

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "omitted": {"errors": self.errors, "warnings": self.warnings}}


def tally(diagnostics: Iterable[Diagnostic]) -> tuple[int, int]:
    """(errors, warnings) found, counting those an `Omitted` note stands for (the note itself is not counted)."""
    errors = warnings = 0
    for diagnostic in diagnostics:
        if isinstance(diagnostic, Omitted):
            errors, warnings = errors + diagnostic.errors, warnings + diagnostic.warnings
        elif diagnostic.is_error:
            errors += 1
        else:
            warnings += 1
    return errors, warnings


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
        text, start, end = _clip_line(text, start, end)
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


def _clip_line(text: str, start: int, end: int) -> tuple[str, int, int]:
    """A long line cut to MAX_LINE_SHOWN characters around the caret's start, `…` marking each cut.

    Returns the text shown and the caret's columns in it (1-based, inclusive).
    """
    if len(text) <= MAX_LINE_SHOWN:
        return text, start, end
    left = max(0, min(start - 1 - CONTEXT_BEFORE, len(text) + 1 - MAX_LINE_SHOWN))
    right = min(len(text), left + MAX_LINE_SHOWN)
    prefix = "…" if left > 0 else ""
    suffix = "…" if right < len(text) else ""
    shift = len(prefix) - left
    start = start + shift
    end = min(end, right + 1) + shift
    return prefix + text[left:right] + suffix, start, max(start, end)


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
