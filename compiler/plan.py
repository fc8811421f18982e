"""The conversation plan: plain, versioned data that the runtime executes and tools draw.

Every record is frozen and has a `kind` (its JSON discriminator). Steps carry
an `id`, the `span` of the statement they come from, and the variables and
agent threads they `reads` and `writes` (threads are written `@agent`).
Expressions are data too; the runtime evaluates them without any syntax tree.

A field that can hold only a fixed set of strings (an operator, a select
mode, an agent's kind…) is typed with one of the `Literal` aliases below and
checked when the record is made: a plan built by hand or read from JSON with
`"select": "forever"` fails at once, not deep inside a run. Code that
switches over records or tags ends in `assert_never`, so mypy proves every
case handled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, NoReturn, get_args

import attrs

from parley.dsl.errors import PlanError
from parley.dsl.records import Record
from parley.dsl.source import Span

#: The plan format's version; `plan_from_json` reads only this one. Version 2: one step kind per loop
#: shape (`for`, `repeat`, `while`), agent settings as a typed record, closed sets checked. Version 3:
#: executor agents' `env` setting. Version 4: tools from MCP servers (`Plan.mcp_servers`, `AgentDecl.mcp`).
PLAN_VERSION = "5"
#: Turns a chat or group may take when its `until` names no turn limit.
DEFAULT_MAX_TURNS = 10


# --- closed sets ------------------------------------------------------------------

#: `Unary.op`.
UnaryOperator = Literal["-", "+", "not"]
#: `Binary.op`: arithmetic, and `and`/`or` (which short-circuit).
BinaryOperator = Literal["+", "-", "*", "/", "//", "%", "**", "and", "or"]
#: Each of `Compare.ops`.
CompareOperator = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not in", "is", "is not"]
#: `BoolCondition.op`.
BoolOperator = Literal["and", "or"]
#: `Call.callee_kind`: what the callee is.
CalleeKind = Literal["builtin", "def", "tool"]
#: `UsageCondition.metric`: what a conversation has used.
UsageMetric = Literal["tokens", "cost", "time"]
#: `Budget.metric`: what a run may use.
BudgetMetric = Literal["tokens", "turns", "cost", "time"]
#: `GroupStep.select`: how a group picks its next speaker.
SelectMode = Literal["auto", "round_robin", "random", "manual", "handoff"]
#: `AgentDecl.agent_kind`: who answers an agent's messages.
AgentKind = Literal["llm", "human", "executor", "python"]
#: `McpServer.transport`: how the runtime reaches an MCP server.
McpTransport = Literal["stdio", "http"]
#: `ModelDecl.provider`.
Provider = Literal["openai", "local", "scripted"]
#: `Option.name`: every option a model provider takes (each provider takes some of them).
ModelOptionName = Literal[
    "base_url", "api_key_env", "temperature", "top_p", "max_tokens", "seed", "timeout", "max_retries",
    "price_input", "price_output", "cache", "json_schema", "path", "context", "max_concurrency", "rpm", "tpm",
]
#: `AgentSettings.languages`: what an executor agent runs.
Language = Literal["python", "sh"]
#: `AgentSettings.human_input`: when a person may speak for an LLM agent in a chat or group.
HumanInputMode = Literal["always", "on_stop", "never"]


def _one_of(tags: Any) -> Any:
    """An attrs validator: the value is one of the strings of the `Literal` alias `tags` (else `PlanError`)."""
    allowed: tuple[str, ...] = get_args(tags)

    def check(record: Any, field: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str) or value not in allowed:
            raise PlanError(f"{type(record).__name__}.{field.name} is {_choices(allowed)}, not {value!r}")

    return check


def _each_one_of(tags: Any) -> Any:
    """An attrs validator: every item of the tuple is one of the strings of `tags` (else `PlanError`)."""
    allowed: tuple[str, ...] = get_args(tags)

    def check(record: Any, field: attrs.Attribute[Any], values: Any) -> None:
        for value in values:
            if not isinstance(value, str) or value not in allowed:
                raise PlanError(f"each of {type(record).__name__}.{field.name} is {_choices(allowed)}, not {value!r}")

    return check


def _choices(allowed: tuple[str, ...]) -> str:
    quoted = [repr(tag) for tag in allowed]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def assert_never(value: NoReturn) -> NoReturn:
    """The last arm of a `match` over records or tags: mypy proves it unreachable, and at run time a
    case nobody handles fails loudly (a bug in Parley, never the script's). `typing.assert_never`
    needs Python 3.11."""
    raise AssertionError(f"unhandled case: {type(value).__name__} {value!r}")


# --- expressions ----------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Const(Record):
    """A literal: str, int, float, bool or None."""

    kind: ClassVar[str] = "const"
    value: str | int | float | bool | None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Money(Record):
    """An amount in dollars, kept exact as decimal text (`"0.50"`)."""

    kind: ClassVar[str] = "money"
    amount: str


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Duration(Record):
    """A length of time in seconds."""

    kind: ClassVar[str] = "duration"
    seconds: float


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Var(Record):
    """The value of a variable, input or parameter."""

    kind: ClassVar[str] = "var"
    name: str


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Text(Record):
    """Text with interpolations: `parts` are literal strings and expressions, joined as text."""

    kind: ClassVar[str] = "text"
    parts: tuple[str | Expr, ...]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ListOf(Record):
    """A list literal."""

    kind: ClassVar[str] = "list"
    items: tuple[Expr, ...]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class DictOf(Record):
    """A dict literal: `keys[i]` maps to `values[i]`."""

    kind: ClassVar[str] = "dict"
    keys: tuple[Expr, ...]
    values: tuple[Expr, ...]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class GetAttr(Record):
    """`value.name`: a record field, or a thread or reply property (`.last`, `.tokens`…)."""

    kind: ClassVar[str] = "attr"
    value: Expr
    name: str


@attrs.frozen(kw_only=True, repr=False, eq=False)
class GetItem(Record):
    """`value[index]`."""

    kind: ClassVar[str] = "item"
    value: Expr
    index: Expr


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Slice(Record):
    """`value[start:stop]` of a text or a list: int bounds, negative from the end, an omitted one (null) at the end."""

    kind: ClassVar[str] = "slice"
    value: Expr
    start: Expr | None
    stop: Expr | None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class KeywordArg(Record):
    """`name=value` in a call."""

    kind: ClassVar[str] = "keyword"
    name: str
    value: Expr


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Call(Record):
    """A call of a built-in, a def or a Python tool; `callee` is `callee_kind` `builtin`, `def` or `tool`."""

    kind: ClassVar[str] = "call_expr"
    callee: str
    callee_kind: CalleeKind = attrs.field(validator=_one_of(CalleeKind))
    args: tuple[Expr, ...]
    keywords: tuple[KeywordArg, ...]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Unary(Record):
    """`op operand` with `op` one of `-`, `+`, `not`."""

    kind: ClassVar[str] = "unary"
    op: UnaryOperator = attrs.field(validator=_one_of(UnaryOperator))
    operand: Expr


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Binary(Record):
    """`left op right`; `and` and `or` short-circuit."""

    kind: ClassVar[str] = "binary"
    op: BinaryOperator = attrs.field(validator=_one_of(BinaryOperator))
    left: Expr
    right: Expr


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Compare(Record):
    """A comparison chain, read as in Python."""

    kind: ClassVar[str] = "compare"
    left: Expr
    ops: tuple[CompareOperator, ...] = attrs.field(validator=_each_one_of(CompareOperator))
    comparators: tuple[Expr, ...]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class IfElse(Record):
    """`body if test else orelse`."""

    kind: ClassVar[str] = "ifelse"
    test: Expr
    body: Expr
    orelse: Expr


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Ask(Record):
    """An ask inside an expression: a message to `agent` in the script's thread with it.

    `yes_no` asks return a bool; `type` (when set) is what the reply must validate as.
    `agent_expr` (with `agent` empty): the agent is this expression's value, an agent value.
    """

    kind: ClassVar[str] = "ask_expr"
    agent: str
    message: Text
    yes_no: bool
    type: TypeRef | None
    span: Span
    agent_expr: Expr | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class AgentRef(Record):
    """The agent declared as `name`, as a value (`player = white`): it prints as its name."""

    kind: ClassVar[str] = "agent_ref"
    name: str


Expr = (
    Const | Money | Duration | Var | Text | ListOf | DictOf | GetAttr | GetItem | Slice | Call | Unary | Binary
    | Compare | IfElse | Ask | AgentRef
)


# --- types ---------------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False, eq=False)
class NamedType(Record):
    """`str`, `int`, `float`, `bool`, `none`, `any`, or a record type's name."""

    kind: ClassVar[str] = "named"
    name: str


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ListType(Record):
    """`list[item]`."""

    kind: ClassVar[str] = "list_type"
    item: TypeRef


@attrs.frozen(kw_only=True, repr=False, eq=False)
class DictType(Record):
    """`dict[str, value]` (keys are always strings)."""

    kind: ClassVar[str] = "dict_type"
    value: TypeRef


@attrs.frozen(kw_only=True, repr=False, eq=False)
class LiteralType(Record):
    """One literal value, as in `"publish" | "revise"`."""

    kind: ClassVar[str] = "literal"
    value: str


@attrs.frozen(kw_only=True, repr=False, eq=False)
class UnionType(Record):
    """Any of `options`."""

    kind: ClassVar[str] = "union"
    options: tuple[TypeRef, ...]


TypeRef = NamedType | ListType | DictType | LiteralType | UnionType


# --- termination conditions ----------------------------------------------------


@attrs.frozen(kw_only=True, repr=False, eq=False)
class TurnsCondition(Record):
    """Stop after `count` messages from the members; with `bound` (`moves turns`), after as many as it
    evaluates to when the conversation starts (a positive int, else a run error), `count` then being 0."""

    kind: ClassVar[str] = "turns"
    count: int
    bound: Expr | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class SaysCondition(Record):
    """Stop when a message from `agent` (anyone when None) contains `text`."""

    kind: ClassVar[str] = "says"
    agent: str | None
    text: Text


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ProseCondition(Record):
    """Stop when a model judges `text` true of the conversation (asked after each message)."""

    kind: ClassVar[str] = "prose"
    text: Text


@attrs.frozen(kw_only=True, repr=False, eq=False)
class UsageCondition(Record):
    """Stop when the conversation's `metric` (tokens, cost, time) passes `limit`."""

    kind: ClassVar[str] = "usage"
    metric: UsageMetric = attrs.field(validator=_one_of(UsageMetric))
    limit: Expr


@attrs.frozen(kw_only=True, repr=False, eq=False)
class BoolCondition(Record):
    """`left op right` over conditions, `op` being `and` or `or`."""

    kind: ClassVar[str] = "bool"
    op: BoolOperator = attrs.field(validator=_one_of(BoolOperator))
    left: Condition
    right: Condition


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ExprCondition(Record):
    """Stop when `test` (variables, calls of defs and Python functions) is true after a message."""

    kind: ClassVar[str] = "expr"
    test: Expr


Condition = TurnsCondition | SaysCondition | ProseCondition | UsageCondition | BoolCondition | ExprCondition


# --- assignment targets ----------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False, eq=False)
class VarTarget(Record):
    """Assign to a variable."""

    kind: ClassVar[str] = "var_target"
    name: str


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ItemTarget(Record):
    """Assign to `value[index]`."""

    kind: ClassVar[str] = "item_target"
    value: Expr
    index: Expr


@attrs.frozen(kw_only=True, repr=False, eq=False)
class AttrTarget(Record):
    """Assign to the field `value.name`."""

    kind: ClassVar[str] = "attr_target"
    value: Expr
    name: str


Target = VarTarget | ItemTarget | AttrTarget


# --- steps -----------------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False, eq=False)
class StepBase(Record):
    """What every step has: `id` (`s1`, `s2`… in reading order), the `span` of its statement,
    and the variables, `@agent` threads and resources it `reads` and `writes`."""

    id: str
    span: Span
    reads: tuple[str, ...]
    writes: tuple[str, ...]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class AskStep(StepBase):
    """`[target [: type] =] @agent message`: one message to the agent, its reply stored in `target`.
    `agent_expr` (with `agent` empty): `@player …`, the agent is the value of this expression when the step
    runs (an agent value); the step's `reads`/`writes` name every thread it may reach."""

    kind: ClassVar[str] = "ask"
    agent: str
    message: Text
    target: Target | None
    type: TypeRef | None
    agent_expr: Expr | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class AssignStep(StepBase):
    """`target = value`; `type` is the declared type of `target: T = value`, checked as the value is stored."""

    kind: ClassVar[str] = "assign"
    target: Target
    value: Expr
    type: TypeRef | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class TellStep(StepBase):
    """`tell agent message`: add to the agent's thread without a reply; `agent_expr` as for `AskStep`."""

    kind: ClassVar[str] = "tell"
    agent: str
    message: Expr
    agent_expr: Expr | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ForgetStep(StepBase):
    """`forget agents`: clear the script's threads with them, and with the agents `agent_exprs` hold."""

    kind: ClassVar[str] = "forget"
    agents: tuple[str, ...]
    agent_exprs: tuple[Expr, ...] = ()


@attrs.frozen(kw_only=True, repr=False, eq=False)
class FlowEdge(Record):
    """After `source` speaks, one of `targets` may speak next."""

    kind: ClassVar[str] = "flow"
    source: str
    targets: tuple[str, ...]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ChatStep(StepBase):
    """A two-agent conversation: `members[0]` answers the opening, then they alternate.

    It stops when `until` holds or after `max_turns` messages, whichever is first (`max_turns` 0:
    the `until`'s turn-count expressions alone bound it, evaluated as it starts). `held` names the members
    that are variables of type `agent` (`chat player, judge:`): the agents they hold take their places,
    in `until` and `flow` too, as the conversation starts.
    """

    kind: ClassVar[str] = "chat"
    members: tuple[str, ...]
    opening: Expr
    until: Condition | None
    max_turns: int
    target: Target | None
    held: tuple[str, ...] = ()


@attrs.frozen(kw_only=True, repr=False, eq=False)
class GroupStep(StepBase):
    """A group chat: `select` picks each next speaker (`auto`, `round_robin`, `random`, `manual`, `handoff`).

    `flow` limits who may follow whom; `manager` is the model that selects in
    `auto` mode; `seed` makes `random` repeatable; `select_by` picks before the model.
    """

    kind: ClassVar[str] = "group"
    members: tuple[str, ...]
    opening: Expr
    until: Condition | None
    max_turns: int
    target: Target | None
    select: SelectMode = attrs.field(validator=_one_of(SelectMode))
    seed: int | None
    flow: tuple[FlowEdge, ...]
    manager: str | None
    select_by: str | None = None  # a def or Python tool: (thread, members) -> the next speaker, or none for `auto`
    select_prompt: Expr | None = None  # `select auto(prompt=…)`: the selector's instruction, replacing the default
    held: tuple[str, ...] = ()  # members that are `agent` variables, as in `ChatStep`


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Branch(Record):
    """`if`/`elif` `test` and its body."""

    kind: ClassVar[str] = "branch"
    test: Expr
    body: tuple[Step, ...]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class IfStep(StepBase):
    """`if … elif … else …`."""

    kind: ClassVar[str] = "if"
    branches: tuple[Branch, ...]
    orelse: tuple[Step, ...]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ForStep(StepBase):
    """`for variables in iterable:`: `body` once per item of `iterable`, bound to `variables`
    (one name; or two, which unpack each item — a dict's key and value)."""

    kind: ClassVar[str] = "for"
    variables: tuple[str, ...]
    iterable: Expr
    body: tuple[Step, ...]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class RepeatStep(StepBase):
    """`repeat count:`: `body` `count` times."""

    kind: ClassVar[str] = "repeat"
    count: Expr
    body: tuple[Step, ...]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class WhileStep(StepBase):
    """`while test max limit:`: `body` while `test` holds, at most `limit` times."""

    kind: ClassVar[str] = "while"
    test: Expr
    limit: Expr
    body: tuple[Step, ...]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ParallelStep(StepBase):
    """`parallel:`: each of `branches` runs concurrently; their writes are visible after."""

    kind: ClassVar[str] = "parallel"
    branches: tuple[Step, ...]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ParallelForStep(StepBase):
    """`parallel for variable in iterable max limit:`: `body` once per item, at most `limit` at once.

    Each iteration has its own variables and its own thread with each agent (both start as they
    were before the loop); after it, each name in `collected` holds the list of its values, one
    per item, in the items' order."""

    kind: ClassVar[str] = "parallel_for"
    variable: str
    iterable: Expr
    limit: Expr
    body: tuple[Step, ...]
    collected: tuple[str, ...] = ()


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ConcurrentStep(StepBase):
    """Consecutive steps the compiler found independent (disjoint reads and writes): the
    runtime may run them at once with the same result as running them in order."""

    kind: ClassVar[str] = "concurrent"
    steps: tuple[Step, ...]


@attrs.frozen(kw_only=True, repr=False, eq=False)
class CallStep(StepBase):
    """An expression statement (a call, or an ask with a string message)."""

    kind: ClassVar[str] = "call"
    expr: Expr


@attrs.frozen(kw_only=True, repr=False, eq=False)
class PrintStep(StepBase):
    """`print value`."""

    kind: ClassVar[str] = "print"
    value: Expr


@attrs.frozen(kw_only=True, repr=False, eq=False)
class OutputStep(StepBase):
    """`output value`: the script's result."""

    kind: ClassVar[str] = "output"
    value: Expr


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ReturnStep(StepBase):
    """`return [value]` from a def."""

    kind: ClassVar[str] = "return"
    value: Expr | None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class BreakStep(StepBase):
    """`break`: leave the innermost loop."""

    kind: ClassVar[str] = "break"


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ContinueStep(StepBase):
    """`continue`: next iteration of the innermost loop."""

    kind: ClassVar[str] = "continue"


Step = (
    AskStep | AssignStep | TellStep | ForgetStep | ChatStep | GroupStep | IfStep | ForStep | RepeatStep | WhileStep
    | ParallelStep | ParallelForStep | ConcurrentStep | CallStep | PrintStep | OutputStep | ReturnStep | BreakStep | ContinueStep
)


# --- declarations ----------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Option(Record):
    """A `name=value` option of a model, as a constant (which options a provider takes: `PROVIDERS` in
    `compiler.declarations`)."""

    kind: ClassVar[str] = "option"
    name: ModelOptionName = attrs.field(validator=_one_of(ModelOptionName))
    value: Any


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ModelDecl(Record):
    """`model NAME = provider("model-id", options…)`."""

    kind: ClassVar[str] = "model"
    name: str
    provider: Provider = attrs.field(validator=_one_of(Provider))
    model_id: str | None
    options: tuple[Option, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class AgentSettings(Record):
    """An agent's settings as written in its declaration; None where the script gives none (the
    runtime's default, or the model's option, applies). Which kind of agent takes which setting:
    `SETTINGS` in `compiler.resolve`; the compiler checks every range."""

    kind: ClassVar[str] = "agent_settings"
    temperature: float | None = None
    """LLM: sampling temperature, 0 to 2 (else the model's `temperature` option)."""
    top_p: float | None = None
    """LLM: nucleus sampling, 0 to 1 (else the model's `top_p` option)."""
    max_tokens: int | None = None
    """LLM: the most tokens one reply may have (else the model's `max_tokens` option)."""
    seed: int | None = None
    """LLM: the sampling seed (else the model's `seed` option)."""
    max_tool_rounds: int | None = None
    """LLM: rounds of tool calls before the agent must answer, 0 to 100 (else the runtime's default)."""
    max_auto_replies: int | None = None
    """LLM: the most messages the agent says in one chat or group; reaching it stops the conversation."""
    memory: int | None = None
    """LLM: how many of the latest messages of its thread the agent sees (else all of them)."""
    cache: bool | None = None
    """LLM: whether its replies may use the reply cache (not read by the runtime yet: the model's
    `cache` option decides)."""
    timeout: float | None = None
    """Executor: seconds one piece of code may run (else 30)."""
    workdir: str | None = None
    """Executor: the folder code runs in (else a fresh temporary one)."""
    languages: tuple[Language, ...] | None = attrs.field(
        default=None, validator=attrs.validators.optional(_each_one_of(Language)))
    """Executor: the languages it runs (else all of `Language`)."""
    env: tuple[str, ...] | None = None
    """Executor: names of environment variables its code sees besides PATH, HOME, LANG and TMPDIR
    (else none)."""
    human_input: HumanInputMode | None = attrs.field(
        default=None, validator=attrs.validators.optional(_one_of(HumanInputMode)))
    """LLM and executor: when a person is asked to reply for the agent in a chat or group: `always` (at
    each of its turns), `on_stop` (when the conversation would stop), `never` (else: never)."""

    def given(self) -> dict[str, Any]:
        """The settings the script gives (those not None), by name, in this record's order."""
        return {f.name: getattr(self, f.name) for f in attrs.fields(AgentSettings) if getattr(self, f.name) is not None}


@attrs.frozen(kw_only=True, repr=False, eq=False)
class AgentDecl(Record):
    """An agent. `agent_kind`: `llm`, `human`, `executor` or `python`.

    `system` is the system message; `description` what a group's selector
    sees (the first line of the system message unless set); `settings` the
    rest (temperature, memory, limits…) as constants; `target` the python
    agent's "module:function"; `reply_by` the def computing its replies.
    """

    kind: ClassVar[str] = "agent"
    name: str
    agent_kind: AgentKind = attrs.field(validator=_one_of(AgentKind))
    system: Text | None
    description: str | None
    model: str | None
    tools: tuple[str, ...]
    settings: AgentSettings
    target: str | None
    reply_by: str | None
    span: Span
    mcp: tuple[McpUse, ...] = ()
    """LLM: the MCP servers whose tools it is offered, besides `tools`."""


@attrs.frozen(kw_only=True, repr=False, eq=False)
class McpServer(Record):
    """A Model Context Protocol server whose tools agents use: `mcp("python notes.py")` (a command started
    with its standard input and output as the connection) or `mcp(url="http://…/mcp")` (streamable HTTP).

    A run starts each server once, on first use, and stops it at the end; its tools are listed then (the
    compiler lists them too when it can start the server, to check the names a script uses).
    """

    kind: ClassVar[str] = "mcp_server"
    name: str
    """How the plan, events and errors name it (from its script or host; unique in the plan)."""
    transport: McpTransport = attrs.field(validator=_one_of(McpTransport))
    command: tuple[str, ...]
    """stdio: the program and its arguments, run in the script's folder (`python` is the Python running
    Parley); empty for http."""
    url: str | None
    """http: the server's endpoint."""
    env: tuple[str, ...]
    """stdio: names of environment variables the server sees besides a few safe ones (PATH, HOME…)."""
    timeout: float
    """Seconds one call (and the start) may take."""
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class McpUse(Record):
    """An agent's use of an MCP server: which server, and which of its tools (None: all of them)."""

    kind: ClassVar[str] = "mcp_use"
    server: str
    tools: tuple[str, ...] | None
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Param(Record):
    """A parameter of a def or tool: `type` and `default` are optional."""

    kind: ClassVar[str] = "param"
    name: str
    type: TypeRef | None
    default: Expr | None
    required: bool


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ToolDecl(Record):
    """A Python function usable as a function and as a tool: `module`.`function`.

    `schema` is the JSON Schema of its arguments, from its signature and docstring.
    """

    kind: ClassVar[str] = "tool"
    name: str
    module: str
    function: str
    params: tuple[Param, ...]
    description: str
    schema: Any
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Field(Record):
    """A field of a record type."""

    kind: ClassVar[str] = "field"
    name: str
    type: TypeRef
    default: Expr | None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class RecordDecl(Record):
    """`type NAME:` with its fields, for structured replies."""

    kind: ClassVar[str] = "record"
    name: str
    fields: tuple[Field, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class InputDecl(Record):
    """`input NAME: type [= default]`."""

    kind: ClassVar[str] = "input"
    name: str
    type: TypeRef
    default: Expr | None
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Budget(Record):
    """A run-wide limit: `metric` tokens, turns, cost (dollars, decimal text) or time (seconds)."""

    kind: ClassVar[str] = "budget"
    metric: BudgetMetric = attrs.field(validator=_one_of(BudgetMetric))
    limit: str | int | float
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class DefDecl(Record):
    """`def name(params) -> returns:` — a conversation fragment, callable, usable as a tool
    (`schema` describes its arguments) and as an agent's `reply by`."""

    kind: ClassVar[str] = "def"
    name: str
    params: tuple[Param, ...]
    returns: TypeRef | None
    doc: str | None
    schema: Any
    body: tuple[Step, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Plan(Record):
    """A compiled script: its declarations and the steps of its body."""

    kind: ClassVar[str] = "plan"
    version: str
    file: str
    source_sha256: str
    module_path: tuple[str, ...] = ()
    """Folders where the script's own Python modules (tools, python agents) were found, relative to
    the script's folder (`.`, `lib`…); the runtime imports those modules from there, relative to the
    folder of the plan file or script it runs. Modules not found there come from Python's path."""
    default_model: str | None
    models: tuple[ModelDecl, ...]
    agents: tuple[AgentDecl, ...]
    tools: tuple[ToolDecl, ...]
    types: tuple[RecordDecl, ...]
    inputs: tuple[InputDecl, ...]
    budgets: tuple[Budget, ...]
    defs: tuple[DefDecl, ...]
    body: tuple[Step, ...]
    mcp_servers: tuple[McpServer, ...] = ()
    """The MCP servers the agents take tools from."""

    def agent(self, name: str) -> AgentDecl:
        """The agent declared as `name`."""
        return next(a for a in self.agents if a.name == name)

    def code_agents(self) -> list[AgentDecl]:
        """The agents that run code: executors (one whose replies a `def` computes runs none)."""
        return [a for a in self.agents if a.agent_kind == "executor" and a.reply_by is None]


# --- what a type means as data -----------------------------------------------------


def json_schema(type_ref: TypeRef, records: Mapping[str, RecordDecl]) -> dict[str, Any]:
    """The JSON Schema a value of `type_ref` must satisfy (records expanded inline, strict)."""
    if isinstance(type_ref, NamedType):
        simple = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "none": "null"}
        if type_ref.name in simple:
            return {"type": simple[type_ref.name]}
        if type_ref.name in records:
            record = records[type_ref.name]
            return {
                "type": "object",
                "properties": {f.name: json_schema(f.type, records) for f in record.fields},
                "required": [f.name for f in record.fields if f.default is None],
                "additionalProperties": False,
            }
        return {}
    if isinstance(type_ref, ListType):
        return {"type": "array", "items": json_schema(type_ref.item, records)}
    if isinstance(type_ref, DictType):
        return {"type": "object", "additionalProperties": json_schema(type_ref.value, records)}
    if isinstance(type_ref, LiteralType):
        return {"type": "string", "enum": [type_ref.value]}
    literals = [o.value for o in type_ref.options if isinstance(o, LiteralType)]
    if len(literals) == len(type_ref.options):
        return {"type": "string", "enum": literals}
    return {"anyOf": [json_schema(o, records) for o in type_ref.options]}
