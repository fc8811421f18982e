"""Statements → plan steps, with the checks that need control flow and scopes."""

from __future__ import annotations

from typing import Any, cast, get_args

from parley.compiler import plan as p
from parley.compiler.agent_values import check_from_outside, resolve_target
from parley.compiler._context import did_you_mean
from parley.compiler.concurrency import group_independent
from parley.compiler.declarations import constant, is_constant
from parley.compiler.expressions import ExpressionLowerer, io_of
from parley.compiler.handoffs import check_handoffs
from parley.compiler.parallel_for import lower_parallel_for
from parley.compiler.parallel_resources import check_parallel_resources
from parley.compiler.resolve import resolve_type
from parley.compiler.scope import IO, Effects, Variable, thread
from parley.compiler.select_by import resolve_select_by
from parley.compiler.types import REPLY, THREAD, item_type, literal_values, may_hold, type_source
from parley.dsl import nodes as n

_DECLARATIONS = (n.ModelDecl, n.DefaultModel, n.AgentDecl, n.ImportAgent, n.FromImport, n.PythonImport,
                 n.TypeDecl, n.TypeAlias, n.InputDecl, n.BudgetStmt, n.Def)
_ESCAPES = (n.Return, n.Break, n.Continue)
#: What lowering one statement gives: usually one step.
Steps = list[Any]


