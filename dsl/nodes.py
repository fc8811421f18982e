"""The syntax tree: frozen, slotted records, one class per construct.

Every node has a `span` (see `dsl.source.Span`). Strings and prose keep their
literal text and their interpolated expressions apart (`Template`), each
expression with its own span, so an error inside `{…}` points inside the text.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal as Lit

import attrs

from parley.dsl.records import Record
from parley.dsl.source import Span

# --- names and templates -------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Name(Record):
    """A name as written: `id` is the text (for `@writer`, `writer`)."""

    id: str
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Interpolation(Record):
    """`{expr}` inside a string or prose: `expr` is parsed, `span` covers the braces."""

    expr: Expr
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Template(Record):
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


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Literal(Record):
    """`value`: an int, float, bool (`true`/`false`) or None (`none`)."""

    value: int | float | bool | None
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Duration(Record):
    """A duration such as `500ms`, `30s`, `5m`, `2h`: `seconds` is its length."""

    seconds: float
    text: str
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Money(Record):
    """An amount such as `$0.50`: `amount` in dollars, exact."""

    amount: Decimal
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ListExpr(Record):
    """`[a, b, c]`: `items`."""

    items: tuple[Expr, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class DictEntry(Record):
    """`key: value` inside a dict literal."""

    key: Expr
    value: Expr
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class DictExpr(Record):
    """`{k: v, …}`: `entries`."""

    entries: tuple[DictEntry, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Attribute(Record):
    """`value.attr` (`attr_span` covers the attribute name)."""

    value: Expr
    attr: str
    attr_span: Span
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Index(Record):
    """`value[index]`."""

    value: Expr
    index: Expr
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Slice(Record):
    """`value[start:stop]`; an omitted bound is None."""

    value: Expr
    start: Expr | None
    stop: Expr | None
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Keyword(Record):
    """`name=value` in a call's arguments."""

    name: Name
    value: Expr
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Call(Record):
    """`func(args…, keywords…)`."""

    func: Expr
    args: tuple[Expr, ...]
    keywords: tuple[Keyword, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class UnaryOp(Record):
    """`op operand`, where `op` is `-`, `+` or `not`."""

    op: str
    operand: Expr
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class BinaryOp(Record):
    """`left op right` for arithmetic (`+ - * / // % **`) and logic (`and`, `or`)."""

    op: str
    left: Expr
    right: Expr
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Compare(Record):
    """A comparison chain `left op1 right1 op2 right2 …`, read as in Python.

    `ops` are `== != < <= > >= in`, `not in`, `is`, `is not`.
    """

    left: Expr
    ops: tuple[str, ...]
    comparators: tuple[Expr, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Conditional(Record):
    """`body if test else orelse`."""

    test: Expr
    body: Expr
    orelse: Expr
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Ask(Record):
    """A message to an agent whose value is the reply.

    `agent` is the agent's name (its span covers `@name`); `message` is prose
    or a string; `yes_no` marks `@agent? "…"`, whose value is a bool.
    """

    agent: Name
    message: Template
    yes_no: bool
    span: Span


Expr = (
    Name | Template | Literal | Duration | Money | ListExpr | DictExpr | Attribute | Index | Slice
    | Call | UnaryOp | BinaryOp | Compare | Conditional | Ask
)


# --- types ---------------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False, eq=False)
class TypeName(Record):
    """A named type, `args` for generics: `str`, `Verdict`, `list[str]`, `dict[str, int]`."""

    name: Name
    args: tuple[TypeExpr, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class LiteralType(Record):
    """A literal in a type, as in `"publish" | "revise"`; `none` has `value` None."""

    value: str | None
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class UnionType(Record):
    """`a | b | …`: `options`."""

    options: tuple[TypeExpr, ...]
    span: Span


TypeExpr = TypeName | LiteralType | UnionType


# --- termination conditions ----------------------------------------------------


@attrs.frozen(kw_only=True, repr=False, eq=False)
class TurnsCondition(Record):
    """`N turns`: stop after `count` messages (an expression: `moves turns`, checked a positive int)."""

    count: Expr
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ExprCondition(Record):
    """An expression as a condition (`board_done()`, `score >= 8`): stop when it is true."""

    test: Expr
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class SaysCondition(Record):
    """`AGENT says "TEXT"` (or `anyone says`, with `agent` None): stop when a message contains `text`."""

    agent: Name | None
    text: Template
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ProseCondition(Record):
    """`"a natural-language condition"`, judged yes/no by a model after each message."""

    text: Template
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class UsageCondition(Record):
    """`tokens > N`, `cost > $X`, `time > 5m`: stop when the conversation's usage passes `limit`."""

    metric: Lit["tokens", "cost", "time"]
    limit: Expr
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class BoolCondition(Record):
    """`left or right` / `left and right` over conditions."""

    op: Lit["and", "or"]
    left: Condition
    right: Condition
    span: Span


Condition = TurnsCondition | SaysCondition | ProseCondition | UsageCondition | BoolCondition | ExprCondition


# --- declarations --------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ModelDecl(Record):
    """`model NAME = provider(args…, key=value…)`."""

    name: Name
    provider: Name
    args: tuple[Expr, ...]
    keywords: tuple[Keyword, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class DefaultModel(Record):
    """`default model NAME`."""

    model: Name
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Setting(Record):
    """`key: value[, value…]` in an agent block; several values form a list (`tools: a, b`)."""

    key: Name
    values: tuple[Expr, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class AgentDecl(Record):
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


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ImportName(Record):
    """`name [as alias]` in an import list."""

    name: Name
    alias: Name | None
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ImportAgent(Record):
    """`import "path.agent" [as alias]`: another script's declarations, under a prefix."""

    path: Template
    alias: Name | None
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class FromImport(Record):
    """`from "path.agent" import a, b as c`."""

    path: Template
    names: tuple[ImportName, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class PythonImport(Record):
    """`from python "module" import f, g`: Python callables as functions and tools."""

    module: Template
    names: tuple[ImportName, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Field(Record):
    """`name: type [= default]` in a record type."""

    name: Name
    type: TypeExpr
    default: Expr | None
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class TypeDecl(Record):
    """`type NAME:` with one field per line: a record type for structured replies."""

    name: Name
    fields: tuple[Field, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class TypeAlias(Record):
    """`type NAME = type`."""

    name: Name
    type: TypeExpr
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class InputDecl(Record):
    """`input NAME: type [= default]`: a script parameter."""

    name: Name
    type: TypeExpr
    default: Expr | None
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class OutputStmt(Record):
    """`output expr`: the script's result."""

    value: Expr
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class BudgetStmt(Record):
    """`budget N tokens | N turns | $X | DURATION`: a run-wide limit of `kind`."""

    kind: Lit["tokens", "turns", "cost", "time"]
    amount: Literal | Money | Duration
    span: Span


# --- statements ----------------------------------------------------------------


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Assign(Record):
    """`target [: annotation] = value`; an annotation makes an ask typed.

    `target` is a name, an item (`scores[name]`) or a field (`report.title`).
    """

    target: Name | Index | Attribute
    annotation: TypeExpr | None
    value: Expr
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class AugAssign(Record):
    """`target op= value` with `op` one of `+ - * /`."""

    target: Name
    op: str
    value: Expr
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class ExprStmt(Record):
    """An expression used as a statement: an ask, a call."""

    expr: Expr
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Tell(Record):
    """`tell agent message`: add to the agent's thread without asking for a reply."""

    agent: Name
    message: Expr
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Forget(Record):
    """`forget a, b`: clear the script's threads with these agents."""

    agents: tuple[Name, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Print(Record):
    """`print expr`."""

    value: Expr
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Return(Record):
    """`return [expr]`."""

    value: Expr | None
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Break(Record):
    """`break`."""

    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Continue(Record):
    """`continue`."""

    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class IfBranch(Record):
    """`if`/`elif` `test:` and its `body`."""

    test: Expr
    body: tuple[Stmt, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class If(Record):
    """`if … elif … else …`: `branches` in order, then `orelse` (empty without `else`)."""

    branches: tuple[IfBranch, ...]
    orelse: tuple[Stmt, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class For(Record):
    """`for a[, b…] in iterable:` `body`."""

    targets: tuple[Name, ...]
    iterable: Expr
    body: tuple[Stmt, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Repeat(Record):
    """`repeat count:` `body`."""

    count: Expr
    body: tuple[Stmt, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class While(Record):
    """`while test max limit:` `body` — `limit` bounds the iterations."""

    test: Expr
    limit: Expr
    body: tuple[Stmt, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Parallel(Record):
    """`parallel:` — each statement of `body` is a branch run concurrently.

    `parallel for target in iterable max limit:` (`target` set) runs `body` once per item instead,
    at most `limit` at once."""

    body: tuple[Stmt, ...]
    span: Span
    target: Name | None = None
    iterable: Expr | None = None
    limit: Expr | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Param(Record):
    """`name[: type][= default]` in a def's parameters."""

    name: Name
    type: TypeExpr | None
    default: Expr | None
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Def(Record):
    """`def name(params) [-> returns]:` with an optional docstring and a `body`."""

    name: Name
    params: tuple[Param, ...]
    returns: TypeExpr | None
    docstring: Template | None
    body: tuple[Stmt, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class FlowEdge(Record):
    """`source -> a | b`: who may speak after `source`."""

    source: Name
    targets: tuple[Name, ...]
    span: Span


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Select(Record):
    """`select MODE[(args)]`: how a group picks its next speaker; `select by NAME` (`by`, and no `mode`)
    lets a def or Python function pick, the model (as `auto`) when it returns none."""

    mode: Name | None
    args: tuple[Expr, ...]
    keywords: tuple[Keyword, ...]
    span: Span
    by: Name | None = None


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Conversation(Record):
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


Stmt = (
    ModelDecl | DefaultModel | AgentDecl | ImportAgent | FromImport | PythonImport | TypeDecl
    | TypeAlias | InputDecl | OutputStmt | BudgetStmt | Assign | AugAssign | ExprStmt | Tell | Forget
    | Print | Return | Break | Continue | If | For | Repeat | While | Parallel | Def | Conversation
)


@attrs.frozen(kw_only=True, repr=False, eq=False)
class Module(Record):
    """A whole script: its statements in order."""

    body: tuple[Stmt, ...]
    span: Span
