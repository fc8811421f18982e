"""`parley check`'s diagnostics as LSP diagnostics, and the documentation of each code for hovers."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from lsprotocol import types as t

from parley.dsl.diagnostics import Diagnostic
from parley.lsp.positions import Lines

#: Where each code is explained at length (linked from every diagnostic).
DOCS_URL = "https://github.com/parley-lang/parley/blob/main/docs/diagnostics.md"
_ROW = re.compile(r"^\|\s*(P\d{3})\s*\|\s*(\w+)\s*\|\s*(.+?)\s*\|\s*$")


def to_lsp(diagnostic: Diagnostic, lines: Lines) -> t.Diagnostic:
    """One diagnostic for the client: the same code and span, the message with its help."""
    message = diagnostic.message
    if diagnostic.label:
        message += f" ({diagnostic.label})"
    if diagnostic.help:
        message += f"\nhelp: {diagnostic.help}"
    return t.Diagnostic(
        range=lines.range(diagnostic.span),
        message=message,
        severity=t.DiagnosticSeverity.Error if diagnostic.is_error else t.DiagnosticSeverity.Warning,
        code=diagnostic.code,
        code_description=t.CodeDescription(href=DOCS_URL),
        source="parley",
    )


def by_file(diagnostics: Iterable[Diagnostic], lines_of: Callable[[str], Lines]) -> dict[str, list[t.Diagnostic]]:
    """The diagnostics grouped by the file their span is in (a script's imports have their own)."""
    grouped: dict[str, list[t.Diagnostic]] = {}
    for diagnostic in diagnostics:
        grouped.setdefault(diagnostic.span.file, []).append(to_lsp(diagnostic, lines_of(diagnostic.span.file)))
    return grouped


@functools.cache
def explained() -> dict[str, str]:
    """Each code's explanation from docs/diagnostics.md, when Parley runs from a checkout that has it."""
    page = Path(__file__).resolve().parents[2] / "docs" / "diagnostics.md"
    try:
        text = page.read_text(encoding="utf-8")
    except OSError:
        return {}
    found: dict[str, str] = {}
    for line in text.splitlines():
        if match := _ROW.match(line):
            found.setdefault(match.group(1), match.group(3))
    return found


def hover_text(diagnostic: Diagnostic) -> str:
    """A diagnostic as Markdown: what is wrong, how to fix it, and what its code means."""
    out = [f"**{diagnostic.severity.value}[{diagnostic.code}]**: {diagnostic.message}"]
    if diagnostic.help:
        out.append(f"help: {diagnostic.help}")
    meaning = explained().get(diagnostic.code)
    out.append(f"{diagnostic.code}: {meaning}" if meaning else f"[{diagnostic.code} in the docs]({DOCS_URL})")
    return "\n\n".join(out)
