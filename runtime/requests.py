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
from parley.runtime.budget import price_of
from parley.runtime.cache import cache_key, restored, stored, wanted
from parley.runtime.models import ModelClient, ModelError, ModelReply, ModelRequest
from parley.runtime.replies import degraded, origin

if TYPE_CHECKING:
    from parley.runtime.executor import Executor


class ModelCalls:
    """Makes the model requests of one run."""

    def __init__(self, run: Executor) -> None:
        self.run = run

    async def request(self, client: ModelClient, request: ModelRequest, agent: p.AgentDecl | None,
                      step: Any, stream: bool = False) -> ModelReply:
        """One model request, charged to the budget (checked before and after); the reply carries its cost."""
        self.run.budget.check()
        sink = self.run.token_sink(agent.name) if stream and agent is not None else None
        made: list[ModelReply] = []

        async def live() -> dict[str, Any]:
            if agent is not None and not self.run.together():  # the console's header line, or its "agent …"
                self.run.emit("reply_start", step, agent=agent.name, streamed=sink is not None)
            made.append(await self._live(client, request, agent, step, sink))
            return {**stored(made[0]), "cached": made[0].cached}

        started = time.monotonic()
        data = await self.run.journal.effect("model", attrs.asdict(request), live, step)
        if made:
            reply = made[0]
        else:
            reply = attrs.evolve(restored(data), cached=data["cached"], journaled=True)  # shown whole, marked
        if not reply.cached:
            reply = attrs.evolve(reply, cost=self.run.budget.charge(reply.usage, self._price(request, agent)))
        self.run.emit("model_call", step, agent=agent.name if agent else None, provider=getattr(client, "provider", "openai"),
                  model=request.model, response_model=reply.model, input_tokens=reply.usage.prompt_tokens,
                  output_tokens=reply.usage.completion_tokens, finish_reason=reply.finish_reason,
                  seconds=round(time.monotonic() - started, 6), **origin(reply))
        self.run.budget.check()
        return reply

    async def _live(self, client: ModelClient, request: ModelRequest, agent: p.AgentDecl | None,
                            step: Any, sink: Callable[[str], None] | None) -> ModelReply:
        key = self._cache_key(client, request, agent)
        if key is not None:
            hit = self.run.run_store.cached(key)
            if hit is not None:
                self.run.emit("cached", step, agent=agent.name if agent else None, model=request.model)
                return restored(hit)
        try:
            reply = await client.complete(request, sink)
        except ModelError as error:
            if error.kind == "bad_request" and request.response_format is not None:
                # Servers differ on structured output: degrade to JSON mode, then to instructions only.
                fallback = degraded(request.response_format)
                self.run.emit("retry", step, what="response_format", problem=str(error))
                return await self._live(client, attrs.evolve(request, response_format=fallback), agent,
                                                step, sink)
            raise
        if key is not None:
            self.run.run_store.cache(key, request.model, stored(reply))
        return reply

    def _price(self, request: ModelRequest, agent: p.AgentDecl | None) -> Any:
        options: dict[str, Any] = {}
        if agent is not None and agent.model is not None:
            decl = next(m for m in self.run.plan.models if m.name == agent.model)
            options = {o.name: o.value for o in decl.options}
        return price_of(request.model, options)

    def _cache_key(self, client: ModelClient, request: ModelRequest, agent: p.AgentDecl | None) -> str | None:
        """The cache key for a request that may use the cache (real servers only), else None."""
        server = getattr(client, "base_url", None)
        if self.run.run_store is None or self.run.cache_mode == "off" or not hasattr(client, "base_url"):
            return None
        option = None
        if agent is not None and agent.model is not None and self.run.clients.override is None:
            decl = next(m for m in self.run.plan.models if m.name == agent.model)
            option = next((o.value for o in decl.options if o.name == "cache"), None)
        if not wanted(request, self.run.cache_mode, option):
            return None
        return cache_key(request, server or "openai")

