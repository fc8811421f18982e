"""The console's line for a model request waiting to be tried again: a countdown at a terminal, else a plain line."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any


def retry_text(data: dict[str, Any], seconds: str) -> str:
    """`↻ writer: HTTP 429 rate limit (gpt-4o-mini); try 2 of 6 in 3s`, the wait as `seconds` says it."""
    who = f"{data['agent']}: " if data.get("agent") else ""
    return (f"  ↻ {who}{data.get('reason', 'failed')} ({data.get('model', '?')}); "
            f"try {data['attempt'] + 1} of {data['tries']} in {seconds}")


class Countdown:
    """One line rewritten each second until the wait is over, or until `stop()` (the next output) takes it back.

    `write` puts text on the terminal as it is (no newline); the line is left for the console to erase."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self._timer: asyncio.TimerHandle | None = None

    def start(self, data: dict[str, Any], style: Callable[[str], str]) -> None:
        self.stop()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # shown outside a run's loop: no ticking, the wait as it was
            loop = None
        deadline = (loop.time() if loop else 0.0) + float(data["wait"])

        def tick() -> None:
            left = max(0.0, deadline - loop.time()) if loop else float(data["wait"])
            self.write("\r\x1b[2K" + style(retry_text(data, f"{math.ceil(left)}s" if left > 0 else "a moment")))
            if loop is not None and left > 0:
                self._timer = loop.call_later(min(1.0, left), tick)

        tick()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
