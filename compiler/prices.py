"""What a model's tokens cost: its own `price_input`/`price_output` options, else the `genai-prices` data.

Shared by the compiler (a `$` budget over a model with no known price is
warned about) and the runtime (each reply is charged, exactly, in `Decimal`
dollars). `genai_prices` takes about 0.2 s to import, so it is imported on
the first lookup, never with Parley. Its matching knows dated snapshots
(`gpt-4o-mini-2024-07-18` is `gpt-4o-mini`) and tiered prices; a model it
does not know (most self-hosted ones) has no price, which is not the same as
a price of zero.
"""

from __future__ import annotations

import functools
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import attrs

MILLION = Decimal(1_000_000)
#: What a price option takes: dollars per million tokens.
PRICE_OPTIONS = ("price_input", "price_output")
#: Providers that run on this machine or answer from a file: they cost nothing.
FREE_PROVIDERS = ("local", "scripted")


@attrs.frozen
class Price:
    """Dollars per million input (`input`) and output (`output`) tokens, and where they come from:
    the model's options, the price data (`ref`: the model and provider it matched, to price each
    reply with the data's own rules, tiers included), or a model that costs nothing."""

    input: Decimal
    output: Decimal
    source: Literal["options", "data", "free"]
    ref: tuple[str, str] | None = None

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        """The exact cost of one reply."""
        if self.ref is not None:
            from genai_prices import Usage, calc_price

            return Decimal(calc_price(Usage(input_tokens=prompt_tokens, output_tokens=completion_tokens),
                                      model_ref=self.ref[0], provider_id=self.ref[1]).total_price)
        return (prompt_tokens * self.input + completion_tokens * self.output) / MILLION

    def shown(self) -> str:
        return f"{dollars(self.input)} in, {dollars(self.output)} out per 1M tokens"


FREE = Price(Decimal(0), Decimal(0), "free")


def amount(value: Any) -> Decimal | None:
    """A price option's value (a number, or money text like "0.15" from `$0.15`) as dollars, or None
    when it is not a finite amount of zero or more."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and number >= 0 else None


def price_of(provider: str | None, model_id: str | None, options: dict[str, Any]) -> Price | None:
    """The price of a model's tokens, or None when nobody knows it (set `price_input` and `price_output`)."""
    given = [amount(options.get(name)) for name in PRICE_OPTIONS]
    if given[0] is not None and given[1] is not None:
        return Price(given[0], given[1], "options")
    if provider in FREE_PROVIDERS:
        return FREE
    if not model_id:
        return None
    return _from_data(model_id, options.get("base_url"))


def unpriced_models(models: tuple[Any, ...], agents: tuple[Any, ...], default: str | None) -> list[Any]:
    """The declared models (`plan.ModelDecl`) that agents use and whose price is unknown."""
    used = {agent.model or default for agent in agents}
    return [m for m in models if m.name in used
            and price_of(m.provider, m.model_id, {o.name: o.value for o in m.options}) is None]


@functools.lru_cache(maxsize=256)
def _from_data(model_id: str, base_url: str | None) -> Price | None:
    """The price data's entry for a model id: by its server's URL when that names a known provider,
    else by the model id alone."""
    from genai_prices import Usage, calc_price

    one_million = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    for url in (base_url, None) if base_url else (None,):
        try:
            found = calc_price(one_million, model_ref=model_id, provider_api_url=url)
        except LookupError:
            continue
        return Price(Decimal(found.input_price), Decimal(found.output_price), "data",
                     (found.model.id, found.provider.id))
    return None


def dollars(value: Decimal | float) -> str:
    """An amount of money with all its digits, at least cents: $0.50, $0.00005, $12.00."""
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    whole, _, cents = f"{number.normalize():f}".partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"

__all__ = ["FREE", "PRICE_OPTIONS", "Price", "amount", "dollars", "price_of", "unpriced_models"]
