"""The syntax tree: frozen, slotted records, one class per construct.

Every node has a `span` (see `dsl.source.Span`). Strings and prose keep their
literal text and their interpolated expressions apart (`Template`), each
expression with its own span, so an error inside `{…}` points inside the text.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal as Lit
from typing import Union

import attrs

from dsl.source import Span

node = attrs.frozen(kw_only=True)


# --- names and templates -------------------------------------------------------


@node
class Name:
    """A name as written: `id` is the text (for `@writer`, `writer`)."""

    id: str
    span: Span


@node
class Interpolation:
    """`{expr}` inside a string or prose: `expr` is parsed, `span` covers the braces."""

    expr: Expr
    span: Span


@node
class Template:
    """A string or prose message: `parts` alternate literal text and `Interpolation`s.

    `kind` is "string" (quoted), "prose" (after `@agent`) or "raw" (`r"…"`, no
    interpolation). Escapes are already decoded and triple-quoted text dedented.
    """

    parts: tuple[str | Interpolation, ...]
    kind: Lit["string", "prose", "raw"]
    span: Span

    @property
    def text(self) -> str | None:
        """The text when there are no interpolations, else None."""
        if all(isinstance(p, str) for p in self.parts):
            return "".join(p for p in self.parts if isinstance(p, str))
        return None


# --- expressions ---------------------------------------------------------------


@node
class Literal:
    """`value`: an int, float, bool (`true`/`false`) or None (`none`)."""

    value: int | float | bool | None
    span: Span


@node
class Duration:
    """A duration such as `500ms`, `30s`, `5m`, `2h`: `seconds` is its length."""

    seconds: float
    text: str
    span: Span


@node
class Money:
    """An amount such as `$0.50`: `amount` in dollars, exact."""

    amount: Decimal
    span: Span


@node
class ListExpr:
    """`[a, b, c]`: `items`."""

    items: tuple[Expr, ...]
    span: Span


@node
class DictEntry:
    """`key: value` inside a dict literal."""

    key: Expr
    value: Expr
    span: Span


@node
class DictExpr:
    """`{k: v, …}`: `entries`."""

    entries: tuple[DictEntry, ...]
    span: Span


@node
class Attribute:
    """`value.attr` (`attr_span` covers the attribute name)."""

    value: Expr
    attr: str
    attr_span: Span
    span: Span


@node
class Index:
    """`value[index]`."""

    value: Expr
    index: Expr
    span: Span


@node
class Keyword:
    """`name=value` in a call's arguments."""

    name: Name
    value: Expr
    span: Span


@node
class Call:
    """`func(args…, keywords…)`."""

    func: Expr
    args: tuple[Expr, ...]
    keywords: tuple[Keyword, ...]
    span: Span


@node
class UnaryOp:
    """`op operand`, where `op` is `-`, `+` or `not`."""

    op: str
    operand: Expr
    span: Span


@node
class BinaryOp:
    """`left op right` for arithmetic (`+ - * / // % **`) and logic (`and`, `or`)."""

    op: str
    left: Expr
    right: Expr
    span: Span


@node
class Compare:
    """A comparison chain `left op1 right1 op2 right2 …`, read as in Python.

    `ops` are `== != < <= > >= in`, `not in`, `is`, `is not`.
    """

    left: Expr
    ops: tuple[str, ...]
    comparators: tuple[Expr, ...]
    span: Span


@node
class Conditional:
    """`body if test else orelse`."""

    test: Expr
    body: Expr
    orelse: Expr
    span: Span


@node
class Ask:
    """A message to an agent whose value is the reply.

    `agent` is the agent's name (its span covers `@name`); `message` is prose
    or a string; `yes_no` marks `@agent? "…"`, whose value is a bool.
    """

    agent: Name
    message: Template
    yes_no: bool
    span: Span


Expr = Union[
    Name, Template, Literal, Duration, Money, ListExpr, DictExpr, Attribute, Index,
    Call, UnaryOp, BinaryOp, Compare, Conditional, Ask,
]


