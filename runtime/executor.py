"""The plan executor: an async interpreter over plan steps.

It holds the run's variables and the script's thread with each agent, runs
the steps the compiler grouped as independent (and `parallel:` branches) as
concurrent tasks, and reports everything as events. Every failure names the
step it happened in.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import json
from collections.abc import Callable
from typing import Any

import attrs
import jsonschema

from parley.compiler import plan as p
from parley.compiler.plan import json_schema
from parley.compiler.types import type_source
from parley.runtime.budget import Budget
from parley.runtime.builtins import BUILTINS
from parley.runtime.clients import Clients
from parley.runtime.conversations import converse
from parley.dsl.errors import BudgetExceeded, FailureKind, RunError
from parley.runtime.evaluate import Frame, copied, evaluate, plain, show, text, truthy
from parley.runtime.events import Event, EventSink, make_event
from parley.runtime.inputs import read_input
from parley.runtime.journal import Journal, enter, leave, start
from parley.runtime.models import Message, ModelClient, ModelError, ModelReply, ModelRequest
from parley.runtime.replies import origin, parse_yes_no, records, response_format, validated
from parley.runtime.requests import ModelCalls
from parley.runtime.turns import HumanInput, Turns, call_python, model_error
from parley.runtime.results import Result
from parley.runtime.values import Reply, Thread, jsonable

TYPED_RETRIES = 2
YES_NO = ("yes", "no")

#: The step running in this task (asks inside expressions report it in their events).
_current_step: contextvars.ContextVar[Any] = contextvars.ContextVar("parley_step", default=None)
#: Whether this task runs beside others (inside a concurrent group or a parallel block).
_together: contextvars.ContextVar[bool] = contextvars.ContextVar("parley_together", default=False)


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
    ) -> None:
        self.run_id = run_id
        self.journal = journal or Journal()  # every outside effect, recorded (and served on resume/replay)
        self.run_store = store  # where cached replies live (a runtime.store.Store), if anywhere
        self.cache_mode = cache
        self.plan = plan
        self.allow_code = allow_code
        self.stream = stream
        self.human: HumanInput = human or _no_human
        self.tool_functions = dict(tools or {})
        self.on_event = on_event
        self.events: list[Event] = []
        self.budget = budget or _budget(plan, limits or {})
        self.seed = seed
        self.turns = Turns(self)
        self.threads: dict[str, list[Message]] = {}
        self.printed: list[str] = []
        self.outputs: list[Any] = []
        self.inputs: dict[str, Any] = {}
        self.model_calls = ModelCalls(self)
        self.clients = Clients(plan, model, model_id, offline=offline,
                               notify=lambda text: self.emit("notice", None, text=text))
        self._system: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # --- the run -----------------------------------------------------------------

    async def run(self, inputs: dict[str, Any] | None = None) -> Result:
        root = start()
        self.inputs = await self._inputs(inputs or {})
        frame = Frame(dict(self.inputs))
        self.emit("run_start", None, file=self.plan.file, run=self.run_id)
        try:
            await self.block(self.plan.body, frame)
        except _Return:  # pragma: no cover - the compiler refuses `return` outside defs
            pass
        except RunError as failure:
            self.emit("error", None, reason=failure.kind.label, message=str(failure))
            raise
        finally:
            self.emit("run_end", None, usage=self.usage())
            await self.clients.close()
            leave(root)
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
                values[decl.name] = await evaluate(decl.default, Frame({}), self)
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

    def emit(self, kind: str, step: Any, **data: Any) -> None:
        event = make_event(kind, step, **data)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    # --- steps ----------------------------------------------------------------------

    async def block(self, steps: tuple[Any, ...], frame: Frame) -> None:
        for step in steps:
            await self.step(step, frame)

    async def step(self, step: Any, frame: Frame) -> None:
        _current_step.set(step)
        where = enter(step.id)
        try:
            await getattr(self, f"_{step.kind}")(step, frame)
        except (_Return, _Break, _Continue):
            raise
        except RunError as failure:
            raise failure.located(step.span) from None
        except ModelError as error:
            raise model_error(error).located(step.span)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
            # The script's data did not fit what it did with it (`for i in 5`, `s[0] = "z"`).
            raise RunError(FailureKind.VALUE, f"{_describe(error)}", step.span) from None
        finally:
            leave(where)

    async def _concurrent(self, step: p.ConcurrentStep, frame: Frame) -> None:
        _together.set(True)  # replies arriving at once are shown whole, not streamed into each other
        await _gather([self.step(s, frame) for s in step.steps])

    async def _parallel(self, step: p.ParallelStep, frame: Frame) -> None:
        _together.set(True)
        await _gather([self.step(s, frame) for s in step.branches])

    @staticmethod
    def together() -> bool:
        """Whether the running task runs beside others (a concurrent group or a parallel branch)."""
        return _together.get()

    def token_sink(self, agent: str) -> Callable[[str], None] | None:
        """Where an agent's reply streams to, if anywhere (never while steps run at once)."""
        if self.stream is None or _together.get():
            return None
        stream = self.stream
        return lambda piece: stream(agent, piece)

    async def _assign(self, step: p.AssignStep, frame: Frame) -> None:
        value = copied(await evaluate(step.value, frame, self))
        if step.type is not None and isinstance(step.target, p.VarTarget):
            self.check_type(value, step.type, f"`{step.target.name}`")
        await self.store(step.target, value, frame)

    def check_type(self, value: Any, type_ref: p.TypeRef, what: str) -> None:
        """A declared type (`x: T = …`, a def's parameters and result) holds for the value, or the run stops."""
        schema = json_schema(type_ref, {r.name: r for r in self.plan.types})
        try:
            jsonschema.validate(jsonable(value), schema)
        except jsonschema.ValidationError as error:
            shown = show(value) if not isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            inside = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            detail = f" ({inside.lstrip('.')}: {error.message[:120]})" if inside else ""
            raise RunError(FailureKind.VALUE, f"{what} is declared `{type_source(type_ref)}`, and got "
                                      f"{shown[:80]}{detail}") from None

    async def _ask(self, step: p.AskStep, frame: Frame) -> None:
        message = await text(step.message, frame, self)
        value = await self.ask(step.agent, message, step.type, False, step)
        if step.target is not None:
            await self.store(step.target, value, frame)

    async def _tell(self, step: p.TellStep, frame: Frame) -> None:
        message = show(await evaluate(step.message, frame, self))
        self.threads.setdefault(step.agent, []).append(Message(role="user", content=message))

    async def _forget(self, step: p.ForgetStep, frame: Frame) -> None:
        for agent in step.agents:
            self.threads.pop(agent, None)

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

    async def _loop(self, step: p.LoopStep, frame: Frame) -> None:
        if step.loop == "for":
            assert step.iterable is not None
            items = await evaluate(step.iterable, frame, self)
            if isinstance(items, dict):
                items = list(items.items()) if len(step.variables) == 2 else list(items)
            for item in list(items):
                values = list(item) if len(step.variables) > 1 and isinstance(item, list | tuple) else [item]
                if len(values) != len(step.variables):
                    raise RunError(FailureKind.VALUE, f"cannot unpack {show(item)} into {', '.join(step.variables)}")
                for name, value in zip(step.variables, values):
                    frame.variables[name] = copied(value)
                if not await self._iteration(step, frame):
                    return
        elif step.loop == "repeat":
            assert step.count is not None
            count = await evaluate(step.count, frame, self)
            for _ in range(int(count)):
                if not await self._iteration(step, frame):
                    return
        else:
            assert step.test is not None and step.limit is not None
            limit = int(await evaluate(step.limit, frame, self))
            for _ in range(limit):
                if not truthy(await evaluate(step.test, frame, self)):
                    return
                if not await self._iteration(step, frame):
                    return

    async def _iteration(self, step: p.LoopStep, frame: Frame) -> bool:
        try:
            await self.block(step.body, frame)
        except _Break:
            return False
        except _Continue:
            pass
        return True

    async def _call(self, step: p.CallStep, frame: Frame) -> None:
        await evaluate(step.expr, frame, self)

    async def _print(self, step: p.PrintStep, frame: Frame) -> None:
        line = show(await evaluate(step.value, frame, self))
        self.printed.append(line)
        self.emit("print", step, text=line)

    async def _output(self, step: p.OutputStep, frame: Frame) -> None:
        value = await evaluate(step.value, frame, self)
        self.outputs.append(value)
        self.emit("output", step, value=jsonable(value))

    async def _return(self, step: p.ReturnStep, frame: Frame) -> None:
        raise _Return(await evaluate(step.value, frame, self) if step.value is not None else None)

    async def _break(self, step: p.BreakStep, frame: Frame) -> None:
        raise _Break()

    async def _continue(self, step: p.ContinueStep, frame: Frame) -> None:
        raise _Continue()

    async def store(self, target: p.Target, value: Any, frame: Frame) -> None:
        if isinstance(target, p.VarTarget):
            frame.variables[target.name] = value
        elif isinstance(target, p.ItemTarget):
            container = await evaluate(target.value, frame, self)
            container[await evaluate(target.index, frame, self)] = value
        else:
            record = await evaluate(target.value, frame, self)
            record[target.name] = value

    # --- asks -----------------------------------------------------------------------

    async def ask_expr(self, expr: p.Ask, frame: Frame) -> Any:
        message = await text(expr.message, frame, self)
        return await self.ask(expr.agent, message, expr.type, expr.yes_no, _current_step.get())

    async def ask(self, agent_name: str, message: str, type_ref: p.TypeRef | None, yes_no: bool, step: Any) -> Any:
        """One message in the script's thread with the agent; the reply (typed or yes/no) is the value."""
        agent = self.plan.agent(agent_name)
        lock = self._locks.setdefault(agent_name, asyncio.Lock())
        async with lock:  # one thread, one conversation at a time
            thread = self.threads.setdefault(agent_name, [])
            instructions = ""
            schema = None
            person = agent.agent_kind in ("human", "python") or agent.reply_by is not None
            if yes_no and person:
                pass  # a person reads the question as asked
            elif yes_no:
                instructions = "\n\nAnswer with yes or no."
            if type_ref is not None:
                schema = json_schema(type_ref, {r.name: r for r in self.plan.types})
                if not person:
                    instructions = f"\n\nReply with JSON only, matching this JSON Schema:\n{json.dumps(schema)}"
            thread.append(Message(role="user", content=message + instructions))
            for attempt in range(TYPED_RETRIES + 1):
                structured = response_format(schema) if schema is not None else None
                said, reply = await self.turns.reply(agent, thread, step, structured, YES_NO if yes_no else ())
                thread.append(Message(role="assistant", content=said))
                tokens = reply.usage.total_tokens if reply is not None else 0
                self.emit("turn", step, agent=agent_name, text=said, tokens=tokens, **origin(reply))
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
                if attempt == TYPED_RETRIES:
                    raise RunError(FailureKind.REPLY, f"`{agent_name}` did not give a valid reply after "
                                              f"{TYPED_RETRIES + 1} tries: {problem}")
                self.emit("retry", step, agent=agent_name, problem=problem)
                thread.append(Message(role="user", content=f"That reply is not valid: {problem} Try again."))
        raise AssertionError("unreachable")  # pragma: no cover

    async def request(self, client: ModelClient, request: ModelRequest, agent: p.AgentDecl | None,
                      step: Any, stream: bool = False) -> ModelReply:
        """One model request (journaled, cached where wanted, charged to the budget): see runtime/requests.py."""
        return await self.model_calls.request(client, request, agent, step, stream)

    async def summarize(self, thread: Thread) -> str:
        """A thread's `.summary`: written by the first member's model on first use, then kept."""
        if thread.summary_text is None:
            agent = self.plan.agent(thread.members[0])
            client, model_id, _ = self.clients.for_agent(agent)
            history = "\n".join(f"{s.speaker}: {s.text}" for s in thread.messages)
            prompt = f"Summarize this conversation in a few sentences, keeping its conclusions:\n{history}"
            reply = await self.request(
                client, ModelRequest(model=model_id, messages=(Message(role="user", content=prompt),), temperature=0),
                None, _current_step.get(),
            )
            thread.summary_text = reply.text
        return thread.summary_text

    async def judge(self, condition: str, thread: Thread, step: Any) -> bool:
        """A prose `until` condition, judged yes/no by the first member's model."""
        agent = self.plan.agent(thread.members[0])
        client, model_id, _ = self.clients.for_agent(agent)
        history = "\n".join(f"{s.speaker}: {s.text}" for s in thread.messages[-12:])
        prompt = (f"Here is a conversation:\n{history}\n\nIs this true of it now: {condition}\n"
                  "Answer with yes or no.")
        reply = await self.request(client, ModelRequest(model=model_id, messages=(Message(role="user", content=prompt),),
                                                        temperature=0, choices=YES_NO), None, step)
        return bool(parse_yes_no(reply.text))

    async def system_message(self, agent: p.AgentDecl) -> str:
        if agent.name not in self._system:
            self._system[agent.name] = await text(agent.system, Frame(dict(self.inputs)), self) if agent.system else ""
        return self._system[agent.name]

    # --- calls ----------------------------------------------------------------------

    async def call(self, callee: str, kind: str, args: list[Any], keywords: dict[str, Any]) -> Any:
        if kind == "builtin" and callee == "now":
            return await self.journal.effect("clock", [], _clock)  # a resumed run sees the same time
        if kind == "builtin":
            args = [plain(a) if isinstance(a, Thread) else a for a in args]  # a thread reads as its last message
            try:
                return BUILTINS[callee](*args, **keywords)
            except RunError:
                raise
            except Exception as error:  # noqa: BLE001 - a built-in's failure is the script's value error
                raise RunError(FailureKind.VALUE, f"{callee}(): {error}") from None
        if kind == "tool":
            return await self._tool(callee, args, keywords)
        decl = next(d for d in self.plan.defs if d.name == callee)
        frame = Frame(dict(self.inputs))
        for index, param in enumerate(decl.params):
            if index < len(args):
                frame.variables[param.name] = copied(args[index])
            elif param.name in keywords:
                frame.variables[param.name] = copied(keywords[param.name])
            elif param.default is not None:
                frame.variables[param.name] = await evaluate(param.default, frame, self)
            if param.type is not None and param.name in frame.variables:
                self.check_type(frame.variables[param.name], param.type, f"`{callee}()`'s parameter `{param.name}`")
        where = enter(f"{callee}()")
        result = None
        try:
            await self.block(decl.body, frame)
        except _Return as returned:
            result = returned.value
        finally:
            leave(where)
        if decl.returns is not None:
            self.check_type(result, decl.returns, f"what `{callee}()` returns")
        return result

    async def _tool(self, name: str, args: list[Any], keywords: dict[str, Any]) -> Any:
        """A Python tool call, journaled: its value, or its failure, as the record of what it did."""
        function = self._python_tool(name)

        async def live() -> dict[str, Any]:
            try:
                return {"value": jsonable(await call_python(function, args, keywords))}
            except RunError as failure:
                return {"error": failure.message, "kind": failure.kind.label}
            except Exception as error:  # noqa: BLE001 - the tool's own failure, kept as a result
                return {"error": f"`{name}` raised {type(error).__name__}: {error}", "kind": "python"}

        outcome = await self.journal.effect("tool", [name, jsonable(args), jsonable(keywords)], live)
        if "error" in outcome:
            raise RunError(FailureKind.named(outcome["kind"]), outcome["error"])
        return records(outcome["value"])

    def _python_tool(self, name: str) -> Callable[..., Any]:
        if name in self.tool_functions:
            return self.tool_functions[name]
        tool = next(t for t in self.plan.tools if t.name == name)
        function = getattr(importlib.import_module(tool.module), tool.function)
        self.tool_functions[name] = function
        return function  # type: ignore[no-any-return]

    # --- a session ------------------------------------------------------------------

    async def run_steps(self, plan: p.Plan, steps: tuple[Any, ...], frame: Frame) -> None:
        """Run `steps` of `plan` on an existing frame, keeping the threads, budget and clients.

        How a REPL runs each entry: its plan is the whole session recompiled, so it replaces
        the one this executor had; agents declared again get their new system messages.
        """
        if plan is not self.plan:
            self.plan = self.turns.plan = self.clients.plan = plan
            self._system.clear()
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


def _describe(error: Exception) -> str:
    if isinstance(error, KeyError):
        return f"no key {error}"
    if isinstance(error, IndexError):
        return "index out of range"
    return str(error)


def _budget(plan: p.Plan, overrides: dict[str, float]) -> Budget:
    """The script's budgets, tightened by the run's own limits (turns, tokens, cost, seconds)."""
    limits: dict[str, Any] = {}
    for budget in plan.budgets:
        if budget.metric == "cost":
            limits["cost"] = float(budget.limit)
        elif budget.metric == "time":
            limits["seconds"] = float(budget.limit)
        else:
            limits[budget.metric] = int(budget.limit)
    for name, value in overrides.items():
        if value is not None:
            limits[name] = min(limits.get(name, value), value)
    return Budget(**limits)


__all__ = ["Executor", "Result"]
