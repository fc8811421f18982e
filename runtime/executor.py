"""The plan executor: an async interpreter over plan steps.

It holds the run's variables and the script's thread with each agent, runs
the steps the compiler grouped as independent (and `parallel:` branches) as
concurrent tasks, and reports everything as events. Every failure names the
step it happened in.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from typing import Any

import attrs
from parley.compiler import plan as p
from parley.compiler.plan import assert_never, json_schema
from parley.compiler.types import type_source
from parley.dsl.errors import FailureKind, HostError, RunError, UsageError
from parley.runtime import schemas
from parley.runtime.agent_values import has_agents, reached
from parley.runtime.agents import (
    Agent,
    DefAgent,
    ExecutorAgent,
    HumanAgent,
    HumanInput,
    LLMAgent,
    PythonAgent,
    call_python,
    is_person,
    kind_of,
)
from parley.runtime.bounds import value_problem
from parley.runtime.budget import Budget, checked_limit, usage_data
from parley.runtime.builtins import BUILTINS
from parley.runtime.clients import Clients
from parley.runtime.context import StepContext
from parley.runtime.conversations import converse
from parley.runtime.evaluate import Frame, copied, evaluate, plain, show, text, truthy
from parley.runtime.events import Event, EventKind, EventSink, make_event
from parley.runtime.handoffs import Transfers
from parley.runtime.inputs import read_input
from parley.runtime.journal import Journal
from parley.runtime.mcp import McpTools
from parley.runtime.models import Message, ModelClient, ModelError, ModelReply, ModelRequest, model_error
from parley.runtime.modules import python_function
from parley.runtime.parallel_for import run_parallel_for
from parley.runtime.pricing import require_prices
from parley.runtime.replies import origin, parse_yes_no, records, response_format, resumed_try, validated
from parley.runtime.requests import ModelCalls
from parley.runtime.results import Result
from parley.runtime.sizes import place
from parley.runtime.store import StoreError
from parley.runtime.tools import ToolBox
from parley.runtime.values import Reply, Thread, jsonable

TYPED_RETRIES = 2
YES_NO = ("yes", "no")

class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def _no_human(agent: str, prompt: str) -> str:
    raise RunError(FailureKind.INPUT, f"`{agent}` is a person, and this run has no way to ask one "
                              "(run it in a terminal, or give the run a `human` callback)")


class Executor:
    """Runs one plan once."""

    def __init__(
        self,
        plan: p.Plan,
        *,
        model: ModelClient | None = None,
        model_id: str | None = None,
        human: HumanInput | None = None,
        tools: dict[str, Callable[..., Any]] | None = None,
        on_event: EventSink | None = None,
        budget: Budget | None = None,
        seed: int | None = None,
        allow_code: bool = False,
        stream: Callable[[str, str], None] | None = None,
        limits: dict[str, float] | None = None,
        store: Any = None,
        cache: str = "auto",
        journal: Journal | None = None,
        offline: bool = False,
        run_id: str | None = None,
        module_folder: str | None = None,
        request_options: dict[str, Any] | None = None,
    ) -> None:
        self.run_id = run_id
        self.module_folder = module_folder  # what the plan's module_path is relative to (None: its script's folder)
        self.journal = journal or Journal()  # every outside effect, recorded (and served on resume/replay)
        self.journal.notify = lambda step, text: self.emit("notice", step, text=text)
        self.run_store = store  # where cached replies live (a runtime.store.Store), if anywhere
        self.cache_mode = cache
        self.plan = plan
        self.allow_code = allow_code
        self.stream = stream
        self.human: HumanInput = human or _no_human
        self.tool_functions = dict(tools or {})
        self.host_tools = frozenset(self.tool_functions)  # the host's own code: its failures are HostErrors
        self.on_event = on_event
        self.events: list[Event] = []
        self.budget = budget or _budget(plan, limits or {})
        self.seed = seed
        self.threads: dict[str, list[Message]] = {}
        self.printed: list[str] = []
        self.outputs: list[Any] = []
        self.inputs: dict[str, Any] = {}
        self.clients = Clients(plan, model, model_id, offline=offline,
                               notify=lambda text: self.emit("notice", None, text=text), options=request_options)
        self.model_calls = ModelCalls(plan, self.budget, self.journal, self.emit, self.clients, stream=stream,
                                      store=store, cache=cache)
        self.tools = ToolBox(plan, self.call, self.emit, McpTools(self.journal, self.emit, module_folder))
        self._agents: dict[str, Agent] = {}
        self.root = StepContext.root()  # the run's top level, before and around its first step
        self._system: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # --- the run -----------------------------------------------------------------

    async def run(self, inputs: dict[str, Any] | None = None) -> Result:
        if self.plan.code_agents():  # before any input is asked or model called
            from parley.runtime.sandbox import refuse_code  # the sandbox is loaded only for a script that runs code

            refuse_code(self.plan, self.allow_code)
        self.inputs = await self._inputs(inputs or {})
        frame = Frame(dict(self.inputs), self.root)
        self.emit("run_start", None, file=self.plan.file, run=self.run_id)
        try:
            self.clients.prepare()  # the model servers' clients, before the first step needs one
            require_prices(self.plan, self.clients, self.budget)  # a cost budget needs every model's price
            await self.block(self.plan.body, frame)
        except _Return:  # pragma: no cover - the compiler refuses `return` outside defs
            pass
        except RunError as failure:
            self.emit("error", None, reason=failure.kind.label, message=str(failure))
            raise
        finally:
            self.emit("run_end", None, usage=usage_data(self.usage()))  # JSON: the cost as exact text
            await self.clients.close()
            await self.tools.close()  # the MCP servers this run started
        return self.partial_result()

    async def _inputs(self, given: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        known = {i.name for i in self.plan.inputs}
        unknown = set(given) - known
        if unknown:
            raise RunError(FailureKind.INPUT, f"unknown input {min(unknown)!r}; the script's inputs are: "
                                      f"{', '.join(sorted(known)) or 'none'}")
        for decl in self.plan.inputs:
            if decl.name in given:
                values[decl.name] = read_input(decl, given[decl.name], self.plan)
            elif decl.default is not None:
                values[decl.name] = await evaluate(decl.default, Frame({}, self.root), self)
            else:
                raise RunError(FailureKind.INPUT, f"input `{decl.name}` has no value: give it as {decl.name}=…",
                                 decl.span)
        return values

    def partial_result(self) -> Result:
        """What the run did until now (for a run that stopped early)."""
        return Result(
            output=self.outputs[-1] if self.outputs else None, outputs=self.outputs, printed=self.printed,
            threads={a: [{"role": m.role, "content": m.content} for m in t] for a, t in self.threads.items()},
            events=self.events, usage=self.usage(), run_id=self.run_id,
        )

    def usage(self) -> dict[str, Any]:
        """What the run used; on resume or replay, also how many calls came from the journal."""
        usage = self.budget.summary()
        if self.journal.served:
            usage["journaled"] = self.journal.served
        return usage

    # --- events ---------------------------------------------------------------------

    def emit(self, kind: EventKind, step: Any, **data: Any) -> None:
        event = make_event(kind, step, **data)
        self.events.append(event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except StoreError:
                raise  # the run store failed as the event was recorded: not the host's doing
            except Exception as error:  # the host's callback: its bug, reported as such
                raise HostError("the on_event callback", error, getattr(step, "span", None)) from error

    # --- steps ----------------------------------------------------------------------

    async def block(self, steps: tuple[Any, ...], frame: Frame) -> None:
        for step in steps:
            await self.step(step, frame)

    async def step(self, step: p.Step, frame: Frame) -> None:
        """Run one step in its own context, made from the caller's."""
        await self._run(step, frame.at(frame.context.entering(step)))

    async def _run(self, step: p.Step, frame: Frame) -> None:
        """Run a step whose context is made (`frame.context`), naming it in any failure of the script's."""
        try:
            await self._dispatch(step, frame)
        except RunError as failure:
            raise failure.located(step.span)  # the same error: its `__cause__` (a tool's exception) kept
        except ModelError as error:
            raise model_error(error).located(step.span)

    async def _dispatch(self, step: p.Step, frame: Frame) -> None:
        match step:
            case p.AskStep():
                await self._ask(step, frame)
            case p.AssignStep():
                await self._assign(step, frame)
            case p.TellStep():
                await self._tell(step, frame)
            case p.ForgetStep():
                await self._forget(step, frame)
            case p.ChatStep() | p.GroupStep():
                await self._chat(step, frame)
            case p.IfStep():
                await self._if(step, frame)
            case p.ForStep():
                await self._for(step, frame)
            case p.RepeatStep():
                await self._repeat(step, frame)
            case p.WhileStep():
                await self._while(step, frame)
            case p.ParallelStep():
                await self._beside(step.branches, frame)
            case p.ParallelForStep():
                await run_parallel_for(self, step, frame)
            case p.ConcurrentStep():
                await self._beside(step.steps, frame)
            case p.CallStep():
                await evaluate(step.expr, frame, self)
            case p.PrintStep():
                await self._print(step, frame)
            case p.OutputStep():
                await self._output(step, frame)
            case p.ReturnStep():
                raise _Return(await evaluate(step.value, frame, self) if step.value is not None else None)
            case p.BreakStep():
                raise _Break()
            case p.ContinueStep():
                raise _Continue()
            case _:
                assert_never(step)

    async def _beside(self, steps: tuple[p.Step, ...], frame: Frame) -> None:
        """Steps (or `parallel:` branches) at once; replies arriving together are shown whole, not streamed."""
        beside = frame.context.beside_others()
        entered = [(s, frame.at(beside.entering(s))) for s in steps]  # journal keys in plan order
        await _gather([self._run(s, inner) for s, inner in entered])

    async def _assign(self, step: p.AssignStep, frame: Frame) -> None:
        value = copied(await evaluate(step.value, frame, self))
        if step.type is not None and isinstance(step.target, p.VarTarget):
            self.check_type(value, step.type, f"`{step.target.name}`")
        await self.store(step.target, value, frame)

    def check_type(self, value: Any, type_ref: p.TypeRef, what: str) -> None:
        """A declared type (`x: T = …`, a def's parameters and result) holds for the value, or the run stops."""
        schema = json_schema(type_ref, {r.name: r for r in self.plan.types})
        try:
            schemas.validate(jsonable(value), schema)
        except schemas.ValidationError as error:
            shown = show(value) if not isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            inside = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            detail = f" ({inside.lstrip('.')}: {error.message[:120]})" if inside else ""
            raise RunError(FailureKind.VALUE, f"{what} is declared `{type_source(type_ref)}`, and got "
                                      f"{shown[:80]}{detail}") from None
        if not has_agents(value, type_ref, {r.name: r for r in self.plan.types}):
            shown = json.dumps(str(value), ensure_ascii=False) if isinstance(value, str) else show(value)
            raise RunError(FailureKind.VALUE, f"{what} is declared `{type_source(type_ref)}`, and got {shown[:80]}, "
                                              "which is not an agent")

    async def _ask(self, step: p.AskStep, frame: Frame) -> None:
        agent = await reached(step.agent, step.agent_expr, frame, self)
        message = await text(step.message, frame, self)
        value = await self.ask(agent, message, step.type, False, frame.context)
        if step.target is not None:
            await self.store(step.target, value, frame)

    async def _tell(self, step: p.TellStep, frame: Frame) -> None:
        agent = await reached(step.agent, step.agent_expr, frame, self)
        message = show(await evaluate(step.message, frame, self))
        self.threads_at(frame.context).setdefault(agent, []).append(Message(role="user", content=message))

    async def _forget(self, step: p.ForgetStep, frame: Frame) -> None:
        held = [await reached("", expr, frame, self) for expr in step.agent_exprs]
        for agent in (*step.agents, *held):
            self.threads_at(frame.context).pop(agent, None)

    async def _chat(self, step: p.ChatStep, frame: Frame) -> None:
        thread = await converse(step, frame, self)
        if step.target is not None:
            await self.store(step.target, thread, frame)

    _group = _chat

    async def _if(self, step: p.IfStep, frame: Frame) -> None:
        for branch in step.branches:
            if truthy(await evaluate(branch.test, frame, self)):
                await self.block(branch.body, frame)
                return
        await self.block(step.orelse, frame)

    async def _for(self, step: p.ForStep, frame: Frame) -> None:
        items = await evaluate(step.iterable, frame, self)
        if isinstance(items, dict):
            items = list(items.items()) if len(step.variables) == 2 else list(items)
        for item in _items(items):
            values = list(item) if len(step.variables) > 1 and isinstance(item, list | tuple) else [item]
            if len(values) != len(step.variables):
                raise RunError(FailureKind.VALUE, f"cannot unpack {show(item)} into {', '.join(step.variables)}")
            for name, value in zip(step.variables, values):
                frame.variables[name] = copied(value)
            if not await self._iteration(step, frame):
                return

    async def _repeat(self, step: p.RepeatStep, frame: Frame) -> None:
        count = await evaluate(step.count, frame, self)
        for _ in range(_count(count, "repeat")):
            if not await self._iteration(step, frame):
                return

    async def _while(self, step: p.WhileStep, frame: Frame) -> None:
        limit = _count(await evaluate(step.limit, frame, self), "max")
        for _ in range(limit):
            if not truthy(await evaluate(step.test, frame, self)):
                return
            if not await self._iteration(step, frame):
                return

    async def _iteration(self, step: p.ForStep | p.RepeatStep | p.WhileStep, frame: Frame) -> bool:
        self.budget.check_time()  # a loop that makes no request still stops when the time is up
        await _breathe()  # and takes Ctrl-C
        try:
            await self.block(step.body, frame)
        except _Break:
            return False
        except _Continue:
            pass
        return True

    async def _print(self, step: p.PrintStep, frame: Frame) -> None:
        line = show(await evaluate(step.value, frame, self))
        self.printed.append(line)
        self.emit("print", step, text=line)

    async def _output(self, step: p.OutputStep, frame: Frame) -> None:
        value = await evaluate(step.value, frame, self)
        self.outputs.append(value)
        self.emit("output", step, value=jsonable(value))

    async def store(self, target: p.Target, value: Any, frame: Frame) -> None:
        match target:
            case p.VarTarget():
                frame.variables[target.name] = value
            case p.ItemTarget():
                container = await evaluate(target.value, frame, self)
                index = await evaluate(target.index, frame, self)
                if isinstance(container, list) and isinstance(index, int) and not isinstance(index, bool):
                    if not -len(container) <= index < len(container):
                        raise RunError(FailureKind.VALUE, f"index {index} is out of range (the list has "
                                                          f"{len(container)} item{'' if len(container) == 1 else 's'})")
                elif not isinstance(container, dict) or not isinstance(index, str):
                    raise RunError(FailureKind.VALUE, f"cannot set an item of {show(container)[:60]} by "
                                                      f"{show(index)[:40]}: only lists (by int) and dicts (by str)")
                place(frame, target, container, index, value)  # within the limits, or left as it was
            case p.AttrTarget():
                record = await evaluate(target.value, frame, self)
                if not isinstance(record, dict):
                    raise RunError(FailureKind.VALUE, f"cannot set the field `{target.name}` of "
                                                      f"{show(record)[:60]}: it is not a record")
                place(frame, target, record, target.name, value)
            case _:
                assert_never(target)

    # --- asks -----------------------------------------------------------------------

    async def ask_expr(self, expr: p.Ask, frame: Frame) -> Any:
        agent = await reached(expr.agent, expr.agent_expr, frame, self)
        message = await text(expr.message, frame, self)
        return await self.ask(agent, message, expr.type, expr.yes_no, frame.context)

    def threads_at(self, at: StepContext) -> dict[str, list[Message]]:
        """The threads with the agents seen from `at`: the run's, or a `parallel for` iteration's own."""
        return at.threads if at.threads is not None else self.threads

    async def ask(self, agent_name: str, message: str, type_ref: p.TypeRef | None, yes_no: bool,
                  at: StepContext) -> Any:
        """One message in the script's thread with the agent; the reply (typed or yes/no) is the value."""
        step = at.step
        agent = self.plan.agent(agent_name)
        threads = self.threads_at(at)
        lock = self._locks.setdefault(agent_name if threads is self.threads else f"{id(threads)}:{agent_name}",
                                      asyncio.Lock())
        async with lock:  # one thread, one conversation at a time
            thread = threads.setdefault(agent_name, [])
            instructions = ""
            schema = None
            person = is_person(agent)
            if yes_no and person:
                pass  # a person reads the question as asked
            elif yes_no:
                instructions = "\n\nAnswer with yes or no."
            if type_ref is not None:
                schema = json_schema(type_ref, {r.name: r for r in self.plan.types})
                if not person:
                    instructions = f"\n\nReply with JSON only, matching this JSON Schema:\n{json.dumps(schema)}"
            thread.append(Message(role="user", content=message + instructions))
            fresh = 0  # the tries this run made: on resume, replies served from the journal do not count
            for attempt in itertools.count():
                structured = response_format(schema) if schema is not None else None
                served = self.journal.served
                said, reply = await self.reply(agent, thread, at, structured, YES_NO if yes_no else ())
                fresh += 0 if resumed_try(reply, self.journal, served) else 1
                thread.append(Message(role="assistant", content=said))
                tokens = reply.usage.total_tokens if reply is not None else 0
                self.emit("turn", at, agent=agent_name, text=said, tokens=tokens, **origin(reply))
                if yes_no:
                    answer = parse_yes_no(said)
                    if answer is not None:
                        return answer
                    problem = "Answer with the single word yes or no."
                elif schema is not None:
                    value, invalid = validated(said, schema)
                    if invalid is None:
                        return records(value)
                    problem = invalid
                else:
                    return Reply(said, agent_name, tokens, reply.cost if reply is not None else 0.0)
                if fresh > TYPED_RETRIES:
                    raise RunError(FailureKind.REPLY, f"`{agent_name}` did not give a valid reply after "
                                              f"{attempt + 1} tries: {problem}")
                self.emit("retry", at, agent=agent_name, problem=problem)
                thread.append(Message(role="user", content=f"That reply is not valid: {problem} Try again."))
        raise AssertionError("unreachable")  # pragma: no cover

    # --- turns ----------------------------------------------------------------------

    async def reply(self, decl: p.AgentDecl, messages: list[Message], at: StepContext,
                    response_format: dict[str, Any] | None = None,
                    choices: tuple[str, ...] = (),
                    transfers: Transfers | None = None) -> tuple[str, ModelReply | None]:
        """One turn of an agent: its next message given the conversation so far (as it sees it).
        A turn budget stops the run before one more turn. `transfers`: a `select handoff` turn's."""
        self.budget.reserve_turn()  # taken before the turn, so turns running at once cannot pass the budget
        agent = self.agent(decl.name)
        if transfers is not None and isinstance(agent, LLMAgent):
            return await agent.reply(messages, at, response_format, choices, transfers)
        return await agent.reply(messages, at, response_format, choices)

    def agent(self, name: str) -> Agent:
        """The agent declared as `name`, made on first use."""
        if name not in self._agents:
            decl = self.plan.agent(name)
            agent: Agent
            match kind_of(decl):
                case "def":
                    agent = DefAgent(decl, self.call)
                case "llm":
                    agent = LLMAgent(decl, self.clients, self.model_calls, self.system_message, self.tools)
                case "human":
                    agent = HumanAgent(decl, self.human, self.journal, self.emit)
                case "executor":
                    agent = ExecutorAgent(decl, self.allow_code, self.journal, self.emit)
                case "python":
                    module, _, function = (decl.target or ":").partition(":")
                    agent = PythonAgent(decl, python_function(self.plan, module, function, self.module_folder),
                                        self.journal, tuple(a.name for a in self.plan.agents))
                case other:
                    raise AssertionError(f"no agent kind {other!r}")
            self._agents[name] = agent
        return self._agents[name]

    async def request(self, client: ModelClient, request: ModelRequest, agent: p.AgentDecl | None,
                      at: StepContext, stream: bool = False) -> ModelReply:
        """One model request (journaled, cached where wanted, charged to the budget): see runtime/requests.py."""
        return await self.model_calls.request(client, request, agent, at, stream)

    async def summarize(self, thread: Thread, at: StepContext) -> str:
        """A thread's `.summary`: written by the first member's model on first use, then kept."""
        if thread.summary_text is None:
            agent = self.plan.agent(thread.members[0])
            client, model_id, _ = self.clients.for_agent(agent)
            history = "\n".join(f"{s.speaker}: {s.text}" for s in thread.messages)
            prompt = f"Summarize this conversation in a few sentences, keeping its conclusions:\n{history}"
            reply = await self.request(
                client, ModelRequest(model=model_id, messages=(Message(role="user", content=prompt),), temperature=0),
                None, at,
            )
            thread.summary_text = reply.text
        return thread.summary_text

    async def judge(self, condition: str, thread: Thread, at: StepContext) -> bool:
        """A prose `until` condition, judged yes/no by the first member's model."""
        agent = self.plan.agent(thread.members[0])
        client, model_id, _ = self.clients.for_agent(agent)
        history = "\n".join(f"{s.speaker}: {s.text}" for s in thread.messages[-12:])
        prompt = (f"Here is a conversation:\n{history}\n\nIs this true of it now: {condition}\n"
                  "Answer with yes or no.")
        reply = await self.request(client, ModelRequest(model=model_id, messages=(Message(role="user", content=prompt),),
                                                        temperature=0, choices=YES_NO), None, at)
        return bool(parse_yes_no(reply.text))

    async def system_message(self, agent: p.AgentDecl) -> str:
        if agent.name not in self._system:
            frame = Frame(dict(self.inputs), self.root)
            self._system[agent.name] = await text(agent.system, frame, self) if agent.system else ""
        return self._system[agent.name]

    # --- calls ----------------------------------------------------------------------

    async def call(self, callee: str, kind: str, args: list[Any], keywords: dict[str, Any], at: StepContext) -> Any:
        """A call of a built-in, a Python tool or a def, made from the step of `at`."""
        if kind == "builtin" and callee == "now":
            return await self.journal.effect("clock", [], _clock, at)  # a resumed run sees the same time
        if kind == "builtin":
            args = [plain(a) if isinstance(a, Thread) else a for a in args]  # a thread reads as its last message
            try:
                return BUILTINS[callee](*args, **keywords)
            except RunError:
                raise
            except Exception as error:  # noqa: BLE001 - a built-in's failure is the script's value error
                raise RunError(FailureKind.VALUE, f"{callee}(): {error}") from None
        if kind == "tool":
            return await self._tool(callee, args, keywords, at)
        decl = next(d for d in self.plan.defs if d.name == callee)
        frame = Frame(dict(self.inputs), at.calling(callee))
        for index, param in enumerate(decl.params):
            if index < len(args):
                frame.variables[param.name] = copied(args[index])
            elif param.name in keywords:
                frame.variables[param.name] = copied(keywords[param.name])
            elif param.default is not None:
                frame.variables[param.name] = await evaluate(param.default, frame, self)
            if param.type is not None and param.name in frame.variables:
                self.check_type(frame.variables[param.name], param.type, f"`{callee}()`'s parameter `{param.name}`")
        result = None
        try:
            await self.block(decl.body, frame)
        except _Return as returned:
            result = returned.value
        if decl.returns is not None:
            self.check_type(result, decl.returns, f"what `{callee}()` returns")
        return result

    async def _tool(self, name: str, args: list[Any], keywords: dict[str, Any], at: StepContext) -> Any:
        """A Python tool call, journaled: its value, or its failure, as the record of what it did.

        A tool of the script's own Python module that raises fails the step (`FailureKind.PYTHON`);
        one the host passed in (`run(tools=…)`) is the host's code: `HostError`, the exception as cause.
        """
        host = name in self.host_tools
        function = self._python_tool(name)
        raised: list[BaseException] = []

        async def live() -> dict[str, Any]:
            try:
                value = await call_python(function, args, keywords)
                problem = value_problem(value, finite=False)  # a result nested without end is not the tool's error
                if problem is not None:
                    return {"error": f"`{name}` returned {problem}", "kind": "value"}
                return {"value": jsonable(value)}
            except RunError as failure:
                return {"error": failure.message, "kind": failure.kind.label}
            except Exception as error:  # noqa: BLE001 - the tool's own failure, kept as a result
                raised.append(error)
                return {"error": f"`{name}` raised {type(error).__name__}: {error}",
                        "kind": "host" if host else "python"}

        outcome = await self.journal.python("tool", [name, jsonable(args), jsonable(keywords)], live, at, function)
        if "error" not in outcome:
            return records(outcome["value"])
        cause = raised[0] if raised else RuntimeError(outcome["error"])  # a journaled failure: only its message
        if outcome["kind"] == "host":
            raise HostError(f"the host's tool `{name}`", cause, at.span)
        failure = RunError(FailureKind.named(outcome["kind"]), outcome["error"])
        failure.__cause__ = cause
        raise failure

    def _python_tool(self, name: str) -> Callable[..., Any]:
        if name in self.tool_functions:
            return self.tool_functions[name]
        tool = next(t for t in self.plan.tools if t.name == name)
        function = python_function(self.plan, tool.module, tool.function, self.module_folder)
        self.tool_functions[name] = function
        return function  # type: ignore[no-any-return]

    # --- a session ------------------------------------------------------------------

    async def run_steps(self, plan: p.Plan, steps: tuple[Any, ...], frame: Frame) -> None:
        """Run `steps` of `plan` on an existing frame, keeping the threads, budget and clients.

        How a REPL runs each entry: its plan is the whole session recompiled, so it replaces
        the one this executor had; agents declared again get their new system messages.
        """
        if plan is not self.plan:
            self.plan = self.clients.plan = self.model_calls.plan = self.tools.plan = plan
            self._system.clear()
            self._agents.clear()
        await self.block(steps, frame)


