"""Declarations: what each name of a script (and of the scripts it imports) means.

A `Namespace` maps the names one file can use to plan names; the `Registry`
holds every declaration of the compilation under its plan name. Names
declared in the main script keep their names; those of an imported file are
qualified by the file's stem (`roles.coder`), whatever they are imported as.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import attrs
from parley.compiler import plan as p
from parley.compiler._context import Context, did_you_mean
from parley.compiler.prices import PRICE_OPTIONS, amount
from parley.compiler.python_tools import PythonFunction, PythonImportError, resolve
from parley.compiler.types import PRIMITIVES
from parley.dsl import nodes as n
from parley.dsl.source import Span

#: Loads an imported script: (path, name to show) → syntax tree, or None when it does not parse.
Loader = Callable[[Path, str, Context], "n.Module | None"]

PROVIDERS: dict[p.Provider, tuple[bool, tuple[p.ModelOptionName, ...]]] = {
    # provider → (takes a model id or file as first argument, keyword options)
    "openai": (True, ("base_url", "api_key_env", "temperature", "top_p", "max_tokens", "seed", "timeout",
                      "max_retries", "price_input", "price_output", "cache", "json_schema",
                      "max_concurrency", "rpm", "tpm")),
    "local": (False, ("path", "temperature", "top_p", "max_tokens", "seed", "context")),
    "scripted": (True, ("temperature", "seed")),
}


@attrs.define
class Namespace:
    """The names one file can use, mapped to plan names (types map to their `TypeRef`)."""

    file: str
    path: Path | None
    qualifier: str
    agents: dict[str, str] = attrs.Factory(dict)
    models: dict[str, str] = attrs.Factory(dict)
    types: dict[str, p.TypeRef] = attrs.Factory(dict)
    defs: dict[str, str] = attrs.Factory(dict)
    tools: dict[str, str] = attrs.Factory(dict)
    prefixes: dict[str, Namespace] = attrs.Factory(dict)
    spans: dict[str, Span] = attrs.Factory(dict)
    aliases: dict[str, n.TypeAlias] = attrs.Factory(dict)
    failed: set[str] = attrs.Factory(set)  # names whose declaration or import already failed (no cascades)
    display: str = ""

    def plan_name(self, name: str) -> str:
        return f"{self.qualifier}.{name}" if self.qualifier else name

    def declared(self) -> set[str]:
        """Every declared name (for duplicate checks and "did you mean")."""
        return {*self.agents, *self.models, *self.types, *self.defs, *self.tools, *self.prefixes}

    def table(self, kind: str) -> dict[str, Any]:
        """The names declared as `kind` (`agent`, `model`, `type`, `def` or `tool`), to look up or add to."""
        tables: dict[str, dict[str, Any]] = {
            "agent": self.agents, "model": self.models, "type": self.types, "def": self.defs, "tool": self.tools,
        }
        return tables[kind]

    def kind_of(self, name: str) -> str | None:
        for kind, table in (("agent", self.agents), ("model", self.models), ("type", self.types),
                            ("def", self.defs), ("tool", self.tools), ("import", self.prefixes)):
            if name in table:
                return kind
        return None


@attrs.define
class Registry:
    """Every declaration of the compilation, by plan name."""

    models: dict[str, p.ModelDecl] = attrs.Factory(dict)
    agents: dict[str, tuple[n.AgentDecl, Namespace]] = attrs.Factory(dict)
    records: dict[str, tuple[n.TypeDecl, Namespace]] = attrs.Factory(dict)
    defs: dict[str, tuple[n.Def, Namespace]] = attrs.Factory(dict)
    tools: dict[str, PythonFunction] = attrs.Factory(dict)
    tool_spans: dict[str, Span] = attrs.Factory(dict)
    loaded: dict[Path, Namespace] = attrs.Factory(dict)
    stems: set[str] = attrs.Factory(set)
    default_model: str | None = None


class Collector:
    """Walks the top level of each file, registering its declarations and following imports."""

    def __init__(self, ctx: Context, registry: Registry, loader: Loader) -> None:
        self.ctx = ctx
        self.registry = registry
        self.loader = loader

    # --- files -----------------------------------------------------------------

    def collect(self, module: n.Module, ns: Namespace, chain: tuple[Path, ...], main: bool) -> None:
        for statement in module.body:
            match statement:
                case n.ModelDecl():
                    self._model(statement, ns)
                case n.DefaultModel():
                    if main:
                        self.registry.default_model = statement.model.id  # resolved once every model is known
                case n.AgentDecl():
                    self._agent(statement, ns)
                case n.TypeDecl():
                    self._type(statement, ns)
                case n.TypeAlias():
                    self._type_alias(statement, ns)
                case n.Def():
                    self._def(statement, ns)
                case n.PythonImport():
                    self._python_import(statement, ns)
                case n.ImportAgent():
                    self._import(statement, ns, chain)
                case n.FromImport():
                    self._from_import(statement, ns, chain)
                case _:
                    pass  # not a declaration: the body's statements are lowered later (inputs and budgets too)

    def _declare(self, table: dict[str, Any], ns: Namespace, name: n.Name, value: Any, what: str) -> bool:
        if name.id in ns.declared():
            first = ns.spans.get(name.id)
            self.ctx.error(
                "P210", f"`{name.id}` is declared twice", name.span, f"second {what} named `{name.id}`",
                f"the first is at {first}; give one of them another name" if first else "rename one of them",
            )
            return False
        table[name.id] = value
        ns.spans[name.id] = name.span
        return True

    # --- declarations --------------------------------------------------------

    def _model(self, decl: n.ModelDecl, ns: Namespace) -> None:
        plan_name = ns.plan_name(decl.name.id)
        if not self._declare(ns.models, ns, decl.name, plan_name, "model"):
            return
        provider = decl.provider.id
        if provider not in PROVIDERS:
            self.ctx.error(
                "P206", f"unknown model provider `{provider}`", decl.provider.span, "not a provider",
                did_you_mean(provider, PROVIDERS) or "providers are openai(\"model-id\", …), local() and scripted(\"file\")",
            )
            return
        takes_id, allowed = PROVIDERS[cast(p.Provider, provider)]
        model_id = None
        if decl.args:
            first = decl.args[0]
            if not takes_id:
                self.ctx.error("P220", f"`{provider}()` takes no model id", first.span, "unexpected",
                               f"`{provider}()` takes only keyword options, e.g. `{provider}(temperature=0)`")
            elif not isinstance(first, n.Template) or first.text is None:
                self.ctx.error("P223", "the model id is a plain string", first.span, "expected a plain string",
                               f'write `{provider}("gpt-4o-mini")`')
            else:
                model_id = first.text
            for extra in decl.args[1:]:
                self.ctx.error("P220", f"`{provider}(…)` takes one positional argument", extra.span, "extra argument",
                               "give other options as `name=value`")
        elif takes_id:
            example = '"gpt-4o-mini"' if provider == "openai" else '"replies.rules"'
            self.ctx.error("P220", f"`{provider}(…)` needs the model id", decl.provider.span, "which model?",
                           f"write `{provider}({example})`")
        options = []
        for keyword in decl.keywords:
            if keyword.name.id not in allowed:
                self.ctx.error(
                    "P222", f"unknown option `{keyword.name.id}` for `{provider}`", keyword.name.span, "unknown option",
                    did_you_mean(keyword.name.id, allowed) or f"options of {provider}: {', '.join(allowed)}",
                )
                continue
            value = constant(keyword.value)
            if value is _NOT_CONSTANT:
                self.ctx.error("P223", "model options are constants", keyword.value.span, "not a constant",
                               "write a literal value: a string, number, `true`/`false` or an amount like $0.50")
                continue
            from parley.compiler.resolve import range_problem

            problem = _request_option_problem(keyword.name.id, value)
            if problem is not None:
                self.ctx.error("P223", f"`{keyword.name.id}` must be {problem}", keyword.value.span,
                               _option_label(keyword.name.id, value),
                               f"for example `{keyword.name.id}={_REQUEST_OPTION_EXAMPLES[keyword.name.id]}`")
                continue
            if keyword.name.id in PRICE_OPTIONS and amount(value) is None:
                self.ctx.error("P223", f"`{keyword.name.id}` must be dollars per million tokens, zero or more",
                               keyword.value.span, "not an amount", f"for example `{keyword.name.id}=$0.15`")
                continue
            problem = range_problem(keyword.name.id, value) if isinstance(value, int | float) else None
            if problem is not None:
                self.ctx.error("P223", f"`{keyword.name.id}` must be {problem}", keyword.value.span, "out of range",
                               f"choose a value {problem}")
                continue
            options.append(p.Option(name=cast(p.ModelOptionName, keyword.name.id), value=value))
        half = [k for k in decl.keywords if k.name.id in PRICE_OPTIONS]
        if len(half) == 1:  # one price from the script and the other from the data would be a price of nobody's
            other = next(name for name in PRICE_OPTIONS if name != half[0].name.id)
            self.ctx.error("P223", f"`{half[0].name.id}` needs `{other}` beside it", half[0].name.span,
                           "half a price", f"give both, in dollars per million tokens: `{other}=$0.60`")
        self.registry.models[plan_name] = p.ModelDecl(
            name=plan_name, provider=cast(p.Provider, provider), model_id=model_id, options=tuple(options),
            span=decl.span,
        )

    def _agent(self, decl: n.AgentDecl, ns: Namespace) -> None:
        plan_name = ns.plan_name(decl.name.id)
        if self._declare(ns.agents, ns, decl.name, plan_name, "agent"):
            self.registry.agents[plan_name] = (decl, ns)

    def _type(self, decl: n.TypeDecl, ns: Namespace) -> None:
        plan_name = ns.plan_name(decl.name.id)
        if decl.name.id in PRIMITIVES or decl.name.id in ("list", "dict"):
            self.ctx.error("P210", f"`{decl.name.id}` is a built-in type", decl.name.span, "built-in",
                           "give the record type another name")
            return
        if self._declare(ns.types, ns, decl.name, p.NamedType(name=plan_name), "type"):
            self.registry.records[plan_name] = (decl, ns)

    def _type_alias(self, decl: n.TypeAlias, ns: Namespace) -> None:
        if self._declare(ns.types, ns, decl.name, p.NamedType(name="any"), "type"):
            ns.aliases[decl.name.id] = decl  # resolved on first use, so aliases may refer forward

    def _def(self, decl: n.Def, ns: Namespace) -> None:
        plan_name = ns.plan_name(decl.name.id)
        if self._declare(ns.defs, ns, decl.name, plan_name, "def"):
            self.registry.defs[plan_name] = (decl, ns)

    def _python_import(self, decl: n.PythonImport, ns: Namespace) -> None:
        module = decl.module.text
        if module is None:
            self.ctx.error("P272", "the module name is a plain string", decl.module.span, "no `{…}` here",
                           'write `from python "math" import sqrt`')
            return
        folder = str(ns.path.parent) if ns.path is not None else None
        for item in decl.names:
            local = item.alias or item.name
            try:
                function = resolve(module, item.name.id, folder)
            except PythonImportError as error:
                ns.failed.add(local.id)
                missing_module = str(error).startswith(("cannot import", "python module `" + module + "` failed"))
                self.ctx.error(
                    "P272" if missing_module else "P273", str(error),
                    decl.module.span if missing_module else item.name.span,
                    "not found" if missing_module else "not in this module",
                    "install the module or put it beside the script" if missing_module
                    else "check the function's name in the module",
                )
                continue
            plan_name = ns.plan_name(local.id)
            if self._declare(ns.tools, ns, local, plan_name, "tool"):
                self.registry.tools[plan_name] = function
                self.registry.tool_spans[plan_name] = item.span

    # --- imports -------------------------------------------------------------

    def _import(self, decl: n.ImportAgent, ns: Namespace, chain: tuple[Path, ...]) -> None:
        imported = self._load(decl.path, ns, chain)
        if imported is None:
            ns.failed.add(decl.alias.id if decl.alias else Path(decl.path.text or "").stem)
            return
        prefix = decl.alias or n.Name(id=Path(decl.path.text or "").stem, span=decl.path.span)
        self._declare(ns.prefixes, ns, prefix, imported, "import")

    def _from_import(self, decl: n.FromImport, ns: Namespace, chain: tuple[Path, ...]) -> None:
        imported = self._load(decl.path, ns, chain)
        if imported is None:
            ns.failed.update((item.alias or item.name).id for item in decl.names)
            return
        for item in decl.names:
            local = item.alias or item.name
            kind = imported.kind_of(item.name.id)
            if kind is None or kind == "import":
                names = sorted(imported.declared() - set(imported.prefixes))
                self.ctx.error(
                    "P275", f"`{decl.path.text}` declares no `{item.name.id}`", item.name.span, "not found there",
                    did_you_mean(item.name.id, names)
                    or (f"it declares: {', '.join(names)}" if names else "it declares nothing to import"),
                )
                ns.failed.add(local.id)
                continue
            if kind == "type" and item.name.id in imported.aliases:
                ns.aliases[local.id] = imported.aliases[item.name.id]
            self._declare(ns.table(kind), ns, local, imported.table(kind)[item.name.id], kind)

    def _load(self, path_text: n.Template, ns: Namespace, chain: tuple[Path, ...]) -> Namespace | None:
        relative = path_text.text
        if relative is None:
            self.ctx.error("P270", "an import path is a plain string", path_text.span, "no `{…}` here",
                           'write `import "lib/roles.agent"`')
            return None
        base = ns.path.parent if ns.path is not None else Path.cwd()
        path = (base / relative).resolve()
        if path in chain:
            cycle = " → ".join(p.name for p in (*chain[chain.index(path):], path))
            self.ctx.error("P271", "imports form a cycle", path_text.span, "imported again here",
                           f"the chain is {cycle}; move what both need into a third file")
            return None
        if path in self.registry.loaded:
            return self.registry.loaded[path]
        shown_folder = os.path.dirname(ns.file) or "."
        if path.suffix != ".agent":
            # Reading another kind of file as a script would print its lines in the diagnostics.
            self.ctx.error("P276", f"`{relative}` is not a Parley script", path_text.span, "not an .agent file",
                           "only scripts (`.agent` files) can be imported; Python code is imported with "
                           '`from python "module" import name`')
            return None
        try:
            found = path.is_file()
        except OSError as error:  # a name too long, a loop of links: no file can be found by this path
            self.ctx.error("P270", f"cannot find `{relative}`", path_text.span, "no such file",
                           f"the path cannot be used: {error.strerror or type(error).__name__}")
            return None
        if not found:
            self.ctx.error("P270", f"cannot find `{relative}`", path_text.span, "no such file",
                           f"paths are relative to the importing script's folder (`{shown_folder}`)")
            return None
        module = self.loader(path, os.path.normpath(os.path.join(os.path.dirname(ns.file), relative)), self.ctx)
        if module is None:
            return None
        stem = path.stem
        qualifier, number = stem, 2
        while qualifier in self.registry.stems:
            qualifier, number = f"{stem}{number}", number + 1
        self.registry.stems.add(qualifier)
        imported = Namespace(file=module.span.file, path=path, qualifier=qualifier)
        self.registry.loaded[path] = imported
        self.collect(module, imported, (*chain, path), main=False)
        return imported


class _NotConstant:
    def __repr__(self) -> str:
        return "<not constant>"


_NOT_CONSTANT: Any = _NotConstant()


#: The options of a model's requests that are numbers: (whole numbers only, least, most).
_REQUEST_OPTIONS: dict[str, tuple[bool, float, float | None]] = {
    "max_retries": (True, 0, 100), "timeout": (False, 0.001, None),
    "max_concurrency": (True, 1, 10_000), "rpm": (False, 0.01, None), "tpm": (True, 1, None),
}

_REQUEST_OPTION_EXAMPLES = {"max_retries": "5", "timeout": "30s", "max_concurrency": "4", "rpm": "500",
                            "tpm": "200000"}


def _option_label(name: str, value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "not a number"
    return "not a whole number" if _REQUEST_OPTIONS[name][0] and not isinstance(value, int) else "out of range"


def _request_option_problem(name: str, value: Any) -> str | None:
    """How `value` is wrong for the request option `name` (retries, timeout, limits), or None."""
    if name not in _REQUEST_OPTIONS:
        return None
    whole, least, most = _REQUEST_OPTIONS[name]
    kind = "a whole number" if whole else ("a duration like 30s" if name == "timeout" else "a number")
    span = f"from {least:g} to {most:g}" if most is not None else f"{least:g} or more"
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or (whole and not isinstance(value, int)) or (isinstance(value, float) and not math.isfinite(value)) \
            or not least <= value <= (most or float("inf")):
        return f"{kind}, {span}"
    return None


def constant(expr: n.Expr) -> Any:
    """The value of a literal expression (plain JSON data), or `_NOT_CONSTANT`."""
    if isinstance(expr, n.Literal):
        return expr.value
    if isinstance(expr, n.Template):
        return expr.text if expr.text is not None else _NOT_CONSTANT
    if isinstance(expr, n.Money):
        return str(expr.amount)
    if isinstance(expr, n.Duration):
        return expr.seconds
    if isinstance(expr, n.UnaryOp) and expr.op == "-" and isinstance(expr.operand, n.Literal):
        value = expr.operand.value
        return -value if isinstance(value, int | float) and not isinstance(value, bool) else _NOT_CONSTANT
    if isinstance(expr, n.ListExpr):
        items = [constant(item) for item in expr.items]
        return _NOT_CONSTANT if any(i is _NOT_CONSTANT for i in items) else items
    return _NOT_CONSTANT


def is_constant(value: Any) -> bool:
    return value is not _NOT_CONSTANT
