"""An interactive session on the runtime: plan after plan on one executor, keeping what was done.

A REPL (or a host's own chat front end) compiles each entry into a plan that
extends the previous one and runs only that entry's steps. `Session` is the
one door it goes through: the variables, the threads with the agents, the
inputs, the model clients and the budget live here from one entry to the
next. An entry that fails keeps what it did but leaves no unanswered question
in a thread; an entry that is cancelled leaves the threads and variables as
they were before it.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from parley.compiler import plan as p
from parley.dsl.errors import FailureKind, RunError
from parley.runtime.agents import HumanInput
from parley.runtime.evaluate import Frame, evaluate
from parley.runtime.events import EventSink
from parley.runtime.executor import Executor
from parley.runtime.inputs import read_input
from parley.runtime.models import Message, ModelClient


class Session:
    """Runs plan after plan on one executor, keeping variables, threads, inputs, model clients and budget.

    `model`/`model_id`: one client for every agent (None: the models each plan
    declares); the caller owns it and closes it. `inputs`: values for inputs
    the plans declare, as given from outside (text is read per the input's
    type). `human`, `on_event`, `stream` and `allow_code` are as for a run.
    """

    def __init__(
        self,
        plan: p.Plan,
        *,
        model: ModelClient | None = None,
        model_id: str | None = None,
        human: HumanInput | None = None,
        on_event: EventSink | None = None,
        stream: Callable[[str, str], None] | None = None,
        allow_code: bool = False,
        inputs: Mapping[str, Any] | None = None,
    ) -> None:
        self._executor = Executor(plan, model=model, model_id=model_id, human=human, on_event=on_event,
                                  stream=stream, allow_code=allow_code)
        self._frame = Frame({}, self._executor.root)
        self._given: dict[str, Any] = dict(inputs or {})
        self._applied: dict[str, tuple[Any, Any]] = {}  # input -> the declaration its value was read for
        self._models: dict[str, tuple[Any, ...]] = {}  # model -> its declaration, as last opened

    # --- running -------------------------------------------------------------------

    async def run(self, plan: p.Plan, steps: tuple[p.Step, ...] | None = None) -> None:
        """Run `steps` of `plan` (all of its body by default) in this session.

        `plan` replaces the session's plan: it declares everything the steps
        use (for a REPL, the whole session compiled again with the new entry).
        Its inputs not yet read get their values, models declared anew are
        reopened, and its budgets apply from now on. Raises `RunError` when a
        step fails (what ran before it stays done; an ask that got no reply is
        taken back from its thread); cancelling restores threads and variables.
        """
        executor = self._executor
        threads = {agent: list(messages) for agent, messages in executor.threads.items()}
        variables = copy.deepcopy(self._frame.variables)
        inputs, applied = dict(executor.inputs), dict(self._applied)
        try:
            plan = await self._prepare(plan)
            await executor.run_steps(plan, plan.body if steps is None else steps, self._frame)
        except RunError:
            for agent, thread in executor.threads.items():
                while len(thread) > len(threads.get(agent, ())) and thread[-1].role == "user":
                    thread.pop()
            raise
        except asyncio.CancelledError:
            executor.threads.clear()
            executor.threads.update(threads)
            self._frame.variables.clear()  # in place: views of the variables stay live
            self._frame.variables.update(variables)
            executor.inputs.clear()
            executor.inputs.update(inputs)
            self._applied = applied
            raise

    async def _prepare(self, plan: p.Plan) -> p.Plan:
        """Bring the executor up to `plan`: inputs, model clients, budgets; the plan to run."""
        executor = self._executor
        changed = False
        for decl in plan.inputs:
            key = (decl.type, decl.default)
            if self._applied.get(decl.name) == key:
                continue
            if decl.name in self._given:
                value = read_input(decl, self._given[decl.name], plan)
            elif decl.default is not None:
                value = await evaluate(decl.default, Frame({}, executor.root), executor)
            else:
                raise RunError(FailureKind.INPUT, f"input `{decl.name}` has no value: give it a default "
                                                  f"(`input {decl.name}: … = …`) or a value when the session "
                                                  f"starts ({decl.name}=VALUE)", decl.span)
            self._applied[decl.name] = key
            executor.inputs[decl.name] = self._frame.variables[decl.name] = value
            changed = True
        models = {m.name: (m.provider, m.model_id, m.options) for m in plan.models}
        if any(self._models.get(name, found) != found for name, found in models.items()):
            await executor.clients.close()  # a model declared again: its open client is stale; reopened on use
        self._models = models
        for limit in plan.budgets:
            metric = "seconds" if limit.metric == "time" else limit.metric
            setattr(executor.budget, metric, float(limit.limit) if metric in ("cost", "seconds") else int(limit.limit))
        if changed and plan is executor.plan:
            plan = attrs.evolve(plan)  # a plan anew: system messages that read an input are written again
        return plan

    def set_input(self, name: str, value: Any) -> None:
        """Give input `name` a value from outside (text is read per its declared type). It is read
        at the next `run` whose plan declares the input, and replaces the value it had."""
        self._given[name] = value
        self._applied.pop(name, None)

    async def use_model(self, model: ModelClient | None, model_id: str | None = None) -> None:
        """Answer every agent with `model` from the next request on (None: the models the plan
        declares). Threads, variables and the budget go on; the caller owns `model`."""
        clients = self._executor.clients
        await clients.close()  # what was opened for the old choice; the declared models reopen on use
        clients.override, clients.override_id = model, model_id

    def forget(self, *agents: str) -> None:
        """Drop the threads with these agents (with none named: every thread), as `forget` does."""
        threads = self._executor.threads
        for agent in agents or tuple(threads):
            threads.pop(agent, None)

    def take(self, name: str) -> Any:
        """Remove variable `name` and give its value (None if it is not set)."""
        return self._frame.variables.pop(name, None)

    async def close(self) -> None:
        """Close the model clients the plans' declarations opened (not a `model` given from outside), and
        stop the MCP servers the session started."""
        await self._executor.clients.close()
        await self._executor.tools.close()

    # --- what the session holds ----------------------------------------------------

    @property
    def model(self) -> ModelClient | None:
        """The client answering every agent, if one was given."""
        return self._executor.clients.override

    @property
    def variables(self) -> Mapping[str, Any]:
        """The session's variables (inputs included), as a live read-only view."""
        return MappingProxyType(self._frame.variables)

    def thread(self, agent: str) -> tuple[Message, ...]:
        """The session's conversation with `agent` so far, oldest first (empty if there is none)."""
        return tuple(self._executor.threads.get(agent, ()))

    def threads(self) -> dict[str, tuple[Message, ...]]:
        """Every conversation of the session, by agent."""
        return {agent: tuple(messages) for agent, messages in self._executor.threads.items()}

    def usage(self) -> dict[str, Any]:
        """What the session has used so far: turns, tokens, cost and time (the keys of a run's usage)."""
        return self._executor.usage()


__all__ = ["Session"]
