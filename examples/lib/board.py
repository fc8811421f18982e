"""A tic-tac-toe board kept between calls: a Python tool with state.

`move` plays the side to move's square; `picture`, `free_squares`, `turn`,
`winner` and `over` read the board. The board lives in this module, so it is
state: on resume Parley runs the earlier calls again, in order, and the board
is rebuilt as the interrupted run left it (no function here is marked
`parley_journal = True`, which would serve its results from the journal).
"""

from __future__ import annotations

import re

#: The rows, columns and diagonals, by square index (0-8; squares are numbered 1-9 for players).
LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))


class Board:
    """Nine squares, the moves made, and whose turn it is."""

    def __init__(self) -> None:
        self.squares = [""] * 9
        self.moves: list[int] = []

    @property
    def turn(self) -> str:
        return "X" if len(self.moves) % 2 == 0 else "O"

    def winner(self) -> str:
        for a, b, c in LINES:
            if self.squares[a] and self.squares[a] == self.squares[b] == self.squares[c]:
                return self.squares[a]
        return ""

    def free(self) -> list[int]:
        return [i + 1 for i, mark in enumerate(self.squares) if not mark]

    def play(self, proposal: str) -> None:
        """The first free square named in `proposal` (a digit 1-9), else the lowest free one."""
        if self.winner() or not self.free():
            raise ValueError("the game is over")
        named = [int(d) for d in re.findall(r"[1-9]", proposal)]
        square = next((n for n in named if n in self.free()), self.free()[0])
        self.squares[square - 1] = self.turn
        self.moves.append(square)


_board = Board()


def move(proposal: str) -> int:
    """Play a square for the side to move (the first free square, 1-9, named in `proposal`, else the lowest
    free one); the square played."""
    _board.play(proposal)
    return _board.moves[-1]


def picture() -> str:
    """The board, row by row: X, O, or the number of a free square."""
    return " / ".join(" ".join(_board.squares[i] or str(i + 1) for i in range(r, r + 3)) for r in (0, 3, 6))


def free_squares() -> list[int]:
    """The numbers of the free squares."""
    return _board.free()


def turn() -> str:
    """Whose move it is: X or O."""
    return _board.turn


def winner() -> str:
    """X or O once one has three in a row, else empty."""
    return _board.winner()


def over() -> bool:
    """Whether the game has ended: a row of three, or no free square."""
    return bool(_board.winner()) or not _board.free()
