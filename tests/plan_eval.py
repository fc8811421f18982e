"""A small reference evaluator of plan IR, for tests only (not the runtime).

It runs a `compiler.plan.Plan` against a deterministic fake model so that a
test can ask: does the order in which a `ConcurrentStep`'s steps (or a
`ParallelStep`'s branches) run change anything? The caller picks the order
with a scheduler; `final_state()` is what must not change.

The fake model
    An ask to agent A answers `f"{A}#{len(thread)}:{digest}"`, where `digest`
    hashes A, the message and the whole thread so far, so a reply depends on
    everything the agent has seen. A yes/no ask answers by the digest's parity;
    a typed ask gets a value of its type derived from the reply. The message
    goes into the thread as ("user", text) and the reply as ("assistant",
    text); `tell` appends ("user", text); `forget` clears. An agent calls each
    of its tools once per turn (a def runs; a Python tool gives a number), and
    `reply by` runs its def. A chat or group runs in a fresh thread, its
    members taking turns up to the turn limit (`until` is not judged).

Values
    Assignment stores a deep copy (value semantics): `ys = xs` then
    `ys[0] = 1` leaves `xs` alone. The compiler's effect model assumes this (an
    item assignment writes only the root variable); `Evaluator(...,
    copy_on_assign=False)` gives Python's reference semantics instead, to show
    what goes wrong without it.

Access log
    While a step runs, every variable it reads or writes (in its own scope:
    a def's locals are its own), every thread it touches, and the resources
    `io` (print, humans), `python` (tools, python agents), `exec` (executors)
    and `output` are logged. `Evaluator.violations` lists each step that
    touched something its `reads`/`writes` do not declare.

Also here: `EffectAnalysis`, what a step may read and write recomputed from
its content (independently of the compiler), and `scripts()`, a Hypothesis
strategy for random valid scripts shared by the concurrency and
compile-property tests.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import attrs

from parley.compiler import plan as p
from parley.compiler.serialize import to_data

IO, PYTHON, EXEC, OUTPUT = "io", "python", "exec", "output"
RESOURCES = frozenset({IO, PYTHON, EXEC, OUTPUT})


class EvalError(Exception):
    """The plan did something the evaluator cannot or will not do (a runtime error)."""


class Unsupported(EvalError):
    """A construct the reference evaluator does not model."""


class ConflictError(EvalError):
    """Two steps run simultaneously changed the same variable, thread or resource."""


class Reply(str):
    """An agent's reply: text with `.agent`, `.tokens` and `.cost`."""

    agent: str

    def __new__(cls, text: str, agent: str) -> Reply:
        self = super().__new__(cls, text)
        self.agent = agent
        return self

    @property
    def tokens(self) -> int:
        return len(self.split()) + 1

    @property
    def cost(self) -> float:
        return 0.0

    def __deepcopy__(self, memo: Any) -> Reply:
        return self


class Conversation(str):
    """A chat's or group's thread: its text is the last message; `.messages`, `.last`, `.turns`…"""

    messages: list[Reply]
    turns: int
    members: list[str]

    def __new__(cls, text: str, messages: list[Reply], turns: int, members: list[str]) -> Conversation:
        self = super().__new__(cls, text)
        self.messages, self.turns, self.members = messages, turns, members
        return self

    @property
    def last(self) -> str:
        return str(self)

    summary = last
    stop_reason = "turn limit"  # `until` is not judged: every conversation runs to its (capped) turn limit
    tokens = Reply.tokens
    cost = Reply.cost

    def __deepcopy__(self, memo: Any) -> Conversation:
        return self


def digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


def fake_reply(agent: str, thread: Sequence[tuple[str, str]], message: str) -> str:
    """What the fake model answers `agent` given its `thread` so far and the new `message`."""
    return f"{agent}#{len(thread)}:{digest(agent, list(thread), message)}"


def fake_yes(agent: str, thread: Sequence[tuple[str, str]], message: str) -> bool:
    return int(digest("?", agent, list(thread), message), 16) % 2 == 0


