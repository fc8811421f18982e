"""The compiler: a syntax tree → checked declarations and a conversation plan (plain data).

`compile_source` and `compile_path` return a `CompileResult` with the plan
(None when there are errors) and every diagnostic. The compiler never calls
a model; everything it can check before a token is spent, it checks here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import attrs
from parley.compiler import plan as p
from parley.compiler._context import Context, did_you_mean
from parley.compiler.agent_values import agents_as_values, check_from_outside
from parley.compiler.declarations import Collector, Namespace, Registry, constant, is_constant
from parley.compiler.expressions import ExpressionLowerer
from parley.compiler.numbering import number_steps
from parley.compiler.plan import json_schema
from parley.compiler.python_tools import PythonImportError, module_path, resolve
from parley.compiler.resolve import AgentBuilder, agent_effects, build_records, resolve_type
from parley.compiler.scope import Effects, Scope, Variable
from parley.compiler.statements import BodyLowerer
from parley.compiler.unit import Unit
from parley.dsl import nodes as n
from parley.dsl.caps import cap
from parley.dsl.collector import collector_paused
from parley.dsl.diagnostics import Diagnostic
from parley.dsl.errors import InternalError, ParleyError
from parley.dsl.parser import parse_path, parse_source
from parley.dsl.source import Source

__all__ = ["CompileResult", "compile_path", "compile_source"]

_RESOURCE_PREFIXES = ("@",)
_RESOURCES = {"io", "python", "exec"}


@attrs.frozen
class CompileResult:
    """A compiled script: the plan (None when there were errors), diagnostics in order, and the sources."""

    plan: p.Plan | None
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, Source]

    @property
    def ok(self) -> bool:
        return self.plan is not None


def compile_path(path: str | os.PathLike[str], display: str | None = None) -> CompileResult:
    """Read, parse and compile a script file; imports are found relative to it."""
    with _only_script_errors(display if display is not None else os.fspath(path)), collector_paused():
        parsed = parse_path(path, display)
        return _compile(parsed.module, parsed.source, parsed.diagnostics, Path(path).resolve())


def compile_source(text: str | bytes, filename: str = "<script>", path: str | os.PathLike[str] | None = None) -> CompileResult:
    """Compile script text; `path` (if given) is where imports are looked up from."""
    with _only_script_errors(filename), collector_paused():
        parsed = parse_source(text, filename)
        return _compile(parsed.module, parsed.source, parsed.diagnostics, Path(path).resolve() if path else None)


@contextlib.contextmanager
def _only_script_errors(name: str) -> Iterator[None]:
    """The compiler's last line of defence: whatever else escapes is a bug in Parley, and says so.

    A script's mistakes are diagnostics; a `ParleyError` is raised on purpose by
    the code that knows whose fault it is. Anything else (an `OSError`, a
    `ValueError` nobody foresaw) would reach the user as a traceback.
    """
    try:
        yield
    except ParleyError:
        raise
    except Exception as error:
        raise InternalError(f"compiling {name} failed: {type(error).__name__}: {error}") from error


def _compile(module: n.Module | None, source: Source, parse_diagnostics: tuple[Diagnostic, ...],
             path: Path | None) -> CompileResult:
    ctx = Context(diagnostics=list(parse_diagnostics), sources={source.name: source})
    if module is None:
        return CompileResult(None, cap(ctx.diagnostics), ctx.sources)
    plan = Compilation(ctx, module, source, path).run()
    ordered = cap(_ordered(ctx))
    return CompileResult(plan if not ctx.failed else None, ordered, ctx.sources)


def _ordered(ctx: Context) -> tuple[Diagnostic, ...]:
    """Diagnostics in file order, each once (a name checked from two places is reported once)."""
    order = {name: index for index, name in enumerate(ctx.sources)}
    unique = list(dict.fromkeys(ctx.diagnostics))
    if any(d.is_error for d in unique):
        # Unused-name warnings on a script that does not compile are mostly echoes of its errors.
        unique = [d for d in unique if d.code not in ("P243", "P244")]
    return tuple(sorted(unique, key=lambda d: (order.get(d.span.file, 0), d.span.line, d.span.column)))


class Compilation:
    """One run of the compiler over a parsed script."""

    def __init__(self, ctx: Context, module: n.Module, source: Source, path: Path | None) -> None:
        self.ctx = ctx
        self.module = module
        self.source = source
        self.path = path
        self.ns = Namespace(file=source.name, path=path, qualifier="")
        self.unit = Unit(ctx=ctx, registry=Registry(), main=self.ns)
        self.agents: dict[str, p.AgentDecl] = {}
        self.inputs: dict[str, Variable] = {}
        self.script_variables = _script_variables(module)

    def run(self) -> p.Plan:
        collector = Collector(self.ctx, self.unit.registry, self._load)
        collector.collect(self.module, self.ns, (self.path,) if self.path else (), main=True)
        build_records(self.unit)
        self._check_aliases(self.ns)
        for imported in self.unit.registry.loaded.values():
            self._check_aliases(imported)
        input_decls = self._inputs()
        self._agents()
        self.unit.lower_def = self._lower_def
        self.unit.agent_values = agents_as_values(self.module, self.ns, self.unit.registry)
        self.unit.agent_effects = self._agent_effects
        for plan_name in list(self.unit.registry.defs):
            self.unit.effects_of_def(plan_name)
        main_scope = Scope(kind="script", inputs=self.inputs)
        body = BodyLowerer(self.unit, self.ns, main_scope).block(self.module.body, top=True)
        self._unused(main_scope, "P243", "variable")
        for variable in self.inputs.values():
            if not variable.used:
                self.ctx.warning("P244", f"input `{variable.name}` is never used", variable.span, "unused input",
                                 "use it in the script, or remove it")
        return number_steps(p.Plan(
            version=p.PLAN_VERSION, file=self.source.name,
            source_sha256=hashlib.sha256(self.source.text.encode()).hexdigest(),
            module_path=self._module_path(),
            default_model=self._default_model(),
            models=tuple(self.unit.registry.models.values()),
            agents=tuple(self.agents.values()),
            tools=tuple(self._tools()),
            types=tuple(self.unit.records.values()),
            inputs=input_decls,
            budgets=self._budgets(),
            defs=tuple(self.unit.defs[name] for name in self.unit.registry.defs if name in self.unit.defs),
            body=body,
            mcp_servers=tuple(self.unit.mcp_servers.values()),
        ))

    def _load(self, path: Path, display: str, ctx: Context) -> n.Module | None:
        parsed = parse_path(path, display)
        ctx.sources[parsed.source.name] = parsed.source
        ctx.diagnostics.extend(parsed.diagnostics)
        return parsed.module

    # --- declarations ----------------------------------------------------------

    def _inputs(self) -> tuple[p.InputDecl, ...]:
        decls = []
        for statement in self.module.body:
            if not isinstance(statement, n.InputDecl):
                continue
            name = statement.name
            if name.id in self.ns.declared() or name.id in self.inputs:
                self.ctx.error("P210", f"`{name.id}` is declared twice", name.span, "again",
                               "give the input another name")
                continue
            type_ref = resolve_type(statement.type, self.ns, self.unit) or p.NamedType(name="any")
            check_from_outside(self.ctx, type_ref, statement.type.span, "an input")
            default = None
            if statement.default is not None:
                default = ExpressionLowerer(self.unit, self.ns, Scope(kind="script")).expr(statement.default, Effects())
            self.inputs[name.id] = Variable(name.id, name.span, "input", type_ref)
            decls.append(p.InputDecl(name=name.id, type=type_ref, default=default, span=statement.span))
        return tuple(decls)

    def _check_aliases(self, ns: Namespace) -> None:
        """Every alias names known types, used or not (reported once, at its declaration)."""
        for name, alias in ns.aliases.items():
            if ns.types.get(name) is not None and alias.span.file == ns.file:
                resolved = resolve_type(alias.type, ns, self.unit, (name,))
                if resolved is not None:
                    ns.types[name] = resolved

    def _agents(self) -> None:
        system_scope = Scope(kind="system", inputs=self.inputs)

        def system_text(template: n.Template) -> p.Text:
            return ExpressionLowerer(self.unit, self.ns, system_scope).template(template, Effects())

        builder = AgentBuilder(self.unit, system_text)
        for plan_name, (decl, ns) in self.unit.registry.agents.items():
            if ns is not self.ns:
                lowerer_scope = Scope(kind="system")
                builder.system_text = lambda t, ns=ns, s=lowerer_scope: ExpressionLowerer(self.unit, ns, s).template(
                    t, Effects())
            else:
                builder.system_text = system_text
            self.agents[plan_name] = builder.build(plan_name, decl, ns)

    def _agent_effects(self, agent: str) -> Effects:
        decl = self.agents.get(agent)
        return agent_effects(decl, self.unit) if decl is not None else Effects()

    def _tools(self) -> list[p.ToolDecl]:
        tools = []
        for plan_name, function in self.unit.registry.tools.items():
            tools.append(p.ToolDecl(
                name=plan_name, module=function.module, function=function.name, params=function.params,
                description=function.description, schema=function.schema,
                span=self.unit.registry.tool_spans[plan_name],
            ))
        return tools

    def _module_path(self) -> tuple[str, ...]:
        """Where the script's own Python modules were found (`Plan.module_path`): its tools', its python agents'."""
        found = [function.found_in for function in self.unit.registry.tools.values()]
        for name, agent in self.agents.items():
            ns = self.unit.registry.agents[name][1]
            if agent.agent_kind == "python" and agent.target and ns.path is not None:
                module, _, function = agent.target.partition(":")
                with contextlib.suppress(PythonImportError):  # reported already, where the agent is declared
                    found.append(resolve(module, function, str(ns.path.parent)).found_in)
        return module_path(self.path, found)

    def _default_model(self) -> str | None:
        name = self.unit.registry.default_model
        if name is None:
            return None
        if name not in self.ns.models:
            decl = next(s for s in self.module.body if isinstance(s, n.DefaultModel))
            self.ctx.error("P203", f"unknown model `{name}`", decl.model.span, "not declared",
                           did_you_mean(name, self.ns.models, self.ns.spans)
                           or f'declare it first: `model {name} = openai("gpt-4o-mini")`')
            return None
        return self.ns.models[name]

    def _budgets(self) -> tuple[p.Budget, ...]:
        budgets: dict[str, p.Budget] = {}
        for statement in self.module.body:
            if not isinstance(statement, n.BudgetStmt):
                continue
            if statement.kind in budgets:
                self.ctx.error("P262", f"a {statement.kind} budget is given twice", statement.span, "second one",
                               f"keep one (the first is on line {budgets[statement.kind].span.line})")
                continue
            value = constant(statement.amount)
            if isinstance(value, int | float) and value <= 0 or (isinstance(value, str) and float(value) <= 0):
                self.ctx.error("P261", "a budget must be more than zero", statement.amount.span, "nothing to spend",
                               "give a positive amount")
            budgets[statement.kind] = p.Budget(metric=statement.kind, limit=value, span=statement.span)
        if "cost" in budgets:
            self._unpriced(budgets["cost"])
        return tuple(budgets.values())

    def _unpriced(self, budget: p.Budget) -> None:
        """A `$` budget over a model whose price nobody knows cannot be kept: the run will refuse to start."""
        from parley.compiler.prices import dollars, unpriced_models

        limit = dollars(Decimal(str(budget.limit)))
        for model in unpriced_models(tuple(self.unit.registry.models.values()), tuple(self.agents.values()),
                                     self._default_model()):
            self.ctx.warning(
                "P263", f"the price of `{model.model_id}` is unknown, so `budget {limit}` cannot be kept",
                model.span, "no known price",
                f"give its price in dollars per million tokens: `{model.provider}(\"{model.model_id}\", …, "
                "price_input=$0.15, price_output=$0.60)`; without one, the run refuses to start",
            )

    # --- defs ----------------------------------------------------------------------

    def _lower_def(self, plan_name: str) -> None:
        decl, ns = self.unit.registry.defs[plan_name]
        self.unit.lowering.append(plan_name)
        try:
            scope = Scope(kind="def", inputs=self.inputs if ns is self.ns else {},
                          hidden=self.script_variables if ns is self.ns else {})
            params = []
            properties, required = {}, []
            for param in decl.params:
                type_ref = resolve_type(param.type, ns, self.unit) if param.type is not None else None
                default = None
                if param.default is not None:
                    value = constant(param.default)
                    if not is_constant(value):
                        self.ctx.error("P223", "a parameter's default is a constant", param.default.span,
                                       "not a constant", "write a literal value, like `50` or `\"short\"`")
                    else:
                        default = p.Const(value=value) if not isinstance(value, list) else p.ListOf(
                            items=tuple(p.Const(value=v) for v in value))
                if param.name.id in scope.variables:
                    self.ctx.error("P210", f"parameter `{param.name.id}` is given twice", param.name.span, "again",
                                   "give each parameter once")
                scope.variables[param.name.id] = Variable(param.name.id, param.name.span, "param", type_ref)
                params.append(p.Param(name=param.name.id, type=type_ref, default=default, required=default is None))
                properties[param.name.id] = json_schema(type_ref, self.unit.records) if type_ref else {}
                if default is None:
                    required.append(param.name.id)
            lowerer = BodyLowerer(self.unit, ns, scope)
            lowerer.in_def = True
            body = lowerer.block(decl.body)
            self._unused(scope, "P243", "variable", skip_params=True)
            effects = Effects()
            for step in body:
                effects.reads.update(r for r in step.reads if r.startswith("@") or r in _RESOURCES)
                effects.writes.update(w for w in step.writes if w.startswith("@") or w in _RESOURCES)
            self.unit.def_effects[plan_name] = effects
            returns = resolve_type(decl.returns, ns, self.unit) if decl.returns is not None else None
            schema = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
            self.unit.defs[plan_name] = p.DefDecl(
                name=plan_name, params=tuple(params), returns=returns,
                doc=decl.docstring.text if decl.docstring is not None else None, schema=schema, body=body,
                span=decl.span,
            )
        finally:
            self.unit.lowering.pop()

    def _unused(self, scope: Scope, code: str, what: str, skip_params: bool = False) -> None:
        for variable in scope.variables.values():
            if variable.used or variable.name.startswith("_") or (skip_params and variable.kind == "param"):
                continue
            if variable.kind == "loop":
                continue
            self.ctx.warning(code, f"{what} `{variable.name}` is assigned but never used", variable.span, "never read",
                             "use it, or drop the assignment (a name starting with `_` is exempt)")


def _script_variables(module: n.Module) -> dict[str, Variable]:
    """Every name the script's body assigns, at any depth (a def cannot see them)."""
    found: dict[str, Variable] = {}
    pending: list[object] = list(module.body)
    while pending:
        node = pending.pop()
        if isinstance(node, n.Def):
            continue
        if isinstance(node, n.Assign | n.AugAssign | n.Conversation) and isinstance(node.target, n.Name):
            found.setdefault(node.target.id, Variable(node.target.id, node.target.span, "variable"))
        if isinstance(node, n.For):
            for target in node.targets:
                found.setdefault(target.id, Variable(target.id, target.span, "loop"))
        for attribute in ("body", "orelse", "branches"):
            inner = getattr(node, attribute, None)
            if isinstance(inner, tuple):
                pending.extend(inner)
    return found
