"""The state of one compilation, shared by every pass."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from parley.compiler import plan as p
from parley.compiler._context import Context
from parley.compiler.declarations import Namespace, Registry
from parley.compiler.scope import Effects


@attrs.define
class Unit:
    """Diagnostics, declarations, lowered defs and their effects, and the step numbering."""

    ctx: Context
    registry: Registry
    main: Namespace
    records: dict[str, p.RecordDecl] = attrs.Factory(dict)
    mcp_servers: dict[str, p.McpServer] = attrs.Factory(dict)
    defs: dict[str, p.DefDecl] = attrs.Factory(dict)
    def_effects: dict[str, Effects] = attrs.Factory(dict)
    lowering: list[str] = attrs.Factory(list)
    cycles: list[str] = attrs.Factory(list)
    lower_def: Callable[[str], None] | None = None
    agent_effects: Callable[[str], Effects] | None = None
    #: The agents whose name is used as a value somewhere: what an `@variable` ask may reach.
    agent_values: frozenset[str] = frozenset()
    def effects_of_def(self, plan_name: str) -> Effects:
        """A def's effects on threads and resources (its variables are its own); lowers it if needed.

        Asking for a def that is being lowered means a cycle (through calls, tools or
        `reply by`): it is noted in `cycles`, for the caller to report.
        """
        if plan_name in self.lowering:
            self.cycles.append(plan_name)
            return Effects()
        if plan_name not in self.def_effects and self.lower_def is not None:
            self.lower_def(plan_name)
        return self.def_effects.get(plan_name, Effects())