class BodyLowerer(ExpressionLowerer):
    """Lowers the statements of the script's body or of a def's body."""

    loops = 0
    in_def = False
    in_parallel = False

    def block(self, body: tuple[n.Stmt, ...], top: bool = False) -> tuple[Any, ...]:
        steps: Steps = []
        escaped: n.Stmt | None = None
        warned = False
        for statement in body:
            if isinstance(statement, _DECLARATIONS):
                if not top:
                    self.ctx.error(
                        "P246", "declarations belong at the top level of a script", statement.span,
                        "inside a block", "move it out of the block, to the left margin",
                    )
                continue
            if escaped is not None and not warned:
                warned = True  # one warning per block is enough
                self.ctx.warning(
                    "P242", "this code never runs", statement.span, "unreachable",
                    f"it follows `{type(escaped).__name__.lower()}` on line {escaped.span.line}; remove it or move it up",
                )
            steps.extend(self.statement(statement))
            if isinstance(statement, _ESCAPES) and escaped is None:
                escaped = statement
        return group_independent(steps)

    def statement(self, s: n.Stmt) -> Steps:
        match s:
            case n.Assign():
                return self._assign(s)
            case n.AugAssign():
                return self._aug_assign(s)
            case n.ExprStmt():
                return self._expr_stmt(s)
            case n.Tell():
                return self._tell(s)
            case n.Forget():
                return self._forget(s)
            case n.Print():
                return self._print(s)
            case n.OutputStmt():
                return self._output(s)
            case n.Return():
                return self._return(s)
            case n.Break() | n.Continue():
                return self._escape(s)
            case n.If():
                return self._if(s)
            case n.For():
                return self._for(s)
            case n.Repeat():
                return self._repeat(s)
            case n.While():
                return self._while(s)
            case n.Parallel():
                return self._parallel(s)
            case n.Conversation():
                return self._conversation(s)
            case (n.ModelDecl() | n.DefaultModel() | n.AgentDecl() | n.ImportAgent() | n.FromImport()
                  | n.PythonImport() | n.TypeDecl() | n.TypeAlias() | n.InputDecl() | n.BudgetStmt() | n.Def()):
                return []  # declarations were collected before any body is lowered; `block` skips them
            case _:
                p.assert_never(s)

    def _step(self, cls: type, s: n.Stmt, fx: Effects, **fields: Any) -> Any:
        reads, writes = fx.frozen()
        return cls(id="", span=s.span, reads=reads, writes=writes, **fields)  # numbered once the plan is built

    # --- assignment ----------------------------------------------------------

    def _assign(self, s: n.Assign) -> Steps:
        fx = Effects()
        type_ref = resolve_type(s.annotation, self.ns, self.unit) if s.annotation is not None else None
        if isinstance(s.value, n.Ask) and not s.value.yes_no:
            agent, message, via = self._ask_parts(s.value, fx)
            if s.annotation is not None:
                check_from_outside(self.ctx, type_ref, s.annotation.span, "a typed reply")
            elif isinstance(s.target, n.Name) and (declared := self._declared(s.target.id)) is not None:
                type_ref = declared  # `n: int = 1` then `n = @a …`: the declared type makes the ask typed
                check_from_outside(self.ctx, type_ref, s.value.span, "a typed reply")
            known = type_ref if type_ref is not None else (None if s.annotation is not None else REPLY)
            target = self.target(s.target, fx, known, type_ref)
            return [self._step(p.AskStep, s, fx, agent=agent, message=message, target=target, type=type_ref,
                               agent_expr=via)]
        value = self.expr(s.value, fx)
        if type_ref is None and isinstance(s.target, n.Name):
            type_ref = self._declared(s.target.id)
        if type_ref is not None:
            self._check_literal(s, type_ref)
        inferred = type_ref if type_ref is not None else self.static_type(s.value)
        target = self.target(s.target, fx, inferred, type_ref)
        return [self._step(p.AssignStep, s, fx, target=target, value=value, type=type_ref)]

    def _declared(self, name: str) -> p.TypeRef | None:
        found = self.scope.variables.get(name)
        return found.declared if found is not None else None

    def _check_literal(self, s: n.Assign, declared: p.TypeRef) -> None:
        """`x: int = "ten"`: a literal that cannot have the declared type is refused before the run."""
        problem = _literal_mismatch(s.value, declared, self.unit.records)
        if problem is not None:
            self.ctx.error("P228", f"`{type_source(declared)}` cannot hold {problem}", s.value.span,
                           f"{problem}, not {type_source(declared)}", "give a value of the declared type, or change the type")

    def _aug_assign(self, s: n.AugAssign) -> Steps:
        fx = Effects()
        current = self.variable(s.target, fx)
        op = cast(p.BinaryOperator, s.op)  # `+=` … `/=` as the grammar allows them; the record checks
        value = p.Binary(op=op, left=current, right=self.expr(s.value, fx))
        target = self.target(s.target, fx, None)
        return [self._step(p.AssignStep, s, fx, target=target, value=value)]

    def target(self, t: n.Name | n.Index | n.Attribute, fx: Effects, type_ref: p.TypeRef | None,
               declared: p.TypeRef | None = None) -> p.Target:
        if isinstance(t, n.Index):
            value = self.expr(t.value, fx)
            fx.writes |= fx.reads & _root_names(t.value)
            return p.ItemTarget(value=value, index=self.expr(t.index, fx))
        if isinstance(t, n.Attribute):
            value = self.expr(t.value, fx)
            fx.writes |= fx.reads & _root_names(t.value)
            return p.AttrTarget(value=value, name=t.attr)
        self.bind(t, "variable", type_ref, declared)
        fx.writes.add(t.id)
        return p.VarTarget(name=t.id)

    def bind(self, name: n.Name, kind: str, type_ref: p.TypeRef | None, written: p.TypeRef | None = None) -> None:
        """Make `name` a variable from here on (checking it does not hide a declaration or an input)."""
        declared = self.ns.kind_of(name.id)
        if declared is not None:
            self.ctx.error(
                "P211", f"`{name.id}` is already {_article(declared)} {declared}", name.span, f"hides the {declared}",
                f"choose another name for the variable (the {declared} is declared at {self.ns.spans.get(name.id)})",
            )
            return
        if name.id in self.scope.inputs:
            self.ctx.error("P213", f"`{name.id}` is an input, and inputs cannot be assigned", name.span,
                           "an input", f"use a new variable: `my_{name.id} = …`")
            return
        existing = self.scope.variables.get(name.id)
        if existing is None:
            self.scope.variables[name.id] = Variable(name.id, name.span, kind, type_ref, declared=written)
        elif existing.type != type_ref:
            existing.type = None  # assigned different kinds of value: nothing static is known

    def _ask_parts(self, ask: n.Ask, fx: Effects) -> tuple[str, p.Text, p.Expr | None]:
        """The agent (plan name, or the expression holding it) and message of a statement-level ask, with its
        effects: those of every agent it may reach."""
        agent, via, reached = self.agent_target(ask.agent, fx)
        message = self.template(ask.message, fx)
        for each in reached:
            self.ask_effects(each, fx, ask.span)
            fx.writes |= io_of(self.unit, each)
        return agent, message, via

    # --- simple statements ---------------------------------------------------

    def _expr_stmt(self, s: n.ExprStmt) -> Steps:
        fx = Effects()
        if isinstance(s.expr, n.Ask) and not s.expr.yes_no:
            agent, message, via = self._ask_parts(s.expr, fx)
            return [self._step(p.AskStep, s, fx, agent=agent, message=message, target=None, type=None,
                               agent_expr=via)]
        expr = self.expr(s.expr, fx)
        return [self._step(p.CallStep, s, fx, expr=expr)]

    def _tell(self, s: n.Tell) -> Steps:
        fx = Effects()
        agent, via, reached = self.agent_target(s.agent, fx)
        message = self.expr(s.message, fx)
        fx.writes |= {thread(each) for each in reached}
        return [self._step(p.TellStep, s, fx, agent=agent, message=message, agent_expr=via)]

    def _forget(self, s: n.Forget) -> Steps:
        fx = Effects()
        agents, held = [], []
        for name in s.agents:
            agent, via, reached = self.agent_target(name, fx)
            fx.writes |= {thread(each) for each in reached}
            if via is not None:
                held.append(via)
            elif reached:
                agents.append(agent)
        return [self._step(p.ForgetStep, s, fx, agents=tuple(agents), agent_exprs=tuple(held))]

    def _print(self, s: n.Print) -> Steps:
        fx = Effects(writes={IO})
        if isinstance(s.value, n.Ask):
            return self._ask_value(s, s.value, fx, p.PrintStep)
        value = self.expr(s.value, fx)
        return [self._step(p.PrintStep, s, fx, value=value)]

    def _output(self, s: n.OutputStmt) -> Steps:
        if self.in_def:
            self.ctx.error("P245", "`output` belongs to the script, not to a def", s.span, "inside a def",
                           "return the value from the def, and `output` it where the def is called")
        fx = Effects(writes={"output"})
        if isinstance(s.value, n.Ask):
            return self._ask_value(s, s.value, fx, p.OutputStep)
        value = self.expr(s.value, fx)
        return [self._step(p.OutputStep, s, fx, value=value)]

    def _return(self, s: n.Return) -> Steps:
        if not self.in_def:
            self.ctx.error("P241", "`return` outside a def", s.span, "not in a def",
                           "use `output` for the script's result, or put this code in a def")
        fx = Effects()
        if isinstance(s.value, n.Ask):
            return self._ask_value(s, s.value, fx, p.ReturnStep)
        value = self.expr(s.value, fx) if s.value is not None else None
        return [self._step(p.ReturnStep, s, fx, value=value)]

    def _ask_value(self, s: n.Stmt, ask: n.Ask, fx: Effects, cls: type) -> Steps:
        value = self.ask(ask, fx, None)
        fx.writes |= io_of(self.unit, value.agent)
        return [self._step(cls, s, fx, value=value)]

    def _escape(self, s: n.Break | n.Continue) -> Steps:
        """`break` or `continue`: only inside a loop, and never out of a `parallel:` branch."""
        word = "break" if isinstance(s, n.Break) else "continue"
        if self.loops == 0:
            if self.in_parallel:
                self.ctx.error("P240", f"`{word}` cannot leave a `parallel:` branch", s.span, "inside `parallel:`",
                               f"branches run at once: decide after the block whether to `{word}`")
            elif word == "break":
                self.ctx.error("P240", "`break` outside a loop", s.span, "no loop to leave",
                               "`break` leaves the innermost `for`, `repeat` or `while`")
            else:
                self.ctx.error("P240", "`continue` outside a loop", s.span, "no loop to continue",
                               "`continue` starts the next iteration of the innermost loop")
        return [self._step(p.BreakStep if word == "break" else p.ContinueStep, s, Effects())]

    # --- control flow --------------------------------------------------------

    def _if(self, s: n.If) -> Steps:
        fx = Effects()
        branches = []
        for branch in s.branches:
            test = self.expr(branch.test, fx)
            body = self.block(branch.body)
            branches.append(p.Branch(test=test, body=body))
        orelse = self.block(s.orelse)
        for step in _all_steps((*(b.body for b in branches), orelse)):
            fx.reads.update(step.reads)
            fx.writes.update(step.writes)
        return [self._step(p.IfStep, s, fx, branches=tuple(branches), orelse=orelse)]

    def _for(self, s: n.For) -> Steps:
        fx = Effects()
        iterable = self.expr(s.iterable, fx)
        element = item_type(self.static_type(s.iterable))
        for position, name in enumerate(s.targets):
            self.bind(name, "loop", element if len(s.targets) == 1 else (element if position == 1 else None))
            fx.writes.add(name.id)
        body = self._loop_body(s.body, fx)
        return [self._step(p.ForStep, s, fx, variables=tuple(t.id for t in s.targets), iterable=iterable,
                           body=body)]

    def _repeat(self, s: n.Repeat) -> Steps:
        fx = Effects()
        count = self.expr(s.count, fx)
        self.check_bound(s.count, "`repeat`", allow_zero=True)
        body = self._loop_body(s.body, fx)
        return [self._step(p.RepeatStep, s, fx, count=count, body=body)]

    def _while(self, s: n.While) -> Steps:
        fx = Effects()
        test = self.expr(s.test, fx)
        limit = self.expr(s.limit, fx)
        self.check_bound(s.limit, "`max`", allow_zero=False)
        body = self._loop_body(s.body, fx)
        return [self._step(p.WhileStep, s, fx, test=test, limit=limit, body=body)]

    def _loop_body(self, body: tuple[n.Stmt, ...], fx: Effects) -> tuple[Any, ...]:
        self.loops += 1
        try:
            steps = self.block(body)
        finally:
            self.loops -= 1
        for step in _all_steps((steps,)):
            fx.reads.update(step.reads)
            fx.writes.update(step.writes)
        return steps

    def check_bound(self, e: n.Expr, what: str, allow_zero: bool) -> None:
        value = constant(e)
        if not is_constant(value):
            return
        low = 0 if allow_zero else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            self.ctx.error(
                "P261", f"{what} needs a whole number, {low} or more", e.span, "not a valid bound",
                "write a positive whole number, like `max 10`" if not allow_zero else "write a count, like `repeat 3:`",
            )

    def _parallel(self, s: n.Parallel) -> Steps:
        if s.target is not None:
            return [lower_parallel_for(self, s)]
        fx = Effects()
        loops, self.loops = self.loops, 0  # a branch cannot break out of the enclosing loop
        inside, self.in_parallel = self.in_parallel, loops > 0 or self.in_parallel
        try:
            branches = [self.block((statement,)) for statement in s.body]
        finally:
            self.loops = loops
            self.in_parallel = inside
        effects = []
        for statement, steps in zip(s.body, branches):
            branch = Effects()
            for step in _all_steps((steps,)):
                branch.reads.update(step.reads)
                branch.writes.update(step.writes)
            effects.append((statement, branch))
            fx.merge(branch)
        self.check_parallel(effects)
        check_parallel_resources(self.ctx, self.unit, list(zip(s.body, branches)), [e for _, e in effects])
        flat = tuple(step for steps in branches for step in steps)
        return [self._step(p.ParallelStep, s, fx, branches=flat)]

    def check_parallel(self, branches: list[tuple[n.Stmt, Effects]]) -> None:
        for index, (statement, effects) in enumerate(branches):
            for earlier, other in branches[:index]:
                shared = {r for r in effects.conflicts(other) if r not in (IO, "python", "exec", "output")}
                if shared:
                    names = ", ".join(
                        f"the thread with `{x[1:]}`" if x.startswith("@") else f"`{x}`" for x in sorted(shared)
                    )
                    self.ctx.error(
                        "P280", f"branches of `parallel` both use {names}, and one of them changes it",
                        statement.span, "conflicts with line " + str(earlier.span.line),
                        "branches run at the same time: give each its own variables and agents, "
                        "or move this statement after the block",
                    )

    # --- conversations -------------------------------------------------------

    def _conversation(self, s: n.Conversation) -> Steps:
        fx = Effects()
        members = []
        held: list[str] = []  # members that are `agent` variables
        seen: set[str] = set()
        for member in s.members:
            if member.id in seen:
                self.ctx.error("P225", f"`{member.id}` is listed twice", member.span, "again",
                               "list each member once")
                continue
            seen.add(member.id)
            through = resolve_target(self, member, fx)
            if through is not None:  # a variable: an agent value (P254 already said if it is not one)
                held.append(member.id)
                members.append(member.id)
                for reachable in through[2]:
                    fx.writes |= io_of(self.unit, reachable)
                    if self.unit.agent_effects is not None:
                        fx.merge(self.unit.agent_effects(reachable))
                continue
            agent = self.agent(member)
            if agent is not None:
                members.append(agent)
                fx.writes |= io_of(self.unit, agent)
                if self.unit.agent_effects is not None:
                    fx.merge(self.unit.agent_effects(agent))
        if s.kind == "chat" and len(seen) != 2:
            extra = [m for m in s.members if m.id not in {s.members[0].id, s.members[1].id}]
            self.ctx.error("P226", f"a chat has exactly two members, not {len(seen)}",
                           (extra[0] if extra else s.members[-1]).span, "third member",
                           "use `group` for three or more agents")
        if s.kind == "chat":
            for clause, node in (("select", s.select), ("manager", s.manager), ("flow", s.flow[:1] or None)):
                if node:
                    span = node.span if not isinstance(node, tuple) else node[0].span
                    self.ctx.error("P227", f"`{clause}` is for groups; a chat alternates its two members", span,
                                   "not for a chat", f"write `group …:` to use `{clause}`")
        opening = self.expr(s.opening, fx)
        names = {m.id: self.ns.agents.get(m.id, m.id) for m in s.members}
        until = self.condition(s.until, fx, names) if s.until else None
        max_turns = self.turn_limit(s)
        target = self.target(s.target, fx, THREAD) if s.target is not None else None
        common = {"members": tuple(members), "opening": opening, "until": until, "max_turns": max_turns,
                  "target": target, "held": tuple(held)}
        if s.kind == "chat":
            return [self._step(p.ChatStep, s, fx, **common)]
        select, seed, prompt = self.select(s, fx)
        select_by = None
        if s.select is not None and s.select.by is not None:
            select_by = resolve_select_by(s.select.by, self.ns, self.unit, self.ctx, fx)
        if select == "manual":
            fx.writes.add(IO)  # a person picks each next speaker
        flow = self.flow(s, set(seen))
        if select == "handoff" and len(members) == len(seen) and not held:  # each member is a known agent
            check_handoffs(s, names, flow, self.unit, self.ctx)
        manager = None
        if s.manager is not None:
            manager = self.ns.models.get(s.manager.id)
            if manager is None:
                self.ctx.error("P203", f"unknown model `{s.manager.id}`", s.manager.span, "not a model",
                               did_you_mean(s.manager.id, self.ns.models, self.ns.spans) or "declare it with `model`")
        return [self._step(p.GroupStep, s, fx, **common, select=select, seed=seed, flow=flow, manager=manager,
                           select_by=select_by, select_prompt=prompt)]

    def select(self, s: n.Conversation, fx: Effects) -> tuple[p.SelectMode, int | None, p.Expr | None]:
        if s.select is None or s.select.mode is None or s.select.mode.id not in get_args(p.SelectMode):
            return "auto", None, None  # `select by`, or an unknown mode reported as the script was read (P145)
        seed = prompt = None
        for arg in s.select.args:
            self.ctx.error("P221", "`select` options are written `name=value`", arg.span, "positional",
                           "write `select random(seed=7)`")
        for keyword in s.select.keywords:
            value = constant(keyword.value)
            if s.select.mode.id == "random" and keyword.name.id == "seed" and isinstance(value, int):
                seed = value
            elif s.select.mode.id == "auto" and keyword.name.id == "prompt":
                prompt = self.expr(keyword.value, fx)
            else:
                self.ctx.error("P221", f"`select {s.select.mode.id}` has no option `{keyword.name.id}`",
                               keyword.span, "unknown option",
                               "only `select random(seed=N)` and `select auto(prompt=TEXT)` take an option")
        return cast(p.SelectMode, s.select.mode.id), seed, prompt

    def flow(self, s: n.Conversation, members: set[str]) -> tuple[p.FlowEdge, ...]:
        edges = []
        for edge in s.flow:
            names = []
            for name in (edge.source, *edge.targets):
                if name.id not in members:
                    self.ctx.error(
                        "P224", f"`{name.id}` is not a member of this group", name.span, "not a member",
                        did_you_mean(name.id, members)
                        or f"the members are {_listing(m.id for m in s.members)}; add `{name.id}` to the group to use it",
                    )
                names.append(self.ns.agents.get(name.id, name.id))
            edges.append(p.FlowEdge(source=names[0], targets=tuple(names[1:])))
        return tuple(edges)

    def turn_limit(self, s: n.Conversation) -> int:
        """The constant turn limit; 0 when only turn-count expressions bound it (evaluated at run time)."""
        limits = _turn_limits(s.until) if s.until is not None else []
        if limits:
            fixed = [v if isinstance(v, int) and not isinstance(v, bool) else 1
                     for v in (constant(c.count) for c in limits) if is_constant(v)]
            return max(1, min(fixed)) if fixed else 0
        header = s.span.to(s.members[-1].span)
        if s.until is None:
            self.ctx.warning(
                "P260", f"this {s.kind} stops only at the default limit of {p.DEFAULT_MAX_TURNS} turns",
                header, "no `until`",
                f"say when it is done: `until {s.members[-1].id} says \"DONE\" or {p.DEFAULT_MAX_TURNS} turns`",
            )
        else:
            self.ctx.warning(
                "P260", f"this {s.kind}'s `until` sets no turn limit, so the default of {p.DEFAULT_MAX_TURNS} applies",
                s.until.span, "no `… or N turns`",
                f"add the limit you mean with `or`: `until … or {p.DEFAULT_MAX_TURNS} turns`",
            )
        return p.DEFAULT_MAX_TURNS

    def condition(self, c: n.Condition, fx: Effects, members: dict[str, str]) -> p.Condition:
        match c:
            case n.TurnsCondition():
                return self.turns(c, fx)
            case n.ExprCondition():
                if isinstance(c.test, n.Name) and c.test.id in self.ns.agents:
                    self.ctx.error("P159", f"`{c.test.id}` is an agent, not a condition", c.test.span,
                                   "an agent's name", f"write `until {c.test.id} says \"DONE\" or 8 turns`")
                    return p.TurnsCondition(count=1)  # the plan is not made
                if isinstance(constant(c.test), int | float) and not isinstance(constant(c.test), bool):
                    self.ctx.error("P158", "a number in `until` counts turns: write `N turns`", c.test.span,
                                   "expected `turns`", "write `until 8 turns` (or `until critic says \"DONE\" or 8 turns`)")
                    return p.TurnsCondition(count=1)
                return p.ExprCondition(test=self.expr(c.test, fx))
            case n.SaysCondition():
                agent = None
                if c.agent is not None:
                    if c.agent.id not in members:
                        self.ctx.error(
                            "P224", f"`{c.agent.id}` is not a member of this conversation", c.agent.span,
                            "not a member", did_you_mean(c.agent.id, members) or f"the members are {_listing(members)}",
                        )
                    agent = members.get(c.agent.id, c.agent.id)
                return p.SaysCondition(agent=agent, text=self.template(c.text, fx))
            case n.ProseCondition():
                return p.ProseCondition(text=self.template(c.text, fx))
            case n.UsageCondition():
                return p.UsageCondition(metric=c.metric, limit=self.expr(c.limit, fx))
            case n.BoolCondition():
                return p.BoolCondition(op=c.op, left=self.condition(c.left, fx, members),
                                       right=self.condition(c.right, fx, members))
            case _:
                p.assert_never(c)


    def turns(self, c: n.TurnsCondition, fx: Effects) -> p.TurnsCondition:
        """`N turns`: a constant is checked now; another expression when the conversation starts."""
        value = constant(c.count)
        if not is_constant(value):
            return p.TurnsCondition(count=0, bound=self.expr(c.count, fx))
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            self.ctx.error("P261", "a turn limit must be a whole number of at least 1", c.count.span,
                           "not a positive whole number", "write `until … or 8 turns`")
            return p.TurnsCondition(count=1)
        return p.TurnsCondition(count=value)


