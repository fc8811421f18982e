"""A chess board that referees a conversation: it plays legal moves and refuses the others, saying why.

The rules of chess (legality, check, castling, en passant, promotion, the end
of the game) come from python-chess (`pip install chess`), imported only when
a game starts: the script that uses this module checks and compiles without
it. `referee` is the board's python agent, `next_turn` picks a group's next
speaker, and the other functions read the game. The game lives in this
module, so it is state: on resume Parley runs the board's earlier turns again
and the game is rebuilt as the interrupted run left it.
"""

from __future__ import annotations

import re
from typing import Any

#: A move in standard algebraic notation, as players write it: e4, Nbd2, exd5, e8=Q, O-O, Qxf7#.
SAN = re.compile(r"\b(?:[O0]-[O0](?:-[O0])?|[KQRBN]?[a-h]?[1-8]?x?[a-h][1-8](?:=?[QRBN])?)[+#]?")

_game: Any = None  # the python-chess Board of the game being played


def _chess() -> Any:
    try:
        import chess
    except ImportError as error:
        raise RuntimeError("the chess board needs python-chess: pip install chess") from error
    return chess


def _board() -> Any:
    if _game is None:
        raise RuntimeError("no game has started: call new_game() first")
    return _game


def new_game() -> str:
    """Set up the pieces for a new game; who moves first."""
    global _game
    _game = _chess().Board()
    return "New game: White to move."


def _side(board: Any) -> str:
    return "White" if board.turn else "Black"


def _why(board: Any, san: str) -> str:
    """Why python-chess found no legal move for `san`: the rule the proposal breaks."""
    chess = _chess()
    side = _side(board)
    if san.replace("0", "O") in ("O-O", "O-O-O"):
        long = san.count("O") + san.count("0") == 3
        if not (board.has_queenside_castling_rights if long else board.has_kingside_castling_rights)(board.turn):
            return f"{side} can no longer castle on that side"
        if board.is_check():
            return f"{side} cannot castle out of check"
        king = board.king(board.turn)
        rook = chess.square(0 if long else 7, chess.square_rank(king))
        if any(board.piece_at(s) for s in chess.SquareSet.between(king, rook)):
            return "castling needs the squares between the king and the rook empty"
        return "the king may not pass through or land on an attacked square"
    wanted = san.rstrip("+#")
    if any(board.san(m).rstrip("+#") == wanted for m in board.pseudo_legal_moves if not board.is_legal(m)):
        return f"it would leave {side}'s king in check"
    return f"no {side} piece can make that move"


def referee(proposal: str) -> str:
    """Play the first move named in `proposal` if it is legal; else refuse it, with the reason and the legal moves."""
    chess = _chess()
    board = _board()
    side = _side(board)
    if board.is_game_over():
        return f"The game is over: {result()}."
    found = SAN.search(proposal)
    if found is None:
        refused = "Refused: no move in standard algebraic notation (like e4, Nf3 or O-O) was found"
    else:
        try:
            move = board.parse_san(found.group())
        except chess.AmbiguousMoveError:
            refused = f"Refused {found.group()}: more than one piece can make it; add its file or rank, like Nbd2"
        except (chess.IllegalMoveError, chess.InvalidMoveError):  # well-formed SAN is judged illegal, not invalid
            refused = f"Refused {found.group()}: {_why(board, found.group())}"
        else:
            played = board.san(move)
            board.push(move)
            if board.is_game_over():
                return f"{side} played {played}. {_ending(board)}"
            return f"{side} played {played}. {_side(board)} to move."
    legal = ", ".join(board.san(m) for m in board.legal_moves)
    return f"{refused}. {side} to move; legal moves: {legal}."


def _ending(board: Any) -> str:
    outcome = board.outcome()
    how = outcome.termination.name.replace("_", " ").lower()
    winner = {True: "White wins", False: "Black wins", None: "a draw"}[outcome.winner]
    return f"Game over by {how}: {winner}, {outcome.result()}."


def next_turn(thread: list[dict[str, Any]], members: list[str]) -> str | None:
    """Who speaks next in the game: the board after a player; after the board, the side to move
    (the same player again when the board refused its move)."""
    if not thread or thread[-1]["sender"] != "board":
        return "board"
    side = "white" if _board().turn else "black"
    return side if side in members else None


def game_over() -> bool:
    """Whether the game has ended: checkmate, stalemate, or a draw the rules declare."""
    return _game is not None and bool(_game.is_game_over())


def movetext() -> str:
    """The moves played so far, numbered: 1. e4 e5 2. Nf3 …"""
    board = _board()
    return str(board.root().variation_san(board.move_stack))


def result() -> str:
    """1-0, 0-1 or 1/2-1/2 once the game is over, else * (unfinished)."""
    return str(_game.result()) if _game is not None else "*"
