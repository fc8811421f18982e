"""Budgets: turns, tokens, cost and wall time for a whole run, held under concurrency and over time.

A budget is never checked only after the fact. A turn is reserved before it
starts, so steps running at once cannot all take the last one. A request
holds its prompt (estimated from its size) and room for its reply before it
is sent; near the end of a token or cost budget its `max_tokens` is cut to
what is left, and requests that do not fit wait for those in flight, or are
refused when none is. Money is `Decimal` dollars. The time budget stops a
request in flight and a loop that makes no request (`check_time`).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable
from decimal import Decimal
from typing import Any, TypeVar

import attrs
from parley.dsl.errors import BudgetExceeded, UsageError
from parley.runtime.models import ModelRequest, Usage

T = TypeVar("T")

#: Room held for a reply whose request sets no `max_tokens` (most models can write this much).
REPLY_ROOM = 4096


def _limit(value: Any, what: str, unit: str) -> Any:
    """A limit: None, or a finite amount of zero or more (else `UsageError`)."""
    if value is None:
        return None
    try:
        number = Decimal(str(value)) if unit == "dollars" else float(value)
    except (ArithmeticError, TypeError, ValueError):
        number = None
    number = None if isinstance(value, bool) else number  # `True` is not an amount
    finite = number is not None and (number.is_finite() if isinstance(number, Decimal) else math.isfinite(number))
    if number is None or not finite or number < 0:
        raise UsageError(f"the {what} limit must be a finite number of {unit}, zero or more, not {value!r}")
    if unit in ("turns", "tokens"):
        if number != int(number):
            raise UsageError(f"the {what} limit must be a whole number of {unit}, not {value!r}")
        return int(number)
    return abs(number)  # -0.0 is 0


def _turns(value: Any) -> int | None:
    return _limit(value, "turn", "turns")  # type: ignore[no-any-return]


def _tokens(value: Any) -> int | None:
    return _limit(value, "token", "tokens")  # type: ignore[no-any-return]


def _cost(value: Any) -> Decimal | None:
    return _limit(value, "cost", "dollars")  # type: ignore[no-any-return]


def _seconds(value: Any) -> float | None:
    return _limit(value, "time", "seconds")  # type: ignore[no-any-return]


_LIMITS = {"turns": _turns, "tokens": _tokens, "cost": _cost, "seconds": _seconds}


def checked_limit(name: str, value: Any) -> Any:
    """A run's limit (`turns`, `tokens`, `cost`, `seconds`) as the budget keeps it, or `UsageError`."""
    if name not in _LIMITS:
        raise UsageError(f"there is no run limit {str(name)[:40]!r}: the limits are {', '.join(_LIMITS)}")
    return _LIMITS[name](value)


@attrs.frozen
class Hold:
    """What a request in flight holds of the budget: tokens and dollars, and the `max_tokens` it is cut to
    (None: not cut)."""

    tokens: int = 0
    cost: Decimal = Decimal(0)
    max_tokens: int | None = None


