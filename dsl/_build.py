"""The parser's reductions → the syntax tree of `dsl.nodes`, built during the parse.

The parser (`dsl._lalr`, running Lark's tables) keeps every token (keywords
and brackets included) and computes no positions; as it reduces each rule
(bottom-up, without recursion), this builder gives it the span from its first
to its last token and calls one method per rule (or alias) with that span and
the rule's meaningful children (values, not punctuation). No parse tree is made. Problems that only show
once the nodes are built (an unknown agent kind, a bad escape, a clause given
twice) become diagnostics; the builder never raises for them.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from parley.dsl import nodes as n
from parley.dsl._strings import prose_template, string_template
from parley.dsl._tokens import Token, start_of
from parley.dsl.diagnostics import Diagnostic
from parley.dsl.source import Span

AGENT_KINDS = ("human", "executor", "python")
SELECT_MODES = ("auto", "round_robin", "random", "manual", "handoff")
MAX_EXPRESSION_DEPTH = 200
#: Digits of an integer literal, at most: Python converts no more (and values are bounded so, at run time too).
MAX_LITERAL_DIGITS = 4300

#: Tokens that carry a value; every other token (keywords, brackets, layout) is punctuation.
VALUE_TOKENS = frozenset({
    "NAME", "FIELD", "AGENT", "AGENT_QUESTION", "PROSE", "STRING", "LONG_STRING", "RAW_STRING",
    "DURATION", "MONEY", "FLOAT", "INT",
})
#: Rules whose tokens are the value itself (operators, the `model` setting key…).
_TOKEN_RULES = frozenset({
    "setting_key", "aug_op", "compare_op", "add_op", "mul_op", "pow_op", "conversation_kind", "usage_metric",
})

#: What `slice_colon` builds: the place of the `:` among a slice's children.
_COLON = object()

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

#: Parses an interpolated expression: (text, line, column) → expression or None.
ExprParser = Callable[[str, int, int], "n.Expr | None"]
#: (line, column, end_line, end_column) in the parsed text, end exclusive.
Position = tuple[int, int, int, int]
#: What the builder gives Lark for a rule: the value built and the rule's position.
Built = tuple[Any, Position]


class DepthGuard:
    """Expression depths for one file, shared with the builders of its `{…}` interpolations."""

    def __init__(self) -> None:
        self.depths: dict[int, int] = {}
        self.reported = False


class TreeBuilder:
    """Builds nodes for one parse of one file (or of one interpolated expression).

    `line`/`column` place the parsed text inside its file, so the spans of an
    expression inside `{…}` point into the enclosing string.
    """

    def __init__(
        self,
        file: str,
        diagnostics: list[Diagnostic],
        parse_expr: ExprParser,
        line: int = 1,
        column: int = 1,
        guard: DepthGuard | None = None,
    ) -> None:
        self.file = file
        self.diagnostics = diagnostics
        self.parse_expr = parse_expr
        self.line0 = line - 1
        self.column0 = column - 1
        self.guard = guard if guard is not None else DepthGuard()

    def build(self, data: str, raw: list[Any]) -> Built:
        """The node of one rule, built as the parser reduces it (`dsl._lalr.Tables.parse`).

        `raw` holds the rule's tokens and, for its sub-rules, what this method
        returned for them: (value, position) pairs. The rule's span runs from
        its first token to its last.
        """
        first, last = raw[0], raw[-1]
        if type(first) is tuple:
            line, column = first[1][0], first[1][1]
        else:
            line, column = first.line or 1, first.column or 1
        if type(last) is tuple:
            end_line, end_column = last[1][2], last[1][3]
        else:
            end_line = last.end_line or last.line or 1
            end_column = last.end_column or last.column or 1
        if data in _TOKEN_RULES:
            children = raw
        else:
            children = [c[0] if type(c) is tuple else c for c in raw if type(c) is tuple or c.type in VALUE_TOKENS]
        method = _RULE_METHODS.get(data)
        if method is None:  # found once per rule, for every builder (an interpolation has its own)
            method = _RULE_METHODS[data] = getattr(TreeBuilder, data)
        position = (line, column, end_line, end_column)
        return method(self, self._span(position), children), position

    # --- positions -----------------------------------------------------------

    def _span(self, position: Position) -> Span:
        line, column, end_line, end_column = position
        if self.line0 == 0 and self.column0 == 0:
            return Span(self.file, line, column, end_line, end_column - 1)
        return self.rel_span(line, column, end_line, end_column - 1)

    def span(self, token: Token) -> Span:
        """The span of a token, placed in the file."""
        return self._span(_token_position(token))

    def rel_span(self, line: int, column: int, end_line: int, end_column: int) -> Span:
        """A span given in the parsed text's coordinates (inclusive), placed in the file."""
        return Span(
            self.file,
            line + self.line0,
            column + (self.column0 if line == 1 else 0),
            end_line + self.line0,
            end_column + (self.column0 if end_line == 1 else 0),
        )

    def name(self, token: Token) -> n.Name:
        return n.Name(id=str(token), span=self.span(token))

    def error(self, code: str, message: str, span: Span, label: str = "", help: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code=code, message=message, span=span, label=label, help=help))

    def deep(self, node: Any, *children: Any) -> Any:
        """Track expression depth so pathological chains are refused before anything recurses."""
        depths = self.guard.depths
        depth = 1
        for child in children:
            below = depths.get(id(child), 0)
            if below >= depth:
                depth = below + 1
        depths[id(node)] = depth
        if depth > MAX_EXPRESSION_DEPTH and not self.guard.reported:
            self.guard.reported = True
            self.error(
                "P150", "expression is nested too deeply", node.span,
                f"more than {MAX_EXPRESSION_DEPTH} levels", "split it into several assignments",
            )
        return node

    # --- module and blocks -------------------------------------------------

    def start(self, span: Span, c: list[Any]) -> n.Module:
        return n.Module(body=tuple(c), span=Span(self.file, 1, 1, span.end_line, span.end_column))

    def block(self, span: Span, c: list[Any]) -> tuple[n.Stmt, ...]:
        return tuple(c)

    def atom(self, span: Span, c: list[Any]) -> Any:
        return c[0]  # `( expr )`

    condition_atom = atom  # `( condition )`

    # --- declarations --------------------------------------------------------

    def model_decl(self, span: Span, c: list[Any]) -> n.ModelDecl:
        args, keywords = c[2] if len(c) > 2 else ((), ())
        return n.ModelDecl(name=self.name(c[0]), provider=self.name(c[1]), args=args, keywords=keywords, span=span)

    def default_model(self, span: Span, c: list[Any]) -> n.DefaultModel:
        return n.DefaultModel(model=self.name(c[0]), span=span)

    def agent_short(self, span: Span, c: list[Any]) -> n.AgentDecl:
        return self._agent(span, c[0], c[1], c[2] if len(c) > 2 else None, None)

    def agent_kind_decl(self, span: Span, c: list[Any]) -> n.AgentDecl:
        return self._agent(span, c[0], c[1], c[2] if len(c) > 3 else None, c[-1])

    def agent_decl(self, span: Span, c: list[Any]) -> n.AgentDecl:
        system, settings, reply_by = c[1]
        return n.AgentDecl(
            name=self.name(c[0]), kind="llm", target=None, system=system, settings=settings,
            reply_by=reply_by, span=span,
        )

    def _agent(self, span: Span, name: Token, kind: Token, target: n.Template | None, body: Any) -> n.AgentDecl:
        system, settings, reply_by = body if body is not None else (None, (), None)
        kind_text = str(kind)
        if kind_text not in AGENT_KINDS:
            self.error(
                "P140", f"unknown agent kind `{kind_text}`", self.span(kind), "not an agent kind",
                _did_you_mean(kind_text, AGENT_KINDS)
                or "an agent is `agent NAME:` (a model), or `agent NAME is human | executor | python \"module:function\"`",
            )
            kind_text = "human"
        elif kind_text == "python" and target is None:
            self.error(
                "P141", "a python agent needs the function that computes its replies", self.span(kind),
                "which function?", 'write `agent NAME is python "module:function"`',
            )
        elif kind_text != "python" and target is not None:
            self.error(
                "P142", f"a {kind_text} agent takes no string after its kind", target.span,
                "unexpected here", 'only python agents name a target: `agent NAME is python "module:function"`',
            )
        return n.AgentDecl(
            name=self.name(name), kind=kind_text, target=target, system=system,  # type: ignore[arg-type]
            settings=settings, reply_by=reply_by, span=span,
        )

    def agent_body(self, span: Span, c: list[Any]) -> tuple[Any, ...]:
        system = c.pop(0) if c and isinstance(c[0], n.Template) else None
        settings = tuple(i for i in c if isinstance(i, n.Setting))
        replies = [i for i in c if isinstance(i, n.Name)]
        for extra in replies[1:]:
            self.error("P143", "`reply by` is given twice", extra.span, "second `reply by`",
                       "an agent's replies come from one def: keep one `reply by`")
        return system, settings, replies[0] if replies else None

    def system_message(self, span: Span, c: list[Any]) -> n.Template:
        return c[0]  # type: ignore[no-any-return]

    def setting(self, span: Span, c: list[Any]) -> n.Setting:
        return n.Setting(key=c[0], values=tuple(c[1:]), span=span)

    def setting_key(self, span: Span, c: list[Any]) -> n.Name:
        return self.name(c[0])

    def reply_by(self, span: Span, c: list[Any]) -> n.Name:
        return self.name(c[0])

    def import_agent(self, span: Span, c: list[Any]) -> n.ImportAgent:
        return n.ImportAgent(path=c[0], alias=self.name(c[1]) if len(c) > 1 else None, span=span)

    def from_import(self, span: Span, c: list[Any]) -> n.FromImport:
        return n.FromImport(path=c[0], names=c[1], span=span)

    def python_import(self, span: Span, c: list[Any]) -> n.PythonImport:
        return n.PythonImport(module=c[0], names=c[1], span=span)

    def import_names(self, span: Span, c: list[Any]) -> tuple[n.ImportName, ...]:
        return tuple(c)

    def import_name(self, span: Span, c: list[Any]) -> n.ImportName:
        return n.ImportName(name=self.name(c[0]), alias=self.name(c[1]) if len(c) > 1 else None, span=span)

    def type_decl(self, span: Span, c: list[Any]) -> n.TypeDecl:
        return n.TypeDecl(name=self.name(c[0]), fields=tuple(c[1:]), span=span)

    def field(self, span: Span, c: list[Any]) -> n.Field:
        return n.Field(name=self.name(c[0]), type=c[1], default=c[2] if len(c) > 2 else None, span=span)

    def type_alias(self, span: Span, c: list[Any]) -> n.TypeAlias:
        return n.TypeAlias(name=self.name(c[0]), type=c[1], span=span)

    def input_decl(self, span: Span, c: list[Any]) -> n.InputDecl:
        return n.InputDecl(name=self.name(c[0]), type=c[1], default=c[2] if len(c) > 2 else None, span=span)

    def output_stmt(self, span: Span, c: list[Any]) -> n.OutputStmt:
        return n.OutputStmt(value=c[0], span=span)

    def budget_tokens(self, span: Span, c: list[Any]) -> n.BudgetStmt:
        return n.BudgetStmt(kind="tokens", amount=n.Literal(value=self.whole(c[0]), span=self.span(c[0])), span=span)

    def budget_turns(self, span: Span, c: list[Any]) -> n.BudgetStmt:
        return n.BudgetStmt(kind="turns", amount=n.Literal(value=self.whole(c[0]), span=self.span(c[0])), span=span)

    def budget_cost(self, span: Span, c: list[Any]) -> n.BudgetStmt:
        return n.BudgetStmt(kind="cost", amount=self.money(self.span(c[0]), c), span=span)

    def budget_time(self, span: Span, c: list[Any]) -> n.BudgetStmt:
        return n.BudgetStmt(kind="time", amount=self.duration(self.span(c[0]), c), span=span)

    # --- simple statements ---------------------------------------------------

    def ask_stmt(self, span: Span, c: list[Any]) -> n.ExprStmt:
        return n.ExprStmt(expr=c[0], span=span)

    def prose_ask(self, span: Span, c: list[Any]) -> n.Ask:
        message = prose_template(c[1], self)
        return n.Ask(agent=self._agent_ref(c[0]), message=message, yes_no=False, span=span.to(message.span))

    def _agent_ref(self, token: Token) -> n.Name:
        return n.Name(id=str(token).lstrip("@").rstrip("?"), span=self.span(token))

    def assign(self, span: Span, c: list[Any]) -> n.Assign:
        return n.Assign(target=c[0], annotation=None, value=c[1], span=span)

    def name_target(self, span: Span, c: list[Any]) -> n.Name:
        return self.name(c[0])

    def index_target(self, span: Span, c: list[Any]) -> n.Index:
        return self.index(span, c)

    def attribute_target(self, span: Span, c: list[Any]) -> n.Attribute:
        return self.attribute(span, c)

    def annotated_assign(self, span: Span, c: list[Any]) -> n.Assign:
        return n.Assign(target=self.name(c[0]), annotation=c[1], value=c[2], span=span)

    def aug_assign(self, span: Span, c: list[Any]) -> n.AugAssign:
        return n.AugAssign(target=self.name(c[0]), op=c[1].rstrip("="), value=c[2], span=span)

    def tell_stmt(self, span: Span, c: list[Any]) -> n.Tell:
        return n.Tell(agent=self.name(c[0]), message=c[1], span=span)

    def forget_stmt(self, span: Span, c: list[Any]) -> n.Forget:
        return n.Forget(agents=tuple(self.name(t) for t in c), span=span)

    def print_stmt(self, span: Span, c: list[Any]) -> n.Print:
        return n.Print(value=c[0], span=span)

    def return_stmt(self, span: Span, c: list[Any]) -> n.Return:
        return n.Return(value=c[0] if c else None, span=span)

    def break_stmt(self, span: Span, c: list[Any]) -> n.Break:
        return n.Break(span=span)

    def continue_stmt(self, span: Span, c: list[Any]) -> n.Continue:
        return n.Continue(span=span)

    def expr_stmt(self, span: Span, c: list[Any]) -> n.ExprStmt:
        return n.ExprStmt(expr=c[0], span=span)

    # --- compound statements -------------------------------------------------

    def def_stmt(self, span: Span, c: list[Any]) -> n.Def:
        name, body = c[0], list(c[-1])
        params: list[n.Param] = next((x for x in c[1:-1] if isinstance(x, list)), [])
        returns = next((x for x in c[1:-1] if not isinstance(x, list)), None)
        docstring = None
        if body and isinstance(body[0], n.ExprStmt) and isinstance(body[0].expr, n.Template):
            docstring, body = body[0].expr, body[1:]
        return n.Def(
            name=self.name(name), params=tuple(params), returns=returns, docstring=docstring,
            body=tuple(body), span=span,
        )

    def params(self, span: Span, c: list[Any]) -> list[n.Param]:
        return list(c)  # a list, to tell it apart from the block (a tuple)

    def param(self, span: Span, c: list[Any]) -> n.Param:
        raw = _children_after_name(c)
        return n.Param(name=self.name(c[0]), type=raw.get(":"), default=raw.get("="), span=span)

    def if_stmt(self, span: Span, c: list[Any]) -> n.If:
        test, body, *rest = c
        orelse = rest.pop() if rest and isinstance(rest[-1], tuple) else ()
        header = n.IfBranch(test=test, body=body, span=span)
        return n.If(branches=(header, *rest), orelse=orelse, span=span)

    def elif_clause(self, span: Span, c: list[Any]) -> n.IfBranch:
        return n.IfBranch(test=c[0], body=c[1], span=span)

    def else_clause(self, span: Span, c: list[Any]) -> tuple[n.Stmt, ...]:
        return tuple(c[0])

    def for_stmt(self, span: Span, c: list[Any]) -> n.For:
        *targets, iterable, body = c
        return n.For(targets=tuple(self.name(t) for t in targets), iterable=iterable, body=body, span=span)

    def repeat_stmt(self, span: Span, c: list[Any]) -> n.Repeat:
        return n.Repeat(count=c[0], body=c[1], span=span)

    def while_stmt(self, span: Span, c: list[Any]) -> n.While:
        return n.While(test=c[0], limit=c[1], body=c[2], span=span)

    def parallel_stmt(self, span: Span, c: list[Any]) -> n.Parallel:
        return n.Parallel(body=c[0], span=span)

    def parallel_for_stmt(self, span: Span, c: list[Any]) -> n.Parallel:
        return n.Parallel(target=self.name(c[0]), iterable=c[1], limit=c[2], body=c[3], span=span)

    # --- conversations -------------------------------------------------------

    def conversation(self, span: Span, c: list[Any]) -> n.Conversation:
        target = c.pop(0) if not isinstance(c[0], str) else None
        kind, *members, body = c
        opening, clauses = body
        until = select = manager = None
        flow: list[n.FlowEdge] = []
        seen: set[str] = set()
        for clause_kind, value, clause_span in clauses:
            if clause_kind in seen and clause_kind != "flow":
                self.error(
                    "P144", f"`{clause_kind}` is given twice", clause_span, f"second `{clause_kind}`",
                    "combine conditions with `or` / `and` in one `until`"
                    if clause_kind == "until" else f"keep one `{clause_kind}` line",
                )
                continue
            seen.add(clause_kind)
            if clause_kind == "until":
                until = value
            elif clause_kind == "select":
                select = value
            elif clause_kind == "manager":
                manager = value
            else:
                flow.extend(value)
        return n.Conversation(
            kind=kind, target=target,
            members=tuple(self.name(m) for m in members), opening=opening, until=until,
            select=select, flow=tuple(flow), manager=manager, span=span,
        )

    def conversation_kind(self, span: Span, c: list[Any]) -> str:
        return str(c[0])

    def conversation_body(self, span: Span, c: list[Any]) -> tuple[Any, list[Any]]:
        return c[0], c[1:]

    def opening(self, span: Span, c: list[Any]) -> Any:
        return c[0]

    def until_clause(self, span: Span, c: list[Any]) -> tuple[str, Any, Span]:
        return "until", c[0], span

    def select_clause(self, span: Span, c: list[Any]) -> tuple[str, Any, Span]:
        mode = self.name(c[0])
        if mode.id not in SELECT_MODES:
            self.error(
                "P145", f"unknown select mode `{mode.id}`", mode.span, "not a select mode",
                _did_you_mean(mode.id, SELECT_MODES) or "choose one of: auto, round_robin, random, manual, handoff",
            )
        args, keywords = c[1] if len(c) > 1 else ((), ())
        return "select", n.Select(mode=mode, args=args, keywords=keywords, span=span), span

    def select_by(self, span: Span, c: list[Any]) -> tuple[str, Any, Span]:
        by = self.name(c[0])
        return "select", n.Select(mode=None, args=(), keywords=(), span=span, by=by), span

    def flow_clause(self, span: Span, c: list[Any]) -> tuple[str, Any, Span]:
        return "flow", tuple(c), span

    def flow_edge(self, span: Span, c: list[Any]) -> n.FlowEdge:
        source, *targets = c
        return n.FlowEdge(source=self.name(source), targets=tuple(self.name(t) for t in targets), span=span)

    def manager_clause(self, span: Span, c: list[Any]) -> tuple[str, Any, Span]:
        return "manager", self.name(c[0]), span

    def condition_or(self, span: Span, c: list[Any]) -> n.BoolCondition:
        return self.deep(n.BoolCondition(op="or", left=c[0], right=c[1], span=span), *c)

    def condition_and(self, span: Span, c: list[Any]) -> n.BoolCondition:
        return self.deep(n.BoolCondition(op="and", left=c[0], right=c[1], span=span), *c)

    def turns_condition(self, span: Span, c: list[Any]) -> n.TurnsCondition:
        return n.TurnsCondition(count=c[0], span=span)

    def expr_condition(self, span: Span, c: list[Any]) -> n.ExprCondition:
        return n.ExprCondition(test=c[0], span=span)

    def says_condition(self, span: Span, c: list[Any]) -> n.SaysCondition:
        return n.SaysCondition(agent=self.name(c[0]), text=c[1], span=span)

    def anyone_says_condition(self, span: Span, c: list[Any]) -> n.SaysCondition:
        return n.SaysCondition(agent=None, text=c[0], span=span)

    def prose_condition(self, span: Span, c: list[Any]) -> n.ProseCondition:
        return n.ProseCondition(text=c[0], span=span)

    def usage_condition(self, span: Span, c: list[Any]) -> n.UsageCondition:
        return n.UsageCondition(metric=c[0], limit=c[1], span=span)

    def usage_metric(self, span: Span, c: list[Any]) -> str:
        return str(c[0])

    # --- types ---------------------------------------------------------------

    def type_union(self, span: Span, c: list[Any]) -> n.UnionType:
        return n.UnionType(options=tuple(c), span=span)

    def type_name(self, span: Span, c: list[Any]) -> n.TypeName:
        return n.TypeName(name=self.name(c[0]), args=(), span=span)

    def type_generic(self, span: Span, c: list[Any]) -> n.TypeName:
        return n.TypeName(name=self.name(c[0]), args=tuple(c[1:]), span=span)

    def type_literal(self, span: Span, c: list[Any]) -> n.LiteralType:
        template: n.Template = c[0]
        if template.text is None:
            self.error(
                "P146", "a literal type cannot interpolate", template.span, "contains `{…}`",
                "write the literal text itself, or use `{{` and `}}` for braces",
            )
        return n.LiteralType(value=template.text or "", span=span)

    def type_none(self, span: Span, c: list[Any]) -> n.LiteralType:
        return n.LiteralType(value=None, span=span)

    def type_agent(self, span: Span, c: list[Any]) -> n.TypeName:
        return n.TypeName(name=n.Name(id="agent", span=span), args=(), span=span)  # `agent` is a keyword

    # --- expressions ---------------------------------------------------------

    def conditional(self, span: Span, c: list[Any]) -> n.Conditional:
        return self.deep(n.Conditional(body=c[0], test=c[1], orelse=c[2], span=span), *c)

    def or_op(self, span: Span, c: list[Any]) -> n.BinaryOp:
        return self.deep(n.BinaryOp(op="or", left=c[0], right=c[1], span=span), *c)

    def and_op(self, span: Span, c: list[Any]) -> n.BinaryOp:
        return self.deep(n.BinaryOp(op="and", left=c[0], right=c[1], span=span), *c)

    def not_op(self, span: Span, c: list[Any]) -> n.UnaryOp:
        return self.deep(n.UnaryOp(op="not", operand=c[0], span=span), *c)

    def compare(self, span: Span, c: list[Any]) -> n.Compare:
        return self.deep(n.Compare(left=c[0], ops=tuple(c[1::2]), comparators=tuple(c[2::2]), span=span), *c)

    def compare_op(self, span: Span, c: list[Any]) -> str:
        return " ".join(str(t) for t in c)

    add_op = mul_op = pow_op = aug_op = compare_op

    def binary(self, span: Span, c: list[Any]) -> n.BinaryOp:
        return self.deep(n.BinaryOp(op=c[1], left=c[0], right=c[2], span=span), c[0], c[2])

    def unary(self, span: Span, c: list[Any]) -> n.UnaryOp:
        return self.deep(n.UnaryOp(op=c[0], operand=c[1], span=span), c[1])

    def attribute(self, span: Span, c: list[Any]) -> n.Attribute:
        return self.deep(n.Attribute(value=c[0], attr=str(c[1]), attr_span=self.span(c[1]), span=span), c[0])

    def call(self, span: Span, c: list[Any]) -> n.Call:
        args, keywords = c[1] if len(c) > 1 else ((), ())
        return self.deep(n.Call(func=c[0], args=args, keywords=keywords, span=span), c[0], *args, *keywords)

    def index(self, span: Span, c: list[Any]) -> n.Index:
        return self.deep(n.Index(value=c[0], index=c[1], span=span), *c)

    def slice(self, span: Span, c: list[Any]) -> n.Slice:
        colon = next(i for i, x in enumerate(c) if x is _COLON)
        start = c[1] if colon == 2 else None
        stop = c[colon + 1] if colon + 1 < len(c) else None
        return self.deep(n.Slice(value=c[0], start=start, stop=stop, span=span), *(x for x in c if x is not _COLON))

    def slice_colon(self, span: Span, c: list[Any]) -> object:
        return _COLON

    def arguments(self, span: Span, c: list[Any]) -> tuple[tuple[Any, ...], tuple[n.Keyword, ...]]:
        args = tuple(x for x in c if not isinstance(x, n.Keyword))
        keywords = tuple(x for x in c if isinstance(x, n.Keyword))
        first_keyword = next((i for i, x in enumerate(c) if isinstance(x, n.Keyword)), len(c))
        late = [x for x in c[first_keyword:] if not isinstance(x, n.Keyword)]
        if late:
            self.error(
                "P147", "positional argument after a keyword argument", late[0].span,
                "positional", "put positional arguments first, then `name=value` ones",
            )
        seen: set[str] = set()
        for keyword in keywords:
            if keyword.name.id in seen:
                self.error("P148", f"keyword argument `{keyword.name.id}` is given twice", keyword.name.span,
                           "repeated", "give each keyword argument once")
            seen.add(keyword.name.id)
        return args, keywords

    def keyword(self, span: Span, c: list[Any]) -> n.Keyword:
        return self.deep(n.Keyword(name=self.name(c[0]), value=c[1], span=span), c[1])

    def variable(self, span: Span, c: list[Any]) -> n.Name:
        return n.Name(id=str(c[0]), span=span)

    def int_literal(self, span: Span, c: list[Any]) -> n.Literal:
        return n.Literal(value=self.whole(c[0]), span=span)

    def float_literal(self, span: Span, c: list[Any]) -> n.Literal:
        return n.Literal(value=self.finite(float(c[0]), c[0]), span=span)

    def duration(self, span: Span, c: list[Any]) -> n.Duration:
        text = str(c[0])
        unit = "ms" if text.endswith("ms") else text[-1]
        seconds = self.finite(float(text[: -len(unit)]) * _UNITS[unit], c[0])
        return n.Duration(seconds=seconds, text=text, span=span)

    def whole(self, token: Token) -> int:
        """An integer literal's value; past MAX_LITERAL_DIGITS digits it is refused (Python converts no more)."""
        digits = str(token).replace("_", "")
        if len(digits) <= MAX_LITERAL_DIGITS:
            return int(digits)
        self.error("P116", f"this number has {len(digits):,} digits (at most {MAX_LITERAL_DIGITS:,})",
                   self.span(token), "too long", "a number this large is almost certainly a mistake; "
                   "write it as a string if it is an identifier")
        return 0

    def finite(self, value: float, token: Token) -> float:
        """A decimal literal's value, refused when it is too large to be a number (it would be infinity)."""
        if math.isfinite(value):
            return value
        self.error("P116", "this number is too large (decimal numbers reach about 1.8e308)", self.span(token),
                   "too large", "write a smaller number")
        return 0.0

    def money(self, span: Span, c: list[Any]) -> n.Money:
        return n.Money(amount=Decimal(str(c[0])[1:]), span=span)

    def true(self, span: Span, c: list[Any]) -> n.Literal:
        return n.Literal(value=True, span=span)

    def false(self, span: Span, c: list[Any]) -> n.Literal:
        return n.Literal(value=False, span=span)

    def none(self, span: Span, c: list[Any]) -> n.Literal:
        return n.Literal(value=None, span=span)

    def list_literal(self, span: Span, c: list[Any]) -> n.ListExpr:
        return self.deep(n.ListExpr(items=tuple(c), span=span), *c)

    def dict_literal(self, span: Span, c: list[Any]) -> n.DictExpr:
        return self.deep(n.DictExpr(entries=tuple(c), span=span), *c)

    def dict_entry(self, span: Span, c: list[Any]) -> n.DictEntry:
        return self.deep(n.DictEntry(key=c[0], value=c[1], span=span), *c)

    def string_ask(self, span: Span, c: list[Any]) -> n.Ask:
        return n.Ask(agent=self._agent_ref(c[0]), message=c[1], yes_no=False, span=span)

    def yes_no_ask(self, span: Span, c: list[Any]) -> n.Ask:
        return n.Ask(agent=self._agent_ref(c[0]), message=c[1], yes_no=True, span=span)

    def string(self, span: Span, c: list[Any]) -> n.Template:
        return string_template(c[0], self)


#: The builder's method for each rule, by rule name (unbound: `method(builder, span, children)`).
_RULE_METHODS: dict[str, Callable[[TreeBuilder, Span, list[Any]], Any]] = {}


def _token_position(token: Token) -> Position:
    line, column = start_of(token)
    return line, column, token.end_line or line, token.end_column or column


def _children_after_name(c: list[Any]) -> dict[str, Any]:
    """For `NAME [: type] [= default]`: which child follows which punctuation (types are not Exprs)."""
    found: dict[str, Any] = {}
    for child in c[1:]:
        key = ":" if isinstance(child, n.TypeName | n.LiteralType | n.UnionType) and ":" not in found else "="
        found[key] = child
    return found


def _did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None
