"""Positions: Parley's spans (1-based, inclusive, counted in characters) to LSP ranges and back.

LSP counts lines and columns from 0, ends ranges after their last character,
and measures columns in the code units the client and server agreed on
(UTF-16 unless the client offers another), so a line with an emoji shifts
every column after it.
"""

from __future__ import annotations

import re

from lsprotocol import types as t

from parley.dsl.source import Span

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Lines:
    """One file's lines and the position encoding in use, to convert columns."""

    def __init__(self, text: str, encoding: str | None = None) -> None:
        self.lines = text.split("\n")
        self.encoding = str(encoding or t.PositionEncodingKind.Utf16.value)

    def line(self, index: int) -> str:
        """Line `index` (0-based) without its newline; empty past the end."""
        return self.lines[index].rstrip("\r") if 0 <= index < len(self.lines) else ""

    def _units(self, text: str) -> int:
        if self.encoding == "utf-8":
            return len(text.encode("utf-8", "surrogatepass"))
        if self.encoding == "utf-32":
            return len(text)
        return len(text.encode("utf-16-le", "surrogatepass")) // 2

    def client(self, line: int, char: int) -> t.Position:
        """The LSP position of 0-based `line` and character offset `char`."""
        return t.Position(line=max(line, 0), character=self._units(self.line(line)[:max(char, 0)]))

    def char(self, position: t.Position) -> int:
        """The character offset in its line of an LSP position."""
        text = self.line(position.line)
        if self.encoding == "utf-32":
            return min(position.character, len(text))
        units = 0
        for index, ch in enumerate(text):
            if units >= position.character:
                return index
            units += self._units(ch)
        return len(text)

    def range(self, span: Span) -> t.Range:
        """The LSP range of a span (its end is the character after the span's last)."""
        start = self.client(span.line - 1, span.column - 1)
        end = self.client(span.end_line - 1, span.end_column)
        if (end.line, end.character) < (start.line, start.character):
            end = start
        return t.Range(start=start, end=end)

    def word_at(self, position: t.Position) -> tuple[str, int, int] | None:
        """The name under or just before the cursor: (word, start, end) as character offsets, or None."""
        text = self.line(position.line)
        at = self.char(position)
        for match in _WORD.finditer(text):
            if match.start() <= at <= match.end():
                return match.group(), match.start(), match.end()
        return None


def contains(span: Span, line: int, char: int) -> bool:
    """Does `span` cover 0-based `line` and character offset `char`?"""
    start = (span.line - 1, span.column - 1)
    end = (span.end_line - 1, span.end_column)
    return start <= (line, char) <= end
