"""The conversation plan: plain, versioned data that the runtime executes and tools draw.

Every record is frozen and has a `kind` (its JSON discriminator). Steps carry
an `id`, the `span` of the statement they come from, and the variables and
agent threads they `reads` and `writes` (threads are written `@agent`).
Expressions are data too; the runtime evaluates them without any syntax tree.
"""

from __future__ import annotations

from typing import Any, ClassVar, Union

import attrs

from dsl.source import Span

PLAN_VERSION = "1"
#: Turns a chat or group may take when its `until` names no turn limit.
DEFAULT_MAX_TURNS = 10

record = attrs.frozen(kw_only=True)


# --- expressions ----------------------------------------------------------------


@record
class Const:
    """A literal: str, int, float, bool or None."""

    kind: ClassVar[str] = "const"
    value: str | int | float | bool | None


@record
class Money:
    """An amount in dollars, kept exact as decimal text (`"0.50"`)."""

    kind: ClassVar[str] = "money"
    amount: str


@record
class Duration:
    """A length of time in seconds."""

    kind: ClassVar[str] = "duration"
    seconds: float


@record
class Var:
    """The value of a variable, input or parameter."""

    kind: ClassVar[str] = "var"
    name: str


@record
class Text:
    """Text with interpolations: `parts` are literal strings and expressions, joined as text."""

    kind: ClassVar[str] = "text"
    parts: tuple[str | Expr, ...]


@record
class ListOf:
    """A list literal."""

    kind: ClassVar[str] = "list"
    items: tuple[Expr, ...]


@record
class DictOf:
    """A dict literal: `keys[i]` maps to `values[i]`."""

    kind: ClassVar[str] = "dict"
    keys: tuple[Expr, ...]
    values: tuple[Expr, ...]


@record
class GetAttr:
    """`value.name`: a record field, or a thread or reply property (`.last`, `.tokens`…)."""

    kind: ClassVar[str] = "attr"
    value: Expr
    name: str


@record
class GetItem:
    """`value[index]`."""

    kind: ClassVar[str] = "item"
    value: Expr
    index: Expr


@record
class KeywordArg:
    """`name=value` in a call."""

    kind: ClassVar[str] = "keyword"
    name: str
    value: Expr


@record
class Call:
    """A call of a built-in, a def or a Python tool; `callee` is `callee_kind` `builtin`, `def` or `tool`."""

    kind: ClassVar[str] = "call_expr"
    callee: str
    callee_kind: str
    args: tuple[Expr, ...]
    keywords: tuple[KeywordArg, ...]


@record
class Unary:
    """`op operand` with `op` one of `-`, `+`, `not`."""

    kind: ClassVar[str] = "unary"
    op: str
    operand: Expr


@record
class Binary:
    """`left op right`; `and` and `or` short-circuit."""

    kind: ClassVar[str] = "binary"
    op: str
    left: Expr
    right: Expr


@record
class Compare:
    """A comparison chain, read as in Python."""

    kind: ClassVar[str] = "compare"
    left: Expr
    ops: tuple[str, ...]
    comparators: tuple[Expr, ...]


@record
class IfElse:
    """`body if test else orelse`."""

    kind: ClassVar[str] = "ifelse"
    test: Expr
    body: Expr
    orelse: Expr


@record
class Ask:
    """An ask inside an expression: a message to `agent` in the script's thread with it.

    `yes_no` asks return a bool; `type` (when set) is what the reply must validate as.
    """

    kind: ClassVar[str] = "ask_expr"
    agent: str
    message: Text
    yes_no: bool
    type: TypeRef | None
    span: Span


Expr = Union[Const, Money, Duration, Var, Text, ListOf, DictOf, GetAttr, GetItem, Call, Unary, Binary, Compare,
             IfElse, Ask]


# --- types ---------------------------------------------------------------------


@record
class NamedType:
    """`str`, `int`, `float`, `bool`, `none`, `any`, or a record type's name."""

    kind: ClassVar[str] = "named"
    name: str


@record
class ListType:
    """`list[item]`."""

    kind: ClassVar[str] = "list_type"
    item: TypeRef


@record
class DictType:
    """`dict[str, value]` (keys are always strings)."""

    kind: ClassVar[str] = "dict_type"
    value: TypeRef


@record
class LiteralType:
    """One literal value, as in `"publish" | "revise"`."""

    kind: ClassVar[str] = "literal"
    value: str


@record
class UnionType:
    """Any of `options`."""

    kind: ClassVar[str] = "union"
    options: tuple[TypeRef, ...]


