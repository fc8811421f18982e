"""A run's model requests: journaled, answered from the response cache where wanted, charged to the budget.

Order matters: the journal first (a resumed or replayed run gets the reply it
had), then the cache, then the client; a server that refuses a structured
`response_format` gets the request again in a simpler form.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from parley.compiler import plan as p
from parley.dsl.errors import BudgetExceeded
from parley.runtime.budget import Hold
from parley.runtime.pricing import request_price
from parley.runtime.cache import cache_key, restored, stored, wanted
from parley.runtime.models import ModelClient, ModelError, ModelReply, ModelRequest
from parley.runtime.replies import degraded, origin
from parley.runtime.retries import retry_hook

if TYPE_CHECKING:
    from parley.compiler.prices import Price
    from parley.runtime.budget import Budget
    from parley.runtime.clients import Clients
    from parley.runtime.context import StepContext
    from parley.runtime.journal import Journal
    from parley.runtime.store import Store


class ModelCalls:
    """Makes the model requests of one run.

    `stream` receives streamed replies as (agent, piece); `store` holds the
    response cache, used as `cache` says ("auto", "on" or "off").
    """

    def __init__(self, plan: p.Plan, budget: Budget, journal: Journal, emit: Callable[..., None], clients: Clients,
                 *, stream: Callable[[str, str], None] | None = None, store: Store | None = None,
                 cache: str = "auto") -> None:
        self.plan = plan
        self.budget = budget
        self.journal = journal
        self.emit = emit
        self.clients = clients
        self.stream = stream
        self.store = store
        self.cache_mode = cache

    async def request(self, client: ModelClient, request: ModelRequest, agent: p.AgentDecl | None,
                      at: StepContext, stream: bool = False) -> ModelReply:
        """One model request, charged to the budget (checked before and after); the reply carries its cost."""
        self.budget.check()
        sink = self._sink(agent.name, at) if stream and agent is not None else None
        step = at  # its events name the step and where in the run it is (the context's path)
        made: list[ModelReply] = []
        found: list[Price | None] = []
        held: list[Hold] = []

        def price() -> Price | None:  # looked up when needed: the price data is slow to load
            if not found:
                found.append(request_price(self.plan, self.clients, client, request.model, agent))
            return found[0]

        async def live() -> dict[str, Any]:
            held.append(await self.budget.hold(request, price() if self.budget.cost is not None else None,
                                                request.model))  # room first, or wait, or stop
            if agent is not None:  # the console's header line, or its "agent …" (a row, beside others)
                self.emit("reply_start", step, agent=agent.name, streamed=sink is not None)
            sent = request if held[0].max_tokens is None else attrs.evolve(request, max_tokens=held[0].max_tokens)
            try:
                made.append(await self.budget.in_time(self._live(client, sent, agent, step, sink)))
            finally:
                self.budget.release(held[0])
            return {**stored(made[0]), "cached": made[0].cached}

        started = time.monotonic()
        data = await self.journal.effect("model", request, live, at)  # its fields, digested only with a store
        if made:
            reply = made[0]
        else:
            reply = attrs.evolve(restored(data), cached=data["cached"], journaled=True)  # shown whole, marked
        cost: str | None = "0"  # a cached reply costs nothing; that of a model whose price is unknown: None
        if not reply.cached:
            charged = self.budget.charge(reply.usage, price())
            reply = attrs.evolve(reply, cost=float(charged))
            cost = str(charged) if price() is not None else None
        self.emit("model_call", step, agent=agent.name if agent else None, provider=getattr(client, "provider", "openai"),
                  model=request.model, response_model=reply.model, input_tokens=reply.usage.prompt_tokens,
                  output_tokens=reply.usage.completion_tokens, finish_reason=reply.finish_reason,
                  seconds=round(time.monotonic() - started, 6), **origin(reply), cost=cost)
        self.budget.check()
        if held and held[0].max_tokens is not None and reply.finish_reason == "length":
            raise BudgetExceeded(f"the budget left room for only {held[0].max_tokens} reply tokens, and the "
                                 "reply was cut there")
        return reply

    def _sink(self, agent: str, at: StepContext) -> Callable[[str], None] | None:
        """Where an agent's reply streams to, if anywhere. While steps run at once, only to a `stream` that
        takes `branch` (which tells their pieces apart: the path that the reply's events have too)."""
        if self.stream is None or (at.together and not takes_branch(self.stream)):
            return None
        stream = self.stream
        if at.together:
            return lambda piece: stream(agent, piece, branch=at.cursor.path)  # type: ignore[call-arg]
        return lambda piece: stream(agent, piece)

    async def _live(self, client: ModelClient, request: ModelRequest, agent: p.AgentDecl | None,
                            step: Any, sink: Callable[[str], None] | None) -> ModelReply:
        key = self._cache_key(client, request, agent)
        if key is not None:
            hit = self.store.cached(key) if self.store is not None else None
            if hit is not None:
                self.emit("cached", step, agent=agent.name if agent else None, model=request.model)
                return restored(hit)
        try:
            retried = retry_hook(client, lambda **data: self.emit(
                "retry", step, what="request", agent=agent.name if agent else None, model=request.model, **data))
            reply = await client.complete(request, sink, **retried)
        except ModelError as error:
            if error.kind == "bad_request" and request.response_format is not None:
                # Servers differ on structured output: degrade to JSON mode, then to instructions only.
                fallback = degraded(request.response_format)
                self.emit("retry", step, what="response_format", problem=str(error))
                return await self._live(client, attrs.evolve(request, response_format=fallback), agent,
                                                step, sink)
            raise
        if key is not None and self.store is not None:
            self.store.cache(key, request.model, stored(reply))
        return reply

    def _cache_key(self, client: ModelClient, request: ModelRequest, agent: p.AgentDecl | None) -> str | None:
        """The cache key for a request that may use the cache (real servers only), else None."""
        server = getattr(client, "base_url", None)
        if self.store is None or self.cache_mode == "off" or not hasattr(client, "base_url"):
            return None
        option = None
        if agent is not None and agent.model is not None and self.clients.override is None:
            decl = next(m for m in self.plan.models if m.name == agent.model)
            option = next((o.value for o in decl.options if o.name == "cache"), None)
        if not wanted(request, self.cache_mode, option):
            return None
        return cache_key(request, server or "openai")


def takes_branch(stream: Callable[..., None]) -> bool:
    """Whether a `stream` callback takes the `branch` keyword (then replies stream while steps run at once)."""
    import inspect

    try:
        parameters = inspect.signature(stream).parameters
    except (TypeError, ValueError):  # a callable without a readable signature
        return False
    return "branch" in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
