"""The checks of a `select handoff` group: someone can hand off, every member can get the floor.

At run time (runtime/handoffs.py) the first member answers the opening, and a
member keeps the floor until it calls a `transfer_to_NAME` tool; only LLM
agents call tools, and the others give the floor back to whoever handed it to
them. So a group in which no member can hand off never moves on (P236), a member
that no one may hand to never speaks (P237), and a tool of a member named like
one of its transfer tools would be offered twice under one name (P238).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parley.compiler import plan as p
from parley.compiler.declarations import constant
from parley.dsl import nodes as n

if TYPE_CHECKING:
    from parley.compiler._context import Context
    from parley.compiler.unit import Unit

#: Must agree with `parley.runtime.handoffs.transfer_tool` (a test holds them together).
PREFIX = "transfer_to_"

HAND_OFF_HELP = ("handoffs are tool calls: only an LLM agent (`agent NAME:` without `reply by`, and not "
                 "`max_tool_rounds: 0`) can hand off; add one, or use another `select` mode")


def transfer_tool(member: str) -> str:
    """The tool that hands the conversation to `member` (its plan name, made safe for models)."""
    return PREFIX + member.replace(".", "__")


def check_handoffs(s: n.Conversation, names: dict[str, str], flow: tuple[p.FlowEdge, ...], unit: Unit,
                   ctx: Context) -> None:
    """Report what would keep a `select handoff` group from working as written.

    `names` maps each member as written to its agent's plan name; `flow` holds one edge per edge of `s.flow`.
    """
    written = {plan: name for name in reversed(s.members) if (plan := names.get(name.id)) is not None}
    members = list(dict.fromkeys(names[m.id] for m in s.members if m.id in names))
    callers = [m for m in members if _calls_tools(unit, m)]
    if not callers:
        ctx.error("P236", "no member of this group can hand off", s.select.span if s.select else s.span,
                  "no member calls tools", HAND_OFF_HELP)
        return
    for member in callers:
        for target in targets(members, flow, member):
            clash = _tool_named(unit, member, transfer_tool(target))
            if clash is not None:
                ctx.error("P238", f"the tool `{clash.id}` has the name of the tool that hands off to "
                          f"`{written[target].id}`", clash.span, "same name as a transfer tool",
                          f"in a `select handoff` group the runtime offers `{transfer_tool(target)}`: "
                          "rename the tool")
    reached = _reachable(members, flow, callers)
    for member in members:
        if member not in reached:
            name = written[member].id
            ctx.warning("P237", f"`{name}` never gets the floor: no member may hand to it", written[member].span,
                        "never speaks", f"add it to a `flow` edge of a member that can hand off "
                        f"(`{written[callers[0]].id} -> {name}`), or take it out of the group")


def targets(members: list[str], flow: tuple[p.FlowEdge, ...], member: str) -> list[str]:
    """Whom `member` may hand to: its `flow` edges (they add up), else every other member."""
    edges = [e for e in flow if e.source == member]
    allowed = {t for e in edges for t in e.targets} if edges else set(members)
    return [m for m in members if m in allowed and m != member]


def _reachable(members: list[str], flow: tuple[p.FlowEdge, ...], callers: list[str]) -> set[str]:
    """The members that can get the floor, starting from the first (who answers the opening).

    A member that cannot hand off passes the floor back to whoever handed it to it (reached
    already) when its `flow` edges allow, else to one they allow; without edges, the first
    member passes it to the first member listed that can hand off.
    """
    reached: set[str] = set()
    todo = [members[0]]
    while todo:
        member = todo.pop()
        if member in reached:
            continue
        reached.add(member)
        if member in callers or any(e.source == member for e in flow):
            todo += targets(members, flow, member)
        elif member == members[0]:
            todo.append(callers[0])
    return reached


def _calls_tools(unit: Unit, member: str) -> bool:
    """Whether a model answers for `member` and may call tools (`max_tool_rounds: 0` forbids it)."""
    found = unit.registry.agents.get(member)
    if found is None or found[0].kind != "llm" or found[0].reply_by is not None:
        return False
    rounds = [constant(s.values[0]) for s in found[0].settings if s.key.id == "max_tool_rounds" and s.values]
    return not (rounds and rounds[0] == 0)


def _tool_named(unit: Unit, member: str, name: str) -> n.Name | None:
    """The tool of `member`'s `tools:` setting that models would see as `name`, if any."""
    found = unit.registry.agents.get(member)
    if found is None:
        return None
    decl, ns = found
    for setting in decl.settings:
        if setting.key.id != "tools":
            continue
        for value in setting.values:
            if isinstance(value, n.Name):
                plan_name = ns.defs.get(value.id) or ns.tools.get(value.id) or value.id
                if plan_name.replace(".", "__") == name:
                    return value
    return None


__all__ = ["PREFIX", "check_handoffs", "targets", "transfer_tool"]
