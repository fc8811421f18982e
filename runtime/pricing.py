"""Which price a run's request pays: that of the model that answers it (the agent's, else the script's
`default model`, else `--model`), with that model's `price_input`/`price_output` options.

A run with a cost budget is refused before its first request when one of the
models it can use has no known price: a budget that cannot be counted is not
a budget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parley.compiler import plan as p
from parley.dsl.errors import BudgetExceeded
from parley.runtime.budget import unpriced_message

if TYPE_CHECKING:
    from parley.compiler.prices import Price
    from parley.runtime.budget import Budget
    from parley.runtime.clients import Clients
    from parley.runtime.models import ModelClient

#: Model clients that cost nothing: the scripted test double and the embedded model.
_FREE_CLIENTS = {"parley.scripted": "scripted", "parley.local": "local"}


def request_price(plan: p.Plan, clients: Clients, client: ModelClient, model_id: str,
                  agent: p.AgentDecl | None) -> Price | None:
    """The price of a request to `model_id` through `client`, made for `agent` (None: a summary or a
    judgement, made with the model of that id); None when it is unknown."""
    from parley.compiler.prices import price_of

    provider = _FREE_CLIENTS.get(str(getattr(client, "provider", "")), "openai")
    decl = None if clients.override is not None else _declaration(plan, model_id, agent)
    options = {o.name: o.value for o in decl.options} if decl is not None else {}
    return price_of(decl.provider if decl is not None else provider, model_id, options)


def _declaration(plan: p.Plan, model_id: str, agent: p.AgentDecl | None) -> p.ModelDecl | None:
    name = (agent.model or plan.default_model) if agent is not None else None
    for decl in plan.models:
        if decl.name == name or (name is None and decl.model_id == model_id):
            return decl
    return None


def require_prices(plan: p.Plan, clients: Clients, budget: Budget) -> None:
    """Refuse a run with a cost budget before any request when a model it may use has no known price."""
    if budget.cost is None:
        return
    from parley.compiler.prices import price_of

    if clients.override is not None:
        provider = _FREE_CLIENTS.get(str(getattr(clients.override, "provider", "")), "openai")
        model_id = clients.override_id or ""
        if price_of(provider, model_id, {}) is None:
            raise BudgetExceeded(unpriced_message(model_id, budget.cost))
        return
    used = {a.model or plan.default_model for a in plan.agents if a.model or plan.default_model}
    for decl in plan.models:
        if decl.name in used and price_of(decl.provider, decl.model_id, _options(decl)) is None:
            raise BudgetExceeded(unpriced_message(decl.model_id or decl.name, budget.cost), decl.span)


def _options(decl: p.ModelDecl) -> dict[str, Any]:
    return {o.name: o.value for o in decl.options}
