"""The formatter's token stream: the script's real tokens, in order, each with its context.

The tokens come from the project's own parser (`dsl._lark`), which keeps every
token in the tree (`keep_all_tokens`), so each one is typed exactly as the
contextual lexer saw it (prose is prose, a field after `.` is a field) and
knows the grammar rule it belongs to. Layout tokens (`_INDENT`, `_DEDENT`,
`_NEWLINE`) are not kept: they only set each token's block depth. Comments
and blank lines are not tokens at all; the layout reads them from the text
between two tokens.

`space_between` holds every spacing rule: one space between tokens, except
the few places where Python's usual style puts none.
"""

from __future__ import annotations

import attrs
from lark import Token, Tree

#: Tokens that carry a value; any other token is a keyword or punctuation, known by its text.
_VALUES = frozenset({
    "NAME", "FIELD", "AGENT", "AGENT_QUESTION", "PROSE", "STRING", "LONG_STRING", "RAW_STRING",
    "INT", "FLOAT", "DURATION", "MONEY",
})
_LAYOUT = frozenset({"_NEWLINE", "_INDENT", "_DEDENT"})
#: Top-level statements that get a blank line before and after them: declarations with a block.
_BLOCK_DECLARATIONS = frozenset({"agent_decl", "agent_kind_decl", "type_decl", "def_stmt"})
#: Rules where `(` or `[` follows a name or value directly: calls, indexing, `list[str]`.
_CALL_RULES = frozenset({"call", "model_decl", "def_stmt", "select_clause"})
_INDEX_RULES = frozenset({"index", "slice", "index_target", "type_generic"})
OPENERS = frozenset({"(", "[", "{"})
CLOSERS = frozenset({")", "]", "}"})
_NO_SPACE_BEFORE = frozenset({",", ":", ".", *CLOSERS})


@attrs.define
class Tok:
    """One real token: its text and place in the source, its grammar context and block depth."""

    text: str
    type: str
    start: int  # offset of the first character in the source text
    end: int  # offset just after the last character
    line: int  # 1-based line of the first character
    column: int  # 1-based column of the first character
    end_line: int
    rule: str  # the grammar rule the token belongs to
    outer: str  # the rule around that one
    depth: int  # how many blocks enclose the token
    widths: tuple[int, ...]  # the original indentation (in columns) of each enclosing block, outermost first
    tight: bool = False  # an `=` written without spaces (keyword argument, unannotated default)
    decl_start: bool = False  # the first token of a top-level declaration with a block
    decl_end: bool = False  # the last token of one

    def punct(self, *texts: str) -> bool:
        """Is this punctuation or a keyword spelt as one of `texts` (never a string or prose)?"""
        return self.type not in _VALUES and self.text in texts

    @property
    def opener(self) -> bool:
        return self.type not in _VALUES and self.text in OPENERS

    @property
    def closer(self) -> bool:
        return self.type not in _VALUES and self.text in CLOSERS


def tokens(tree: Tree[Token]) -> list[Tok]:
    """The real tokens of a parse tree in source order (iteratively: trees can be deep)."""
    found: list[Tok] = []
    depth = 0
    widths: tuple[int, ...] = (0,)
    stack: list[tuple[Tree[Token] | Token, str, str, bool]] = [(tree, "", "", False)]
    top_level: list[tuple[int, bool]] = []  # each top-level statement: its first token, is it a block declaration
    while stack:
        node, rule, outer, tight = stack.pop()
        if isinstance(node, Tree):
            name = str(node.data)
            if rule == "start":
                top_level.append((len(found), name in _BLOCK_DECLARATIONS))
            tight_equal = name == "keyword" or (name == "param" and not any(
                isinstance(child, Token) and child == ":" for child in node.children))
            for child in reversed(node.children):
                stack.append((child, name, rule, tight_equal))
            continue
        if node.type == "_INDENT":
            depth += 1
            widths = (*widths, len(node))
        elif node.type == "_DEDENT":
            depth -= 1
            widths = widths[:-1]
        if node.type in _LAYOUT:
            continue
        found.append(Tok(
            text=str(node), type=node.type, start=node.start_pos or 0, end=node.end_pos or 0,
            line=node.line or 1, column=node.column or 1, end_line=node.end_line or node.line or 1,
            rule=rule, outer=outer, depth=depth, widths=widths, tight=tight and node == "=",
        ))
    _mark_declarations(found, top_level)
    return found


def _mark_declarations(found: list[Tok], top_level: list[tuple[int, bool]]) -> None:
    """Flag the first and last token of each top-level declaration with a block."""
    ends = [start - 1 for start, _ in top_level[1:]] + [len(found) - 1]
    for (start, declaration), end in zip(top_level, ends):
        if declaration:
            found[start].decl_start = True
            found[end].decl_end = True


def space_between(before: Tok, after: Tok) -> str:
    """The spacing between two tokens on one line: "" or " "."""
    if before.opener or before.punct(".") or before.tight or _unary(before) or before.rule == "slice_colon":
        return ""  # `s[0:2]`, as people write slices
    if after.punct(*_NO_SPACE_BEFORE) or after.tight:
        return ""
    if after.punct("(") and (after.rule in _CALL_RULES or before.punct("print")):
        return ""  # `f(x)`, and `print(x)` as people write it (though `print` is a statement)
    if after.punct("[") and after.rule in _INDEX_RULES:
        return ""
    return " "


def _unary(token: Tok) -> bool:
    """A sign, as in `-1`: the operator of a `unary` expression."""
    return token.rule == "add_op" and token.outer == "unary"
