"""Expressions: checked against the scope and the declarations, lowered to plan expressions.

Every lowering records what the expression reads (variables, threads) and
writes (threads, through asks) into an `Effects`.
"""

from __future__ import annotations

from typing import cast

from parley.compiler import agent_values
from parley.compiler import plan as p
from parley.compiler._context import did_you_mean
from parley.compiler.builtins import BUILTINS
from parley.compiler.declarations import Namespace
from parley.compiler.scope import IO, Effects, Scope, Variable, thread
from parley.compiler.slicing import check_slice, slice_type
from parley.compiler.types import (
    REPLY,
    REPLY_ATTRIBUTES,
    THREAD,
    THREAD_ATTRIBUTES,
    field_type,
    item_type,
    literal_values,
)
from parley.compiler.unit import Unit
from parley.dsl import nodes as n
from parley.dsl.source import Span

_THREAD_HELP = "a conversation's value has " + ", ".join(f".{a}" for a in THREAD_ATTRIBUTES)


class ExpressionLowerer:
    """Lowers the expressions of one body (the script's, or one def's)."""

    def __init__(self, unit: Unit, ns: Namespace, scope: Scope) -> None:
        self.unit = unit
        self.ctx = unit.ctx
        self.ns = ns
        self.scope = scope

    # --- names ---------------------------------------------------------------

    def variable(self, name: n.Name, fx: Effects) -> p.Expr:
        found = self.scope.lookup(name.id)
        if found is not None:
            found.used = True
            fx.reads.add(name.id)
            return p.Var(name=name.id)
        hidden = self.scope.hidden.get(name.id)
        kind = self.ns.kind_of(name.id)
        if name.id in self.ns.failed:
            pass  # its import or declaration was already reported
        elif hidden is not None:
            self.ctx.error(
                "P212", f"`{name.id}` is a script variable, which a def cannot see", name.span, "not visible here",
                f"pass it as a parameter: add `{name.id}` to the def's parameters and to its calls",
            )
        elif kind == "agent":
            return p.AgentRef(name=self.ns.agents[name.id])  # a value of type `agent`
        elif kind in ("def", "tool") or name.id in BUILTINS:
            self.ctx.error("P215", f"`{name.id}` is a function: call it", name.span, "not called",
                           f"write `{name.id}(…)`")
        elif kind is not None:
            advice = {"model": f"a model configures agents (`model: {name.id}`); it has no value",
                      "type": f"a type describes replies (`v: {name.id} = @agent …`); it has no value",
                      "import": f"`{name.id}` names an imported script: use `{name.id}.some_def(…)`"}
            self.ctx.error("P216", f"`{name.id}` is a{'n' if kind[0] in 'aeiou' else ''} {kind}, not a value",
                           name.span, f"a {kind}", advice.get(kind, "use a variable or an input here"))
        else:
            known = {**self.scope.variables, **self.scope.inputs} if self.ctx.suggestions_left else {}
            self.ctx.error(
                "P201", f"unknown name `{name.id}`", name.span, "not defined before this line",
                self.ctx.suggest(name.id, known, {k: v.span for k, v in known.items()})
                or "assign it first (`name = …`), or declare it as an input (`input name: str`)",
            )
        return p.Var(name=name.id)

    def agent(self, name: n.Name) -> str | None:
        """The plan name of the agent `name` refers to, or None (with a diagnostic)."""
        found = self.ns.agents.get(name.id)
        if found is not None:
            return found
        if name.id in self.ns.failed:
            return None  # its import or declaration was already reported
        kind = self.ns.kind_of(name.id)
        if kind is not None or self.scope.lookup(name.id) is not None:
            what = kind or "variable"
            advice = {
                "model": f"a model configures agents: give it to one with `model: {name.id}`",
                "variable": "give the variable an agent, with the type `agent`: `player: agent = white`",
            }.get(what, "declare an agent with `agent NAME:`")
            self.ctx.error("P230", f"`{name.id}` is {'an' if what[0] in 'aeiou' else 'a'} {what}, not an agent",
                           name.span, "not an agent", did_you_mean(name.id, self.ns.agents, self.ns.spans) or advice)
        else:
            self.ctx.error("P202", f"unknown agent `{name.id}`", name.span, "not declared in this script",
                           did_you_mean(name.id, self.ns.agents, self.ns.spans)
                           or f"declare it: `agent {name.id}:` with a system message")
        return None

    def agent_target(self, name: n.Name, fx: Effects) -> tuple[str, p.Expr | None, tuple[str, ...]]:
        """What `@name` reaches: a declared agent (its plan name, no expression), or the agent an `agent`
        variable holds ("", the variable); and every agent that may be (none after a diagnostic)."""
        held = agent_values.resolve_target(self, name, fx)
        if held is not None:
            return held
        agent = self.agent(name)
        return (agent, None, (agent,)) if agent is not None else (name.id, None, ())

    # --- expressions ---------------------------------------------------------

    def expr(self, e: n.Expr, fx: Effects) -> p.Expr:
        # The syntax tree keeps operators as the text the grammar allows; the plan's records check them.
        match e:
            case n.Name():
                return self.variable(e, fx)
            case n.Literal():
                return p.Const(value=e.value)
            case n.Template():
                return self.template(e, fx)
            case n.Money():
                return p.Money(amount=str(e.amount))
            case n.Duration():
                return p.Duration(seconds=e.seconds)
            case n.ListExpr():
                return p.ListOf(items=tuple(self.expr(i, fx) for i in e.items))
            case n.DictExpr():
                return p.DictOf(keys=tuple(self.expr(x.key, fx) for x in e.entries),
                                values=tuple(self.expr(x.value, fx) for x in e.entries))
            case n.Attribute():
                return self.attribute(e, fx)
            case n.Index():
                return p.GetItem(value=self.expr(e.value, fx), index=self.expr(e.index, fx))
            case n.Slice():
                check_slice(self.ctx, e, self.static_type)
                return p.Slice(value=self.expr(e.value, fx), start=None if e.start is None else self.expr(e.start, fx),
                               stop=None if e.stop is None else self.expr(e.stop, fx))
            case n.Call():
                return self.call(e, fx)
            case n.UnaryOp():
                return p.Unary(op=cast(p.UnaryOperator, e.op), operand=self.expr(e.operand, fx))
            case n.BinaryOp():
                return p.Binary(op=cast(p.BinaryOperator, e.op), left=self.expr(e.left, fx),
                                right=self.expr(e.right, fx))
            case n.Compare():
                return self.compare(e, fx)
            case n.Conditional():
                return p.IfElse(test=self.expr(e.test, fx), body=self.expr(e.body, fx),
                                orelse=self.expr(e.orelse, fx))
            case n.Ask():
                return self.ask(e, fx, None)
            case _:
                p.assert_never(e)

    def template(self, t: n.Template, fx: Effects) -> p.Text:
        parts: list[str | p.Expr] = []
        for part in t.parts:
            parts.append(part if isinstance(part, str) else self.expr(part.expr, fx))
        return p.Text(parts=tuple(parts))

    def ask(self, e: n.Ask, fx: Effects, type_ref: p.TypeRef | None) -> p.Ask:
        agent, via, reached = self.agent_target(e.agent, fx)
        message = self.template(e.message, fx)
        for each in reached:
            self.ask_effects(each, fx, e.span)
            fx.writes |= io_of(self.unit, each)
        return p.Ask(agent=agent, message=message, yes_no=e.yes_no, type=type_ref, span=e.span, agent_expr=via)

    def ask_effects(self, agent: str, fx: Effects, span: Span | None = None) -> None:
        fx.reads.add(thread(agent))
        fx.writes.add(thread(agent))
        if self.unit.agent_effects is None:
            return
        seen = len(self.unit.cycles)
        fx.merge(self.unit.agent_effects(agent))
        cycle = self.unit.cycles[seen:]
        del self.unit.cycles[seen:]
        if cycle and span is not None:
            running = cycle[0]
            self.ctx.error(
                "P247", f"asking `{agent}` can run `{running}` (as its tool or `reply by`), which is running here",
                span, "could never end",
                f"`{running}` would call itself through `{agent}`: give `{agent}` other tools, or ask another agent",
            )

    def attribute(self, e: n.Attribute, fx: Effects) -> p.Expr:
        if isinstance(e.value, n.Name) and e.value.id in self.ns.prefixes and self.scope.lookup(e.value.id) is None:
            if self.ns.prefixes[e.value.id].kind_of(e.attr) == "agent":
                self.ctx.error(
                    "P216", f"`{e.value.id}.{e.attr}` is an agent of an imported script, not a value", e.span,
                    "an agent", f"import it by name — `from \"…\" import {e.attr}` — and ask it with `@{e.attr} …`",
                )
                return p.Const(value=None)
            self.ctx.error("P215", f"`{e.value.id}.{e.attr}` is in an imported script: call it", e.span,
                           "not called", f"write `{e.value.id}.{e.attr}(…)`; import values with `from … import`")
            return p.Const(value=None)
        known = self.static_type(e.value)
        if known == THREAD and e.attr not in THREAD_ATTRIBUTES:
            self.ctx.error("P250", f"a conversation has no `.{e.attr}`", e.attr_span, "unknown property",
                           did_you_mean(e.attr, THREAD_ATTRIBUTES) or _THREAD_HELP)
        elif known == REPLY and e.attr not in REPLY_ATTRIBUTES:
            self.ctx.error("P250", f"a reply has no `.{e.attr}`", e.attr_span, "unknown property",
                           did_you_mean(e.attr, REPLY_ATTRIBUTES) or "a reply is text with .tokens, .cost and .agent")
        elif isinstance(known, p.NamedType) and known.name in self.unit.records:
            fields = [f.name for f in self.unit.records[known.name].fields]
            if e.attr not in fields:
                self.ctx.error(
                    "P250", f"type `{known.name}` has no field `{e.attr}`", e.attr_span, "unknown field",
                    did_you_mean(e.attr, fields) or f"its fields are: {', '.join(fields)}",
                )
        return p.GetAttr(value=self.expr(e.value, fx), name=e.attr)

    def call(self, e: n.Call, fx: Effects) -> p.Expr:
        args = tuple(self.expr(a, fx) for a in e.args)
        keywords = tuple(p.KeywordArg(name=k.name.id, value=self.expr(k.value, fx)) for k in e.keywords)
        callee = self.callee(e.func)
        if callee is None:
            return p.Call(callee="?", callee_kind="builtin", args=args, keywords=keywords)
        kind, name = callee
        self.check_arity(e, kind, name)
        if kind == "def" and name in self.unit.lowering:
            chain = " → ".join((*self.unit.lowering[self.unit.lowering.index(name):], name))
            self.ctx.error("P247", f"`{name}` calls itself ({chain})", e.span, "recursive call",
                           "defs cannot recurse: every conversation is bounded; use a loop with `max`")
        if kind == "def":
            seen = len(self.unit.cycles)
            fx.merge(self.unit.effects_of_def(name))
            del self.unit.cycles[seen:]  # a direct cycle is reported just above
        elif kind == "tool":
            fx.writes.add("python")
        return p.Call(callee=name, callee_kind=kind, args=args, keywords=keywords)

    def callee(self, func: n.Expr) -> tuple[p.CalleeKind, str] | None:
        ns, name = self.ns, func
        if isinstance(func, n.Attribute) and isinstance(func.value, n.Name) and func.value.id in self.ns.prefixes:
            ns, name = self.ns.prefixes[func.value.id], n.Name(id=func.attr, span=func.attr_span)
        if not isinstance(name, n.Name):
            help = "call a built-in, a def or a Python function by its name, e.g. `len(items)`"
            if isinstance(func, n.Attribute):
                help = (f"Parley has no methods; `.{func.attr}` is a property — write it without `()`"
                        if func.attr in ("text", "last", "summary", "messages", "turns", "tokens", "cost")
                        else _method_help(func))
            self.ctx.error("P217", "only functions can be called", func.span, "not a function", help)
            return None
        if name.id in ns.defs:
            return "def", ns.defs[name.id]
        if name.id in ns.tools:
            return "tool", ns.tools[name.id]
        if name.id in BUILTINS and ns is self.ns:
            return "builtin", name.id
        if name.id in ns.failed:
            return None  # its import was already reported
        known = [*ns.defs, *ns.tools, *(BUILTINS if ns is self.ns else ())]
        self.ctx.error(
            "P205", f"unknown function `{name.id}`", name.span, "not a def, tool or built-in",
            self.ctx.suggest(name.id, known, ns.spans)
            or "declare it with `def`, import it with `from python \"module\" import …`, or see the built-ins",
        )
        return None

    def check_arity(self, e: n.Call, kind: p.CalleeKind, name: str) -> None:
        given = len(e.args)
        high: int | None  # None: any number of arguments
        allowed: tuple[str, ...] | None  # None: any keyword
        if kind == "builtin":
            builtin = BUILTINS[name]
            low, high, allowed, signature = builtin.min_args, builtin.max_args, builtin.keywords, builtin.signature()
            required: tuple[str, ...] = ()
        elif kind == "tool":
            tool = self.unit.registry.tools[name]
            low, high, allowed, signature = tool.min_args, tool.max_args, tool.keywords, tool.describe()
            required = ()
        else:
            decl, _ = self.unit.registry.defs[name]
            low = sum(1 for q in decl.params if q.default is None)
            high, allowed = len(decl.params), tuple(q.name.id for q in decl.params)
            signature = f"{name}({', '.join(q.name.id for q in decl.params)})"
            required = tuple(q.name.id for q in decl.params if q.default is None)
        for keyword in e.keywords:
            if allowed is not None and keyword.name.id not in allowed:
                self.ctx.error(
                    "P221", f"`{name}` has no parameter `{keyword.name.id}`", keyword.name.span, "unknown keyword",
                    did_you_mean(keyword.name.id, allowed) or f"its signature is {signature}",
                )
        named = {k.name.id for k in e.keywords}
        if allowed is not None and named - set(allowed):
            return  # the unknown keyword is the mistake; counting arguments would only add noise
        positional = self._positional_names(kind, name)
        for keyword in e.keywords:
            if keyword.name.id in positional[:given]:
                self.ctx.error("P221", f"`{keyword.name.id}` is given twice", keyword.name.span, "already given",
                               f"it is also the argument in position {positional.index(keyword.name.id) + 1}")
        too_many = high is not None and given > high
        if kind == "def":
            missing = [r for r in required[given:] if r not in named]
            if too_many or missing:
                detail = (f"missing {', '.join(f'`{m}`' for m in missing)}" if missing
                          else f"takes {high} argument{'s' if high != 1 else ''}, given {given}")
                self._arity_error(e, name, signature, detail)
            return
        count = given + (len(named & set(allowed or ())) if kind == "tool" else 0)
        if too_many or count < low:
            if low == high:
                expected = f"{low}"
            elif high is None:
                expected = f"at least {low}"
            else:
                expected = f"{low} or {high}" if high == low + 1 else f"{low} to {high}"
            self._arity_error(e, name, signature, f"takes {expected} argument{'s' if high != 1 else ''}, given {given}")

    def _positional_names(self, kind: str, name: str) -> list[str]:
        if kind == "def":
            return [q.name.id for q in self.unit.registry.defs[name][0].params]
        if kind == "tool":
            return [q.name for q in self.unit.registry.tools[name].params]
        return []

    def _arity_error(self, e: n.Call, name: str, signature: str, detail: str) -> None:
        self.ctx.error("P220", f"wrong number of arguments for `{name}`: {detail}", e.span, "this call",
                       f"its signature is {signature}")

    def compare(self, e: n.Compare, fx: Effects) -> p.Compare:
        operands = (e.left, *e.comparators)
        for index, op in enumerate(e.ops):
            if op not in ("==", "!="):
                continue
            for known, other in ((operands[index], operands[index + 1]), (operands[index + 1], operands[index])):
                allowed = literal_values(self.static_type(known))
                if allowed and isinstance(other, n.Template) and other.text is not None and other.text not in allowed:
                    self.ctx.error(
                        "P251", f"`\"{other.text}\"` can never equal this value", other.span, "not one of its values",
                        _quoted(did_you_mean(other.text, allowed))
                        or f"its type allows only {' | '.join(chr(34) + a + chr(34) for a in allowed)}",
                    )
        ops = cast(tuple[p.CompareOperator, ...], e.ops)
        return p.Compare(left=self.expr(e.left, fx), ops=ops,
                         comparators=tuple(self.expr(c, fx) for c in e.comparators))

    # --- static types --------------------------------------------------------

    def static_type(self, e: n.Expr) -> p.TypeRef | None:
        """What the checks know of an expression's type (None: unknown)."""
        involving_agents = agent_values.static_type(self, e)
        if involving_agents is not None:
            return involving_agents
        if isinstance(e, n.Name):
            found: Variable | None = self.scope.lookup(e.id)
            return found.type if found is not None else None
        if isinstance(e, n.Attribute):
            return field_type(self.static_type(e.value), e.attr, self.unit.records)
        if isinstance(e, n.Ask):
            return p.NamedType(name="bool") if e.yes_no else REPLY
        if isinstance(e, n.Template):
            return p.NamedType(name="str")
        if isinstance(e, n.Index):
            return item_type(self.static_type(e.value))
        if isinstance(e, n.Slice):
            return slice_type(self.static_type(e.value))
        return None


def io_of(unit: Unit, agent: str) -> set[str]:
    """Human agents talk through the run's I/O."""
    decl = unit.registry.agents.get(agent)
    return {IO} if decl is not None and decl[0].kind == "human" else set()


def _method_help(func: n.Attribute) -> str:
    """`s.startswith("a")`: the built-in that does it, if there is one, called with the value."""
    if func.attr in BUILTINS:
        value = func.value.id if isinstance(func.value, n.Name) else "value"
        rest = "" if BUILTINS[func.attr].max_args == 1 else ", …"
        return f"Parley has no methods: call the built-in with the value first, `{func.attr}({value}{rest})`"
    close = did_you_mean(func.attr, BUILTINS)
    return f"Parley has no methods, and no built-in `{func.attr}`" + (f"; {close}" if close else
                                                                       ": call a def or a built-in with the value")


def _quoted(suggestion: str | None) -> str | None:
    """"did you mean `publish`?" → "did you mean `"publish"`?" for string literals."""
    if suggestion is None:
        return None
    return suggestion.replace("did you mean `", 'did you mean `"', 1).replace("`?", '"`?', 1)