def show(value: Any) -> str:
    """A value as interpolated text (deterministic)."""
    if isinstance(value, str):
        return str(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "none"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(canonical(value), ensure_ascii=False, sort_keys=True)


def canonical(value: Any) -> Any:
    """A plain, comparable form of a value (replies keep their agent)."""
    if isinstance(value, Reply):
        return ["reply", str(value), value.agent]
    if isinstance(value, Conversation):
        return ["thread", value.messages]
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    return value


# --- schedulers ------------------------------------------------------------------------

#: Chooses the order of a concurrent group's (or parallel block's) `n` children: a permutation of range(n).
Scheduler = Callable[[Any, int], Sequence[int]]


def in_order(step: Any, n: int) -> Sequence[int]:
    return range(n)


def reversed_order(step: Any, n: int) -> Sequence[int]:
    return range(n - 1, -1, -1)


def fixed(orders: dict[str, Sequence[int]]) -> Scheduler:
    """The given permutation for the groups with these ids, source order for the rest."""

    def choose(step: Any, n: int) -> Sequence[int]:
        return orders.get(step.id, range(n))

    return choose


def seeded(seed: int) -> Scheduler:
    """A fresh random permutation at each run of each group, repeatable from `seed`."""
    rng = random.Random(seed)

    def choose(step: Any, n: int) -> Sequence[int]:
        order = list(range(n))
        rng.shuffle(order)
        return order

    return choose


# --- state and the access log ---------------------------------------------------------


@attrs.define
class Frame:
    """What one running step has touched (variables of `scope` only, plus threads and resources)."""

    step: Any
    scope: dict[str, Any]
    reads: set[str] = attrs.Factory(set)
    writes: set[str] = attrs.Factory(set)


@attrs.frozen
class Violation:
    """A step touched `name` (`how`: read or write) without declaring it."""

    step_id: str
    kind: str
    how: str
    name: str


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


@attrs.define
class World:
    """Everything a run changes: the script's variables, the threads, printed lines, the output."""

    variables: dict[str, Any] = attrs.Factory(dict)
    threads: dict[str, list[tuple[str, str]]] = attrs.Factory(dict)
    printed: list[str] = attrs.Factory(list)
    output: Any = None
    has_output: bool = False

    def snapshot(self) -> dict[str, Any]:
        return {
            "variables": {k: canonical(v) for k, v in sorted(self.variables.items())},
            "threads": {k: [list(m) for m in v] for k, v in sorted(self.threads.items()) if v},
            "printed": list(self.printed),
            "output": canonical(self.output) if self.has_output else None,
        }


class Evaluator:
    """Runs one plan. `scheduler` orders concurrent groups and parallel branches;
    `simultaneous=True` instead runs a concurrent group's steps each on a copy of
    the state before the group and merges their changes, raising `ConflictError`
    when two changed the same thing (what truly running at once would expose)."""

    def __init__(self, plan: p.Plan, scheduler: Scheduler = in_order, *, simultaneous: bool = False,
                 copy_on_assign: bool = True, inputs: dict[str, Any] | None = None,
                 max_steps: int = 100_000) -> None:
        self.plan = plan
        self.scheduler = scheduler
        self.simultaneous = simultaneous
        self.copy_on_assign = copy_on_assign
        self.world = World()
        self.scope: dict[str, Any] = self.world.variables
        self.frames: list[Frame] = []
        self.violations: list[Violation] = []
        self.defs = {d.name: d for d in plan.defs}
        self.agents = {a.name: a for a in plan.agents}
        self.records = {r.name: r for r in plan.types}
        self.budget = max_steps
        self.orders: list[tuple[str, tuple[int, ...]]] = []
        self.tool_depth = 0
        for decl in plan.inputs:
            if inputs and decl.name in inputs:
                self.world.variables[decl.name] = inputs[decl.name]
            elif decl.default is not None:
                self.world.variables[decl.name] = self.eval(decl.default)
            else:
                self.world.variables[decl.name] = self.fake_value(decl.type, decl.name)

    # --- the run ------------------------------------------------------------------

    def run(self) -> World:
        self.run_steps(self.plan.body)
        return self.world

    def final_state(self) -> dict[str, Any]:
        return self.world.snapshot()

    def run_steps(self, steps: Iterable[Any]) -> None:
        for step in steps:
            self.run_step(step)

    def run_step(self, step: Any) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise EvalError("the evaluator's step budget is spent")
        frame = Frame(step=step, scope=self.scope)
        self.frames.append(frame)
        try:
            getattr(self, f"_{type(step).__name__}")(step)
        finally:
            self.frames.pop()
            self._check(frame)

    def _check(self, frame: Frame) -> None:
        step = frame.step
        declared_reads, declared_writes = set(step.reads), set(step.writes)
        for name in sorted(frame.reads - declared_reads - declared_writes):
            self.violations.append(Violation(step.id, step.kind, "read", name))
        for name in sorted(frame.writes - declared_writes):
            self.violations.append(Violation(step.id, step.kind, "write", name))

    # --- logging accessors ----------------------------------------------------------

    def _log(self, what: str, name: str, variable: bool) -> None:
        for frame in self.frames:
            if variable and frame.scope is not self.scope:
                continue
            (frame.reads if what == "read" else frame.writes).add(name)

    def get_var(self, name: str) -> Any:
        self._log("read", name, True)
        if name not in self.scope:
            raise EvalError(f"`{name}` is read before it is assigned")
        return self.scope[name]

    def set_var(self, name: str, value: Any) -> None:
        self._log("write", name, True)
        self.scope[name] = copy.deepcopy(value) if self.copy_on_assign else value

    def thread(self, agent: str, write: bool) -> list[tuple[str, str]]:
        self._log("read", f"@{agent}", False)
        if write:
            self._log("write", f"@{agent}", False)
        return self.world.threads.setdefault(agent, [])

    def resource(self, name: str) -> None:
        if name:
            self._log("write", name, False)

    # --- steps ----------------------------------------------------------------------

    def _agent(self, agent: str, held: Any) -> str:
        """The agent a step reaches: its name, or the agent value `held` evaluates to."""
        return agent if held is None else show(self.eval(held))

    def _AskStep(self, s: p.AskStep) -> None:
        reply = self.ask(self._agent(s.agent, s.agent_expr), self.eval(s.message), yes_no=False, type_ref=s.type)
        if s.target is not None:
            self.assign(s.target, reply)

    def _AssignStep(self, s: p.AssignStep) -> None:
        self.assign(s.target, self.eval(s.value))

    def _TellStep(self, s: p.TellStep) -> None:
        agent = self._agent(s.agent, s.agent_expr)
        text = show(self.eval(s.message))
        self._log("write", f"@{agent}", False)
        self.world.threads.setdefault(agent, []).append(("user", text))

    def _ForgetStep(self, s: p.ForgetStep) -> None:
        for agent in [*s.agents, *(show(self.eval(held)) for held in s.agent_exprs)]:
            self._log("write", f"@{agent}", False)
            self.world.threads[agent] = []

    def _PrintStep(self, s: p.PrintStep) -> None:
        text = show(self.eval(s.value))
        self.resource(IO)
        self.world.printed.append(text)

    def _OutputStep(self, s: p.OutputStep) -> None:
        value = self.eval(s.value)
        self.resource(OUTPUT)
        self.world.output, self.world.has_output = copy.deepcopy(value), True

    def _CallStep(self, s: p.CallStep) -> None:
        self.eval(s.expr)

    def _ReturnStep(self, s: p.ReturnStep) -> None:
        raise _Return(self.eval(s.value) if s.value is not None else None)

    def _BreakStep(self, s: p.BreakStep) -> None:
        raise _Break()

    def _ContinueStep(self, s: p.ContinueStep) -> None:
        raise _Continue()

    def _IfStep(self, s: p.IfStep) -> None:
        for branch in s.branches:
            if truthy(self.eval(branch.test)):
                self.run_steps(branch.body)
                return
        self.run_steps(s.orelse)

    def _ForStep(self, s: p.ForStep) -> None:
        for item in self._items(self.eval(s.iterable), len(s.variables)):
            values = (item,) if len(s.variables) == 1 else tuple(item)
            if len(values) != len(s.variables):
                raise EvalError("cannot unpack an item into the loop's names")
            for name, value in zip(s.variables, values):
                self.set_var(name, value)
            if not self._iteration(s.body):
                break

    def _ParallelForStep(self, s: p.ParallelForStep) -> None:
        """One iteration after another, each from the variables and threads as they were before the loop;
        the body's new variables come out as lists, in the items' order."""
        items, limit = self._items(self.eval(s.iterable), 1), self.eval(s.limit)
        if not isinstance(limit, int) or limit < 1:
            raise EvalError("`parallel for` needs a whole number of at least 1 after `max`")
        outer, threads = self.scope, copy.deepcopy(self.world.threads)
        collected: dict[str, list[Any]] = {name: [] for name in s.collected}
        try:
            for item in items:
                self.world.threads = copy.deepcopy(threads)
                self.scope = {**outer, s.variable: item}
                self.run_steps(s.body)
                for name, values in collected.items():
                    values.append(self.scope.get(name))
        finally:
            self.scope, self.world.threads = outer, threads
        for name, values in collected.items():
            self.set_var(name, values)

    def _RepeatStep(self, s: p.RepeatStep) -> None:
        for _ in range(self.eval(s.count)):
            if not self._iteration(s.body):
                break

    def _WhileStep(self, s: p.WhileStep) -> None:
        for _ in range(self.eval(s.limit)):
            if not truthy(self.eval(s.test)) or not self._iteration(s.body):
                break

    def _iteration(self, body: tuple[Any, ...]) -> bool:
        """Run one iteration; False when it breaks out of the loop."""
        try:
            self.run_steps(body)
        except _Break:
            return False
        except _Continue:
            pass
        return True

    @staticmethod
    def _items(value: Any, names: int) -> list[Any]:
        if isinstance(value, dict):
            return list(value) if names == 1 else [[k, v] for k, v in value.items()]
        if isinstance(value, list | str):
            return list(value)
        if isinstance(value, ToolNumber):
            raise Unsupported("a loop over a Python tool's result (faked as a number)")
        raise EvalError(f"cannot iterate over {show(value)}")

    def _order(self, step: Any, n: int) -> tuple[int, ...]:
        order = tuple(self.scheduler(step, n))
        if sorted(order) != list(range(n)):
            raise ValueError(f"scheduler gave {order} for {n} children of {step.id}")
        self.orders.append((step.id, order))
        return order

    def _ConcurrentStep(self, s: p.ConcurrentStep) -> None:
        order = self._order(s, len(s.steps))
        if self.simultaneous:
            self._at_once([s.steps[i] for i in order])
        else:
            self.run_steps(s.steps[i] for i in order)

    def _ParallelStep(self, s: p.ParallelStep) -> None:
        order = self._order(s, len(s.branches))
        if self.simultaneous:
            self._at_once([s.branches[i] for i in order])
        else:
            self.run_steps(s.branches[i] for i in order)

    def _at_once(self, steps: list[Any]) -> None:
        """Each step on its own copy of the state before the group; then their changes merged,
        none overlapping (the world's containers are updated in place: frames hold them)."""
        world = self.world
        if self.scope is not world.variables:
            self.run_steps(steps)  # inside a def: sequential is enough for the tests
            return
        before = copy.deepcopy((world.variables, world.threads, world.printed))
        changes = []
        for step in steps:
            self._restore(before)
            probe = Frame(step=step, scope=self.scope)
            self.frames.append(probe)
            try:
                self.run_step(step)
            finally:
                self.frames.pop()
            variables = {k: v for k, v in world.variables.items()
                         if k not in before[0] or not _same(v, before[0][k])}
            threads = {k: v for k, v in world.threads.items() if v != before[1].get(k, [])}
            printed = world.printed[len(before[2]):]
            changes.append((variables, threads, printed, probe.writes & RESOURCES))
        self._restore(before)
        seen: dict[str, int] = {}
        for index, (variables, threads, printed, resources) in enumerate(changes):
            for key in [*variables, *(f"@{t}" for t in threads), *resources]:
                if key in seen:
                    raise ConflictError(f"steps {steps[seen[key]].id} and {steps[index].id} both change {key}")
                seen[key] = index
            world.variables.update(variables)
            world.threads.update(threads)
            world.printed.extend(printed)

    def _restore(self, saved: tuple[dict[str, Any], dict[str, Any], list[str]]) -> None:
        variables, threads, printed = copy.deepcopy(saved)
        self.world.variables.clear()
        self.world.variables.update(variables)
        self.world.threads.clear()
        self.world.threads.update(threads)
        self.world.printed[:] = printed

    # --- targets --------------------------------------------------------------------

    def assign(self, target: Any, value: Any) -> None:
        if isinstance(target, p.VarTarget):
            self.set_var(target.name, value)
            return
        container = self.eval(target.value)
        stored = copy.deepcopy(value) if self.copy_on_assign else value
        root = root_name(target.value)
        if root is not None:
            self._log("write", root, True)
        if isinstance(target, p.ItemTarget):
            index = self.eval(target.index)
            try:
                container[index] = stored
            except (TypeError, IndexError, KeyError) as error:
                raise EvalError(f"cannot assign an item: {error}") from error
        elif isinstance(container, dict):
            container[target.name] = stored
        else:
            raise EvalError(f"cannot set a field of {show(container)}")

    # --- asks -----------------------------------------------------------------------

    def ask(self, agent: str, message: Any, yes_no: bool, type_ref: Any = None) -> Any:
        text = show(message)
        decl = self.agents.get(agent)
        if decl is None:
            raise EvalError(f"unknown agent {agent}")
        if decl.agent_kind == "human":
            self.resource(IO)
        elif decl.agent_kind == "executor":
            self.resource(EXEC)
        elif decl.agent_kind == "python":
            self.resource(PYTHON)
        thread = self.thread(agent, write=True)
        thread.append(("user", text))
        thread.extend(self.turn_extras(decl, text))
        if yes_no:
            answer: Any = fake_yes(agent, thread, text)
            thread.append(("assistant", "yes" if answer else "no"))
            return answer
        if decl.reply_by is not None:
            reply = Reply(show(self.in_tool(lambda: self.call_def(self.defs[decl.reply_by], [text], {}))), agent)
        else:
            reply = Reply(fake_reply(agent, thread, text), agent)
        if type_ref is not None:
            value = self.fake_value(type_ref, str(reply))
            thread.append(("assistant", show(value)))
            return value
        thread.append(("assistant", str(reply)))
        return reply

    def fake_value(self, t: Any, seed: str, depth: int = 0) -> Any:
        """A value of type `t`, determined by `seed` (what a structured reply would parse to)."""
        number = int(digest(seed, depth), 16)
        if isinstance(t, p.LiteralType):
            return t.value
        if isinstance(t, p.UnionType):
            return self.fake_value(t.options[number % len(t.options)], seed, depth + 1)
        if isinstance(t, p.ListType):
            return [self.fake_value(t.item, seed, depth + 1)]
        if isinstance(t, p.DictType):
            return {"k": self.fake_value(t.value, seed, depth + 1)}
        if isinstance(t, p.NamedType):
            record = self.records.get(t.name)
            if record is not None:
                return {f.name: self.fake_value(f.type, f"{seed}.{f.name}", depth + 1) for f in record.fields}
            return {"str": f"text-{number % 1000}", "int": number % 10, "float": (number % 100) / 10,
                    "bool": number % 2 == 0, "none": None}.get(t.name, f"any-{number % 1000}")
        raise Unsupported(f"type {t!r}")

    def turn_extras(self, decl: p.AgentDecl, text: str) -> list[tuple[str, str]]:
        """The fake model calls each of the agent's tools once per turn (not when nested too deep)."""
        results = []
        for tool in decl.tools if self.tool_depth < 3 else ():
            if tool in self.defs:
                tool_decl = self.defs[tool]
                args = {q.name: text if q.type in (None, p.NamedType(name="str")) else self.fake_value(q.type, text)
                        for q in tool_decl.params if q.required}
                value = self.in_tool(lambda: self.call_def(tool_decl, [], args))
            else:
                self.resource(PYTHON)
                value = f"{tool}({digest(text)})"
            results.append(("tool", f"{tool}: {show(value)}"))
        return results

    def in_tool(self, action: Callable[[], Any]) -> Any:
        self.tool_depth += 1
        try:
            return action()
        finally:
            self.tool_depth -= 1

    # --- expressions ----------------------------------------------------------------

    def eval(self, e: Any) -> Any:
        method = getattr(self, f"_e_{type(e).__name__}", None)
        if method is None:
            raise Unsupported(f"expression {type(e).__name__}")
        return method(e)

    def _e_Const(self, e: p.Const) -> Any:
        return e.value

    def _e_Money(self, e: p.Money) -> Any:
        return float(e.amount)

    def _e_Duration(self, e: p.Duration) -> Any:
        return e.seconds

    def _e_Var(self, e: p.Var) -> Any:
        return self.get_var(e.name)

    def _e_Text(self, e: p.Text) -> str:
        return "".join(part if isinstance(part, str) else show(self.eval(part)) for part in e.parts)

    def _e_ListOf(self, e: p.ListOf) -> list[Any]:
        return [self.eval(i) for i in e.items]

    def _e_DictOf(self, e: p.DictOf) -> dict[Any, Any]:
        return {self.eval(k): self.eval(v) for k, v in zip(e.keys, e.values)}

    def _e_GetAttr(self, e: p.GetAttr) -> Any:
        value = self.eval(e.value)
        if isinstance(value, Reply) and e.name in ("agent", "tokens", "cost"):
            return getattr(value, e.name)
        if isinstance(value, Conversation) and e.name in ("messages", "last", "summary", "turns", "members",
                                                          "tokens", "cost", "stop_reason"):
            return copy.deepcopy(getattr(value, e.name))
        if isinstance(value, dict) and e.name in value:
            return value[e.name]
        raise EvalError(f"no attribute {e.name} on {show(value)}")

    def _e_GetItem(self, e: p.GetItem) -> Any:
        value, index = self.eval(e.value), self.eval(e.index)
        try:
            return value[index]
        except (TypeError, IndexError, KeyError) as error:
            raise EvalError(f"cannot index: {error}") from error

    def _e_Call(self, e: p.Call) -> Any:
        args = [self.eval(a) for a in e.args]
        keywords = {k.name: self.eval(k.value) for k in e.keywords}
        if e.callee_kind == "builtin":
            function = BUILTINS.get(e.callee)
            if function is None:
                raise Unsupported(f"built-in {e.callee}")
            try:
                return function(*args, **keywords)
            except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError) as error:
                if any(isinstance(a, ToolNumber) for a in args):
                    raise Unsupported(f"{e.callee} of a Python tool's result (faked as a number)") from error
                raise EvalError(f"{e.callee}: {error}") from error
        if e.callee_kind == "def":
            return self.call_def(self.defs[e.callee], args, keywords)
        self.resource(PYTHON)  # a Python tool: a fake, deterministic number
        return ToolNumber(int(digest(e.callee, canonical(args), canonical(keywords)), 16) % 100 / 10 + 1)

    def call_def(self, decl: p.DefDecl, args: list[Any], keywords: dict[str, Any]) -> Any:
        local: dict[str, Any] = {}
        for index, param in enumerate(decl.params):
            if index < len(args):
                value = args[index]
            elif param.name in keywords:
                value = keywords[param.name]
            elif param.default is not None:
                value = self.eval(param.default)
            else:
                raise EvalError(f"missing argument {param.name}")
            local[param.name] = copy.deepcopy(value) if self.copy_on_assign else value
        saved, self.scope = self.scope, local
        try:
            self.run_steps(decl.body)
        except _Return as result:
            return result.value
        finally:
            self.scope = saved
        return None

    def _e_Unary(self, e: p.Unary) -> Any:
        value = self.eval(e.operand)
        if e.op == "not":
            return not truthy(value)
        return -value if e.op == "-" else +value

    def _e_Binary(self, e: p.Binary) -> Any:
        left = self.eval(e.left)
        if e.op == "and":
            return self.eval(e.right) if truthy(left) else left
        if e.op == "or":
            return left if truthy(left) else self.eval(e.right)
        right = self.eval(e.right)
        try:
            return _BINARY[e.op](plain(left), plain(right))
        except (TypeError, ZeroDivisionError, KeyError) as error:
            raise EvalError(f"{e.op}: {error}") from error

    def _e_Compare(self, e: p.Compare) -> bool:
        left = self.eval(e.left)
        for op, comparator in zip(e.ops, e.comparators):
            right = self.eval(comparator)
            try:
                if not _COMPARE[op](plain(left), plain(right)):
                    return False
            except TypeError as error:
                raise EvalError(f"{op}: {error}") from error
            left = right
        return True

    def _e_IfElse(self, e: p.IfElse) -> Any:
        return self.eval(e.body) if truthy(self.eval(e.test)) else self.eval(e.orelse)

    def _e_Ask(self, e: p.Ask) -> Any:
        return self.ask(self._agent(e.agent, e.agent_expr), self.eval(e.message), yes_no=e.yes_no, type_ref=e.type)

    def _e_AgentRef(self, e: p.AgentRef) -> str:
        return e.name

    def _e_Slice(self, e: p.Slice) -> Any:
        value = self.eval(e.value)
        start, stop = (None if b is None else self.eval(b) for b in (e.start, e.stop))
        return plain(value)[start:stop]

    # conversations: a fresh thread; members take turns (round robin) up to the turn limit
    # (`until` is not judged); a thread's text is its last message
    def _ChatStep(self, s: p.ChatStep | p.GroupStep) -> None:
        opening = show(self.eval(s.opening))
        if s.until is not None:
            if any(isinstance(node, p.Ask) for node in _nodes(s.until)):
                raise Unsupported("`until` conditions that ask")
            for node in _nodes(s.until):  # not judged, but read (so what a condition reads is logged)
                if isinstance(node, p.ExprCondition):
                    self.eval(node.test)
                elif isinstance(node, p.TurnsCondition) and node.bound is not None:
                    self.eval(node.bound)
                elif isinstance(node, p.SaysCondition | p.ProseCondition):
                    self.eval(node.text)
                elif isinstance(node, p.UsageCondition):
                    self.eval(node.limit)
        members = [show(self.get_var(m)) if m in s.held else m for m in s.members]
        for member in members:
            decl = self.agents[member]
            if decl.reply_by:
                raise Unsupported("conversations with `reply by` agents")
            self.resource({"human": IO, "executor": EXEC, "python": PYTHON}.get(decl.agent_kind, ""))
        if isinstance(s, p.GroupStep) and s.select == "manual":
            self.resource(IO)
        messages: list[tuple[str, str]] = [("script", opening)]
        for turn in range(min(s.max_turns, 4)):
            speaker = members[turn % len(members)]
            messages.extend(self.turn_extras(self.agents[speaker], messages[-1][1]))
            messages.append((speaker, fake_reply(speaker, messages, opening)))
        thread = Conversation(text=messages[-1][1], messages=[Reply(text, who) for who, text in messages[1:]],
                              turns=len(messages) - 1,
                              members=members)
        if s.target is not None:
            self.assign(s.target, thread)

    _GroupStep = _ChatStep