# --- types ---------------------------------------------------------------------


@node
class TypeName:
    """A named type, `args` for generics: `str`, `Verdict`, `list[str]`, `dict[str, int]`."""

    name: Name
    args: tuple[TypeExpr, ...]
    span: Span


@node
class LiteralType:
    """A literal in a type, as in `"publish" | "revise"`; `none` has `value` None."""

    value: str | None
    span: Span


@node
class UnionType:
    """`a | b | …`: `options`."""

    options: tuple[TypeExpr, ...]
    span: Span


TypeExpr = Union[TypeName, LiteralType, UnionType]


# --- termination conditions ----------------------------------------------------


@node
class TurnsCondition:
    """`N turns`: stop after `count` messages."""

    count: int
    span: Span


@node
class SaysCondition:
    """`AGENT says "TEXT"` (or `anyone says`, with `agent` None): stop when a message contains `text`."""

    agent: Name | None
    text: Template
    span: Span


@node
class ProseCondition:
    """`"a natural-language condition"`, judged yes/no by a model after each message."""

    text: Template
    span: Span


@node
class UsageCondition:
    """`tokens > N`, `cost > $X`, `time > 5m`: stop when the conversation's usage passes `limit`."""

    metric: Lit["tokens", "cost", "time"]
    limit: Expr
    span: Span


@node
class BoolCondition:
    """`left or right` / `left and right` over conditions."""

    op: Lit["and", "or"]
    left: Condition
    right: Condition
    span: Span


Condition = Union[TurnsCondition, SaysCondition, ProseCondition, UsageCondition, BoolCondition]


# --- declarations --------------------------------------------------------------


@node
class ModelDecl:
    """`model NAME = provider(args…, key=value…)`."""

    name: Name
    provider: Name
    args: tuple[Expr, ...]
    keywords: tuple[Keyword, ...]
    span: Span


@node
class DefaultModel:
    """`default model NAME`."""

    model: Name
    span: Span


@node
class Setting:
    """`key: value[, value…]` in an agent block; several values form a list (`tools: a, b`)."""

    key: Name
    values: tuple[Expr, ...]
    span: Span


@node
class AgentDecl:
    """An agent.

    `kind` is "llm" (`agent NAME:`), "human", "executor" or "python"
    (`agent NAME is KIND`); `target` is the python agent's "module:function";
    `system` the leading string of the block; `reply_by` names a def.
    """

    name: Name
    kind: Lit["llm", "human", "executor", "python"]
    target: Template | None
    system: Template | None
    settings: tuple[Setting, ...]
    reply_by: Name | None
    span: Span


@node
class ImportName:
    """`name [as alias]` in an import list."""

    name: Name
    alias: Name | None
    span: Span


@node
class ImportAgent:
    """`import "path.agent" [as alias]`: another script's declarations, under a prefix."""

    path: Template
    alias: Name | None
    span: Span


@node
class FromImport:
    """`from "path.agent" import a, b as c`."""

    path: Template
    names: tuple[ImportName, ...]
    span: Span


@node
class PythonImport:
    """`from python "module" import f, g`: Python callables as functions and tools."""

    module: Template
    names: tuple[ImportName, ...]
    span: Span


@node
class Field:
    """`name: type [= default]` in a record type."""

    name: Name
    type: TypeExpr
    default: Expr | None
    span: Span


@node
class TypeDecl:
    """`type NAME:` with one field per line: a record type for structured replies."""

    name: Name
    fields: tuple[Field, ...]
    span: Span


@node
class TypeAlias:
    """`type NAME = type`."""

    name: Name
    type: TypeExpr
    span: Span


@node
class InputDecl:
    """`input NAME: type [= default]`: a script parameter."""

    name: Name
    type: TypeExpr
    default: Expr | None
    span: Span


@node
class OutputStmt:
    """`output expr`: the script's result."""

    value: Expr
    span: Span


@node
class BudgetStmt:
    """`budget N tokens | N turns | $X | DURATION`: a run-wide limit of `kind`."""

    kind: Lit["tokens", "turns", "cost", "time"]
    amount: Literal | Money | Duration
    span: Span


