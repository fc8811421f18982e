"""Running `parallel for x in items max N:`: one task per item, at most N inside the body at once.

Each iteration gets its own variables (the script's, as they were before the
loop, plus the loop variable) and its own threads with the agents (copies of
the script's), so iterations cannot see each other. Contexts and journal
cursors are made in item order before any iteration starts: resume and replay
key each iteration's effects by its item's position, never by scheduling.
The first failure cancels the other iterations and is raised. After the loop,
each collected variable is the list of its values in the items' order.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import attrs
from parley.compiler import plan as p
from parley.dsl.errors import FailureKind, RunError
from parley.runtime.evaluate import Frame, copied, evaluate, show

if TYPE_CHECKING:
    from parley.runtime.executor import Executor


async def run_parallel_for(run: Executor, step: p.ParallelForStep, frame: Frame) -> None:
    from parley.runtime.executor import _count, _gather, _items  # the executor imports this module

    items = await evaluate(step.iterable, frame, run)
    items = list(items) if isinstance(items, dict) else _items(items)
    limit = _count(await evaluate(step.limit, frame, run), "max")
    if limit < 1:
        raise RunError(FailureKind.VALUE, f"`parallel for … max` needs 1 or more, not {show(limit)}")
    semaphore = asyncio.Semaphore(limit)
    beside = frame.context.beside_others()  # replies of iterations arriving together are shown whole
    threads = run.threads_at(frame.context)
    contexts = [attrs.evolve(beside, cursor=beside.cursor.child(f"[{index}]")) for index in range(len(items))]
    finished: list[dict[str, Any]] = [{} for _ in items]
    failed: list[BaseException] = []  # once one iteration fails, no waiting one starts

    async def iteration(index: int, item: Any) -> None:
        async with semaphore:
            if failed:
                return
            try:
                run.budget.check_time()
                own = {agent: list(messages) for agent, messages in threads.items()}
                variables = {**frame.variables, step.variable: copied(item)}
                inner = Frame(variables, attrs.evolve(contexts[index], threads=own), dict(frame.grown))
                await run.block(step.body, inner)
            except BaseException as error:
                failed.append(error)  # before the semaphore lets the next iteration in
                raise
            finished[index] = inner.variables

    await _gather([iteration(index, item) for index, item in enumerate(items)])
    for name in step.collected:
        frame.variables[name] = [values.get(name) for values in finished]