class ToolNumber(float):
    """What a Python tool returns here: a number, since its real result is unknown."""


def _agent_refs(data: Any) -> set[str]:
    """The names of the `agent_ref` records anywhere in a plan's data."""
    if isinstance(data, list):
        return {name for item in data for name in _agent_refs(item)}
    if isinstance(data, dict):
        found = {data["name"]} if data.get("kind") == "agent_ref" else set()
        return found | {name for value in data.values() for name in _agent_refs(value)}
    return set()


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and canonical(a) == canonical(b)


def plain(value: Any) -> Any:
    return str(value) if isinstance(value, str) else value


def truthy(value: Any) -> bool:
    return bool(plain(value))


def root_name(e: Any) -> str | None:
    while isinstance(e, p.GetItem | p.GetAttr):
        e = e.value
    return e.name if isinstance(e, p.Var) else None


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
    "//": lambda a, b: a // b, "%": lambda a, b: a % b, "**": lambda a, b: a ** b,
}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b, "is": lambda a, b: a is b, "is not": lambda a, b: a is not b,
}


def _join(items: list[Any], separator: str = "") -> str:
    return separator.join(show(i) for i in items)


BUILTINS: dict[str, Callable[..., Any]] = {
    "len": lambda v: len(plain(v)),
    "str": show,
    "int": lambda v: int(plain(v)),
    "float": lambda v: float(plain(v)),
    "bool": truthy,
    "join": _join,
    "upper": lambda t: str(t).upper(),
    "lower": lambda t: str(t).lower(),
    "strip": lambda t: str(t).strip(),
    "replace": lambda t, old, new: str(t).replace(old, new),
    "contains": lambda c, i: plain(i) in plain(c),
    "enumerate": lambda xs: [[i, x] for i, x in enumerate(xs)],
    "items": lambda d: [[k, v] for k, v in d.items()],
    "startswith": lambda t, prefix: str(t).startswith(prefix),
    "endswith": lambda t, suffix: str(t).endswith(suffix),
    "split": lambda t, sep=None: str(t).split(sep),
    "append": lambda xs, x: [*xs, x],
    "get": lambda d, k, default=None: d.get(k, default),
    "keys": lambda d: list(d),
    "values": lambda d: list(d.values()),
    "sorted": lambda xs, reverse=False: sorted(xs, key=plain, reverse=reverse),
    "reversed": lambda xs: list(reversed(xs)),
    "range": lambda *a: list(range(*a)),
    "min": lambda *a: min(a[0] if len(a) == 1 else a),
    "max": lambda *a: max(a[0] if len(a) == 1 else a),
    "sum": sum,
    "abs": abs,
}


