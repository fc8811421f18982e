"""Types, record declarations and agents: resolved against the declarations, checked, made plan data."""

from __future__ import annotations

import math
import re
from typing import Any, get_args

from parley.compiler import plan as p
from parley.compiler._context import did_you_mean
from parley.compiler.agent_values import check_from_outside
from parley.compiler.declarations import Namespace, constant, is_constant
from parley.compiler.mcp import mcp_use
from parley.compiler.python_tools import PythonImportError, resolve
from parley.compiler.scope import EXEC, IO, PYTHON, Effects
from parley.compiler.types import PRIMITIVES
from parley.compiler.unit import Unit
from parley.dsl import nodes as n


def resolve_type(t: n.TypeExpr, ns: Namespace, unit: Unit, resolving: tuple[str, ...] = ()) -> p.TypeRef | None:
    """The plan type for a type written in `ns`; None (with a diagnostic) when it names nothing known."""
    if isinstance(t, n.LiteralType):
        return p.NamedType(name="none") if t.value is None else p.LiteralType(value=t.value)
    if isinstance(t, n.UnionType):
        options = [resolve_type(o, ns, unit, resolving) for o in t.options]
        return None if any(o is None for o in options) else p.UnionType(options=tuple(options))  # type: ignore[arg-type]
    name = t.name.id
    if name in ("list", "dict"):
        expected = 1 if name == "list" else 2
        if len(t.args) != expected:
            unit.ctx.error("P204", f"`{name}` takes {expected} type argument{'s' if expected > 1 else ''}",
                           t.span, "wrong arguments", "write `list[str]` or `dict[str, int]`")
            return None
        if name == "dict":
            key = t.args[0]
            if not (isinstance(key, n.TypeName) and key.name.id == "str"):
                unit.ctx.error("P204", "dict keys are strings", key.span, "not `str`", "write `dict[str, T]`")
            value = resolve_type(t.args[1], ns, unit, resolving)
            return p.DictType(value=value) if value is not None else None
        item = resolve_type(t.args[0], ns, unit, resolving)
        return p.ListType(item=item) if item is not None else None
    if t.args:
        unit.ctx.error("P204", f"`{name}` takes no type arguments", t.span, "not generic",
                       "only `list[T]` and `dict[str, T]` take type arguments")
    if name in PRIMITIVES:
        return p.NamedType(name=name)
    if name in ns.aliases:
        if name in resolving:
            unit.ctx.error("P214", f"type `{name}` is defined in terms of itself", t.span, "cycle",
                           "define it from other types")
            return None
        alias = ns.aliases[name]
        return resolve_type(alias.type, ns, unit, (*resolving, name))
    if name in ns.types:
        return ns.types[name]
    if name in ns.failed:
        return None  # its import was already reported
    unit.ctx.error(
        "P204", f"unknown type `{name}`", t.name.span, "not a type",
        did_you_mean(name, [*PRIMITIVES, "list", "dict", *ns.types], ns.spans)
        or f"declare it: `type {name}:` with one `field: type` per line",
    )
    return None


def build_records(unit: Unit) -> None:
    """Record types as plan data (fields resolved; duplicate fields reported)."""
    for plan_name, (decl, ns) in unit.registry.records.items():
        fields = []
        seen: set[str] = set()
        for field in decl.fields:
            if field.name.id in seen:
                unit.ctx.error("P210", f"field `{field.name.id}` is declared twice", field.name.span, "again",
                               "give each field once")
                continue
            seen.add(field.name.id)
            type_ref = resolve_type(field.type, ns, unit)
            check_from_outside(unit.ctx, type_ref, field.type.span, "a record field (typed replies fill it)")
            default = None
            if field.default is not None:
                value = constant(field.default)
                if not is_constant(value):
                    unit.ctx.error("P223", "a field's default is a constant", field.default.span, "not a constant",
                                   "write a literal: a string, number, `true`, `false`, `none` or `[]`")
                else:
                    default = p.Const(value=value) if not isinstance(value, list) else p.ListOf(
                        items=tuple(p.Const(value=v) for v in value))
            fields.append(p.Field(name=field.name.id, type=type_ref or p.NamedType(name="any"), default=default))
        unit.records[plan_name] = p.RecordDecl(name=plan_name, fields=tuple(fields), span=decl.span)


# --- agents ------------------------------------------------------------------------