@attrs.define
class Budget:
    """Limits (None: unlimited), what has been spent so far, and what requests in flight hold."""

    turns: int | None = attrs.field(default=None, converter=_turns)
    tokens: int | None = attrs.field(default=None, converter=_tokens)
    cost: Decimal | None = attrs.field(default=None, converter=_cost)
    seconds: float | None = attrs.field(default=None, converter=_seconds)
    spent_turns: int = 0
    usage: Usage = attrs.Factory(Usage)
    spent_cost: Decimal = Decimal(0)
    unpriced: int = 0  # replies of models whose price is unknown: their cost is not zero, it is unknown
    held_tokens: int = 0
    held_cost: Decimal = Decimal(0)
    started: float = attrs.Factory(time.monotonic)
    _released: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    # --- turns and time ---------------------------------------------------------------

    def reserve_turn(self) -> None:
        """Take one turn before it starts (it stays counted however it ends), or stop the run."""
        self.check()
        if self.turns is not None and self.spent_turns >= self.turns:
            raise BudgetExceeded(f"the turn budget ({self.turns} turns) is spent")
        self.spent_turns += 1

    def give_back_turn(self) -> None:
        """A turn taken that added no message (a person ending a chat with an empty answer): not a turn."""
        self.spent_turns = max(0, self.spent_turns - 1)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check_time(self) -> None:
        """Stop the run when its time is up (called by every loop iteration, so loops with no request stop too)."""
        if self.seconds is not None and self.elapsed > self.seconds:
            raise BudgetExceeded(f"the time budget ({self.seconds:g}s) is spent")

    async def in_time(self, call: Awaitable[T]) -> T:
        """Await `call`, cancelled when the time budget runs out meanwhile."""
        if self.seconds is None:
            return await call
        self.check_time()
        try:
            return await asyncio.wait_for(call, max(self.seconds - self.elapsed, 0.0))
        except asyncio.TimeoutError:
            raise BudgetExceeded(f"the time budget ({self.seconds:g}s) is spent: the request in flight "
                                 "was stopped") from None

    # --- requests -----------------------------------------------------------------------

    async def hold(self, request: ModelRequest, price: Any, model: str) -> Hold:
        """Hold room for one request before it is sent; wait while requests in flight hold what is left,
        and stop the run when nothing is left. `price` is a `compiler.prices.Price`, or None (unknown)."""
        while True:
            self.check()
            if self.cost is not None and price is None:
                raise BudgetExceeded(unpriced_message(model, self.cost))
            room = self._room(request, price)
            if room is not None:
                self.held_tokens += room.tokens
                self.held_cost += room.cost
                return room
            if not self.held_tokens and not self.held_cost:
                which = "token" if self.tokens is not None and self._free_tokens() <= prompt_tokens(request) else "cost"
                limit = f"{self.tokens} tokens" if which == "token" else dollars_text(self.cost)
                raise BudgetExceeded(f"the {which} budget ({limit}) has no room left for another request "
                                     f"(about {prompt_tokens(request)} prompt tokens)")
            loop = asyncio.get_running_loop()
            if self._released is None or self._released[1].is_set() or self._released[0] is not loop:
                self._released = (loop, asyncio.Event())  # a session runs each entry on a loop of its own
            await self.in_time(self._released[1].wait())

    def _room(self, request: ModelRequest, price: Any) -> Hold | None:
        """The hold for `request` if it fits beside what is spent and held, else None."""
        limited = self.tokens is not None or self.cost is not None
        prompt = prompt_tokens(request) if limited else 0  # sized only for a budget it counts against
        wanted = request.max_tokens or REPLY_ROOM
        room = wanted
        if self.tokens is not None:
            room = min(room, self._free_tokens() - prompt)
        prompt_cost = Decimal(0)
        if self.cost is not None and price is not None:
            prompt_cost = price.input * prompt / 1_000_000
            left = self.cost - self.spent_cost - self.held_cost - prompt_cost
            if price.output > 0:
                room = min(room, int(left * 1_000_000 / price.output)) if left >= 0 else -1
            elif left < 0:
                room = -1
        if room < 1:
            return None
        cut = room if room < wanted or (request.max_tokens is None and room < REPLY_ROOM) else None
        output_cost = price.output * room / 1_000_000 if self.cost is not None and price is not None else Decimal(0)
        return Hold(prompt + room, prompt_cost + output_cost, cut)

    def _free_tokens(self) -> int:
        return (self.tokens or 0) - self.usage.total_tokens - self.held_tokens

    def release(self, hold: Hold) -> None:
        """A request ended (answered, failed or stopped): what it held is free again."""
        self.held_tokens -= hold.tokens
        self.held_cost -= hold.cost
        if self._released is not None:
            self._released[1].set()

    def charge(self, usage: Usage, price: Any) -> Decimal:
        """Count one model reply; returns its cost in dollars (zero, and counted as unpriced, when the
        model's price is unknown)."""
        self.usage = self.usage + usage
        if price is None:
            self.unpriced += 1
            return Decimal(0)
        cost = Decimal(price.cost(usage.prompt_tokens, usage.completion_tokens))
        self.spent_cost += cost
        return cost

    def check(self) -> None:
        """Raise `BudgetExceeded` when any budget has been reached."""
        self.check_time()
        if self.tokens is not None and self.usage.total_tokens >= self.tokens:
            raise BudgetExceeded(f"the token budget ({self.tokens} tokens) is spent "
                                 f"({self.usage.total_tokens} used)")
        if self.cost is not None and self.spent_cost >= self.cost:
            raise BudgetExceeded(f"the cost budget ({dollars_text(self.cost)}) is spent "
                                 f"({dollars_text(self.spent_cost)})")

    def summary(self) -> dict[str, Any]:
        """What the run used. `cost` is exact `Decimal` dollars (a string in JSON); `unpriced` counts the
        replies whose cost is unknown, when there are any."""
        summary: dict[str, Any] = {
            "turns": self.spent_turns, "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens, "tokens": self.usage.total_tokens,
            "cost": self.spent_cost, "seconds": round(self.elapsed, 3),
        }
        if self.unpriced:
            summary["unpriced"] = self.unpriced
        return summary


def prompt_tokens(request: ModelRequest) -> int:
    """A generous estimate of a request's prompt tokens, from its size (a token is 3 bytes or more of
    text in every common tokenizer), plus a few tokens of framing per message."""
    parts = [[attrs.asdict(m) for m in request.messages], [attrs.asdict(t) for t in request.tools]]
    size = len(json.dumps([*parts, request.response_format],
                          ensure_ascii=False, default=str).encode("utf-8", "surrogatepass"))  # a model may send lone surrogates
    return size // 3 + 4 * len(request.messages) + 8


def dollars_text(value: Decimal | None) -> str:
    from parley.compiler.prices import dollars

    return dollars(value or Decimal(0))


def unpriced_message(model: str, limit: Decimal) -> str:
    return (f"the cost budget ({dollars_text(limit)}) cannot be kept: the price of `{model}` is unknown; set it "
            f"on the model in dollars per million tokens, e.g. `openai(\"{model}\", price_input=$0.15, "
            f"price_output=$0.60)`, or use a token budget")


def shown_cost(usage: dict[str, Any]) -> str:
    """A run's cost for people: all its digits, and whether some of it is unknown."""
    text = dollars_text(Decimal(str(usage.get("cost") or 0)))
    count = usage.get("unpriced")
    return f"{text} + unknown ({count} repl{'y' if count == 1 else 'ies'} of unpriced models)" if count else text


def usage_data(usage: dict[str, Any]) -> dict[str, Any]:
    """A usage summary as JSON data: the cost as exact decimal text ("0.000135"), not a float."""
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in usage.items()}
