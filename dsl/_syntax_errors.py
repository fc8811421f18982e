"""Lark's exceptions → diagnostics people can act on.

Parse errors are matched against the labelled mistakes in
`grammar/syntax_errors.py` with Lark's `match_examples`; lexer and layout
errors are explained directly; a word close to a keyword gets "did you mean".
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable
from typing import cast

from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr
from parley.dsl._indent import MAX_NESTING, LayoutError
from parley.dsl._lark import building, parser, postlexer
from parley.dsl._tokens import start_of
from parley.dsl.diagnostics import Diagnostic
from parley.dsl.source import Source, Span
from parley.grammar.syntax_errors import MISTAKES

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CLOSERS = {"RPAR": "(", "RSQB": "[", "RBRACE": "{"}
_NAMED_TERMINALS = {
    "NAME": "a name", "FIELD": "a name", "STRING": "a string", "LONG_STRING": "a string", "RAW_STRING": "a string",
    "INT": "a number", "FLOAT": "a number", "DURATION": "a duration", "MONEY": "an amount",
    "AGENT": "`@agent`", "AGENT_QUESTION": "`@agent?`", "PROSE": "a message",
    "_NEWLINE": "end of line", "_INDENT": "an indented block", "_DEDENT": "end of block", "$END": "end of file",
}


@functools.cache
def _keywords() -> dict[str, str]:
    """Terminal name → keyword text, for every keyword-like string terminal of the grammar."""
    return {
        t.name: t.pattern.value
        for t in parser().terminals
        if isinstance(t.pattern, PatternStr) and _WORD.fullmatch(t.pattern.value)
    }


@functools.cache
def _statement_keywords() -> tuple[str, ...]:
    return tuple(sorted(set(_keywords().values()) | {"says", "turns", "select", "flow", "manager", "reply"}))


@functools.cache
def _line_start_keywords() -> tuple[str, ...]:
    """Keywords that can begin a line: those a statement starts with, and the block clauses.

    A misspelt first word is only compared with these (`const` is not `cost`).
    """
    table = parser().parser.parser.parser.parse_table
    keywords = _keywords()
    starts = {keywords[t] for t in table.states[table.start_states["start"]] if t in keywords}
    starts -= {"true", "false", "none", "not"}
    return tuple(sorted(starts | {"elif", "else", "until", "select", "flow", "manager", "reply"}))


def describe_terminal(name: str) -> str:
    """How a terminal is named in messages: `if`, `:`, a name, end of line…"""
    if name in _NAMED_TERMINALS:
        return _NAMED_TERMINALS[name]
    for terminal in parser().terminals:
        if terminal.name == name and isinstance(terminal.pattern, PatternStr):
            return f"`{terminal.pattern.value}`"
    return name.lower()


def describe_token(token: Token) -> str:
    if token.type in ("NAME", "INT", "FLOAT"):
        return f"`{token}`"
    if token.type in ("STRING", "LONG_STRING", "RAW_STRING"):
        return "a string"
    if token.type == "PROSE":  # lexed only as a fallback: a character that starts no token
        return f"`{str(token)[0]}`"
    if token.type in ("AGENT", "AGENT_QUESTION"):
        return f"`{token}`"
    return describe_terminal(token.type)


class _StateAt:
    """An example's parser state, equal to any state at the same automaton position.

    Lark compares whole parser stacks, so a mistake on line 1 would not match
    the same mistake after other statements or inside a block; the position
    (the LALR state) is what identifies the mistake.
    """

    def __init__(self, state: object) -> None:
        self.position = getattr(state, "position", state)

    def __eq__(self, other: object) -> bool:
        return self.position == getattr(other, "position", other)

    def __hash__(self) -> int:
        return hash(self.position)

    def __index__(self) -> int:  # Lark's debug log formats states with %d
        return int(self.position) if isinstance(self.position, int) else 0


class _ExampleParser:
    """Parses the labelled examples once; `match_examples` then replays the stored failures."""

    def __init__(self) -> None:
        self._failures: dict[str, UnexpectedInput | None] = {}

    def __call__(self, text: str) -> None:
        if text not in self._failures:
            # Parsing an example must leave the post-lexer's layout, whose open brackets
            # the caller still needs to explain (and recover from) the real error; and it
            # builds no nodes (it may run while a file's nodes are built, for an interpolation).
            try:
                with postlexer().nested(), building(None):
                    parser().parse(text, start="start")
                self._failures[text] = None
            except UnexpectedInput as error:
                error.state = _StateAt(error.state)
                if isinstance(error, UnexpectedToken):
                    error.accepts  # noqa: B018 - computed now, so the parser state can go
                    error.interactive_parser = None  # type: ignore[assignment]
                error.__traceback__ = None
                self._failures[text] = error
            except LayoutError:
                self._failures[text] = None
        failure = self._failures[text]
        if failure is not None:
            raise failure

    def forget_frames(self) -> None:
        """Each re-raise chains the caller's frames onto the stored error: drop them, or every
        parse that ever failed would stay in memory."""
        for failure in self._failures.values():
            if failure is not None:
                failure.__traceback__ = None
                failure.__context__ = None


_examples = _ExampleParser()
# `match_examples` only calls its parse function for the error it raises and ignores any result,
# but Lark annotates it as returning a Tree; ours returns nothing, so the annotation is wrong here.
_parse_example = cast("Callable[[str], Tree]", _examples)


def match_mistake(error: UnexpectedInput, before: str | None = None, first_in_chat: bool = False) -> str | None:
    """The label of the known mistake that fails like `error` does, if any.

    `before` is the line so far, up to the unexpected token; a mistake with a
    `context` applies only where that pattern matches it (the parser is in
    the same state after `tell critic Be` as after `x = a`), and one marked
    `first_in_chat` only when `first_in_chat` is true. An `exact`
    mistake is about the unexpected token itself (`=` for `==`, a reserved
    word as a name), so it only applies when one of its examples fails in the
    same state on the same kind of token; otherwise the next best mistake is
    tried.
    """
    examples = {
        label: list(mistake.examples)
        for label, mistake in MISTAKES.items()
        if before is None
        or (not mistake.context or _context(mistake.context).search(before))
        and (not mistake.first_in_chat or first_in_chat)
    }
    if not isinstance(error.state, _StateAt):
        error.state = _StateAt(error.state)
    while examples:
        try:
            label = error.match_examples(_parse_example, examples, token_type_match_fallback=True)
        except UnexpectedInput:  # pragma: no cover - defensive: an example broke the contract
            return None
        finally:
            _examples.forget_frames()
        if label is None or not MISTAKES[label].exact or _same_kind_of_token(label, error):
            return label
        del examples[label]
    return None


@functools.cache
def _context(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _line_before(token: Token, source: Source) -> tuple[int, str]:
    """The number of `token`'s line and its text up to `token` (the last line, for end of file)."""
    if token.type == "$END" or not token.line:
        return len(source.lines), source.lines[-1]
    return token.line, source.line_text(token.line)[: (token.column or 1) - 1]


