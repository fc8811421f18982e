"""The live console view of a run: who says what, tool calls folded, a usage line at the end."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from parley.runtime.budget import shown_cost
from parley.runtime.secrets import StreamMask, redact_data

#: Speakers' colours: never yellow nor red, which say warning and error.
_COLORS = ("cyan", "magenta", "green", "blue", "bright_magenta", "bright_green")


def is_terminal(stream: Any) -> bool:
    """Whether `stream` is a terminal that can redraw a status area (not TERM=dumb)."""
    try:
        return bool(stream.isatty()) and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


class Console:
    """Prints events as a transcript; `quiet` shows only what the script prints."""

    def __init__(self, quiet: bool = False, color: bool | None = None, prints_to_stderr: bool = False,
                 waiting: bool | None = None, live: bool = False) -> None:
        self.quiet = quiet
        # On a terminal (`live`, not quiet): the status area at its foot (parley._live), which also stands
        # for the "agent …" line and the retry countdown below.
        self.live = None
        if live and not quiet and is_terminal(sys.stderr):  # rich is imported only for a terminal
            from parley._live import LiveStatus

            self.live = LiveStatus.for_terminal(paused=lambda: self._streaming is not None, color=color)
        waiting = False if self.live is not None else waiting
        # On a terminal, a reply that does not stream shows "agent [line N] …" until it arrives.
        self.waiting = sys.stderr.isatty() if waiting is None else waiting
        self._pending = False
        self.prints_to_stderr = prints_to_stderr  # with --json, stdout holds the JSON alone
        self.color = color
        self._colors: dict[str, str] = {}
        self._streaming: str | None = None
        self._starting: dict[str, int] = {}  # the line of each reply about to stream, by agent
        self._countdown: Any = None  # a retry's countdown line (parley._countdown.Countdown), on a terminal
        self._masks: dict[str, StreamMask] = {}  # per agent streaming: a secret split across pieces is masked

    def token(self, agent: str, piece: str, branch: str | None = None) -> None:
        """A piece of a reply being written: shown as it arrives (a tail that may begin a secret, a little later).
        A reply written beside others (`branch`) shows in its row of the live status; its turn, whole, after."""
        if self.quiet:
            return
        if branch is not None:
            if self.live is not None:
                self.live.piece(agent, branch, piece)
            return
        piece = self._masks.setdefault(agent, StreamMask()).feed(piece)
        if piece:
            self._piece(agent, piece)

    def _piece(self, agent: str, piece: str) -> None:
        self._clear_pending()
        if self._streaming != agent:
            self._streaming = agent
            line = self._starting.pop(agent, None)
            where = " " + self._style(f"[line {line}]", dim=True) if line else ""
            click.echo(f"{self.speaker(agent)}{where}\n  ", err=True, nl=False)
        click.echo(piece.replace("\n", "\n  "), err=True, nl=False)

    def _style(self, text: str, **style: Any) -> str:
        return click.style(text, **style) if self.color is not False else text

    def speaker(self, name: str) -> str:
        color = self._colors.setdefault(name, _COLORS[len(self._colors) % len(_COLORS)])
        return self._style(name, fg=color, bold=True)

    def __call__(self, event: Any) -> None:
        if self.live is not None:
            self.live.event(event)
        data = redact_data(event.data)
        if event.kind != "reply_start" and (data.get("agent") or event.kind in ("run_end", "error")):
            self._release(data.get("agent"))  # that agent's reply (or, at the end, every one) is over
        if event.kind == "reply_start":
            if event.line:
                self._starting[data["agent"]] = event.line
            if not data.get("streamed", True) and self.waiting and not self.quiet and self._streaming is None:
                self._clear_pending()
                where = self._style(f" [line {event.line}]", dim=True) if event.line else ""
                click.echo(f"{self.speaker(data['agent'])}{where} " + self._style("…", dim=True), err=True, nl=False)
                self._pending = True
            return
        self._clear_pending()
        if event.kind == "print":
            click.echo(data["text"], err=self.prints_to_stderr)
            return
        if event.kind == "notice":  # about the run itself (which model it uses): shown even when quiet
            click.echo(self._style(f"parley: {data['text']}", fg="yellow"), err=True)
            return
        if self.quiet:
            return
        if event.kind == "turn" and self._streaming == data["agent"]:
            self._streaming = None
            click.echo("", err=True)  # the text was streamed already
        elif event.kind == "turn":
            where = self._style(f"[line {event.line}]", dim=True) if event.line else ""
            if data.get("cached"):
                where += self._style(" (cached)", dim=True)
            elif data.get("journaled"):
                where += self._style(" (journal)", dim=True)
            click.echo(f"{self.speaker(data['agent'])} {where}\n  " + str(data["text"]).replace("\n", "\n  "),
                       err=True)
        elif event.kind == "tool_call":
            click.echo(self._style(f"  ↳ {data['tool']}({_short(data['arguments'])})", dim=True), err=True)
        elif event.kind == "tool_error":
            click.echo(self._style(f"  ↳ {data['tool']}: {data['error']}", fg="yellow"), err=True)
        elif event.kind == "retry" and data.get("what") == "request":  # a model request to be tried again
            self._retry(data)
        elif event.kind == "retry" and data.get("what") == "speaker selection":
            problem = f"the selector's reply {_short(repr(data.get('reply', '')))} names no member who may speak next"
            click.echo(self._style(f"  ↻ retry: {problem}", fg="yellow"), err=True)
        elif event.kind == "retry":
            click.echo(self._style(f"  ↻ retry: {data.get('problem', '')}", fg="yellow"), err=True)
        elif event.kind == "conversation_stop":
            click.echo(self._style(f"  ■ stopped: {data['reason']}", dim=True), err=True)
        elif event.kind == "handoff":
            click.echo(self._style(f"  ↪ handed to {data['to']}", dim=True), err=True)

    def _retry(self, data: dict[str, Any]) -> None:
        """A retry's wait: counted down on a terminal (the line goes with the next output), else one line."""
        from parley._countdown import Countdown, retry_text

        if not self.waiting:
            click.echo(self._style(retry_text(data, f"{data['wait']:.1f} s"), fg="yellow"), err=True)
            return
        if self._countdown is None:
            self._countdown = Countdown(lambda text: click.echo(text, err=True, nl=False, color=self.color))
        self._countdown.start(data, lambda text: self._style(text, fg="yellow"))
        self._pending = True

    def _clear_pending(self) -> None:
        """Take back the "agent …" line of a reply being waited for, or a retry's countdown, or the live status
        (on a terminal), before writing."""
        if self.live is not None:
            self.live.erase()
        if self._countdown is not None:
            self._countdown.stop()
        if self._pending:
            self._pending = False
            click.echo("\r\x1b[2K", err=True, nl=False, color=True)  # erase the line (kept: only ever on a terminal)

    def _release(self, agent: str | None) -> None:
        """Show the tail held back from `agent`'s streamed reply (every agent's when None): it has ended."""
        for name in [agent] if agent in self._masks else list(self._masks) if agent is None else []:
            rest = self._masks.pop(name).flush()
            if rest:
                self._piece(name, rest)

    def end_stream(self) -> None:
        """Finish a reply that was cut off mid-stream (by a failure), and the live status."""
        if self.live is not None:
            self.live.close()
        self._release(None)
        self._clear_pending()
        if self._streaming is not None:
            self._streaming = None
            click.echo("", err=True)

    def usage(self, usage: dict[str, Any], run_id: str | None = None) -> None:
        if self.quiet:
            return
        turns = f"{usage['turns']} turn{'s' if usage['turns'] != 1 else ''}"
        line = (f"{turns} · {usage['tokens']} tokens · {shown_cost(usage)} · "
                f"{usage['seconds']:.1f}s")
        if usage.get("journaled"):
            line += f" · {usage['journaled']} from the journal"
        if run_id is not None:
            line += f" · run {run_id}"
        click.echo(self._style(line, dim=True), err=True)


    def ask(self, agent: str, prompt: str) -> str:
        """A person's turn at the terminal, the live status taken away while they answer."""
        self._clear_pending()
        return ask_person(agent, prompt)


def ask_person(agent: str, prompt: str) -> str:
    """A person's turn at the terminal (or the next line of piped input)."""
    click.echo(click.style(f"{agent}, your turn:", bold=True) + f" {prompt}", err=True)
    line = sys.stdin.readline()
    if not line:
        from parley.dsl.errors import FailureKind, RunError

        raise RunError(FailureKind.HUMAN, f"`{agent}` was asked for input, but the input has ended")
    return line.rstrip("\n")


def _short(arguments: Any, width: int = 60) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in arguments.items()) if isinstance(arguments, dict) else str(arguments)
    return text if len(text) <= width else text[: width - 1] + "…"