_NUMBER_SETTINGS: dict[str, tuple[type, float | None, float | None]] = {
    # setting → (kind of number, least, most)
    "temperature": (float, 0.0, 2.0),
    "top_p": (float, 0.0, 1.0),
    "max_tokens": (int, 1, None),
    "seed": (int, None, None),
    "max_tool_rounds": (int, 0, 100),
    "max_auto_replies": (int, 1, 1000),
    "memory": (int, 1, None),
    "timeout": (float, 0.001, None),
}
_KIND_NAMES: dict[p.AgentKind, str] = {"llm": "an LLM agent", "human": "a human agent",
                                       "executor": "an executor agent", "python": "a python agent"}


def range_problem(key: str, value: float) -> str | None:
    """How `value` is out of range for the numeric setting or option `key`, or None when it is fine."""
    if key not in _NUMBER_SETTINGS:
        return None
    _, least, most = _NUMBER_SETTINGS[key]
    if (isinstance(value, float) and not math.isfinite(value)) or (least is not None and value < least) \
            or (most is not None and value > most):
        return f"from {least} to {most}" if most is not None else f"{least} or more"
    return None


#: The settings each kind of agent takes: `model`, `tools` and `description` are fields of the agent's
#: plan record, the others fields of its `AgentSettings`.
SETTINGS: dict[p.AgentKind, tuple[str, ...]] = {
    "llm": ("model", "tools", "temperature", "top_p", "max_tokens", "seed", "max_tool_rounds",
            "max_auto_replies", "memory", "description", "cache", "human_input"),
    "human": ("description",),
    "executor": ("description", "timeout", "workdir", "languages", "env", "human_input"),
    "python": ("description",),
}
LANGUAGES: tuple[p.Language, ...] = get_args(p.Language)
HUMAN_INPUT_MODES: tuple[p.HumanInputMode, ...] = get_args(p.HumanInputMode)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class AgentBuilder:
    """Agents as plan data; their settings checked against their kind."""

    def __init__(self, unit: Unit, system_text: Any) -> None:
        self.unit = unit
        self.ctx = unit.ctx
        self.system_text = system_text  # lowers a system message (it may interpolate inputs)

    def build(self, plan_name: str, decl: n.AgentDecl, ns: Namespace) -> p.AgentDecl:
        kind = decl.kind
        model: str | None = None
        tools: list[str] = []
        mcp: list[p.McpUse] = []
        description: str | None = None
        settings: dict[str, Any] = {}
        seen: set[str] = set()
        for setting in decl.settings:
            key = setting.key.id
            if key in seen:
                self.ctx.error("P222", f"setting `{key}` is given twice", setting.key.span, "again",
                               "give each setting once")
                continue
            seen.add(key)
            if key not in SETTINGS[kind]:
                self._unknown_setting(setting, kind)
                continue
            if key == "model":
                model = self._model(setting, ns)
            elif key == "tools":
                tools = self._tools(setting, ns, mcp)
            elif key == "description":
                description = self._string(setting)
            else:
                value = self._value(setting)
                if value is not None:
                    settings[key] = value
        target = None
        if kind == "python" and decl.target is not None:
            target = self._python_target(decl.target, ns)
        reply_by = self._reply_by(decl, ns) if decl.reply_by is not None else None
        system = self.system_text(decl.system) if decl.system is not None else None
        if description is None and decl.system is not None and decl.system.parts:
            first = decl.system.parts[0]
            description = first.strip().split("\n", 1)[0] if isinstance(first, str) else None
        return p.AgentDecl(
            name=plan_name, agent_kind=kind, system=system, description=description, model=model,
            tools=tuple(tools), settings=p.AgentSettings(**settings), target=target, reply_by=reply_by,
            span=decl.span, mcp=tuple(mcp),
        )

    def _unknown_setting(self, setting: n.Setting, kind: p.AgentKind) -> None:
        key = setting.key.id
        owner = [k for k, allowed in SETTINGS.items() if key in allowed]
        if key in ("model", "tools") and kind in ("human", "executor", "python"):
            article = "an" if kind == "executor" else "a"
            self.ctx.error("P231", f"{article} {kind} agent takes no `{key}`", setting.key.span,
                           f"not for {article} {kind} agent",
                           "only LLM agents (`agent NAME:`) have a model and tools")
            return
        self.ctx.error(
            "P222", f"unknown setting `{key}` for {_KIND_NAMES[kind]}",
            setting.key.span, "unknown setting",
            did_you_mean(key, SETTINGS[kind])
            or (f"`{key}` is a setting of {' and '.join(owner)} agents" if owner
                else f"settings of this agent: {', '.join(SETTINGS[kind])}"),
        )

    def _single(self, setting: n.Setting) -> n.Expr | None:
        if len(setting.values) != 1:
            self.ctx.error("P223", f"`{setting.key.id}` takes one value", setting.values[1].span, "extra value",
                           f"write `{setting.key.id}: VALUE`")
            return None
        return setting.values[0]

    def _model(self, setting: n.Setting, ns: Namespace) -> str | None:
        value = self._single(setting)
        if not isinstance(value, n.Name):
            if value is not None:
                self.ctx.error("P223", "`model` names a declared model", value.span, "not a model name",
                               'declare `model smart = openai("gpt-4o-mini")` and write `model: smart`')
            return None
        if value.id not in ns.models:
            self.ctx.error("P203", f"unknown model `{value.id}`", value.span, "not declared",
                           did_you_mean(value.id, ns.models, ns.spans)
                           or f'declare it: `model {value.id} = openai("gpt-4o-mini")`')
            return None
        return ns.models[value.id]

    def _tools(self, setting: n.Setting, ns: Namespace, mcp: list[p.McpUse]) -> list[str]:
        """The defs and Python tools `tools:` names; the MCP servers it names (`mcp(…)`) go to `mcp`."""
        names: list[n.Expr] = []
        for value in setting.values:
            names.extend(value.items if isinstance(value, n.ListExpr) else (value,))
        tools = []
        for name in names:
            if isinstance(name, n.Call) and isinstance(name.func, n.Name) and name.func.id == "mcp":
                use = mcp_use(name, self.unit, ns.path.parent if ns.path is not None else None)
                if use is not None:
                    mcp.append(use)
                continue
            if not isinstance(name, n.Name):
                self.ctx.error("P223", "`tools` lists defs and Python functions by name, and MCP servers",
                               name.span, "not a name", 'write `tools: search, save, mcp("python server.py")`')
            elif name.id in ns.defs:
                tools.append(ns.defs[name.id])
            elif name.id in ns.tools:
                tools.append(ns.tools[name.id])
            elif name.id in ns.failed:
                continue  # its import was already reported
            else:
                self.ctx.error("P205", f"unknown tool `{name.id}`", name.span, "not a def or Python function",
                               did_you_mean(name.id, [*ns.defs, *ns.tools], ns.spans)
                               or 'declare it with `def`, or import it: `from python "module" import name`')
        return tools

    def _string(self, setting: n.Setting) -> str | None:
        value = self._single(setting)
        text = value.text if isinstance(value, n.Template) else None
        if value is not None and text is None:
            self.ctx.error("P223", f"`{setting.key.id}` is a plain string", value.span, "not a plain string",
                           f'write `{setting.key.id}: "…"` without `{{…}}`')
        return text

    def _value(self, setting: n.Setting) -> Any:
        key = setting.key.id
        if key == "languages":
            values = [constant(v) for v in setting.values]
            if len(values) == 1 and isinstance(values[0], list):
                values = values[0]
            bad = [(v, node) for v, node in zip(values, setting.values) if v not in LANGUAGES]
            if len(values) != len(setting.values):  # one list literal: point at the list
                bad = [(v, setting.values[0]) for v in values if v not in LANGUAGES]
            if bad:
                value, node = bad[0]
                self.ctx.error("P223", f'unknown language "{value}"', node.span, "not supported",
                               f"executors run: {', '.join(LANGUAGES)}")
                return None
            return tuple(values)
        if key == "env":
            return self._names(setting)
        if key == "human_input":
            return self._human_input(setting)
        value_node = self._single(setting)
        if value_node is None:
            return None
        value = constant(value_node)
        if key in ("workdir",):
            if not isinstance(value, str):
                self.ctx.error("P223", "`workdir` is a folder, as a plain string", value_node.span, "not a string",
                               'write `workdir: "work"`')
                return None
            return value
        if key == "cache":
            if not isinstance(value, bool):
                self.ctx.error("P223", "`cache` is `true` or `false`", value_node.span, "not a bool",
                               "write `cache: true`")
                return None
            return value
        kind, _, _ = _NUMBER_SETTINGS[key]  # its range is checked below, by `range_problem`
        number_ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not number_ok or (kind is int and not isinstance(value, int)):
            what = "a whole number" if kind is int else ("a duration like 30s" if key == "timeout" else "a number")
            self.ctx.error("P223", f"`{key}` is {what}", value_node.span, "wrong kind of value",
                           f"write `{key}: {'30s' if key == 'timeout' else (1 if kind is int else 0.2)}`")
            return None
        problem = range_problem(key, value)
        if problem is not None:
            self.ctx.error("P223", f"`{key}` must be {problem}", value_node.span, "out of range",
                           f"choose a value {problem}")
            return None
        return float(value) if kind is float else value  # `temperature: 1` is the float 1.0 in the plan

    def _human_input(self, setting: n.Setting) -> p.HumanInputMode | None:
        """`human_input: always | on_stop | never` (a bare word, as written)."""
        value = self._single(setting)
        if value is None:
            return None
        word = value.id if isinstance(value, n.Name) else constant(value)
        if word not in HUMAN_INPUT_MODES:
            self.ctx.error("P223", f"`human_input` is one of {', '.join(HUMAN_INPUT_MODES)}", value.span,
                           "not a mode", (did_you_mean(word, HUMAN_INPUT_MODES) if isinstance(word, str) else None)
                           or "write `human_input: on_stop` (a person is asked when the conversation would stop)")
            return None
        return word  # type: ignore[no-any-return]

    def _names(self, setting: n.Setting) -> tuple[str, ...] | None:
        """`env: "NAME", …` (or one list): environment variable names, each a plain identifier."""
        nodes = list(setting.values)
        values = [constant(v) for v in nodes]
        if len(values) == 1 and isinstance(values[0], list):
            values, nodes = values[0], [nodes[0]] * len(values[0])  # one list literal: point at the list
        for value, node in zip(values, nodes):
            if not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
                self.ctx.error("P223", "`env` names environment variables, as plain strings", node.span,
                               "not a variable name", 'write `env: "PGHOST", "PGPORT"`')
                return None
        return tuple(values)

    def _python_target(self, target: n.Template, ns: Namespace) -> str | None:
        text = target.text
        if text is None or text.count(":") != 1:
            self.ctx.error("P274", "a python agent names its function as \"module:function\"", target.span,
                           "expected module:function", 'write `agent calc is python "tools:calculate"`')
            return None
        module, function = text.split(":")
        try:
            resolve(module, function, str(ns.path.parent) if ns.path is not None else None)
        except PythonImportError as error:
            self.ctx.error("P274", str(error), target.span, "cannot be found",
                           "check the module and function names; the module must be importable")
            return None
        return text

    def _reply_by(self, decl: n.AgentDecl, ns: Namespace) -> str | None:
        name = decl.reply_by
        assert name is not None
        if decl.kind != "llm":
            self.ctx.error("P231", f"{_KIND_NAMES[decl.kind]} cannot have `reply by`", name.span, "not for this kind",
                           "only LLM agents (`agent NAME:`) take `reply by`")
            return None
        if name.id not in ns.defs:
            self.ctx.error("P205", f"unknown def `{name.id}`", name.span, "not a def",
                           did_you_mean(name.id, ns.defs, ns.spans) or "declare it: `def review(message):`")
            return None
        plan_name = ns.defs[name.id]
        def_decl, _ = self.unit.registry.defs[plan_name]
        required = [q for q in def_decl.params if q.default is None]
        if len(required) != 1:
            self.ctx.error(
                "P232", f"`{name.id}` cannot compute replies: it must take exactly one required parameter",
                name.span, f"takes {len(required)} required parameters",
                f"a `reply by` def receives the incoming message: `def {name.id}(message):` (line {def_decl.span.line})",
            )
        return plan_name


def agent_effects(agent: p.AgentDecl, unit: Unit) -> Effects:
    """What asking `agent` may do besides its thread: run tools and nested conversations, ask a human."""
    fx = Effects()
    if agent.agent_kind == "human" or agent.settings.human_input in ("always", "on_stop"):
        fx.writes.add(IO)  # a person is asked (for an LLM agent: in chats and groups)
    if agent.agent_kind == "executor":
        fx.writes.add(EXEC)
    if agent.agent_kind == "python":
        fx.writes.add(PYTHON)
    for tool in agent.tools:
        if tool in unit.registry.defs:
            fx.merge(unit.effects_of_def(tool))
        else:
            fx.writes.add(PYTHON)
    for use in agent.mcp:
        fx.writes.add(f"mcp:{use.server}")  # a server's state is shared: its callers keep their order
    if agent.reply_by is not None:
        fx.merge(unit.effects_of_def(agent.reply_by))
    return fx
