"""A batch's progress on stderr: a live bar on a terminal (`rich`), plain lines in a pipe or a log.

Both show rows ended of all (done, and those that did not finish), tokens, cost, rows a second and the
time left. Cost is the sum over the rows whose replies are priced: when some reply was not, it reads
"≥ $x" (what is known, a floor), and when none was, "unknown" — never $0 for money Parley cannot know.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import IO, Any

import attrs


@attrs.define
class Tally:
    """What the rows that ended so far add up to."""

    total: int
    ended: int = 0
    done: int = 0
    tokens: int = 0
    cost: Decimal = Decimal(0)
    priced: int = 0  # rows whose cost is known in full
    unpriced: int = 0  # rows with some reply of unknown cost
    started: float = attrs.Factory(time.monotonic)
    finished: float | None = None  # when the last row ended

    def add(self, result: Any) -> None:
        self.ended += 1
        if self.ended == self.total:
            self.finished = time.monotonic()
        self.done += result.status == "done"
        usage = result.usage or {}
        self.tokens += int(usage.get("tokens") or 0)
        if usage.get("unpriced"):
            self.unpriced += 1
        if usage.get("cost") is not None:
            self.cost += Decimal(str(usage["cost"]))
            self.priced += not usage.get("unpriced")

    @property
    def cost_text(self) -> str:
        if self.ended == 0:
            return "$0"
        if self.unpriced and not self.priced and not self.cost:
            return "cost unknown"
        return f"{'≥ ' if self.unpriced else ''}${self.cost.normalize():f}"

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        return self.ended / max(self.elapsed, 1e-9)

    @property
    def eta(self) -> str:
        if not self.ended:
            return "?"
        left = (self.total - self.ended) / self.rate
        return f"{left:.0f}s" if left < 120 else f"{left / 60:.0f}m"

    def line(self) -> str:
        return (f"{self.ended}/{self.total} rows · {self.done} done · {self.ended - self.done} not · "
                f"{self.tokens} tokens · {self.cost_text} · {self.rate:.1f} rows/s · "
                f"{self.elapsed:.1f}s, {self.eta} left")


@attrs.define
class PlainProgress:
    """A line every tenth of the rows, or every 10 seconds, whichever comes first, and at the end."""

    tally: Tally
    stream: IO[str]
    every: float = 10.0
    _last_line: float = attrs.Factory(time.monotonic)
    _last_count: int = 0

    def add(self, result: Any) -> None:
        self.tally.add(result)
        step = max(1, self.tally.total // 10)
        now = time.monotonic()
        if (self.tally.ended - self._last_count >= step or now - self._last_line >= self.every
                or self.tally.ended == self.tally.total):
            self.stream.write(self.tally.line() + "\n")
            self.stream.flush()
            self._last_line, self._last_count = now, self.tally.ended

    def close(self) -> None:
        pass


class BarProgress:
    """rich's live progress bar, redrawn as rows end (and on a timer, so the rate and time left move)."""

    def __init__(self, tally: Tally, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.tally = tally
        self.progress = Progress(
            TextColumn("rows"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[summary]}"), TimeElapsedColumn(),
            console=Console(file=stream, stderr=True), transient=False, refresh_per_second=4,
        )
        self.task = self.progress.add_task("rows", total=tally.total, summary=self._summary())
        self.progress.start()

    def _summary(self) -> str:
        t = self.tally
        return (f"{t.done} done · {t.ended - t.done} not · {t.tokens} tokens · {t.cost_text} · "
                f"{t.rate:.1f}/s · {t.eta} left")

    def add(self, result: Any) -> None:
        self.tally.add(result)
        self.progress.update(self.task, completed=self.tally.ended, summary=self._summary())

    def close(self) -> None:
        self.progress.stop()


def progress_for(total: int, stream: IO[str], *, quiet: bool = False) -> PlainProgress | BarProgress | None:
    """The bar on a terminal, plain lines elsewhere, nothing with `quiet`."""
    if quiet:
        return None
    tally = Tally(total)
    return BarProgress(tally, stream) if stream.isatty() else PlainProgress(tally, stream)