# --- walking plans ------------------------------------------------------------------------


def children(step: Any) -> list[tuple[Any, ...]]:
    """The bodies directly inside a step, in reading order."""
    if isinstance(step, p.IfStep):
        return [*(b.body for b in step.branches), step.orelse]
    if isinstance(step, p.ForStep | p.RepeatStep | p.WhileStep | p.ParallelForStep):
        return [step.body]
    if isinstance(step, p.ParallelStep):
        return [step.branches]
    if isinstance(step, p.ConcurrentStep):
        return [step.steps]
    return []


def walk(steps: Iterable[Any]) -> Iterator[Any]:
    """Every step, pre-order (a step before the steps inside it)."""
    for step in steps:
        yield step
        for body in children(step):
            yield from walk(body)


def all_steps(plan: p.Plan) -> list[Any]:
    """Every step of the plan in reading order: the defs' bodies, then the script's."""
    return [*(s for d in plan.defs for s in walk(d.body)), *walk(plan.body)]


def flatten(steps: Iterable[Any]) -> tuple[Any, ...]:
    """The steps with every `ConcurrentStep` replaced by its steps, in source order (recursively)."""
    out: list[Any] = []
    for step in steps:
        if isinstance(step, p.ConcurrentStep):
            out.extend(flatten(step.steps))
        elif isinstance(step, p.IfStep):
            out.append(attrs.evolve(step, branches=tuple(attrs.evolve(b, body=flatten(b.body)) for b in step.branches),
                                    orelse=flatten(step.orelse)))
        elif isinstance(step, p.ForStep | p.RepeatStep | p.WhileStep | p.ParallelForStep):
            out.append(attrs.evolve(step, body=flatten(step.body)))
        elif isinstance(step, p.ParallelStep):
            out.append(attrs.evolve(step, branches=flatten(step.branches)))
        else:
            out.append(step)
    return tuple(out)