async def _clock() -> float:
    return float(BUILTINS["now"]())


async def _gather(tasks: list[Any]) -> None:
    """Run tasks at once; the first failure cancels the rest and is raised."""
    running = [asyncio.ensure_future(t) for t in tasks]
    try:
        await asyncio.gather(*running)
    except BaseException:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        raise


_SPINS = itertools.count()


async def _breathe() -> None:
    """Now and then, let the event loop run: a loop that never waits for a model or a tool still takes
    a cancellation (Ctrl-C) within 64 of its iterations."""
    if next(_SPINS) % 64 == 0:
        await asyncio.sleep(0)


def _items(value: Any) -> list[Any]:
    """What a `for` loop goes over: a list's items, a dict's keys (or pairs), a text's characters."""
    if isinstance(value, list | tuple | dict | str):
        return list(value)
    raise RunError(FailureKind.VALUE, f"a `for` loop goes over a list, a dict or a text, not {show(value)[:60]}")


def _count(value: Any, what: str) -> int:
    """A loop's count or bound: a whole number (a float with no fraction is one)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise RunError(FailureKind.VALUE, f"`{what}` needs a whole number, not {show(value)[:60]}")


def _budget(plan: p.Plan, overrides: dict[str, float]) -> Budget:
    """The script's budgets, tightened by the run's own limits (turns, tokens, cost, seconds)."""
    limits: dict[str, Any] = {}
    for budget in plan.budgets:
        if budget.metric == "cost":
            limits["cost"] = checked_limit("cost", budget.limit)
        elif budget.metric == "time":
            limits["seconds"] = float(budget.limit)
        else:
            limits[budget.metric] = int(budget.limit)
    if not isinstance(overrides, dict):
        raise UsageError(f"limits is a dict such as {{\"turns\": 20, \"cost\": 0.5}}, not {type(overrides).__name__}")
    for name, value in overrides.items():
        if value is not None:
            value = checked_limit(name, value)  # nan, inf or negative: a UsageError, never ignored
            limits[name] = min(limits.get(name, value), value)
    return Budget(**limits)


__all__ = ["Executor", "Result"]
