"""The live status at the foot of a terminal while a run goes on (stderr only, drawn with `rich`).

One row per reply being waited for (so one per concurrent branch): a spinner,
the agent, the source line, the seconds so far, the turn of its chat or group
("turn 3 of 6"), and the tail of its text as it streams in; a retry's
countdown in the row of the request that waits; and a last line with the
run's turns, tokens, cost (an unknown cost says so, never $0) and time.

It is driven by the run's events (`event`) and streamed pieces (`piece`),
and never writes among the transcript: the console calls `erase()` before it
writes, and the area is drawn again at the next tick (10 a second, on the
run's event loop). It is only made for a terminal (`for_terminal`): a pipe,
`--quiet` and `--json` get none of it.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TextIO

import attrs
from rich.console import Console, Group
from rich.live_render import LiveRender
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from parley.compiler.prices import dollars
from parley.runtime.secrets import StreamMask

TICK = 0.1  # seconds between redraws
TAIL = 400  # characters of a streaming reply kept for its row


@attrs.define
class Row:
    """A reply being waited for: whose, where (the source line), since when, and what has streamed so far."""

    agent: str
    line: int | None
    started: float
    conversation: str | None = None
    text: str = ""
    retry: dict[str, Any] | None = None  # the retry it waits for, with its deadline
    spinner: Spinner = attrs.field(factory=lambda: Spinner("dots", style="cyan"))
    mask: StreamMask = attrs.field(factory=StreamMask)  # a secret split across pieces is masked


@attrs.define
class Conversation:
    """A chat or group going on: its turns so far and its turn limit (when the run said it)."""

    turns: int = 0
    max_turns: int | None = None


class LiveStatus:
    """The status area (see the module). `paused()` says when the console is writing a reply in place
    (a streamed reply not beside others): then the area stays away."""

    def __init__(self, console: Console, paused: Callable[[], bool] = lambda: False) -> None:
        self.console = console
        self.paused = paused
        self.rows: dict[str, Row] = {}
        self.conversations: dict[str, Conversation] = {}
        self.turns = 0
        self.tokens = 0
        self.cost = Decimal(0)
        self.unpriced = 0
        self.started: float | None = None
        self._render = LiveRender(Text(""), vertical_overflow="ellipsis")
        self._drawn = False
        self._lock = threading.RLock()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def for_terminal(cls, stream: TextIO | None = None, paused: Callable[[], bool] = lambda: False,
                     color: bool | None = None) -> LiveStatus | None:
        """The status for `stream` (stderr) when it is a terminal, else None. Colours as `color` says (the
        command's choice: NO_COLOR when non-empty, FORCE_COLOR), else as rich finds the terminal."""
        stream = stream if stream is not None else sys.stderr
        if not _is_terminal(stream):
            return None
        return cls(terminal_console(stream, color), paused)

    # --- what happens ------------------------------------------------------------------------------

    def event(self, event: Any) -> None:
        """Follow one run event."""
        data = event.data
        kind = event.kind
        if kind == "run_start":
            self.started = time.monotonic()
            self._start_ticking()
        elif kind == "reply_start":
            self.rows[_key(event)] = Row(data["agent"], event.line, time.monotonic(),
                                         conversation=event.step if event.step in self.conversations else None)
        elif kind == "model_call":
            self.rows.pop(_key(event), None)
            if not data.get("cached"):
                self.tokens += int(data.get("input_tokens") or 0) + int(data.get("output_tokens") or 0)
                cost = data.get("cost", None)
                if cost is None:
                    self.unpriced += 1
                else:
                    self.cost += Decimal(str(cost))
        elif kind == "retry" and data.get("what") == "request":
            row = self.rows.get(_key(event))
            if row is not None:
                row.retry = {**data, "deadline": time.monotonic() + float(data.get("wait") or 0)}
        elif kind in ("turn", "human_input"):
            if kind == "turn":
                self.turns += 1
            conversation = self.conversations.get(data.get("conversation") or "")
            if conversation is not None and kind == "turn":
                conversation.turns += 1
        elif kind == "conversation_start":
            self.conversations[data["conversation"]] = Conversation(0, data.get("max_turns"))
        elif kind == "conversation_stop":
            self.conversations.pop(event.step or "", None)
        elif kind in ("run_end", "error"):
            self.close()

    def piece(self, agent: str, branch: str, text: str) -> None:
        """A piece of `agent`'s reply on `branch` (the reply's path), shown in its row (a tail that may
        begin a secret, a little later)."""
        row = self.rows.get(f"{branch}\x00{agent}")
        if row is not None:
            row.text = (row.text + row.mask.feed(text))[-TAIL:]
            row.retry = None

    # --- drawing -----------------------------------------------------------------------------------

    def erase(self) -> None:
        """Take the area off the terminal (before the console writes there); the next tick draws it again."""
        with self._lock:
            if self._drawn:
                self.console.control(self._render.position_cursor())
                self.console.file.flush()
                self._drawn = False

    def draw(self) -> None:
        """Draw the area afresh where it was (nothing while the console writes a reply in place)."""
        with self._lock:
            if self.paused() or self.started is None:
                self.erase()
                return
            self._render.set_renderable(self.renderable())
            if self._drawn:
                self.console.control(self._render.position_cursor())
            self.console.print(self._render, end="")
            self.console.file.flush()
            self._drawn = True

    def renderable(self) -> Any:
        """The rows and the totals line, as rich draws them."""
        now = time.monotonic()
        rows = Table.grid(padding=(0, 1))
        rows.add_column(no_wrap=True)
        rows.add_column(no_wrap=True, overflow="ellipsis")
        for row in self.rows.values():
            rows.add_row(row.spinner, self._row_text(row, now))
        totals = Text(self.totals(now), style="dim", no_wrap=True, overflow="ellipsis")
        return Group(rows, totals) if self.rows else totals

    def _row_text(self, row: Row, now: float) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(row.agent, style="bold")
        if row.line:
            text.append(f" [line {row.line}]", style="dim")
        text.append(f" {now - row.started:.1f}s", style="dim")
        conversation = self.conversations.get(row.conversation or "")
        if conversation is not None:
            of = f" of {conversation.max_turns}" if conversation.max_turns else ""
            text.append(f" · turn {conversation.turns + 1}{of}", style="dim")
        if row.retry is not None:
            left = max(0.0, row.retry["deadline"] - now)
            wait = f"{math.ceil(left)}s" if left > 0 else "a moment"
            text.append(f" ↻ {row.retry.get('reason', 'failed')}; try {row.retry['attempt'] + 1} of "
                        f"{row.retry['tries']} in {wait}", style="yellow")
        elif row.text:
            tail = " ".join(row.text.split())
            text.append("  " + tail[-200:])
        return text

    def totals(self, now: float | None = None) -> str:
        """`3 turns · 1,204 tokens · $0.0021 · 4.2s` (the cost `unknown` when a model's price is)."""
        now = time.monotonic() if now is None else now
        if self.unpriced and not self.cost:
            cost = "cost unknown"
        else:
            cost = dollars(self.cost) + (" + unknown" if self.unpriced else "")
        elapsed = now - self.started if self.started is not None else 0.0
        return (f"{self.turns} turn{'s' if self.turns != 1 else ''} · {self.tokens:,} tokens · {cost} · "
                f"{elapsed:.1f}s")

    # --- ticking -----------------------------------------------------------------------------------

    def _start_ticking(self) -> None:
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:  # followed outside a run's loop: drawn on events only
            self._loop = None
            return
        self.console.show_cursor(False)
        self._tick()

    def _tick(self) -> None:
        self.draw()
        if self._loop is not None and not self._loop.is_closed():
            self._timer = self._loop.call_later(TICK, self._tick)

    def close(self) -> None:
        """Stop ticking and take the area away for good (the run ended)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.started is not None:
            self.erase()
            self.console.show_cursor(True)
            self.console.file.flush()
        self.started = None
        self.rows.clear()


def _key(event: Any) -> str:
    """Which reply an event is about: its path in the run (unique among replies at once), else its step."""
    return str(event.data.get("path") or event.step or "") + "\x00" + str(event.data.get("agent"))


def terminal_console(stream: TextIO, color: bool | None) -> Console:
    """A rich console writing to the terminal `stream`, colourless when `color` is False or NO_COLOR is set."""
    no_color = color is False or bool(os.environ.get("NO_COLOR"))
    return Console(file=stream, force_terminal=True, no_color=no_color, highlight=False, soft_wrap=False,
                   color_system=None if no_color else "auto")


def _is_terminal(stream: TextIO) -> bool:
    from parley.console import is_terminal

    return is_terminal(stream)