def flat_plan(plan: p.Plan) -> p.Plan:
    return attrs.evolve(plan, body=flatten(plan.body),
                        defs=tuple(attrs.evolve(d, body=flatten(d.body)) for d in plan.defs))


def groups(plan: p.Plan) -> list[Any]:
    """Every `ConcurrentStep` and `ParallelStep` of the plan, in reading order."""
    return [s for s in all_steps(plan) if isinstance(s, p.ConcurrentStep | p.ParallelStep)]


def orders_to_try(plan: p.Plan, exhaustive_up_to: int = 4, samples: int = 6, seed: int = 0) -> list[Scheduler]:
    """Schedulers covering every permutation of each group (others in order; a few random
    ones past `exhaustive_up_to` children), all groups reversed, and some random joint orders."""
    rng = random.Random(seed)
    found: list[Scheduler] = [reversed_order]
    for group in groups(plan):
        n = len(group.steps if isinstance(group, p.ConcurrentStep) else group.branches)
        if n <= exhaustive_up_to:
            perms: list[tuple[int, ...]] = list(itertools.permutations(range(n)))[1:]
        else:
            perms = [tuple(rng.sample(range(n), n)) for _ in range(samples)]
        found.extend(fixed({group.id: perm}) for perm in perms)
    found.extend(seeded(rng.randrange(1 << 30)) for _ in range(samples))
    return found


def run(plan: p.Plan, scheduler: Scheduler = in_order, **options: Any) -> Evaluator:
    evaluator = Evaluator(plan, scheduler, **options)
    evaluator.run()
    return evaluator


# --- effects, recomputed from a step's content ----------------------------------------------


@attrs.define
class Effects:
    reads: set[str] = attrs.Factory(set)
    writes: set[str] = attrs.Factory(set)

    def add(self, other: Effects) -> None:
        self.reads |= other.reads
        self.writes |= other.writes


