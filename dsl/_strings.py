"""Strings and prose → `Template`s: escapes, `{expr}` interpolation, dedent.

Every interpolated expression is parsed on its own and placed at its real
position in the file, so errors inside `{…}` point inside the text.
"""

from __future__ import annotations

import bisect
import re
from typing import TYPE_CHECKING

from parley.dsl import nodes as n
from parley.dsl._prose_edges import check_prose
from parley.dsl._tokens import Token, start_of
from parley.dsl.keywords import RESERVED
from parley.dsl.source import Span

if TYPE_CHECKING:
    from parley.dsl._build import TreeBuilder

_BRACES = re.compile(r"\{\{|\}\}|\{|\}")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}
_HELP_BRACES = "write `{{` and `}}` for literal braces"


def string_template(token: Token, builder: TreeBuilder) -> n.Template:
    """A quoted string token (`"…"`, `'…'`, triple-quoted, or raw `r"…"`) as a Template."""
    text = str(token)
    span = builder.span(token)
    if token.type == "RAW_STRING":
        quote = 3 if text[1:4] in ('"""', "\'\'\'") else 1
        content = text[1 + quote:-quote]
        parts: tuple[str | n.Interpolation, ...] = (content,) if content else ()
        if quote == 3:
            parts = _dedent(parts, content)
        return n.Template(parts=parts, kind="raw", span=span)
    quote = 3 if token.type == "LONG_STRING" else 1
    content = text[quote:-quote]
    splitter = _Splitter(token, builder, offset=quote, escapes=True)
    parts = splitter.split(content)
    if quote == 3:
        parts = _dedent(parts, content)
    template = n.Template(parts=parts, kind="string", span=span)
    return builder.deep(template, *parts)  # type: ignore[no-any-return]


def prose_template(token: Token, builder: TreeBuilder) -> n.Template:
    """The prose after `@agent` (to the end of the line) as a Template; no escapes."""
    check_prose(token, builder)
    text = str(token).rstrip()
    width = len(text)
    line, column = start_of(token)
    span = builder.rel_span(line, column, line, column + width - 1)
    parts = _Splitter(token, builder, offset=0, escapes=False).split(text)
    return builder.deep(n.Template(parts=parts, kind="prose", span=span), *parts)  # type: ignore[no-any-return]


class _Splitter:
    """Splits text into literal parts and interpolations, reporting brace mistakes."""

    def __init__(self, token: Token, builder: TreeBuilder, offset: int, escapes: bool) -> None:
        self.start_line, self.start_column = start_of(token)
        self.raw = str(token)
        self.builder = builder
        self.offset = offset
        self.escapes = escapes
        self._newlines: list[int] | None = None  # where the token's line ends are, found once when needed

    def split(self, content: str) -> tuple[str | n.Interpolation, ...]:
        if "{" not in content and "}" not in content:
            return (self.literal(content, 0),) if content else ()
        parts: list[str | n.Interpolation] = []
        buffer: list[str] = []
        start = position = 0
        while (match := _BRACES.search(content, position)) is not None:
            brace = match.group()
            if brace in ("{{", "}}"):
                buffer.append(self.literal(content[start:match.start()], start) + brace[0])
                start = position = match.end()
                continue
            if brace == "}":
                self.brace_error(match.start(), "single `}` in text", "unmatched", _HELP_BRACES)
                position = match.end()
                continue
            simple = _BRACED_NAME.match(content, match.start())  # `{topic}`: its `}` is plain to see
            close = simple.end() - 1 if simple is not None else _matching_brace(content, match.start())
            if close < 0:
                self.brace_error(
                    match.start(), "`{` is never closed", "opened here",
                    "close the interpolation with `}`, or " + _HELP_BRACES,
                )
                break
            buffer.append(self.literal(content[start:match.start()], start))
            if buffer and any(buffer):
                parts.append("".join(buffer))
            buffer = []
            parts.append(self.interpolation(content, match.start(), close))
            start = position = close + 1
        buffer.append(self.literal(content[start:], start))
        if any(buffer):
            parts.append("".join(buffer))
        return tuple(parts)

    def literal(self, text: str, index: int) -> str:
        if not self.escapes or "\\" not in text:
            return text

        def replace(match: re.Match[str]) -> str:
            char = match.group(1)
            if char in _ESCAPES:
                return _ESCAPES[char]
            self.builder.error(
                "P122", f"unknown escape `\\{char}`", self.span_at(index + match.start(), 2),
                "not an escape", "escapes are \\n \\t \\r \\0 \\\\ \\\" \\'; write \\\\ for a backslash, "
                "or use a raw string r\"…\" for patterns and paths",
            )
            return match.group()

        return _ESCAPE.sub(replace, text)

    def interpolation(self, content: str, open_index: int, close_index: int) -> n.Interpolation:
        span = self.span_at(open_index, close_index - open_index + 1)
        inner = content[open_index + 1:close_index]
        if not inner.strip():
            self.builder.error(
                "P123", "empty `{}` in text", span, "nothing to interpolate",
                "put an expression inside, like {topic}, or " + _HELP_BRACES,
            )
            return n.Interpolation(expr=n.Literal(value=None, span=span), span=span)
        line, column = self.position(open_index + 1)
        expr = _simple_reference(inner, line, column, self.builder.file)
        if expr is None:
            expr = self.builder.parse_expr(inner, line, column)
        if expr is None:
            expr = n.Literal(value=None, span=span)
        return self.builder.deep(n.Interpolation(expr=expr, span=span), expr)  # type: ignore[no-any-return]

    def brace_error(self, index: int, message: str, label: str, help: str) -> None:
        self.builder.error("P124", message, self.span_at(index, 1), label, help)

    def position(self, index: int) -> tuple[int, int]:
        """Absolute (line, column) of `content[index]`."""
        at = index + self.offset
        if self._newlines is None:  # counting from the start each time would cost the square of the text
            self._newlines = [match.start() for match in re.finditer("\n", self.raw)]
        before = bisect.bisect_left(self._newlines, at)
        line = self.start_line + before
        if before:
            column = at - self._newlines[before - 1]
        else:
            column = self.start_column + at
        builder = self.builder  # placed in the file as `builder.rel_span` places spans
        return line + builder.line0, column + (builder.column0 if line == 1 else 0)

    def span_at(self, index: int, width: int) -> Span:
        line, column = self.position(index)
        return Span(self.builder.file, line, column, line, column + width - 1)


