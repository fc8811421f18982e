"""`parley fmt`: one canonical layout for every script, without changing what it means.

The formatter is a token-stream printer. The script is parsed by the
project's own parser; the tokens of its tree, each typed by the contextual
lexer and tagged with its grammar rule and block depth, are printed again
with canonical spacing (`dsl._fmt_tokens`), indentation and blank lines
(`dsl._fmt_layout`). Comments, which the grammar ignores, are read back from
the text between tokens, so they stay where they were. Prose, strings and
comment text are copied as written; nothing is rebuilt from the syntax tree,
so nothing can be lost in translation.

Every result is checked before it is returned: the formatted text must parse
to the same syntax tree as the original, positions aside. So formatting
cannot change a plan; if it ever would, that is a bug in the formatter, and
it raises `InternalError` instead of handing back a different script.

The layout rules are written down in docs/fmt.md.
"""

from __future__ import annotations

from typing import Any

import attrs

from parley.dsl._fmt_layout import layout
from parley.dsl._fmt_tokens import tokens
from parley.dsl._lark import parser
from parley.dsl.errors import InternalError, ScriptError
from parley.dsl.parser import ParseResult, parse_expression, parse_source
from parley.dsl.source import Source, Span

__all__ = ["format_parsed", "format_source"]


def format_source(text: str, filename: str = "<script>") -> str:
    """The script in canonical layout; raise `ScriptError` if it has syntax errors."""
    result = parse_source(text, filename)
    if not result.ok:
        raise ScriptError(result.diagnostics, {filename: result.source})
    return format_parsed(result)


def format_parsed(result: ParseResult) -> str:
    """The canonical layout of a script already parsed without errors (`result.ok`)."""
    source = result.source
    tree = parser().parse(source.text + "\n", start="start")
    formatted = layout(source.text, tokens(tree), _same_string)
    again = parse_source(formatted, source.name)
    if not again.ok or again.module is None or result.module is None or (
        _outline(again.module) != _outline(result.module)
    ):
        raise InternalError(f"formatting {source.name} would change its meaning; please report this bug")
    return formatted


def _same_string(old: str, new: str) -> bool:
    """Do two string literals (a triple-quoted one, re-indented) have the same value?"""
    try:
        return _outline(parse_expression(old)) == _outline(parse_expression(new))
    except ScriptError:
        return False


def _outline(root: Any) -> list[Any]:
    """A syntax tree as a flat list, positions left out: equal outlines, equal meaning.

    Iterative, because trees nest as deep as the parser allows.
    """
    flat: list[Any] = []
    stack: list[Any] = [root]
    while stack:
        value = stack.pop()
        if isinstance(value, Span | Source):
            continue
        if attrs.has(type(value)):
            flat.append(type(value).__name__)
            stack.extend(reversed([getattr(value, field.name) for field in attrs.fields(type(value))]))
        elif isinstance(value, tuple | list):
            flat.append(len(value))
            stack.extend(reversed(value))
        else:
            flat.append(value)
    return flat
