"""`select by NAME` in a group: the def or Python function that picks the next speaker.

It is called as `NAME(thread, members)`, so it must accept two positional arguments; what it may
do (threads it asks, Python it runs) becomes the group's effects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parley.compiler._context import did_you_mean
from parley.compiler.scope import PYTHON, Effects
from parley.dsl import nodes as n

if TYPE_CHECKING:
    from parley.compiler._context import Context
    from parley.compiler.declarations import Namespace
    from parley.compiler.unit import Unit

HELP = "`select by NAME` calls `NAME(thread, members)`: e.g. `def pick(thread, members):`"


def resolve_select_by(name: n.Name, ns: Namespace, unit: Unit, ctx: Context, fx: Effects) -> str | None:
    """The plan name of the picking def or tool (None after reporting `P233`)."""
    if name.id in ns.defs:
        plan_name = ns.defs[name.id]
        decl, _ = unit.registry.defs[plan_name]
        required = sum(1 for q in decl.params if q.default is None)
        if required > 2 or len(decl.params) < 2:
            ctx.error("P233", f"`{name.id}` cannot pick speakers: it must take two parameters (thread, members)",
                      name.span, f"takes {_count(len(decl.params))} ({required} required)", HELP)
            return None
        fx.merge(unit.effects_of_def(plan_name))
        return plan_name
    if name.id in ns.tools:
        plan_name = ns.tools[name.id]
        function = unit.registry.tools[plan_name]
        if function.min_args > 2 or (function.max_args is not None and function.max_args < 2):
            ctx.error("P233", f"`{name.id}` cannot pick speakers: it must take two arguments (thread, members)",
                      name.span, f"`{function.describe()}`", HELP)
            return None
        fx.writes.add(PYTHON)
        return plan_name
    ctx.error("P233", f"`select by {name.id}`: `{name.id}` is not a def or a Python function", name.span,
              "not a def or function", did_you_mean(name.id, {**ns.defs, **ns.tools}, ns.spans) or HELP)
    return None


def _count(params: int) -> str:
    return f"{params} parameter" + ("" if params == 1 else "s")


__all__ = ["resolve_select_by"]