_REFERENCE = re.compile(r"( *)([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*) *")
_BRACED_NAME = re.compile(r"\{[ A-Za-z0-9_.]*\}")


def _simple_reference(text: str, line: int, column: int, file: str) -> n.Expr | None:
    """`{name}` and `{a.b.c}` — nearly every interpolation — built without running the parser."""
    match = _REFERENCE.fullmatch(text)
    if match is None:
        return None
    words = match.group(2).split(".")
    if len(words) > 16 or any(word in RESERVED for word in words):
        return None
    start = column + len(match.group(1))
    expr: n.Expr = n.Name(id=words[0], span=Span(file, line, start, line, start + len(words[0]) - 1))
    end = start + len(words[0]) - 1
    for word in words[1:]:
        attr_span = Span(file, line, end + 2, line, end + 1 + len(word))
        end = attr_span.end_column
        expr = n.Attribute(value=expr, attr=word, attr_span=attr_span, span=Span(file, line, start, line, end))
    return expr


def _matching_brace(content: str, open_index: int) -> int:
    """Index of the `}` closing the `{` at `open_index`, skipping nested brackets and quotes; -1 if none."""
    depth = 0
    quote = ""
    index = open_index + 1
    while index < len(content):
        char = content[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                return index if char == "}" else -1
            depth -= 1
        elif char == "\n" and depth == 0:
            return -1
        index += 1
    return -1


def _dedent(parts: tuple[str | n.Interpolation, ...], content: str) -> tuple[str | n.Interpolation, ...]:
    """Triple-quoted text: drop a newline right after the quotes, a blank last line, and common indentation."""
    lines = content.split("\n")
    if len(lines) == 1:
        return parts
    body = [line for line in lines[1:] if line.strip()]
    indent = min((len(line) - len(line.lstrip(" ")) for line in body), default=0)
    strip = re.compile(rf"\n {{0,{indent}}}") if indent else None
    result: list[str | n.Interpolation] = []
    for part in parts:
        if isinstance(part, str) and strip is not None:
            part = strip.sub("\n", part)
        result.append(part)
    if result and isinstance(result[0], str) and result[0].startswith("\n"):
        result[0] = result[0][1:]
    if not lines[-1].strip() and result and isinstance(result[-1], str):
        result[-1] = re.sub(r"\n[ \t]*$", "", result[-1])
    return tuple(p for p in result if p != "")
