"""The runtime runs what the compiler grouped as independent at once, with the result of running it in order.

Generated scripts (the strategy of tests/plan_eval.py) run on the real executor
with a scripted model whose replies depend on each agent's whole thread, so
any reordering that mattered would change the outcome. Each runs twice:
as compiled (concurrent groups as asyncio tasks, each reply held back for a
random number of turns of the event loop, so that replies arrive in varying
orders) and with every group flattened back into source order.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from typing import Any

from hypothesis import HealthCheck, given, settings

from parley.compiler import compile_source
from plan_eval import flat_plan, groups, scripts
from parley.runtime.executor import Executor
from parley.runtime.models import ModelReply, ModelRequest, TokenSink, Usage


class ThreadEcho:
    """Replies are a digest of the whole request, after a random delay (so concurrent replies interleave).

    The delay is counted in turns of the event loop, not in seconds: the same interleavings for a seed
    on any machine, and no time spent waiting."""

    def __init__(self, seed: int, jitter: bool) -> None:
        self.random = random.Random(seed)
        self.jitter = jitter

    async def complete(self, request: ModelRequest, on_token: TokenSink | None = None) -> ModelReply:
        if self.jitter:
            for _ in range(self.random.randrange(8)):
                await asyncio.sleep(0)
        text = "|".join(f"{m.role}:{m.name}:{m.content}" for m in request.messages)
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        reply = "yes " + digest if "yes or no" in text else digest
        return ModelReply(text=reply, usage=Usage(prompt_tokens=len(text.split()), completion_tokens=2))


def outcome(plan: Any, seed: int, jitter: bool) -> tuple[Any, ...]:
    executor = Executor(plan, model=ThreadEcho(seed, jitter), human=lambda agent, prompt: "yes " + agent)
    result = asyncio.run(executor.run({}))
    threads = {agent: [(m.role, m.content) for m in messages] for agent, messages in executor.threads.items()}
    return tuple(result.printed), threads, result.usage["turns"], result.usage["tokens"]


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(scripts())
def test_concurrent_groups_run_with_the_result_of_running_in_order(source: str) -> None:
    compiled = compile_source(source, "generated.agent")
    assert compiled.plan is not None, [d.message for d in compiled.diagnostics]
    in_order = outcome(flat_plan(compiled.plan), seed=0, jitter=False)
    for seed in range(3 if groups(compiled.plan) else 1):
        assert outcome(compiled.plan, seed=seed, jitter=True) == in_order
