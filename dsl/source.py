"""Source text and spans: where every node, step and diagnostic points.

Positions are 1-based and inclusive: a span covers lines `line`..`end_line`
and, on those lines, columns `column`..`end_column` (counted in characters).
A one-character span has `column == end_column`.
"""

from __future__ import annotations

import attrs


# A value, never changed once made (nothing assigns to a span's fields), so it hashes by its fields.
# It is not declared frozen: a frozen class's `__init__` sets each field through `object.__setattr__`,
# two thirds of the cost of making one, and a syntax tree makes a span for every node and token.
@attrs.define(unsafe_hash=True)
class Span:
    """A range of a source file: `file`, `line`, `column`, `end_line`, `end_column` (1-based, inclusive)."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def to(self, other: Span) -> Span:
        """The span from the start of this one to the end of `other`."""
        return Span(self.file, self.line, self.column, other.end_line, other.end_column)

    def shifted(self, file: str, line: int, column: int) -> Span:
        """This span, read as relative to a fragment that starts at `line`:`column` of `file`."""
        start_col = self.column + column - 1 if self.line == 1 else self.column
        end_col = self.end_column + column - 1 if self.end_line == 1 else self.end_column
        return Span(file, self.line + line - 1, start_col, self.end_line + line - 1, end_col)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@attrs.frozen
class Source:
    """A script's text as read, with its display name (the path as the user gave it)."""

    name: str
    text: str
    lines: tuple[str, ...] = attrs.field(init=False)

    @lines.default
    def _split(self) -> tuple[str, ...]:
        return tuple(self.text.split("\n"))

    def line_text(self, number: int) -> str:
        """Line `number` (1-based) without its newline; empty past the end."""
        if 1 <= number <= len(self.lines):
            return self.lines[number - 1]
        return ""

    def point(self, line: int, column: int, width: int = 1) -> Span:
        """A span of `width` characters starting at `line`:`column`."""
        return Span(self.name, line, column, line, column + max(width, 1) - 1)

    def end_span(self) -> Span:
        """A one-character span just after the last character of the file."""
        last = len(self.lines)
        while last > 1 and not self.lines[last - 1].strip():
            last -= 1
        column = len(self.line_text(last)) + 1
        return self.point(last, column)
