"""Agents as values: `player = white if n % 2 == 0 else black`, then `@player Your move.`

An agent's name used as an expression is a value of the type `agent`. `@x`,
`tell x` and `forget x` where `x` is a variable or parameter of that type
reach the agent it holds; any other variable there is refused (P254), so the
compiler always knows whether `@x` names a declared agent or a value.

Which agent a value holds is known only when the step runs. For the
concurrency analysis such a step uses the thread (and the tools, people and
code) of every agent whose name is taken as a value anywhere in the program,
the only agents a value can hold: no two steps that could use one agent's
thread run at once. Values of type `agent` come from the script alone, so the
type is refused where a value would come from outside — an input, a record
field, a typed reply (P255).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
from parley.compiler import plan as p
from parley.compiler.declarations import Namespace, Registry
from parley.compiler.types import type_source, walk_names
from parley.dsl import nodes as n
from parley.dsl.source import Span

if TYPE_CHECKING:
    from parley.compiler._context import Context
    from parley.compiler.expressions import ExpressionLowerer

#: The type of an agent as a value.
AGENT = p.NamedType(name="agent")

#: Fields that name agents without taking them as values (asks, members, conditions, declarations).
_NOT_VALUES: dict[type, tuple[str, ...]] = {
    n.Ask: ("agent",), n.Tell: ("agent",), n.Forget: ("agents",), n.Conversation: ("members", "flow", "manager"),
    n.SaysCondition: ("agent",), n.AgentDecl: ("name", "reply_by"), n.Setting: ("key",), n.Def: ("name",),
    n.Param: ("name",), n.For: ("targets",), n.Keyword: ("name",),
}
#: Field types (as annotated) that hold no node.
_SCALARS = frozenset({"Span", "str", "bool", "float", "int"})
#: Nodes with no expression inside.
_SKIP = (n.FromImport, n.ImportAgent, n.PythonImport, n.ModelDecl, n.DefaultModel, n.TypeDecl, n.TypeAlias,
         n.TypeName, n.FlowEdge, n.Select)


def agents_as_values(module: n.Module, main: Namespace, registry: Registry) -> frozenset[str]:
    """The plan names of the agents whose name is used as a value in the script, its defs (imported ones
    too) or its agents' declarations: every agent an agent value can hold."""
    found: set[str] = set()
    roots: list[tuple[Any, Namespace]] = [(module.body, main)]
    roots += [(decl, ns) for decl, ns in registry.defs.values()]
    roots += [(decl, ns) for decl, ns in registry.agents.values()]
    for root, ns in roots:
        for name in _names(root):
            if name.id in ns.agents:
                found.add(ns.agents[name.id])
    return frozenset(found)


def _names(root: Any) -> list[n.Name]:
    """Every `Name` under `root` in a position that can be an expression (walked without recursion:
    nested generators would cost each name a step per level of depth)."""
    found: list[n.Name] = []
    pending = [root]
    name = n.Name
    while pending:
        node = pending.pop()
        kind = node.__class__
        if kind is tuple:
            pending.extend(node)
        elif kind is name:
            found.append(node)
        else:
            children = _CHILDREN.get(kind)
            if children is None:
                children = _CHILDREN[kind] = _children_of(kind)
            if children is not _no_children:
                pending.extend(children(node))
    return found


#: What `_names` walks under a node, by node class: its fields that may hold expressions, read at once.
_CHILDREN: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _children_of(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    fields = _walked_fields(cls)
    if len(fields) > 1:
        return operator.attrgetter(*fields)
    if fields:
        read = operator.attrgetter(fields[0])
        return lambda node: (read(node),)
    return _no_children


def _no_children(node: Any) -> tuple[()]:
    """What a node with no expression fields holds (text, numbers, most declarations): nothing to walk."""
    return ()


def _walked_fields(cls: type) -> tuple[str, ...]:
    """The fields of a node class that may hold expressions (none for spans, text and numbers)."""
    if issubclass(cls, _SKIP) or not attrs.has(cls):
        return ()
    skipped = _NOT_VALUES.get(cls, ())
    return tuple(
        field.name for field in attrs.fields(cls)
        if field.name not in skipped and str(field.type) not in _SCALARS and not str(field.type).startswith("Lit[")
    )


def mentions_agent(type_ref: p.TypeRef | None) -> bool:
    """Whether the type is, or contains, `agent`."""
    found: list[str] = []
    if type_ref is not None:
        walk_names(type_ref, found.append)
    return "agent" in found


def check_from_outside(ctx: Context, type_ref: p.TypeRef | None, span: Span, what: str) -> None:
    """P255: `agent` where the value comes from outside the script (an input, a record field, a typed reply)."""
    if mentions_agent(type_ref):
        ctx.error("P255", f"{what} cannot be of type `{type_source(type_ref)}`", span, "an agent type here",
                  "agent values come from the script (`player = white`); take the agent's name as a `str` and "
                  "choose in the script: `player = white if name == \"white\" else black`")


def static_type(lowerer: ExpressionLowerer, e: n.Expr) -> p.TypeRef | None:
    """What is known of an expression whose type involves `agent` (None: ask the general rules)."""
    match e:
        case n.Name() if lowerer.scope.lookup(e.id) is None and e.id in lowerer.ns.agents:
            return AGENT
        case n.Conditional():
            body, orelse = lowerer.static_type(e.body), lowerer.static_type(e.orelse)
            return body if body == orelse and mentions_agent(body) else None
        case n.ListExpr() if e.items:
            items = {lowerer.static_type(i) for i in e.items}
            only = items.pop() if len(items) == 1 else None
            return p.ListType(item=only) if only is not None and mentions_agent(only) else None
        case n.Index():
            container = lowerer.static_type(e.value)
            if isinstance(container, p.DictType) and mentions_agent(container.value):
                return container.value
            return None
        case n.Call() if isinstance(e.func, n.Name) and e.func.id in lowerer.ns.defs:
            lowered = lowerer.unit.defs.get(lowerer.ns.defs[e.func.id])
            returns = lowered.returns if lowered is not None else None
            return returns if mentions_agent(returns) else None
        case _:
            return None


def resolve_target(lowerer: ExpressionLowerer, name: n.Name, fx: Any) -> tuple[str, p.Expr | None, tuple[str, ...]] | None:
    """What `@name` (`tell name`, `forget name`) reaches when `name` is a variable: "" and the variable, with
    every agent it may hold; for a variable of another type, P254 and nothing reached. None when `name` is no
    variable (a declared agent, or a mistake the caller reports)."""
    if name.id in lowerer.ns.agents or lowerer.scope.lookup(name.id) is None:
        return None
    found = lowerer.scope.lookup(name.id)
    assert found is not None
    if found.type != AGENT:
        what = "a parameter" if found.kind == "param" else "an input" if found.kind == "input" else "a variable"
        message = (f"`{name.id}` is {what} of type `{type_source(found.type)}`, not an agent" if found.type is not None
                   else f"`{name.id}` is {what} whose type is not known to be `agent`")
        some = next(iter(lowerer.ns.agents), "writer")
        lowerer.ctx.error(
            "P254", message, name.span, "not an agent value",
            f"declare the parameter `{name.id}: agent`" if found.kind == "param" else
            f"give it an agent, with the type `agent`: `{name.id}: agent = {some}`; or ask an agent by its name",
        )
        found.used = True
        return name.id, None, ()
    expr = lowerer.variable(name, fx)
    return "", expr, tuple(sorted(lowerer.unit.agent_values))