TypeRef = Union[NamedType, ListType, DictType, LiteralType, UnionType]


# --- termination conditions ----------------------------------------------------


@record
class TurnsCondition:
    """Stop after `count` messages from the members."""

    kind: ClassVar[str] = "turns"
    count: int


@record
class SaysCondition:
    """Stop when a message from `agent` (anyone when None) contains `text`."""

    kind: ClassVar[str] = "says"
    agent: str | None
    text: Text


@record
class ProseCondition:
    """Stop when a model judges `text` true of the conversation (asked after each message)."""

    kind: ClassVar[str] = "prose"
    text: Text


@record
class UsageCondition:
    """Stop when the conversation's `metric` (tokens, cost, time) passes `limit`."""

    kind: ClassVar[str] = "usage"
    metric: str
    limit: Expr


@record
class BoolCondition:
    """`left op right` over conditions, `op` being `and` or `or`."""

    kind: ClassVar[str] = "bool"
    op: str
    left: Condition
    right: Condition


Condition = Union[TurnsCondition, SaysCondition, ProseCondition, UsageCondition, BoolCondition]


# --- assignment targets ----------------------------------------------------------


@record
class VarTarget:
    """Assign to a variable."""

    kind: ClassVar[str] = "var_target"
    name: str


@record
class ItemTarget:
    """Assign to `value[index]`."""

    kind: ClassVar[str] = "item_target"
    value: Expr
    index: Expr


@record
class AttrTarget:
    """Assign to the field `value.name`."""

    kind: ClassVar[str] = "attr_target"
    value: Expr
    name: str


Target = Union[VarTarget, ItemTarget, AttrTarget]


# --- steps -----------------------------------------------------------------------


@record
class StepBase:
    """What every step has: `id` (`s1`, `s2`… in reading order), the `span` of its statement,
    and the variables, `@agent` threads and resources it `reads` and `writes`."""

    id: str
    span: Span
    reads: tuple[str, ...]
    writes: tuple[str, ...]


@record
class AskStep(StepBase):
    """`[target [: type] =] @agent message`: one message to the agent, its reply stored in `target`."""

    kind: ClassVar[str] = "ask"
    agent: str
    message: Text
    target: Target | None
    type: TypeRef | None


@record
class AssignStep(StepBase):
    """`target = value`."""

    kind: ClassVar[str] = "assign"
    target: Target
    value: Expr


@record
class TellStep(StepBase):
    """`tell agent message`: add to the agent's thread without a reply."""

    kind: ClassVar[str] = "tell"
    agent: str
    message: Expr


@record
class ForgetStep(StepBase):
    """`forget agents`: clear the script's threads with them."""

    kind: ClassVar[str] = "forget"
    agents: tuple[str, ...]


@record
class FlowEdge:
    """After `source` speaks, one of `targets` may speak next."""

    kind: ClassVar[str] = "flow"
    source: str
    targets: tuple[str, ...]


@record
class ChatStep(StepBase):
    """A two-agent conversation: `members[0]` answers the opening, then they alternate.

    It stops when `until` holds or after `max_turns` messages, whichever is first.
    """

    kind: ClassVar[str] = "chat"
    members: tuple[str, ...]
    opening: Expr
    until: Condition | None
    max_turns: int
    target: Target | None


@record
class GroupStep(StepBase):
    """A group chat: `select` picks each next speaker (`auto`, `round_robin`, `random`, `manual`).

    `flow` limits who may follow whom; `manager` is the model that selects in
    `auto` mode; `seed` makes `random` repeatable.
    """

    kind: ClassVar[str] = "group"
    members: tuple[str, ...]
    opening: Expr
    until: Condition | None
    max_turns: int
    target: Target | None
    select: str
    seed: int | None
    flow: tuple[FlowEdge, ...]
    manager: str | None


@record
class Branch:
    """`if`/`elif` `test` and its body."""

    kind: ClassVar[str] = "branch"
    test: Expr
    body: tuple[Step, ...]


@record
class IfStep(StepBase):
    """`if … elif … else …`."""

    kind: ClassVar[str] = "if"
    branches: tuple[Branch, ...]
    orelse: tuple[Step, ...]


@record
class LoopStep(StepBase):
    """A bounded loop. `loop` is `for` (over `iterable`, binding `variables`), `repeat` (`count`
    times) or `while` (while `test`, at most `limit` iterations)."""

    kind: ClassVar[str] = "loop"
    loop: str
    variables: tuple[str, ...]
    iterable: Expr | None
    count: Expr | None
    test: Expr | None
    limit: Expr | None
    body: tuple[Step, ...]