def _turn_limits(c: n.Condition) -> list[n.TurnsCondition]:
    """Turn limits that bound the conversation: reachable through `or` only."""
    if isinstance(c, n.TurnsCondition):
        return [c]
    if isinstance(c, n.BoolCondition) and c.op == "or":
        return _turn_limits(c.left) + _turn_limits(c.right)
    if isinstance(c, n.BoolCondition):  # `a and N turns`: N is a minimum, not a limit
        return []
    return []


def _root_names(e: n.Expr) -> set[str]:
    while isinstance(e, n.Index | n.Attribute):
        e = e.value
    return {e.id} if isinstance(e, n.Name) else set()


def _all_steps(bodies: tuple[tuple[Any, ...], ...]) -> list[Any]:
    """The steps of these bodies, top level only (a compound step already sums its own body)."""
    return [step for body in bodies for step in body]


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _listing(names: Any) -> str:
    return ", ".join(f"`{name}`" for name in names)


_LITERAL_NAMES = {"str": "text", "int": "an int", "float": "a float", "bool": "a bool", "none": "none",
                  "list": "a list", "dict": "a dict"}


def _literal_mismatch(value: n.Expr, declared: p.TypeRef, records: Any) -> str | None:
    """What a literal is when it cannot be of the declared type; None when it can, or for any other
    expression (those are checked as the run stores them)."""
    text = None
    if isinstance(value, n.Template) and value.kind != "prose":
        kind, text = "str", value.text
    elif isinstance(value, n.Literal):
        kind = {bool: "bool", int: "int", float: "float"}.get(type(value.value), "none")
    elif isinstance(value, n.ListExpr | n.DictExpr):
        kind = "list" if isinstance(value, n.ListExpr) else "dict"
    else:
        return None
    if may_hold(declared, kind, text, records):
        return None
    return f'"{text}"' if text is not None and literal_values(declared) else _LITERAL_NAMES[kind]