# --- statements ----------------------------------------------------------------


@node
class Assign:
    """`target [: annotation] = value`; an annotation makes an ask typed.

    `target` is a name, an item (`scores[name]`) or a field (`report.title`).
    """

    target: Name | Index | Attribute
    annotation: TypeExpr | None
    value: Expr
    span: Span


@node
class AugAssign:
    """`target op= value` with `op` one of `+ - * /`."""

    target: Name
    op: str
    value: Expr
    span: Span


@node
class ExprStmt:
    """An expression used as a statement: an ask, a call."""

    expr: Expr
    span: Span


@node
class Tell:
    """`tell agent message`: add to the agent's thread without asking for a reply."""

    agent: Name
    message: Expr
    span: Span


@node
class Forget:
    """`forget a, b`: clear the script's threads with these agents."""

    agents: tuple[Name, ...]
    span: Span


@node
class Print:
    """`print expr`."""

    value: Expr
    span: Span


@node
class Return:
    """`return [expr]`."""

    value: Expr | None
    span: Span


@node
class Break:
    """`break`."""

    span: Span


@node
class Continue:
    """`continue`."""

    span: Span


@node
class IfBranch:
    """`if`/`elif` `test:` and its `body`."""

    test: Expr
    body: tuple[Stmt, ...]
    span: Span


@node
class If:
    """`if … elif … else …`: `branches` in order, then `orelse` (empty without `else`)."""

    branches: tuple[IfBranch, ...]
    orelse: tuple[Stmt, ...]
    span: Span


@node
class For:
    """`for a[, b…] in iterable:` `body`."""

    targets: tuple[Name, ...]
    iterable: Expr
    body: tuple[Stmt, ...]
    span: Span


@node
class Repeat:
    """`repeat count:` `body`."""

    count: Expr
    body: tuple[Stmt, ...]
    span: Span


@node
class While:
    """`while test max limit:` `body` — `limit` bounds the iterations."""

    test: Expr
    limit: Expr
    body: tuple[Stmt, ...]
    span: Span


@node
class Parallel:
    """`parallel:` — each statement of `body` is a branch run concurrently."""

    body: tuple[Stmt, ...]
    span: Span


@node
class Param:
    """`name[: type][= default]` in a def's parameters."""

    name: Name
    type: TypeExpr | None
    default: Expr | None
    span: Span


@node
class Def:
    """`def name(params) [-> returns]:` with an optional docstring and a `body`."""

    name: Name
    params: tuple[Param, ...]
    returns: TypeExpr | None
    docstring: Template | None
    body: tuple[Stmt, ...]
    span: Span


@node
class FlowEdge:
    """`source -> a | b`: who may speak after `source`."""

    source: Name
    targets: tuple[Name, ...]
    span: Span


@node
class Select:
    """`select MODE[(args)]`: how a group picks its next speaker."""

    mode: Name
    args: tuple[Expr, ...]
    keywords: tuple[Keyword, ...]
    span: Span


@node
class Conversation:
    """A `chat` (two agents alternating) or a `group`, optionally assigned to `target`.

    `opening` is the script's first message; the clauses are optional and
    appear at most once, except `flow`, whose edges accumulate.
    """

    kind: Lit["chat", "group"]
    target: Name | Index | Attribute | None
    members: tuple[Name, ...]
    opening: Expr
    until: Condition | None
    select: Select | None
    flow: tuple[FlowEdge, ...]
    manager: Name | None
    span: Span


Stmt = Union[
    ModelDecl, DefaultModel, AgentDecl, ImportAgent, FromImport, PythonImport, TypeDecl,
    TypeAlias, InputDecl, OutputStmt, BudgetStmt, Assign, AugAssign, ExprStmt, Tell, Forget,
    Print, Return, Break, Continue, If, For, Repeat, While, Parallel, Def, Conversation,
]


@node
class Module:
    """A whole script: its statements in order."""

    body: tuple[Stmt, ...]
    span: Span
