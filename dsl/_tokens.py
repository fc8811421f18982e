"""Where a Lark token starts, as plain 1-based numbers."""

from __future__ import annotations

from lark import Token


def start_of(token: Token) -> tuple[int, int]:
    """(line, column) of `token`'s first character.

    Lark types both as optional because tokens built by hand may lack them;
    every token the lexer makes has them, and a missing one means the start of the file.
    """
    return token.line or 1, token.column or 1
