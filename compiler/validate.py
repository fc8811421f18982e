"""`validate(plan)`: a plan is whole before it runs — every name it uses declared, every tag known.

The compiler only emits valid plans; this is for plans from anywhere else (a
plan file, a run store, a host that builds one by hand), so that a damaged
plan is refused at once with every problem listed, instead of failing deep
inside a run. Each problem names where it is, as a path into the plan's JSON
(`body[3].agent: no agent 'critc' is declared`).

Checked: every value has its field's type, and every record the kind its
place takes (a step where a step goes); closed sets of strings (`Literal`
tags); names declared once each (models, agents, tools, types, inputs, defs,
step ids); the agents named by steps, expressions, conditions, flows and
`forget`, and the `@agent` threads steps read and write; the models named by
agents, `default model` and group managers; the tools and defs agents use and
`reply by`; the defs, tools and built-ins called; the record types named by
types; members of chats and groups; `break`/`continue` inside a loop and
`return` inside a def; a python agent's `module:function`; numbers a budget
or an amount can be read as. Not checked: that a variable has a value where
it is read (the run says so, naming the line, if it has none).
"""

from __future__ import annotations

import decimal
import difflib
import functools
import math
import types
import typing
from collections.abc import Iterable
from typing import Any

import attrs

from parley.compiler import plan as p
from parley.compiler.builtins import BUILTINS
from parley.compiler.types import PRIMITIVES
from parley.dsl.errors import PlanError
from parley.dsl.source import Span

#: Problems listed in the error at most (the count says how many more there are).
SHOWN = 20

LOOPS = (p.ForStep, p.RepeatStep, p.WhileStep)


def validate(plan: p.Plan) -> p.Plan:
    """`plan` itself when it is valid; else `PlanError` listing every problem, each with its path."""
    found = problems(plan)
    if found:
        raise PlanError(_message(plan, found))
    return plan


def problems(plan: p.Plan) -> list[str]:
    """Every problem of `plan`, as `path: what is wrong`; empty when it is valid."""
    checker = _Checker()
    checker.shape(plan, p.Plan, "")
    if not checker.problems:  # names are looked up only in a plan of the right shape
        checker.plan(plan)
    found = sorted(checker.problems, key=_in_plan_order)  # stable: in the order checked within one declaration
    return [f"{path or 'plan'}: {message}" for path, message in found]


def _in_plan_order(problem: tuple[str, str]) -> tuple[int, int]:
    """Where a problem's path starts in the plan's JSON: its top-level field, then the item of that field."""
    top = problem[0].partition(".")[0]
    name, _, index = top.partition("[")
    fields = [field.name for field in attrs.fields(p.Plan)]
    return (fields.index(name) if name in fields else -1,
            int(index.rstrip("]")) if index.rstrip("]").isdecimal() else -1)


def _message(plan: p.Plan, found: list[str]) -> str:
    where = f"the plan of {plan.file}" if isinstance(plan, p.Plan) and isinstance(plan.file, str) else "the plan"
    if len(found) == 1:
        return f"{where} is not valid: {found[0]}"
    listed = "\n".join(f"  {problem}" for problem in found[:SHOWN])
    more = f"\n  … and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    return f"{where} is not valid ({len(found)} problems):\n{listed}{more}"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The type of each field of a plan record (resolved once per class)."""
    if cls not in _HINTS:
        resolved = typing.get_type_hints(cls, vars(p))
        _HINTS[cls] = {field.name: resolved[field.name] for field in attrs.fields(cls)}
    return _HINTS[cls]


@functools.cache
def _union_names() -> dict[frozenset[Any], str]:
    """The plan's named unions (`Step`, `Expr`…) by their members, to say what a place takes."""
    return {
        frozenset(typing.get_args(value)): name for name, value in vars(p).items()
        if typing.get_origin(value) in (typing.Union, types.UnionType) and not name.startswith("_")
    }


#: What each named union of the plan is called in a problem.
_UNION_WORDS = {"Expr": "an expression", "Step": "a step", "TypeRef": "a type", "Condition": "a condition",
                "Target": "an assignment target"}


