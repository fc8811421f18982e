"""The formatter's printer: lines, indentation, comments and blank lines around the tokens.

It walks the tokens (`dsl._fmt_tokens`) and looks at the text between each
two of them, which holds only spaces, line breaks and comments:

- no line break: the tokens share a line, spaced by `space_between`;
- a line break outside brackets: a new statement, indented 4 spaces per
  block depth;
- a line break inside brackets: kept where the author put it, the new line
  indented one level deeper than the line that opened the innermost bracket
  (a line starting with the closing bracket goes back to that line's level).

A comment at the end of a line stays there, two spaces after the code. A
comment on its own line stays on its own line: indented like the statement
after it, or, where blocks end, like the block its original column puts it in
(so a comment closing a block stays in that block). Blank lines are the
author's, with runs squeezed to one and none at the start or end of the file
or block; a top-level `agent`/`type`/`def` with a block always has one blank
line before it (and its comments) and after it.

Prose, strings and comment text are copied as they are. The one exception:
the continuation lines of a triple-quoted string move with the line the
string starts on, when (and only when) that leaves the string's value
unchanged, which `same_value` confirms.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from parley.dsl._fmt_tokens import Tok, space_between

INDENT = 4


@attrs.frozen
class Comment:
    """A comment on its own line: its text (trailing spaces removed) and original column (0-based)."""

    text: str
    column: int


#: A gap line holding nothing: a blank line.
Blank = None
Item = Comment | None
#: A line to write: its block level and comment, or (0, Blank).
Placed = tuple[int, Item]


def layout(text: str, toks: list[Tok], same_value: Callable[[str, str], bool]) -> str:
    """The formatted script; `same_value(old, new)` says whether two string literals mean the same."""
    return _Printer(text, same_value).run(toks)


class _Printer:
    def __init__(self, text: str, same_value: Callable[[str, str], bool]) -> None:
        self.text = text
        self.same_value = same_value
        self.lines: list[str] = []
        self.pieces: list[str] = []  # the line being written
        self.level = 0  # its block level (continuation lines: its bracket level)
        self.opened: list[int] = []  # for each open bracket, the level of the line that opened it
        self.moved: dict[int, int] = {}  # original line → how many columns its start moved right

    def run(self, toks: list[Tok]) -> str:
        prev: Tok | None = None
        for tok in toks:
            gap = self.text[prev.end if prev else 0:tok.start]
            if prev is None:
                self.write(_statement_gap(_own_lines(gap.split("\n")[:-1]), None, tok))
                self.start(tok.depth, tok)
            elif "\n" not in gap:
                self.pieces.append(space_between(prev, tok))
            else:
                self.line_break(prev, tok, gap)
            self.emit(tok)
            prev = tok
        gap = self.text[prev.end if prev else 0:]
        segments = gap.split("\n")
        if prev is not None:
            self.finish(segments[0])
            segments = segments[1:]
        self.write(_statement_gap(_own_lines(segments), prev, None))
        return "".join(line + "\n" for line in self.lines)

    def line_break(self, prev: Tok, tok: Tok, gap: str) -> None:
        segments = gap.split("\n")
        self.finish(segments[0])
        items = _own_lines(segments[1:-1])
        if self.opened:
            inner = self.opened[-1] + 1
            self.write(_bracket_gap(items, inner, after_opener=prev.opener, before_closer=tok.closer))
            self.start(self.opened[-1] if tok.closer else inner, tok)
        else:
            self.write(_statement_gap(items, prev, tok))
            self.start(tok.depth, tok)

    def start(self, level: int, tok: Tok) -> None:
        """Begin a line at `level` with `tok` (its first token)."""
        self.level = level
        self.pieces = [" " * (INDENT * level)]
        self.moved[tok.line] = INDENT * level - (tok.column - 1)

    def emit(self, tok: Tok) -> None:
        text = tok.text
        if "\n" in text:
            delta = self.moved.get(tok.line, 0)
            shifted = _shift(text, delta) if delta else None
            if shifted is not None and self.same_value(text, shifted):
                text = shifted
            else:
                delta = 0
            self.moved[tok.end_line] = delta
        self.pieces.append(text)
        if tok.opener:
            self.opened.append(self.level)
        elif tok.closer and self.opened:
            self.opened.pop()

    def finish(self, rest: str) -> None:
        """End the current line; `rest` is what followed its last token (a comment, or spaces)."""
        comment = rest.strip()
        if comment:
            self.pieces.append("  " + comment)
        self.lines.append("".join(self.pieces))
        self.pieces = []

    def write(self, placed: list[Placed]) -> None:
        for level, item in placed:
            self.lines.append("" if item is Blank else " " * (INDENT * level) + item.text)


def _own_lines(segments: list[str]) -> list[Item]:
    """Whole lines between two statements: each blank or a comment."""
    items: list[Item] = []
    for segment in segments:
        stripped = segment.strip(" \t\f")
        items.append(Comment(stripped, len(segment) - len(segment.lstrip(" \t\f"))) if stripped else Blank)
    return items


def _statement_gap(items: list[Item], prev: Tok | None, tok: Tok | None) -> list[Placed]:
    """Place the comments and blank lines between two statements (or the file's edges)."""
    before = prev.depth if prev else 0
    after = tok.depth if tok else 0
    widths = prev.widths if prev else (0,)
    placed: list[Placed] = []
    deepest = before
    for item in items:
        if item is Blank:
            placed.append((0, Blank))
            continue
        level = after
        if after < before:
            # Ending blocks: the comment stays in the innermost block its column reaches,
            # and never goes back into a block an earlier comment already left.
            for candidate in range(after, deepest + 1):
                if widths[candidate] <= item.column:
                    level = candidate
            deepest = level
        placed.append((level, item))
    if prev is not None and prev.decl_end and tok is not None:
        inside = [i for i, (level, item) in enumerate(placed) if item is not Blank and level > after]
        placed.insert(inside[-1] + 1 if inside else 0, (0, Blank))
    if prev is not None and tok is not None and tok.decl_start:
        attached = len(placed)
        while attached > 0 and placed[attached - 1][1] is not Blank and placed[attached - 1][0] == after:
            attached -= 1
        placed.insert(attached, (0, Blank))
    return _squeeze(placed, leading=prev is None or after > before, trailing=tok is None)


def _bracket_gap(items: list[Item], level: int, after_opener: bool, before_closer: bool) -> list[Placed]:
    """Comments and blank lines inside brackets, all at the brackets' content level."""
    return _squeeze([(level, item) for item in items], leading=after_opener, trailing=before_closer)


def _squeeze(placed: list[Placed], leading: bool, trailing: bool) -> list[Placed]:
    """Runs of blank lines become one; `leading`/`trailing` drop them at the start/end."""
    result: list[Placed] = []
    for entry in placed:
        if entry[1] is Blank and ((not result and leading) or (result and result[-1][1] is Blank)):
            continue
        result.append(entry)
    while trailing and result and result[-1][1] is Blank:
        result.pop()
    return result


def _shift(text: str, delta: int) -> str | None:
    """A multi-line string's text with its continuation lines moved `delta` columns; None if they cannot move."""
    lines = text.split("\n")
    moved = [lines[0]]
    for index, line in enumerate(lines[1:], start=1):
        spaces = len(line) - len(line.lstrip(" "))
        if not line.strip():
            moved.append(line)  # a blank line inside the string stays as it is
        elif delta > 0:
            moved.append(" " * delta + line)
        elif spaces >= -delta:
            moved.append(line[-delta:])
        elif index == len(lines) - 1 and line.strip() in ('"""', "'''"):
            moved.append(line.lstrip(" "))  # closing quotes on their own line
        else:
            return None
    return "\n".join(moved)
