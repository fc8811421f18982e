"""Budgets: turns, tokens, cost and wall time for a whole run; spending past one stops the run."""

from __future__ import annotations

import time
from typing import Any

import attrs

from parley.dsl.errors import BudgetExceeded
from parley.runtime.models import Usage

#: Dollars per million input and output tokens; a model's `price_input` / `price_output` options override.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o4-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
}


def price_of(model_id: str | None, options: dict[str, Any]) -> tuple[float, float]:
    """(input, output) dollars per million tokens for a model; unknown models cost nothing."""
    known = PRICES.get(model_id or "", (0.0, 0.0))
    return (float(options.get("price_input", known[0])), float(options.get("price_output", known[1])))


@attrs.define
class Budget:
    """Limits (None: unlimited) and what has been spent so far."""

    turns: int | None = None
    tokens: int | None = None
    cost: float | None = None
    seconds: float | None = None
    spent_turns: int = 0
    usage: Usage = attrs.Factory(Usage)
    spent_cost: float = 0.0
    started: float = attrs.Factory(time.monotonic)

    def charge(self, usage: Usage, price: tuple[float, float]) -> float:
        """Count one model reply; returns its cost in dollars."""
        cost = (usage.prompt_tokens * price[0] + usage.completion_tokens * price[1]) / 1_000_000
        self.usage = self.usage + usage
        self.spent_cost += cost
        return cost

    def count_turn(self) -> None:
        self.spent_turns += 1

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check(self, starting: bool = False) -> None:
        """Raise `BudgetExceeded` when any limit has been passed (`starting`: before a new turn,
        so a spent turn budget stops the run without making one more request)."""
        if self.turns is not None and (self.spent_turns >= self.turns if starting else self.spent_turns > self.turns):
            raise BudgetExceeded(f"the turn budget ({self.turns} turns) is spent")
        if self.tokens is not None and self.usage.total_tokens > self.tokens:
            raise BudgetExceeded(f"the token budget ({self.tokens} tokens) is spent "
                                           f"({self.usage.total_tokens} used)")
        if self.cost is not None and self.spent_cost > self.cost:
            raise BudgetExceeded(f"the cost budget (${self.cost:.2f}) is spent (${self.spent_cost:.4f})")
        if self.seconds is not None and self.elapsed > self.seconds:
            raise BudgetExceeded(f"the time budget ({self.seconds:g}s) is spent")

    def summary(self) -> dict[str, Any]:
        return {
            "turns": self.spent_turns, "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens, "tokens": self.usage.total_tokens,
            "cost": round(self.spent_cost, 6), "seconds": round(self.elapsed, 3),
        }