def _expected(hint: Any) -> str:
    if isinstance(hint, type) and attrs.has(hint):
        kind = getattr(hint, "kind", None)
        return f"a {kind!r} record" if isinstance(kind, str) else hint.__name__
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        named = [name for members, name in _union_names().items() if members <= set(options)]
        rest = [o for o in options if not any(o in members for members, n in _union_names().items() if n in named)]
        return " or ".join([_UNION_WORDS.get(name, name) for name in named] + [_expected(o) for o in rest])
    if typing.get_origin(hint) is tuple:
        return "a list"
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(hint)))
    return {str: "text", int: "an integer", float: "a number", bool: "true or false", type(None): "null"}.get(
        hint, repr(hint))


def _found(value: Any) -> str:
    if attrs.has(type(value)):
        kind = getattr(value, "kind", None)
        return f"a {kind!r} record" if isinstance(kind, str) else type(value).__name__
    if isinstance(value, tuple | list):
        return "a list"
    return repr(value) if not isinstance(value, str) or len(value) < 40 else repr(value[:37] + "...")


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@attrs.frozen
class _Where:
    """What surrounds a place in the plan: a loop to leave, a def to return from, a conversation's members."""

    loop: bool = False
    in_def: bool = False
    members: tuple[str, ...] | None = None
    held: tuple[str, ...] = ()  # members that are `agent` variables