def independent(a: Any, b: Any) -> bool:
    """Neither step writes what the other reads or writes (by their declared sets)."""
    ra, wa, rb, wb = set(a.reads), set(a.writes), set(b.reads), set(b.writes)
    return not (wa & (rb | wb) or wb & ra)


class EffectAnalysis:
    """What each step may read and write, derived from its content alone.

    Defs and agents' tools and `reply by` contribute their effects on threads and
    resources (never their local variables), closed over calls (recursion included).
    """

    def __init__(self, plan: p.Plan) -> None:
        self.plan = plan
        self.agents = {a.name: a for a in plan.agents}
        self.defs = {d.name: d for d in plan.defs}
        #: The agents used as values anywhere: an ask through a variable may reach any of them.
        self.valued = sorted(_agent_refs(to_data(plan)))
        self.def_effects: dict[str, Effects] = {name: Effects() for name in self.defs}
        changed = True
        while changed:  # least fixed point: defs may call each other
            changed = False
            for name, decl in self.defs.items():
                fx = Effects()
                for step in decl.body:
                    fx.add(self.step(step))
                outer = Effects({r for r in fx.reads if _shared(r)}, {w for w in fx.writes if _shared(w)})
                if outer != self.def_effects[name]:
                    self.def_effects[name] = outer
                    changed = True

    def agent(self, name: str) -> Effects:
        fx = Effects({f"@{name}"}, {f"@{name}"})
        decl = self.agents.get(name)
        if decl is None:
            return fx
        fx.writes |= {"human": {IO}, "executor": {EXEC}, "python": {PYTHON}}.get(decl.agent_kind, set())
        for tool in decl.tools:
            if tool in self.defs:
                fx.add(self.def_effects[tool])
            else:
                fx.writes.add(PYTHON)
        if decl.reply_by is not None and decl.reply_by in self.defs:
            fx.add(self.def_effects[decl.reply_by])
        return fx

    def reached(self, name: str, held: Any) -> Effects:
        """An ask, tell or forget of `name`, or through the agent value `held` (any agent used as a value)."""
        if held is None:
            return self.agent(name)
        fx = self.expr(held)
        for agent in self.valued:
            fx.add(self.agent(agent))
        return fx

    def member(self, name: str) -> Effects:
        """A conversation member: like an ask, but in a fresh thread."""
        fx = self.agent(name)
        fx.reads.discard(f"@{name}")
        fx.writes.discard(f"@{name}")
        return fx

    def expr(self, e: Any) -> Effects:
        fx = Effects()
        for node in _nodes(e):
            if isinstance(node, p.Var):
                fx.reads.add(node.name)
            elif isinstance(node, p.Ask):
                fx.add(self.reached(node.agent, node.agent_expr))
            elif isinstance(node, p.Call):
                if node.callee_kind == "def" and node.callee in self.def_effects:
                    fx.add(self.def_effects[node.callee])
                elif node.callee_kind == "tool":
                    fx.writes.add(PYTHON)
        return fx

    def target(self, t: Any) -> Effects:
        if isinstance(t, p.VarTarget):
            return Effects(set(), {t.name})
        fx = self.expr(t.value)
        if isinstance(t, p.ItemTarget):
            fx.add(self.expr(t.index))
        root = root_name(t.value)
        if root is not None:
            fx.writes.add(root)
        return fx

    def body(self, steps: Iterable[Any]) -> Effects:
        fx = Effects()
        for step in steps:
            fx.add(self.step(step))
        return fx

    def step(self, s: Any) -> Effects:
        fx = Effects()
        if isinstance(s, p.AskStep):
            fx.add(self.expr(s.message))
            fx.add(self.reached(s.agent, s.agent_expr))
            if s.target is not None:
                fx.add(self.target(s.target))
        elif isinstance(s, p.AssignStep):
            fx.add(self.expr(s.value))
            fx.add(self.target(s.target))
        elif isinstance(s, p.TellStep):
            fx.add(self.expr(s.message))
            fx.writes |= self.reached(s.agent, s.agent_expr).writes if s.agent_expr else {f"@{s.agent}"}
        elif isinstance(s, p.ForgetStep):
            fx.writes |= {f"@{a}" for a in s.agents}
            if s.agent_exprs:
                fx.writes |= {f"@{a}" for a in self.valued}
                for held in s.agent_exprs:
                    fx.add(self.expr(held))
        elif isinstance(s, p.PrintStep):
            fx.add(self.expr(s.value))
            fx.writes.add(IO)
        elif isinstance(s, p.OutputStep):
            fx.add(self.expr(s.value))
            fx.writes.add(OUTPUT)
        elif isinstance(s, p.ReturnStep | p.CallStep):
            fx.add(self.expr(s.value if isinstance(s, p.ReturnStep) else s.expr))
        elif isinstance(s, p.ChatStep | p.GroupStep):
            for member in s.members:
                if member in s.held:  # an `agent` variable: any agent used as a value
                    fx.reads.add(member)
                    for agent in self.valued:
                        fx.add(self.member(agent))
                else:
                    fx.add(self.member(member))
            fx.add(self.expr(s.opening))
            fx.add(self.expr(s.until))
            if isinstance(s, p.GroupStep) and s.select == "manual":
                fx.writes.add(IO)
            if s.target is not None:
                fx.add(self.target(s.target))
        elif isinstance(s, p.IfStep):
            for branch in s.branches:
                fx.add(self.expr(branch.test))
                fx.add(self.body(branch.body))
            fx.add(self.body(s.orelse))
        elif isinstance(s, p.ForStep):
            fx.add(self.expr(s.iterable))
            fx.writes |= set(s.variables)
            fx.add(self.body(s.body))
        elif isinstance(s, p.RepeatStep):
            fx.add(self.expr(s.count))
            fx.add(self.body(s.body))
        elif isinstance(s, p.WhileStep):
            fx.add(self.expr(s.test))
            fx.add(self.expr(s.limit))
            fx.add(self.body(s.body))
        elif isinstance(s, p.ParallelStep):
            fx.add(self.body(s.branches))
        elif isinstance(s, p.ParallelForStep):  # the loop variable is the iteration's own
            fx.add(self.expr(s.iterable))
            fx.add(self.expr(s.limit))
            inner = self.body(s.body)
            fx.add(Effects(inner.reads - {s.variable}, inner.writes - {s.variable}))
        elif isinstance(s, p.ConcurrentStep):
            fx.add(self.body(s.steps))
        return fx


def _shared(name: str) -> bool:
    return name.startswith("@") or name in RESOURCES


def _nodes(value: Any) -> Iterator[Any]:
    """Every plan record inside an expression (or condition), the value itself included."""
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, tuple):
            pending.extend(current)
        elif attrs.has(type(current)):
            yield current
            pending.extend(getattr(current, f.name) for f in attrs.fields(type(current)))


