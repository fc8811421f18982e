"""The conversation plan: plain, versioned data that the runtime executes and tools draw.

Every record is frozen and has a `kind` (its JSON discriminator). Steps carry
an `id`, the `span` of the statement they come from, and the variables and
agent threads they `reads` and `writes` (threads are written `@agent`).
Expressions are data too; the runtime evaluates them without any syntax tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from parley.dsl.source import Span

PLAN_VERSION = "1"
#: Turns a chat or group may take when its `until` names no turn limit.
DEFAULT_MAX_TURNS = 10


# --- expressions ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Const:
    """A literal: str, int, float, bool or None."""

    kind: ClassVar[str] = "const"
    value: str | int | float | bool | None


@attrs.frozen(kw_only=True)
class Money:
    """An amount in dollars, kept exact as decimal text (`"0.50"`)."""

    kind: ClassVar[str] = "money"
    amount: str


@attrs.frozen(kw_only=True)
class Duration:
    """A length of time in seconds."""

    kind: ClassVar[str] = "duration"
    seconds: float


@attrs.frozen(kw_only=True)
class Var:
    """The value of a variable, input or parameter."""

    kind: ClassVar[str] = "var"
    name: str


@attrs.frozen(kw_only=True)
class Text:
    """Text with interpolations: `parts` are literal strings and expressions, joined as text."""

    kind: ClassVar[str] = "text"
    parts: tuple[str | Expr, ...]


@attrs.frozen(kw_only=True)
class ListOf:
    """A list literal."""

    kind: ClassVar[str] = "list"
    items: tuple[Expr, ...]


@attrs.frozen(kw_only=True)
class DictOf:
    """A dict literal: `keys[i]` maps to `values[i]`."""

    kind: ClassVar[str] = "dict"
    keys: tuple[Expr, ...]
    values: tuple[Expr, ...]


@attrs.frozen(kw_only=True)
class GetAttr:
    """`value.name`: a record field, or a thread or reply property (`.last`, `.tokens`…)."""

    kind: ClassVar[str] = "attr"
    value: Expr
    name: str


@attrs.frozen(kw_only=True)
class GetItem:
    """`value[index]`."""

    kind: ClassVar[str] = "item"
    value: Expr
    index: Expr


@attrs.frozen(kw_only=True)
class KeywordArg:
    """`name=value` in a call."""

    kind: ClassVar[str] = "keyword"
    name: str
    value: Expr


@attrs.frozen(kw_only=True)
class Call:
    """A call of a built-in, a def or a Python tool; `callee` is `callee_kind` `builtin`, `def` or `tool`."""

    kind: ClassVar[str] = "call_expr"
    callee: str
    callee_kind: str
    args: tuple[Expr, ...]
    keywords: tuple[KeywordArg, ...]


@attrs.frozen(kw_only=True)
class Unary:
    """`op operand` with `op` one of `-`, `+`, `not`."""

    kind: ClassVar[str] = "unary"
    op: str
    operand: Expr


@attrs.frozen(kw_only=True)
class Binary:
    """`left op right`; `and` and `or` short-circuit."""

    kind: ClassVar[str] = "binary"
    op: str
    left: Expr
    right: Expr


@attrs.frozen(kw_only=True)
class Compare:
    """A comparison chain, read as in Python."""

    kind: ClassVar[str] = "compare"
    left: Expr
    ops: tuple[str, ...]
    comparators: tuple[Expr, ...]


@attrs.frozen(kw_only=True)
class IfElse:
    """`body if test else orelse`."""

    kind: ClassVar[str] = "ifelse"
    test: Expr
    body: Expr
    orelse: Expr


@attrs.frozen(kw_only=True)
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


Expr = (
    Const | Money | Duration | Var | Text | ListOf | DictOf | GetAttr | GetItem | Call | Unary | Binary | Compare
    | IfElse | Ask
)


# --- types ---------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class NamedType:
    """`str`, `int`, `float`, `bool`, `none`, `any`, or a record type's name."""

    kind: ClassVar[str] = "named"
    name: str