_CHAT_WORD = re.compile(r"\b(?:chat|group)\b")
_BLOCK_END = re.compile(r":[ \t]*(?:#|$)")


def _first_in_chat(line: int, source: Source) -> bool:
    """Whether line `line` is the first of a `chat`/`group` block: the code line above it is the header.

    Plain scans, each character read a bounded number of times, so a
    megabyte-long header costs no more than reading it.
    """
    index = line - 2
    while index >= 0 and (not source.lines[index].strip() or source.lines[index].lstrip().startswith("#")):
        index -= 1
    if index < 0:
        return False
    header = source.lines[index]
    word = _CHAT_WORD.search(header)
    return word is not None and _BLOCK_END.search(header, word.end()) is not None


_EXPRESSION_STARTS = frozenset({"NAME", "string", "number", "AGENT", "AGENT_QUESTION"})


def _after_expression(error: UnexpectedToken) -> str | None:
    """A word, number or string right after a complete expression, in a state no example covers.

    Inside brackets a `,` is missing between items; elsewhere two expressions
    stand side by side. (Which items came before changes the parser state, so
    the examples cannot cover every case.)
    """
    accepts = error.accepts or error.expected
    if _token_kind(error.token) not in _EXPRESSION_STARTS or "PLUS" not in accepts:
        return None
    if postlexer().brackets and "COMMA" in accepts:
        return "missing-comma"
    if "_NEWLINE" in accepts and not postlexer().brackets:
        return "juxtaposed"
    return None


