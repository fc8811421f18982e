"""Tokens: the lexer's output, with the attributes Lark's tokens have, and where one starts."""

from __future__ import annotations


class Token(str):
    """A token's text with its type and place; the same attributes as `lark.Token`.

    Parley's own parsing loop (`dsl._lalr`) and the post-lexer make these, so a
    valid script is parsed without importing Lark; Lark accepts them too, as
    it reads only these attributes.
    """

    __slots__ = ("type", "value", "start_pos", "line", "column", "end_line", "end_column", "end_pos")

    type: str
    value: str
    start_pos: int | None
    line: int | None
    column: int | None
    end_line: int | None
    end_column: int | None
    end_pos: int | None

    def __new__(
        cls,
        type: str,
        value: str,
        start_pos: int | None = None,
        line: int | None = None,
        column: int | None = None,
        end_line: int | None = None,
        end_column: int | None = None,
        end_pos: int | None = None,
    ) -> Token:
        token = str.__new__(cls, value)
        token.type = type
        token.value = value
        token.start_pos = start_pos
        token.line = line
        token.column = column
        token.end_line = end_line
        token.end_column = end_column
        token.end_pos = end_pos
        return token

    def __repr__(self) -> str:
        return f"Token({self.type!r}, {self.value!r})"

    def __reduce__(self) -> tuple[object, ...]:
        return (Token, (self.type, self.value, self.start_pos, self.line, self.column,
                        self.end_line, self.end_column, self.end_pos))


def start_of(token: Token) -> tuple[int, int]:
    """(line, column) of `token`'s first character.

    Both are optional because tokens built by hand may lack them; every token
    the lexer makes has them, and a missing one means the start of the file.
    """
    return token.line or 1, token.column or 1