# --- random valid scripts (a Hypothesis strategy) -------------------------------------------

from hypothesis import strategies as st  # noqa: E402  (only the strategy needs Hypothesis)

LLM_AGENTS = ("ann", "bob", "cy", "dee")
HUMAN = "hu"
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf")
KEYS = ("k", "m")


class ScriptBuilder:
    """Builds one random, valid script from Hypothesis draws.

    Every variable is assigned before it is read on every path: names first
    assigned inside an `if` are not used after it; loops always run at least
    once. A variable keeps one kind of value (`text`, `int`, `bool`, `list` of
    text, `dict` of text), so every expression also runs without error.
    """

    def __init__(self, draw: Any, agents: tuple[str, ...], prefix: str = "v") -> None:
        self.draw = draw
        self.agents = agents
        self.pool: dict[str, str] = {}
        self.count = 0
        self.prefix = prefix
        self.defs: list[str] = []  # defs taking one text and returning text
        self.calls = True  # whether expressions may call the defs
        self.with_tools: set[str] = set()  # agents whose tools may use other agents

    # helpers
    def fresh(self) -> str:
        self.count += 1
        return f"{self.prefix}{self.count}"

    def pick(self, options: Sequence[Any]) -> Any:
        return self.draw(st.sampled_from(list(options)))

    def of(self, kind: str) -> list[str]:
        return sorted(v for v, k in self.pool.items() if k == kind)

    def words(self, low: int = 1, high: int = 3) -> str:
        return " ".join(self.draw(st.lists(st.sampled_from(WORDS), min_size=low, max_size=high)))

    def interpolated(self) -> str:
        """Words with an interpolation of some variable, when there is one."""
        text = self.words()
        if self.pool and self.draw(st.booleans()):
            text += " {" + self.pick(sorted(self.pool)) + "} " + self.words(1, 1)
        return text

    # expressions of a kind
    def expr(self, kind: str, depth: int = 2) -> str:
        names = self.of(kind)
        leaves: list[str] = {
            "text": [f'"{self.pick(WORDS)}"'], "int": [str(self.draw(st.integers(0, 5)))],
            "bool": ["true", "false"], "list": [], "dict": [],
        }[kind] + names
        if depth <= 0 and leaves:
            return self.pick(leaves)
        sub = depth - 1
        forms: list[Callable[[], str]] = [lambda: self.pick(leaves)] if leaves else []
        if kind == "text":
            forms += [
                lambda: f'{self.expr("text", sub)} + " " + {self.expr("text", sub)}',
                lambda: f"upper({self.expr('text', sub)})",
                lambda: '"' + self.interpolated() + '"',
                lambda: f"str({self.expr('int', sub)})",
                lambda: f'join({self.expr("list", sub)}, "-")',
                lambda: f"{self.expr('list', sub)}[0]",
                lambda: f'{self.expr("text", sub)} if {self.expr("bool", sub)} else {self.expr("text", sub)}',
            ]
            if self.of("dict"):
                forms.append(lambda: f'{self.pick(self.of("dict"))}["{self.pick(KEYS)}"]')
            if self.defs and self.calls:
                forms.append(lambda: f"{self.pick(self.defs)}({self.expr('text', sub)})")
        elif kind == "int":
            forms += [
                lambda: f"len({self.expr('text', sub)})",
                lambda: f"len({self.expr('list', sub)})",
                lambda: f"{self.expr('int', sub)} + {self.expr('int', sub)}",
                lambda: f"{self.expr('int', sub)} * 2",
            ]
        elif kind == "bool":
            forms += [
                lambda: f'{self.expr("text", sub)} == "{self.pick(WORDS)}"',
                lambda: f'{self.expr("text", sub)} != "{self.pick(WORDS)}"',
                lambda: f"{self.expr('int', sub)} > 2",
                lambda: f"not {self.expr('bool', sub)}",
                lambda: f"{self.expr('bool', sub)} and {self.expr('bool', sub)}",
                lambda: f'contains({self.expr("text", sub)}, "a")',
            ]
        elif kind == "list":
            forms += [
                lambda: f"[{self.expr('text', sub)}, {self.expr('text', sub)}]",
                lambda: f"{self.expr('list', sub)} + [{self.expr('text', sub)}]",
            ]
        else:
            forms += [lambda: "{" + ", ".join(f'"{k}": {self.expr("text", sub)}' for k in KEYS) + "}"]
        text = self.draw(st.sampled_from(forms))()
        return text if text in leaves else f"({text})"

    def target(self, kind: str) -> str:
        """A new variable, or (sometimes) an existing one of the same kind."""
        existing = self.of(kind)
        if existing and self.draw(st.integers(0, 2)) == 0:
            return self.pick(existing)
        return self.fresh()

    # statements: each returns its lines (without indentation) and records what it binds
    def simple(self, agents: Sequence[str] | None = None) -> list[str]:
        agents = list(agents or self.agents)
        choice = self.pick(["ask", "ask", "bare", "yesno", "assign", "assign", "item", "tell", "forget", "print",
                            "call", "chat", "group"])
        if choice == "item" and not (self.of("list") or self.of("dict")):
            choice = "assign"
        if choice == "call" and not (self.defs and self.calls):
            choice = "bare"
        if choice == "call":
            return [f"{self.pick(self.defs)}({self.expr('text', 1)})"]
        if choice in ("chat", "group"):
            size = 2 if choice == "chat" else self.draw(st.integers(3, len(agents))) if len(agents) >= 3 else 0
            if size < 2:
                return self.simple(agents)
            members = self.draw(st.permutations(agents))[:size]
            lines = [f"{choice} {', '.join(members)}:", f'    "{self.interpolated()}"']
            if choice == "group":
                lines.append("    select " + self.pick(["round_robin", "auto", "manual", "random(seed=3)"]))
            until = f"{self.draw(st.integers(1, 4))} turns"
            if self.draw(st.booleans()):
                until = f'{self.pick(members)} says "DONE" or {until}'
            lines.append(f"    until {until}")
            if self.draw(st.booleans()):
                name = self.target("text")
                lines[0] = f"{name} = {lines[0]}"
                self.pool[name] = "text"
            return lines
        if choice == "ask":
            name = self.target("text")
            line = f"{name} = @{self.pick(agents)} {self.interpolated()}"
            self.pool[name] = "text"
            return [line]
        if choice == "bare":
            return [f"@{self.pick(agents)} {self.interpolated()}"]
        if choice == "yesno":
            name = self.target("bool")
            line = f'{name} = @{self.pick(agents)}? "Is it {self.interpolated()}?"'
            self.pool[name] = "bool"
            return [line]
        if choice == "assign":
            kind = self.pick(["text", "text", "int", "bool", "list", "dict"])
            value = self.expr(kind)
            name = self.target(kind)
            self.pool[name] = kind
            return [f"{name} = {value}"]
        if choice == "item":
            container = self.pick(self.of("list") + self.of("dict"))
            index = "0" if self.pool[container] == "list" else f'"{self.pick(KEYS)}"'
            return [f"{container}[{index}] = {self.expr('text', 1)}"]
        if choice == "tell":
            return [f'tell {self.pick(agents)} "{self.interpolated()}"']
        if choice == "forget":
            return [f"forget {self.pick(agents)}"]
        if not self.pool:
            return [f'print "{self.words()}"']
        shown = self.draw(st.lists(st.sampled_from(sorted(self.pool)), min_size=1, max_size=2))
        return ['print "' + " ".join("{" + v + "}" for v in shown) + '"']

    def body(self, depth: int, low: int = 1, high: int = 3) -> list[str]:
        lines: list[str] = []
        for _ in range(self.draw(st.integers(low, high))):
            lines += self.statement(depth)
        return ["    " + line for line in lines]

    def statement(self, depth: int = 0) -> list[str]:
        kinds = ["simple"] * 6 + (["if", "repeat", "parallel", "for", "while"] if depth < 2 else [])
        kind = self.pick(kinds)
        if kind == "simple":
            return self.simple()
        if kind == "if":
            test = self.pick([
                lambda: self.expr("bool", 1),
                lambda: f'@{self.pick(self.agents)}? "{self.interpolated()}?"',
                lambda: f'{self.expr("text", 0)} == "{self.pick(WORDS)}"',
            ])()
            saved = dict(self.pool)
            lines = [f"if {test}:", *self.body(depth + 1)]
            self.pool = dict(saved)
            if self.draw(st.booleans()):
                lines += [f"elif {self.expr('bool', 1)}:", *self.body(depth + 1)]
                self.pool = dict(saved)
            if self.draw(st.booleans()):
                lines += ["else:", *self.body(depth + 1)]
                self.pool = dict(saved)
            return lines
        if kind == "repeat":
            return [f"repeat {self.draw(st.integers(1, 2))}:", *self.body(depth + 1)]
        if kind == "for" and self.of("dict") and self.draw(st.booleans()):
            key, value = self.fresh(), self.fresh()
            iterable = self.pick(self.of("dict"))
            self.pool[key] = self.pool[value] = "text"
            return [f"for {key}, {value} in {iterable}:", *self.body(depth + 1)]
        if kind == "for":
            if not self.of("list"):
                return self.simple()
            variable = self.fresh()
            iterable = self.pick(self.of("list"))
            self.pool[variable] = "text"
            return [f"for {variable} in {iterable}:", *self.body(depth + 1)]
        if kind == "while":
            counter = self.fresh()
            self.pool[counter] = "int"
            head = [f"{counter} = 0", f"while {counter} < {self.draw(st.integers(1, 3))} max 3:"]
            body = self.body(depth + 1, 1, 2)
            self.pool[counter] = "int"  # the body may not change its kind, and adds one below
            return head + body + [f"    {counter} = {counter} + 1"]
        return self.parallel()

    def parallel(self) -> list[str]:
        """`parallel:` whose branches use distinct agents, write fresh names and read only older ones."""
        candidates = [a for a in self.agents if a not in self.with_tools]
        count = self.draw(st.integers(2, min(3, len(candidates))))
        agents = self.draw(st.permutations(candidates))[:count]
        before = dict(self.pool)
        lines, bound = ["parallel:"], {}
        calls, self.calls = self.calls, False  # a def may use another branch's agent
        for agent in agents:
            self.pool = dict(before)
            kind = self.pick(["ask", "ask", "yesno", "tell", "assign", "repeat"])
            name = self.fresh()
            if kind == "ask":
                lines.append(f"    {name} = @{agent} {self.interpolated()}")
                bound[name] = "text"
            elif kind == "yesno":
                lines.append(f'    {name} = @{agent}? "{self.interpolated()}?"')
                bound[name] = "bool"
            elif kind == "tell":
                lines.append(f'    tell {agent} "{self.interpolated()}"')
            elif kind == "assign":
                value_kind = self.pick(["text", "int", "list"])
                lines.append(f"    {name} = {self.expr(value_kind, 1)}")
                bound[name] = value_kind
            else:
                lines += ["    repeat 2:", f"        {name} = @{agent} {self.interpolated()}"]
                bound[name] = "text"
        self.pool = {**before, **bound}
        self.calls = calls
        return lines

    def define(self, agents: tuple[str, ...]) -> list[str]:
        """`def dN(q):` asking `agents` (never script variables); callable from then on. Untyped: the body may
        rebind `q` to a chat, and declared types are enforced at run time."""
        name = f"d{len(self.defs) + 1}"
        inner = ScriptBuilder(self.draw, agents, prefix=f"{name}_")
        inner.pool = {"q": "text"}
        inner.defs = list(self.defs)
        lines = [f"def {name}(q):"]
        lines += inner.body(1, 1, 3)
        lines.append(f"    return {inner.expr('text', 1)}")
        self.defs.append(name)
        return lines + [""]