def _token_kind(token: Token | None) -> str:
    """Token types grouped as a reader sees them: any keyword, any string, any number."""
    if token is None:
        return ""
    if token.type in _keywords():
        return "keyword"
    if token.type in ("STRING", "LONG_STRING", "RAW_STRING"):
        return "string"
    if token.type in ("INT", "FLOAT", "DURATION", "MONEY"):
        return "number"
    return token.type


def _same_kind_of_token(label: str, error: UnexpectedInput) -> bool:
    kind = _token_kind(getattr(error, "token", None))
    for example in MISTAKES[label].examples:
        try:
            _examples(example)
        except UnexpectedInput as failure:
            if failure.state == error.state and _token_kind(getattr(failure, "token", None)) == kind:
                return True
    return False


def diagnose(error: Exception, source: Source) -> Diagnostic:
    """One diagnostic for one failure of the parser, lexer or layout."""
    if isinstance(error, LayoutError):
        return _layout(error, source)
    if isinstance(error, UnexpectedCharacters):
        return _characters(error, source)
    if isinstance(error, UnexpectedToken):
        return _token(error, source)
    span = source.point(getattr(error, "line", 1) or 1, getattr(error, "column", 1) or 1)
    return Diagnostic("P100", "invalid syntax", span, label="here")


def token_span(token: Token, source: Source) -> Span:
    if token.type == "$END" or not token.line:
        return source.end_span()
    if token.type == "_NEWLINE":
        return source.point(token.line, token.column or 1)
    width = len(str(token).split("\n", 1)[0]) if token.type not in ("_INDENT", "_DEDENT") else 1
    if token.type == "_INDENT":
        width = max(len(str(token)), 1)
        return source.point(token.line, 1, width)
    return source.point(token.line, token.column or 1, width)


def _token(error: UnexpectedToken, source: Source) -> Diagnostic:
    token = error.token
    if token.type == "PROSE":
        # Prose is only valid after `@agent`; elsewhere the lexer's fallback found a
        # character that starts no token, so explain that character.
        return _character_at(*start_of(token), str(token)[0], source)
    span = token_span(token, source)
    open_brackets = postlexer().brackets
    if token.type in _CLOSERS and error.token_history is not None:
        # The contextual lexer (which alone sets `token_history`) rejected a closing
        # bracket before the bracket matcher saw it: explain the bracket mistake.
        if not open_brackets:
            return _layout(LayoutError("unopened", token.line, token.column, detail=str(token)), source)
        opener = open_brackets[-1]
        if _CLOSERS[token.type] != str(opener):
            detail = f"{opener}|{opener.line}|{opener.column}|{token}"
            return _layout(LayoutError("mismatched", token.line, token.column, detail=detail), source)
    if open_brackets:
        opener = open_brackets[-1]
        opener_line, opener_column = start_of(opener)
        if token.type == "$END" or (token.line or 0) > opener_line:
            closing = {"(": ")", "[": "]", "{": "}"}[str(opener)]
            return Diagnostic(
                "P103", f"`{opener}` was never closed", source.point(opener_line, opener_column),
                label="opened here", help=f"close it with `{closing}`",
            )
    suggestion = _did_you_mean(error, source)
    if suggestion is not None:
        return suggestion
    line, before = _line_before(token, source)
    label = match_mistake(error, before, _first_in_chat(line, source)) or _after_expression(error)
    found = describe_token(token)
    if label is not None:
        mistake = MISTAKES[label]
        found_text = str(token) if _WORD.fullmatch(str(token)) else "name"
        agent = _last_agent(source, token) or "agent"
        previous = _previous_word(source, token)
        if mistake.at_previous and previous is not None:
            span = previous[1]
        replacements = {
            "{found}": found, "{found_text}": found_text, "{agent}": agent,
            "{previous}": f"`{previous[0]}`" if previous is not None else "the word before it",
            "{previous_text}": previous[0] if previous is not None else "name",
        }
        message, help = mistake.message, mistake.help
        for placeholder, value in replacements.items():
            message, help = message.replace(placeholder, value), help.replace(placeholder, value)
        if label == "unknown-statement" and previous is not None and _declares_agent(source, previous[0]):
            help = f"`{previous[0]}` is an agent: to ask it, write `@{previous[0]}` and the message"
        return Diagnostic(mistake.code, message, span, label=mistake.label, help=help)
    expected = sorted({describe_terminal(name) for name in error.accepts or error.expected})
    shown = ", ".join(expected[:8]) + (", …" if len(expected) > 8 else "")
    bare = re.sub(r"^an? ", "", found)  # "unexpected string", not "unexpected a string"
    return Diagnostic(
        "P100", f"unexpected {bare}", span, label="unexpected here", help=f"expected one of: {shown}",
    )