@attrs.frozen(kw_only=True)
class ListType:
    """`list[item]`."""

    kind: ClassVar[str] = "list_type"
    item: TypeRef


@attrs.frozen(kw_only=True)
class DictType:
    """`dict[str, value]` (keys are always strings)."""

    kind: ClassVar[str] = "dict_type"
    value: TypeRef


@attrs.frozen(kw_only=True)
class LiteralType:
    """One literal value, as in `"publish" | "revise"`."""

    kind: ClassVar[str] = "literal"
    value: str


@attrs.frozen(kw_only=True)
class UnionType:
    """Any of `options`."""

    kind: ClassVar[str] = "union"
    options: tuple[TypeRef, ...]


TypeRef = NamedType | ListType | DictType | LiteralType | UnionType


# --- termination conditions ----------------------------------------------------


@attrs.frozen(kw_only=True)
class TurnsCondition:
    """Stop after `count` messages from the members."""

    kind: ClassVar[str] = "turns"
    count: int


@attrs.frozen(kw_only=True)
class SaysCondition:
    """Stop when a message from `agent` (anyone when None) contains `text`."""

    kind: ClassVar[str] = "says"
    agent: str | None
    text: Text


@attrs.frozen(kw_only=True)
class ProseCondition:
    """Stop when a model judges `text` true of the conversation (asked after each message)."""

    kind: ClassVar[str] = "prose"
    text: Text


@attrs.frozen(kw_only=True)
class UsageCondition:
    """Stop when the conversation's `metric` (tokens, cost, time) passes `limit`."""

    kind: ClassVar[str] = "usage"
    metric: str
    limit: Expr


@attrs.frozen(kw_only=True)
class BoolCondition:
    """`left op right` over conditions, `op` being `and` or `or`."""

    kind: ClassVar[str] = "bool"
    op: str
    left: Condition
    right: Condition


Condition = TurnsCondition | SaysCondition | ProseCondition | UsageCondition | BoolCondition


# --- assignment targets ----------------------------------------------------------


@attrs.frozen(kw_only=True)
class VarTarget:
    """Assign to a variable."""

    kind: ClassVar[str] = "var_target"
    name: str


@attrs.frozen(kw_only=True)
class ItemTarget:
    """Assign to `value[index]`."""

    kind: ClassVar[str] = "item_target"
    value: Expr
    index: Expr


@attrs.frozen(kw_only=True)
class AttrTarget:
    """Assign to the field `value.name`."""

    kind: ClassVar[str] = "attr_target"
    value: Expr
    name: str


Target = VarTarget | ItemTarget | AttrTarget


# --- steps -----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class StepBase:
    """What every step has: `id` (`s1`, `s2`… in reading order), the `span` of its statement,
    and the variables, `@agent` threads and resources it `reads` and `writes`."""

    id: str
    span: Span
    reads: tuple[str, ...]
    writes: tuple[str, ...]


@attrs.frozen(kw_only=True)
class AskStep(StepBase):
    """`[target [: type] =] @agent message`: one message to the agent, its reply stored in `target`."""

    kind: ClassVar[str] = "ask"
    agent: str
    message: Text
    target: Target | None
    type: TypeRef | None


@attrs.frozen(kw_only=True)
class AssignStep(StepBase):
    """`target = value`; `type` is the declared type of `target: T = value`, checked as the value is stored."""

    kind: ClassVar[str] = "assign"
    target: Target
    value: Expr
    type: TypeRef | None = None


@attrs.frozen(kw_only=True)
class TellStep(StepBase):
    """`tell agent message`: add to the agent's thread without a reply."""

    kind: ClassVar[str] = "tell"
    agent: str
    message: Expr


@attrs.frozen(kw_only=True)
class ForgetStep(StepBase):
    """`forget agents`: clear the script's threads with them."""

    kind: ClassVar[str] = "forget"
    agents: tuple[str, ...]


@attrs.frozen(kw_only=True)
class FlowEdge:
    """After `source` speaks, one of `targets` may speak next."""

    kind: ClassVar[str] = "flow"
    source: str
    targets: tuple[str, ...]


@attrs.frozen(kw_only=True)
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


@attrs.frozen(kw_only=True)
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


