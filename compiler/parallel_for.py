"""`parallel for x in items max N:` — the body once per item, at most N at once.

Each iteration has variables and agent threads of its own, so the only way
iterations could disturb each other is through what was there before the
loop: a variable set before it (and changed in the body), the terminal (a
`print`, an `output`, a person asked), code execution and Python modules'
state (as for `parallel:`). Those are errors (P281). A variable
first set in the body is collected: after the loop it is the list of its
values, one per item, in the items' order (`none` for an item whose
iteration did not set it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parley.compiler import plan as p
from parley.compiler.parallel_resources import resources
from parley.compiler.scope import IO, Effects
from parley.compiler.types import item_type
from parley.dsl import nodes as n

if TYPE_CHECKING:
    from parley.compiler.statements import BodyLowerer

#: Resources every iteration would share: output in an order no one chose, or a person asked at once.
_SHARED = {IO: "asks a person", "output": "gives an `output`"}


def lower_parallel_for(lowerer: BodyLowerer, s: n.Parallel) -> Any:
    assert s.target is not None and s.iterable is not None and s.limit is not None
    fx = Effects()
    iterable = lowerer.expr(s.iterable, fx)
    limit = lowerer.expr(s.limit, fx)
    lowerer.check_bound(s.limit, "`max`", allow_zero=False)
    variables = lowerer.scope.variables
    before = set(variables)
    if s.target.id in before:
        _conflict(lowerer, s.target.span, f"the loop variable `{s.target.id}` is already a variable",
                  "name the loop variable with a new name")
    loops, lowerer.loops = lowerer.loops, 0  # `break` and `continue` cannot leave an iteration
    inside, lowerer.in_parallel = lowerer.in_parallel, True
    try:
        lowerer.bind(s.target, "loop", item_type(lowerer.static_type(s.iterable)))
        body = lowerer.block(s.body)
    finally:
        lowerer.loops, lowerer.in_parallel = loops, inside
    inner = Effects()
    for step in body:
        inner.reads.update(step.reads)
        inner.writes.update(step.writes)
    for name in sorted(inner.writes & before):
        _conflict(lowerer, _span_of(body, name, s), f"every iteration changes `{name}`, set before the loop",
                  "set a new variable in the body instead: after the loop it is the list of its values, one per item")
    for step in _top(body):
        for resource in sorted(set(step.writes) & set(_SHARED)):
            what = "prints" if isinstance(step, p.PrintStep) else _SHARED[resource]
            _conflict(lowerer, step.span, f"every iteration {what}, all at once",
                      "do it after the loop, with the collected values")
    tool_modules = {name: tool.module for name, tool in lowerer.unit.registry.tools.items()}
    reported = {"print"}  # a `print` was reported above
    for step in _top(body):
        for key, what in sorted(resources((step,), Effects(set(step.reads), set(step.writes)), tool_modules).items()):
            if key not in reported:
                reported.add(key)
                _conflict(lowerer, step.span, f"every iteration {what}, all at once",
                          "code and Python modules keep state: do it after the loop, or in a plain `for`")
    if s.target.id not in before:
        variables.pop(s.target.id, None)  # the loop variable belongs to the iterations
    collected = tuple(sorted(name for name in variables if name not in before))
    for name in collected:
        variable = variables[name]
        variable.type = p.ListType(item=variable.type) if variable.type is not None else None
        variable.declared = None
    fx.reads |= inner.reads - set(collected) - {s.target.id}  # variables, inputs and threads from outside
    fx.writes |= {w for w in inner.writes if w in before or w.startswith("@") or w in ("python", "exec")}
    fx.writes |= set(collected)
    reads, writes = fx.frozen()
    return p.ParallelForStep(id="", span=s.span, reads=reads, writes=writes, variable=s.target.id,
                             iterable=iterable, limit=limit, body=body, collected=collected)


def _top(body: tuple[Any, ...]) -> list[Any]:
    """The body's statements as written: a group the compiler made of independent steps, opened."""
    return [inner for step in body for inner in (step.steps if isinstance(step, p.ConcurrentStep) else (step,))]


def _span_of(body: tuple[Any, ...], resource: str, s: n.Parallel) -> Any:
    """The first statement of the body that writes `resource` (the loop's header if none is found)."""
    for step in _top(body):
        if resource in step.writes:
            return step.span
    return s.span


def _conflict(lowerer: BodyLowerer, span: Any, message: str, hint: str) -> None:
    lowerer.ctx.error("P281", f"`parallel for`: {message}", span, "iterations run at the same time", hint)