def _did_you_mean(error: UnexpectedToken, source: Source) -> Diagnostic | None:
    """A word that is almost a keyword: either the unexpected word, or the line's first word."""
    token = error.token
    keywords = _keywords()
    if token.type == "NAME":
        expected = sorted({keywords[t] for t in (error.accepts or error.expected) if t in keywords})
        close = difflib.get_close_matches(str(token), expected, n=1, cutoff=0.7)
        if close:
            return Diagnostic(
                "P132", f"unknown word `{token}`", token_span(token, source), label="not understood here",
                help=f"did you mean `{close[0]}`?",
            )
    line = source.line_text(token.line or 0) if token.line else ""
    first = _WORD.match(line.lstrip())
    if first is None or token.line is None:
        return None
    word = first.group()
    column = len(line) - len(line.lstrip()) + 1
    if word in _statement_keywords() or (token.column or 0) <= column:
        return None
    close = difflib.get_close_matches(word, _line_start_keywords(), n=1, cutoff=0.75)
    if not close:
        return None
    return Diagnostic(
        "P132", f"unknown word `{word}`", source.point(token.line, column, len(word)),
        label="not a keyword", help=f"did you mean `{close[0]}`?",
    )


def _previous_word(source: Source, token: Token) -> tuple[str, Span] | None:
    """The word or operator just before `token` on its line, with its span (for `{previous}`)."""
    if token.type == "$END" or not token.line:
        return None
    before = source.line_text(token.line)[: (token.column or 1) - 1].rstrip()
    # Scanned back from the end: a regular expression searched for at every
    # start takes time in the square of the line's length.
    end = start = len(before)
    while start > 0 and before[start - 1] in _WORD_CHARS:
        start -= 1
    while start < end and before[start].isdigit():  # a word does not start with a digit
        start += 1
    if start == end:
        while start > 0 and before[start - 1] in _OPERATOR_CHARS:
            start -= 1
    if start == end:
        return None
    return before[start:], source.point(token.line, start + 1, end - start)


_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_OPERATOR_CHARS = frozenset("-+*/%<>=!.,:([{|")


def _declares_agent(source: Source, name: str) -> bool:
    return re.search(rf"^[ \t]*agent[ \t]+{re.escape(name)}\b", source.text, re.MULTILINE) is not None


def _last_agent(source: Source, token: Token) -> str | None:
    """The `@agent` right before `token` on its line (for `{agent}`)."""
    if token.type == "$END" or not token.line:
        return None
    before = source.line_text(token.line)[: (token.column or 1) - 1]
    match = re.search(r"@([A-Za-z_][A-Za-z0-9_]*)\??\s*$", before)
    return match.group(1) if match else None


def _characters(error: UnexpectedCharacters, source: Source) -> Diagnostic:
    return _character_at(error.line, error.column, error.char, source)


