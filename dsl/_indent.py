"""The post-lexer: indentation to _INDENT/_DEDENT tokens, bracket matching, nesting limits.

Lark's `Indenter` in spirit (the post-lexer of Lark's parser and of
`dsl._lalr`), with the checks a user needs: tabs in indentation, a dedent to a
column no block started at, brackets closed by the wrong kind, and a cap on
nesting so no later stage can recurse too deep.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from parley.dsl._tokens import Token, start_of

MAX_NESTING = 100

_OPENERS = {"LPAR": "(", "LSQB": "[", "LBRACE": "{"}
_CLOSERS = {"RPAR": "(", "RSQB": "[", "RBRACE": "{"}
_CLOSING_OF = {"(": ")", "[": "]", "{": "}"}
#: Keywords that continue the statement above them at the same indentation.
_CONTINUING = frozenset({"ELIF", "ELSE"})


class LayoutError(Exception):
    """A layout mistake found while lexing; `kind` selects the diagnostic."""

    def __init__(self, kind: str, line: int, column: int, width: int = 1, detail: str = "") -> None:
        super().__init__(kind)
        self.kind = kind
        self.line = line
        self.column = column
        self.width = width
        self.detail = detail


class ParleyIndenter:
    """Turns `_NEWLINE` tokens into layout; ignores newlines inside brackets.

    Each parse gets its own `Layout`: an interpolation is parsed while the
    file around it is (its nodes are built during the parse), and must not
    disturb the file's open blocks and brackets. `layout` is the state of the
    parse started last, which explains that parse's error.
    """

    always_accept = ("_NEWLINE",)

    def __init__(self) -> None:
        self.layout = Layout()

    @property
    def brackets(self) -> list[Token]:
        return self.layout.brackets

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        self.layout = Layout()
        return self.layout.process(stream)

    def complete_before(self, line: int, column: int) -> int:
        """A line above which every statement was parsed whole (see `Layout.complete_before`)."""
        return self.layout.complete_before(line, column)

    @contextlib.contextmanager
    def nested(self) -> Iterator[None]:
        """A parse inside this block (an interpolation, an example) leaves `layout` as it found it."""
        outer = self.layout
        try:
            yield
        finally:
            self.layout = outer


class Layout:
    """One parse's open blocks (`indents`) and brackets, and where its last statements start."""

    def __init__(self) -> None:
        self.brackets: list[Token] = []
        self.indents: list[int] = [0]
        # Where the last two top-level statements read so far start (line, column).
        self._starts: tuple[tuple[int, int], tuple[int, int]] = ((1, 1), (1, 1))

    def complete_before(self, line: int, column: int) -> int:
        """A line above which every statement was parsed whole, for a failure at `line`:`column`.

        A token after a top-level newline that the parser accepts proves the
        statement before it complete (only `elif`/`else` continue one there).
        Error recovery need not parse those lines again.
        """
        previous, current = self._starts
        return previous[0] if (line, column) <= current else current[0]

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        last: Token | None = None
        before: Token | None = None  # the token before `last`
        top_level = False  # a newline at depth 0 came last: the next token may start a statement
        for token in stream:
            kind = token.type
            if kind == "_NEWLINE":
                if not self.brackets:
                    yield from self._newline(token, last)
                    top_level = len(self.indents) == 1
                continue
            if top_level and kind not in _CONTINUING:
                self._starts = (self._starts[1], start_of(token))
            top_level = False
            if before is not None and before.type == "AGENT" and _word_after_quoted_ask(before, last, token):
                line, column = start_of(token)
                raise LayoutError("quoted-prose", line, column, width=len(str(token)), detail=str(before))
            before, last = last, token
            if kind in _OPENERS:
                self.brackets.append(token)
                if len(self.brackets) + len(self.indents) - 1 > MAX_NESTING:
                    raise LayoutError("nesting", *start_of(token))
            elif kind in _CLOSERS:
                if not self.brackets:
                    raise LayoutError("unopened", *start_of(token), detail=str(token))
                opener = self.brackets.pop()
                if _OPENERS[opener.type] != _CLOSERS[kind]:
                    raise LayoutError(
                        "mismatched", *start_of(token),
                        detail=f"{opener}|{opener.line}|{opener.column}|{token}",
                    )
            yield token
        line, column = _end_of(last)
        while len(self.indents) > 1:
            self.indents.pop()
            yield Token("_DEDENT", "", 0, line, column, line, column, 0)

    def _newline(self, token: Token, last: Token | None) -> Iterator[Token]:
        # Layout tokens are placed, zero-width, right after the line's last real token,
        # so a statement's span ends where its text ends (not on the next line, not
        # after a trailing comment).
        at_line, at_column = _end_of(last) if last is not None else start_of(token)
        yield Token("_NEWLINE", str(token), token.start_pos, at_line, at_column, at_line, at_column, token.start_pos)
        text = str(token)
        indent_text = text.rsplit("\n", 1)[1]
        line = (token.end_line or 1)
        if "\t" in indent_text:
            raise LayoutError("tab", line, indent_text.index("\t") + 1)
        indent = len(indent_text)
        if indent > self.indents[-1]:
            self.indents.append(indent)
            if len(self.indents) - 1 + len(self.brackets) > MAX_NESTING:
                raise LayoutError("nesting", line, indent + 1)
            yield Token("_INDENT", indent_text, token.end_pos, line, 1, line, indent + 1, token.end_pos)
            return
        if indent == self.indents[-1]:
            return
        levels = ",".join(str(level) for level in self.indents)  # for the error below: the levels before
        while indent < self.indents[-1]:
            self.indents.pop()
            yield Token("_DEDENT", indent_text, token.start_pos, at_line, at_column, at_line, at_column, token.start_pos)
        if indent != self.indents[-1]:
            raise LayoutError(
                "dedent", line, 1, width=max(indent, 1),
                detail=levels,
            )


_QUOTED = frozenset({"STRING", "RAW_STRING", "LONG_STRING"})


def _word_after_quoted_ask(before: Token | None, last: Token | None, token: Token) -> bool:
    """`@w "Quoted" and more`: a word right after a string ask, on its line.

    It would parse as `(@w "Quoted") and more`, which is almost never what the
    writer meant; the diagnostic asks for the whole instruction quoted, or no quotes.
    """
    if before is None or last is None or before.type != "AGENT" or last.type not in _QUOTED:
        return False
    text = str(token)
    return token.line == last.end_line and bool(text) and (text[0].isalnum() or text[0] == "_")


def _end_of(token: Token | None) -> tuple[int, int]:
    """(line, column) just after `token` (1-based); the start of the file without one."""
    if token is None:
        return 1, 1
    return token.end_line or token.line or 1, token.end_column or token.column or 1