@attrs.frozen(kw_only=True)
class Branch:
    """`if`/`elif` `test` and its body."""

    kind: ClassVar[str] = "branch"
    test: Expr
    body: tuple[Step, ...]


@attrs.frozen(kw_only=True)
class IfStep(StepBase):
    """`if … elif … else …`."""

    kind: ClassVar[str] = "if"
    branches: tuple[Branch, ...]
    orelse: tuple[Step, ...]


@attrs.frozen(kw_only=True)
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


@attrs.frozen(kw_only=True)
class ParallelStep(StepBase):
    """`parallel:`: each of `branches` runs concurrently; their writes are visible after."""

    kind: ClassVar[str] = "parallel"
    branches: tuple[Step, ...]


@attrs.frozen(kw_only=True)
class ConcurrentStep(StepBase):
    """Consecutive steps the compiler found independent (disjoint reads and writes): the
    runtime may run them at once with the same result as running them in order."""

    kind: ClassVar[str] = "concurrent"
    steps: tuple[Step, ...]


@attrs.frozen(kw_only=True)
class CallStep(StepBase):
    """An expression statement (a call, or an ask with a string message)."""

    kind: ClassVar[str] = "call"
    expr: Expr


@attrs.frozen(kw_only=True)
class PrintStep(StepBase):
    """`print value`."""

    kind: ClassVar[str] = "print"
    value: Expr


@attrs.frozen(kw_only=True)
class OutputStep(StepBase):
    """`output value`: the script's result."""

    kind: ClassVar[str] = "output"
    value: Expr


@attrs.frozen(kw_only=True)
class ReturnStep(StepBase):
    """`return [value]` from a def."""

    kind: ClassVar[str] = "return"
    value: Expr | None


@attrs.frozen(kw_only=True)
class BreakStep(StepBase):
    """`break`: leave the innermost loop."""

    kind: ClassVar[str] = "break"


@attrs.frozen(kw_only=True)
class ContinueStep(StepBase):
    """`continue`: next iteration of the innermost loop."""

    kind: ClassVar[str] = "continue"


Step = (
    AskStep | AssignStep | TellStep | ForgetStep | ChatStep | GroupStep | IfStep | LoopStep | ParallelStep
    | ConcurrentStep | CallStep | PrintStep | OutputStep | ReturnStep | BreakStep | ContinueStep
)


# --- declarations ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Option:
    """A `name=value` option of a model, or a setting of an agent, as a constant."""

    kind: ClassVar[str] = "option"
    name: str
    value: Any


@attrs.frozen(kw_only=True)
class ModelDecl:
    """`model NAME = provider("model-id", options…)`."""

    kind: ClassVar[str] = "model"
    name: str
    provider: str
    model_id: str | None
    options: tuple[Option, ...]
    span: Span


@attrs.frozen(kw_only=True)
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


@attrs.frozen(kw_only=True)
class Param:
    """A parameter of a def or tool: `type` and `default` are optional."""

    kind: ClassVar[str] = "param"
    name: str
    type: TypeRef | None
    default: Expr | None
    required: bool


@attrs.frozen(kw_only=True)
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


@attrs.frozen(kw_only=True)
class Field:
    """A field of a record type."""

    kind: ClassVar[str] = "field"
    name: str
    type: TypeRef
    default: Expr | None


@attrs.frozen(kw_only=True)
class RecordDecl:
    """`type NAME:` with its fields, for structured replies."""

    kind: ClassVar[str] = "record"
    name: str
    fields: tuple[Field, ...]
    span: Span


@attrs.frozen(kw_only=True)
class InputDecl:
    """`input NAME: type [= default]`."""

    kind: ClassVar[str] = "input"
    name: str
    type: TypeRef
    default: Expr | None
    span: Span


@attrs.frozen(kw_only=True)
class Budget:
    """A run-wide limit: `metric` tokens, turns, cost (dollars, decimal text) or time (seconds)."""

    kind: ClassVar[str] = "budget"
    metric: str
    limit: str | int | float
    span: Span


@attrs.frozen(kw_only=True)
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


@attrs.frozen(kw_only=True)
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