def _character_at(line: int, column: int, char: str, source: Source) -> Diagnostic:
    text = source.line_text(line)
    rest = text[column - 1:]
    span = source.point(line, column)
    if char in "\"'" and text[max(column - 3, 0):column - 1] == char * 2:
        # `"""` with no closing quotes lexes as an empty string `""` followed by
        # an unterminated one: point at the three quotes that open it.
        column, rest = column - 2, text[column - 3:]
    if rest.startswith(('"""', "'''")):
        return Diagnostic(
            "P111", "triple-quoted string is never closed", source.point(line, column, 3),
            label="opened here", help=f"close it with {rest[:3]}",
        )
    if char in "\"'":
        return Diagnostic(
            "P110", "string is never closed", source.point(line, column, len(rest.rstrip()) or 1),
            label="unterminated string",
            help=f"end the string with {char} on the same line, or use triple quotes for several lines",
        )
    if char == "@":
        return Diagnostic(
            "P112", "`@` must be followed by an agent name", span, label="name expected",
            help="write `@writer Draft a title.` with no space after `@`",
        )
    if char == "$":
        return Diagnostic(
            "P113", "`$` starts an amount of money", span, label="amount expected", help="write an amount like `$0.50`",
        )
    # The characters people bring from other languages: say what Parley writes instead.
    explained = {
        "&": ("Parley writes `and`, not `&&`", "write `a and b`"),
        "|": ("Parley writes `or`, not `||`", "write `a or b`"),
        "!": ("Parley writes `not`, not `!`", "write `not done`; `!` only appears in `!=`"),
        "^": ("Parley writes `**` for powers, not `^`", "write `2 ** 10`"),
        ";": ("`;` does not separate statements in Parley", "put each statement on its own line"),
        "\\": ("there is no `\\` line continuation in Parley",
                "a line continues by itself inside brackets; long text can use triple quotes"),
        "`": ("backticks do not quote strings in Parley", 'use double or single quotes: `"text"`'),
        "?": ("`?` only follows an agent's name, in a yes/no ask",
              'write `@you? "Publish it?"`; a choice is `b if a else c`, an optional type `str | none`'),
    }
    if char in explained:
        message, help = explained[char]
        width = 2 if rest.startswith(char * 2) and char in "&|" else 1
        return Diagnostic("P114", message, source.point(line, column, width), label="not valid here", help=help)
    shown = char if char.isprintable() and not char.isspace() else repr(char)
    return Diagnostic(
        "P114", f"unexpected character `{shown}`", span, label="not valid here",
        help="remove it, or put it inside a string",
    )


def _layout(error: LayoutError, source: Source) -> Diagnostic:
    span = source.point(error.line, error.column, error.width)
    if error.kind == "tab":
        return Diagnostic(
            "P104", "tab in indentation", span, label="tab here",
            help="indent with spaces only (4 per level); configure your editor to insert spaces",
        )
    if error.kind == "dedent":
        levels = ", ".join(error.detail.split(","))
        return Diagnostic(
            "P105", "this line's indentation matches no enclosing block", span, label="inconsistent indentation",
            help=f"indent to one of the columns the enclosing blocks use (indents of {levels} spaces)",
        )
    if error.kind == "nesting":
        return Diagnostic(
            "P106", f"blocks and brackets are nested too deeply (more than {MAX_NESTING} levels)", span,
            label="too deep", help="move inner parts into a def or into separate variables",
        )
    if error.kind == "quoted-prose":
        return Diagnostic(
            "P198", f"a quoted message to `{error.detail}` followed by more words", span,
            label="outside the quotes",
            help=f'quote the whole instruction (`{error.detail} "…"`) or drop the quotes to write it as prose; '
            f'if the ask is part of a longer expression, put it in brackets: `({error.detail} "…") and …`',
        )
    if error.kind == "unopened":
        return Diagnostic(
            "P107", f"`{error.detail}` has nothing to close", span, label="unmatched",
            help="remove it, or add the opening bracket it belongs to",
        )
    opener, line, column, closer = error.detail.split("|")
    closing = {"(": ")", "[": "]", "{": "}"}[opener]
    return Diagnostic(
        "P108", f"`{closer}` does not match `{opener}` opened at line {line}", span, label="mismatched",
        help=f"close `{opener}` (line {line}, column {column}) with `{closing}` first",
    )