@record
class ParallelStep(StepBase):
    """`parallel:`: each of `branches` runs concurrently; their writes are visible after."""

    kind: ClassVar[str] = "parallel"
    branches: tuple[Step, ...]


@record
class ConcurrentStep(StepBase):
    """Consecutive steps the compiler found independent (disjoint reads and writes): the
    runtime may run them at once with the same result as running them in order."""

    kind: ClassVar[str] = "concurrent"
    steps: tuple[Step, ...]


@record
class CallStep(StepBase):
    """An expression statement (a call, or an ask with a string message)."""

    kind: ClassVar[str] = "call"
    expr: Expr


@record
class PrintStep(StepBase):
    """`print value`."""

    kind: ClassVar[str] = "print"
    value: Expr


@record
class OutputStep(StepBase):
    """`output value`: the script's result."""

    kind: ClassVar[str] = "output"
    value: Expr


@record
class ReturnStep(StepBase):
    """`return [value]` from a def."""

    kind: ClassVar[str] = "return"
    value: Expr | None


@record
class BreakStep(StepBase):
    """`break`: leave the innermost loop."""

    kind: ClassVar[str] = "break"


@record
class ContinueStep(StepBase):
    """`continue`: next iteration of the innermost loop."""

    kind: ClassVar[str] = "continue"


Step = Union[AskStep, AssignStep, TellStep, ForgetStep, ChatStep, GroupStep, IfStep, LoopStep, ParallelStep,
             ConcurrentStep, CallStep, PrintStep, OutputStep, ReturnStep, BreakStep, ContinueStep]


# --- declarations ----------------------------------------------------------------


@record
class Option:
    """A `name=value` option of a model, or a setting of an agent, as a constant."""

    kind: ClassVar[str] = "option"
    name: str
    value: Any


@record
class ModelDecl:
    """`model NAME = provider("model-id", options…)`."""

    kind: ClassVar[str] = "model"
    name: str
    provider: str
    model_id: str | None
    options: tuple[Option, ...]
    span: Span


@record
class AgentDecl:
    """An agent. `agent_kind`: `llm`, `human`, `executor` or `python`.

    `system` is the system message; `description` what a group's selector
    sees (the first line of the system message unless set); `settings` the
    rest (temperature, memory, limits…) as constants; `target` the python
    agent's "module:function"; `reply_by` the def computing its replies.
    """

    kind: ClassVar[str] = "agent"
    name: str
    agent_kind: str
    system: Text | None
    description: str | None
    model: str | None
    tools: tuple[str, ...]
    settings: tuple[Option, ...]
    target: str | None
    reply_by: str | None
    span: Span


@record
class Param:
    """A parameter of a def or tool: `type` and `default` are optional."""

    kind: ClassVar[str] = "param"
    name: str
    type: TypeRef | None
    default: Expr | None
    required: bool


@record
class ToolDecl:
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


@record
class Field:
    """A field of a record type."""

    kind: ClassVar[str] = "field"
    name: str
    type: TypeRef
    default: Expr | None


@record
class RecordDecl:
    """`type NAME:` with its fields, for structured replies."""

    kind: ClassVar[str] = "record"
    name: str
    fields: tuple[Field, ...]
    span: Span


@record
class InputDecl:
    """`input NAME: type [= default]`."""

    kind: ClassVar[str] = "input"
    name: str
    type: TypeRef
    default: Expr | None
    span: Span


@record
class Budget:
    """A run-wide limit: `metric` tokens, turns, cost (dollars, decimal text) or time (seconds)."""

    kind: ClassVar[str] = "budget"
    metric: str
    limit: str | int | float
    span: Span


@record
class DefDecl:
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


@record
class Plan:
    """A compiled script: its declarations and the steps of its body."""

    kind: ClassVar[str] = "plan"
    version: str
    file: str
    source_sha256: str
    default_model: str | None
    models: tuple[ModelDecl, ...]
    agents: tuple[AgentDecl, ...]
    tools: tuple[ToolDecl, ...]
    types: tuple[RecordDecl, ...]
    inputs: tuple[InputDecl, ...]
    budgets: tuple[Budget, ...]
    defs: tuple[DefDecl, ...]
    body: tuple[Step, ...]

    def agent(self, name: str) -> AgentDecl:
        """The agent declared as `name`."""
        return next(a for a in self.agents if a.name == name)