def agent_header(agents: Sequence[str], human: bool, tools: dict[str, Sequence[str]] | None = None) -> list[str]:
    lines: list[str] = []
    for agent in agents:
        lines += [f"agent {agent}:", f'    "You are {agent}, and you answer briefly."']
        if tools and tools.get(agent):
            lines.append(f"    tools: {', '.join(tools[agent])}")
        lines.append("")
    if human:
        lines += [f"agent {HUMAN} is human", ""]
    return lines


@st.composite
def scripts(draw: Any, min_statements: int = 3, max_statements: int = 15) -> str:
    """A random valid script: 3–4 agents (maybe a human too), maybe defs (which the 4th agent
    may have as tools: no def asks it, so there is no cycle), then straight-line-ish statements."""
    agents = LLM_AGENTS[: draw(st.integers(3, 4))]
    human = draw(st.booleans())
    everyone = agents + ((HUMAN,) if human else ())
    builder = ScriptBuilder(draw, everyone)
    definitions: list[str] = []
    for _ in range(draw(st.integers(0, 2))):
        definitions += builder.define(tuple(a for a in everyone if a != LLM_AGENTS[3]))
    tools = {}
    if len(agents) == 4 and builder.defs and draw(st.booleans()):
        tools[LLM_AGENTS[3]] = draw(st.lists(st.sampled_from(builder.defs), min_size=1, unique=True))
    builder.with_tools = set(tools)
    lines = agent_header(agents, human, tools) + definitions
    for _ in range(draw(st.integers(min_statements, max_statements))):
        lines += builder.statement()
    return "\n".join(lines) + "\n"