class _Checker:
    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []  # (path, what is wrong)
        self.step_ids: dict[str, str] = {}
        self.unknown: set[str] = set()  # agents reported as not declared

    def problem(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    # --- shape: each value of its field's type ---------------------------------------------

    def shape(self, value: Any, hint: Any, path: str) -> None:
        if hint is Any:  # a tool's schema, an option's value: any JSON
            if not _is_json(value):
                self.problem(path, f"expected JSON data, found {_found(value)}")
            return
        if hint is Span:
            if not isinstance(value, Span):
                self.problem(path, f"expected a span, found {_found(value)}")
            return
        origin = typing.get_origin(hint)
        if origin is typing.Literal:
            if not isinstance(value, str) or value not in typing.get_args(hint):
                self.problem(path, f"expected {_expected(hint)}, found {_found(value)}")
        elif origin is tuple:
            if not isinstance(value, tuple):
                self.problem(path, f"expected a list, found {_found(value)}")
                return
            item = typing.get_args(hint)[0]
            for index, element in enumerate(value):
                self.shape(element, item, f"{path}[{index}]")
        elif origin in (typing.Union, types.UnionType):
            chosen = self._option(value, typing.get_args(hint))
            if chosen is None:
                self.problem(path, f"expected {_expected(hint)}, found {_found(value)}")
            else:
                self.shape(value, chosen, path)
        elif isinstance(hint, type) and attrs.has(hint):
            if type(value) is not hint:
                self.problem(path, f"expected {_expected(hint)}, found {_found(value)}")
                return
            for name, field_hint in _hints(hint).items():
                self.shape(getattr(value, name), field_hint, _join(path, name))
        elif not _scalar_fits(value, hint):
            self.problem(path, f"expected {_expected(hint)}, found {_found(value)}")

    @staticmethod
    def _option(value: Any, options: tuple[Any, ...]) -> Any:
        """The member of a union that `value` is (a record by its class, else the first that fits)."""
        for option in options:
            if isinstance(option, type) and attrs.has(option):
                if type(value) is option:
                    return option
            elif typing.get_origin(option) is tuple:
                if isinstance(value, tuple):
                    return option
            elif typing.get_origin(option) is typing.Literal:
                if value in typing.get_args(option):
                    return option
            elif option is not Any and _scalar_fits(value, option):
                return option
        return None

    # --- names ----------------------------------------------------------------------------

    def plan(self, plan: p.Plan) -> None:
        if plan.version != p.PLAN_VERSION:
            self.problem("version", f"this Parley runs plan version {p.PLAN_VERSION}, not {plan.version!r}")
        self.models = self.declared(plan.models, "models", "model")
        self.agents = self.declared(plan.agents, "agents", "agent")
        self.tools = self.declared(plan.tools, "tools", "tool")
        self.records = self.declared(plan.types, "types", "type")
        self.defs = self.declared(plan.defs, "defs", "def")
        self.declared(plan.inputs, "inputs", "input")
        self.mcp_servers = self.declared(plan.mcp_servers, "mcp_servers", "MCP server")
        for index, server in enumerate(plan.mcp_servers):
            if (server.transport == "stdio") != bool(server.command) or (server.transport == "http") != bool(server.url):
                self.problem(f"mcp_servers[{index}]", "a stdio server has a command and no URL, an http one a URL")
        for name in sorted(set(self.tools) & set(self.defs)):
            self.problem(f"defs[{self.defs[name]}].name", f"{name!r} is both a def and a tool")
        for index, relative in enumerate(plan.module_path):
            if not relative.strip():
                self.problem(f"module_path[{index}]", "a module folder cannot be empty")
        if plan.default_model is not None:
            self.model(plan.default_model, "default_model")
        self.walk(plan.models, "models", _Where())
        for index, agent in enumerate(plan.agents):
            self.agent(agent, f"agents[{index}]")
        for index, tool in enumerate(plan.tools):
            self.tool(tool, f"tools[{index}]")
        self.walk(plan.tools, "tools", _Where())
        for index, record in enumerate(plan.types):
            self.declared(record.fields, f"types[{index}].fields", "field")
        for index, budget in enumerate(plan.budgets):
            self.budget(budget, f"budgets[{index}]")
        self.walk(plan.types, "types", _Where())
        self.walk(plan.inputs, "inputs", _Where())
        for index, decl in enumerate(plan.defs):
            path = f"defs[{index}]"
            self.declared(decl.params, f"{path}.params", "parameter")
            self.walk(decl, path, _Where(in_def=True))
        self.walk(plan.body, "body", _Where())

    def declared(self, decls: tuple[Any, ...], path: str, what: str) -> dict[str, int]:
        """The names of `decls` by their index, each declared once."""
        names: dict[str, int] = {}
        for index, decl in enumerate(decls):
            if decl.name in names:
                self.problem(f"{path}[{index}].name",
                             f"{what} {decl.name!r} is declared twice (first as {path}[{names[decl.name]}])")
            else:
                names[decl.name] = index
        return names

    def agent_name(self, name: str, path: str) -> None:
        if name not in self.agents:
            self.unknown.add(name)
            self.problem(path, f"no agent {name!r} is declared{_suggest(name, self.agents)}")

    def model(self, name: str, path: str) -> None:
        if name not in self.models:
            self.problem(path, f"no model {name!r} is declared{_suggest(name, self.models)}")

    def agent(self, agent: p.AgentDecl, path: str) -> None:
        if agent.model is not None:
            self.model(agent.model, f"{path}.model")
        for index, tool in enumerate(agent.tools):
            if tool not in self.tools and tool not in self.defs:
                self.problem(f"{path}.tools[{index}]",
                             f"no tool or def {tool!r} is declared{_suggest(tool, [*self.tools, *self.defs])}")
        for index, use in enumerate(agent.mcp):
            if use.server not in self.mcp_servers:
                self.problem(f"{path}.mcp[{index}].server", f"no MCP server {use.server!r} is declared"
                                                            f"{_suggest(use.server, self.mcp_servers)}")
        if agent.reply_by is not None and agent.reply_by not in self.defs:
            self.problem(f"{path}.reply_by", f"no def {agent.reply_by!r} is declared{_suggest(agent.reply_by, self.defs)}")
        if agent.agent_kind == "python":
            module, colon, function = (agent.target or "").partition(":")
            if not (colon and _dotted(module) and function.isidentifier()):
                self.problem(f"{path}.target", f"a python agent names its function as \"module:function\", "
                                               f"not {agent.target!r}")
        self.walk(agent.system, f"{path}.system", _Where())

    def tool(self, tool: p.ToolDecl, path: str) -> None:
        if not _dotted(tool.module):
            self.problem(f"{path}.module", f"not a python module name: {tool.module!r}")
        if not tool.function.isidentifier():
            self.problem(f"{path}.function", f"not a python function name: {tool.function!r}")
        self.declared(tool.params, f"{path}.params", "parameter")

    def budget(self, budget: p.Budget, path: str) -> None:
        limit = budget.limit
        if budget.metric == "cost":
            amount = _decimal(limit) if isinstance(limit, str) else None
            if amount is None or amount <= 0:
                self.problem(f"{path}.limit", f"a cost budget is dollars as decimal text (\"0.50\"), not {limit!r}")
        elif isinstance(limit, str) or limit <= 0 or (budget.metric != "time" and not isinstance(limit, int)):
            what = "a number of seconds" if budget.metric == "time" else "a whole number"
            self.problem(f"{path}.limit", f"a {budget.metric} budget is {what} above zero, not {limit!r}")

    # --- the steps and expressions --------------------------------------------------------

    def walk(self, value: Any, path: str, where: _Where) -> None:
        """Check `value` and everything inside it."""
        if isinstance(value, tuple):
            for index, item in enumerate(value):
                self.walk(item, f"{path}[{index}]", where)
            return
        if not attrs.has(type(value)):
            return
        self.check(value, path, where)
        for name in _hints(type(value)):
            self.walk(getattr(value, name), _join(path, name), self.inside(value, name, where))
        if isinstance(value, p.StepBase):
            self.threads(value, path)

    @staticmethod
    def inside(record: Any, field: str, where: _Where) -> _Where:
        """What surrounds the values of `record`'s `field`."""
        if isinstance(record, LOOPS) and field == "body":
            return attrs.evolve(where, loop=True)
        if isinstance(record, p.ParallelStep | p.ParallelForStep) or isinstance(record, p.DefDecl) and field == "body":
            return attrs.evolve(where, loop=False)  # a branch cannot leave the loop around it
        if isinstance(record, p.ChatStep | p.GroupStep) and field == "until":
            return attrs.evolve(where, members=record.members, held=record.held)
        return where

    def check(self, value: Any, path: str, where: _Where) -> None:
        if isinstance(value, p.StepBase):
            self.step(value, path)
        match value:
            case p.AskStep(agent=agent, agent_expr=held) | p.TellStep(agent=agent, agent_expr=held) | \
                    p.Ask(agent=agent, agent_expr=held):
                if held is None:
                    self.agent_name(agent, f"{path}.agent")
                elif agent:
                    self.problem(f"{path}.agent", f"an ask through `agent_expr` names no agent, not {agent!r}")
            case p.AgentRef(name=agent):
                self.agent_name(agent, f"{path}.name")
            case p.ForgetStep(agents=agents):
                for index, agent in enumerate(agents):
                    self.agent_name(agent, f"{path}.agents[{index}]")
            case p.ChatStep() | p.GroupStep():
                self.conversation(value, path)
            case p.SaysCondition(agent=agent) if agent is not None and agent not in where.held:
                self.agent_name(agent, f"{path}.agent")
                if agent in self.agents and where.members is not None and agent not in where.members:
                    self.problem(f"{path}.agent", f"{agent!r} is not a member of this conversation")
            case p.Call():
                self.call(value, path)
            case p.NamedType(name=name):
                if name not in PRIMITIVES and name not in self.records:
                    self.problem(f"{path}.name", f"no type {name!r} is declared"
                                 f"{_suggest(name, [*PRIMITIVES, *self.records])}")
            case p.Money(amount=amount):
                if _decimal(amount) is None:
                    self.problem(f"{path}.amount", f"an amount is decimal text (\"0.50\"), not {amount!r}")
            case p.DictOf(keys=keys, values=values) if len(keys) != len(values):
                self.problem(path, f"a dict of {len(keys)} keys and {len(values)} values")
            case p.Compare(ops=ops, comparators=comparators) if not ops or len(ops) != len(comparators):
                self.problem(path, f"a comparison of {len(ops)} operators and {len(comparators)} operands")
            case p.BreakStep() | p.ContinueStep() if not where.loop:
                self.problem(path, f"`{value.kind}` outside a loop")
            case p.ReturnStep() if not where.in_def:
                self.problem(path, "`return` outside a def")

    def step(self, step: p.StepBase, path: str) -> None:
        if step.id in self.step_ids:
            self.problem(f"{path}.id", f"step id {step.id!r} is also the id of {self.step_ids[step.id]}")
        else:
            self.step_ids[step.id] = path

    def threads(self, step: p.StepBase, path: str) -> None:
        """The `@agent` threads a step reads and writes (an agent reported unknown already is not again)."""
        for field in ("reads", "writes"):
            for index, name in enumerate(getattr(step, field)):
                if name.startswith("@") and name[1:] not in self.unknown:
                    self.agent_name(name[1:], f"{path}.{field}[{index}]")

    def conversation(self, step: p.ChatStep | p.GroupStep, path: str) -> None:
        seen: set[str] = set()
        for index, member in enumerate(step.members):
            if member not in step.held:  # a held member is a variable, read when the conversation starts
                self.agent_name(member, f"{path}.members[{index}]")
            if member in seen:
                self.problem(f"{path}.members[{index}]", f"{member!r} is listed twice")
            seen.add(member)
        for index, name in enumerate(step.held):
            if name not in seen:
                self.problem(f"{path}.held[{index}]", f"{name!r} is not a member of this conversation")
        if isinstance(step, p.ChatStep) and len(step.members) != 2:
            self.problem(f"{path}.members", f"a chat has exactly two members, not {len(step.members)}")
        if isinstance(step, p.GroupStep):
            if not step.members:
                self.problem(f"{path}.members", "a group has members")
            if step.manager is not None:
                self.model(step.manager, f"{path}.manager")
            if step.select_by is not None and step.select_by not in self.defs and step.select_by not in self.tools:
                self.problem(f"{path}.select_by", f"no def or tool {step.select_by!r} is declared"
                                                  f"{_suggest(step.select_by, [*self.defs, *self.tools])}")
            for index, edge in enumerate(step.flow):
                edge_path = f"{path}.flow[{index}]"
                for name, name_path in [(edge.source, f"{edge_path}.source"),
                                        *((t, f"{edge_path}.targets[{i}]") for i, t in enumerate(edge.targets))]:
                    if name not in seen:
                        self.problem(name_path, f"{name!r} is not a member of this group")

    def call(self, call: p.Call, path: str) -> None:
        name = call.callee
        if call.callee_kind == "def" and name not in self.defs:
            self.problem(f"{path}.callee", f"no def {name!r} is declared{_suggest(name, self.defs)}")
        elif call.callee_kind == "tool" and name not in self.tools:
            self.problem(f"{path}.callee", f"no tool {name!r} is declared{_suggest(name, self.tools)}")
        elif call.callee_kind == "builtin" and name not in BUILTINS:
            self.problem(f"{path}.callee", f"no built-in function {name!r}{_suggest(name, BUILTINS)}")


def _scalar_fits(value: Any, hint: Any) -> bool:
    if hint is type(None):
        return value is None
    if hint is float:  # an int is a float too (JSON does not tell `1` from `1.0`)
        return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(hint, type) and isinstance(value, hint)


def _is_json(value: Any, depth: int = 0) -> bool:
    """Whether `value` is plain JSON data (what `plan_to_json` can write and read back)."""
    if depth > 100:
        return False
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_is_json(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_json(item, depth + 1) for key, item in value.items())
    return False


def _dotted(module: str) -> bool:
    return bool(module) and all(part.isidentifier() for part in module.split("."))


def _decimal(text: str) -> decimal.Decimal | None:
    try:
        amount = decimal.Decimal(text)
    except decimal.InvalidOperation:
        return None
    return amount if amount.is_finite() else None
