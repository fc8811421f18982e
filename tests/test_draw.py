"""Drawing plans: the text tree, Mermaid and DOT, pinned by snapshots; expressions back to source.

The plans here are built by hand from `compiler.plan` records, so drawing is
tested apart from lowering; together they use every record kind of the plan.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.compiler import plan as p
from parley.compiler.draw import plan_dot, plan_mermaid, plan_tree
from parley.compiler.serialize import RECORDS, to_data
from parley.compiler.source_text import condition_source, expr_source, type_source
from parley.dsl import nodes as n
from parley.dsl.parser import parse_expression
from parley.dsl.source import Span

# --- building plans by hand --------------------------------------------------------


def sp(line: int) -> Span:
    return Span("review.agent", line, 1, line, 40)


def V(name: str) -> p.Var:
    return p.Var(name=name)


def C(value: Any) -> p.Const:
    return p.Const(value=value)


def T(*parts: str | p.Expr) -> p.Text:
    return p.Text(parts=parts)


def A(value: p.Expr, *names: str) -> p.Expr:
    for name in names:
        value = p.GetAttr(value=value, name=name)
    return value


def B(op: p.BinaryOperator, left: p.Expr, right: p.Expr) -> p.Binary:
    return p.Binary(op=op, left=left, right=right)


def cmp(left: p.Expr, *rest: Any) -> p.Compare:
    return p.Compare(left=left, ops=tuple(rest[0::2]), comparators=tuple(rest[1::2]))


def call(callee: str, *args: p.Expr, kind: p.CalleeKind = "builtin", **keywords: p.Expr) -> p.Call:
    kws = tuple(p.KeywordArg(name=k, value=v) for k, v in keywords.items())
    return p.Call(callee=callee, callee_kind=kind, args=args, keywords=kws)


def ask(agent: str, *parts: str | p.Expr, yes_no: bool = False, type: p.TypeRef | None = None) -> p.Ask:
    return p.Ask(agent=agent, message=T(*parts), yes_no=yes_no, type=type, span=sp(1))


def step(cls: type, line: int, reads: tuple[str, ...] = (), writes: tuple[str, ...] = (), id: str | None = None,
         **fields: Any) -> Any:
    return cls(id=id or f"s{line}", span=sp(line), reads=reads, writes=writes, **fields)


def var(name: str) -> p.VarTarget:
    return p.VarTarget(name=name)


STR, INT = p.NamedType(name="str"), p.NamedType(name="int")
VERDICT = p.NamedType(name="Verdict")


def review_plan() -> p.Plan:
    """A plan using every construct (the script it would come from is in the comments)."""
    shorten = p.DefDecl(  # def shorten(text: str, words: int = 50) -> str:
        name="shorten",
        params=(p.Param(name="text", type=STR, default=None, required=True),
                p.Param(name="words", type=INT, default=C(50), required=False)),
        returns=STR, doc="Shorten a text to a number of words.", schema={"type": "object"},
        body=(
            step(p.IfStep, 22, ("text", "words"), (), branches=(p.Branch(
                test=cmp(call("len", V("text")), "<", V("words")),
                body=(step(p.ReturnStep, 23, ("text",), value=V("text")),)),), orelse=()),
            step(p.ReturnStep, 24, ("text", "words", "@writer"), ("@writer",),
                 value=ask("writer", "Shorten to ", V("words"), " words: ", V("text"))),
        ),
        span=sp(20),
    )
    body = (
        # draft = @writer Draft a 100-word blurb about {topic}.
        step(p.AskStep, 26, ("topic", "@writer"), ("draft", "@writer"), agent="writer",
             message=T("Draft a 100-word blurb about ", V("topic"), "."), target=var("draft"), type=None),
        # v: Verdict = @critic Score the draft from 1 to 10: {draft}
        step(p.AskStep, 27, ("draft", "@critic"), ("v", "@critic"), agent="critic",
             message=T("Score the draft from 1 to 10: ", V("draft")), target=var("v"), type=VERDICT),
        # if v.verdict == "publish" and @you? "Publish it?": / elif v.score > 5: / else:
        step(p.IfStep, 28, ("v", "draft", "@you", "@writer", "@critic"), ("@you", "@writer", "@critic"), branches=(
            p.Branch(test=B("and", cmp(A(V("v"), "verdict"), "==", C("publish")), ask("you", "Publish it?", yes_no=True)),
                     body=(step(p.PrintStep, 29, ("draft",), value=V("draft")),)),
            p.Branch(test=cmp(A(V("v"), "score"), ">", C(5)),
                     body=(step(p.TellStep, 31, (), ("@writer",), agent="writer", message=T("Close, but revise.")),)),
        ), orelse=(step(p.ForgetStep, 33, (), ("@writer", "@critic"), agents=("writer", "critic")),)),
        # for point in v.points: notes[point] = @critic "Expand {point}"
        step(p.ForStep, 34, ("v", "notes", "@critic"), ("point", "notes", "@critic"), variables=("point",),
             iterable=A(V("v"), "points"), body=(
                 step(p.AskStep, 35, ("point", "@critic"), ("notes", "@critic"), agent="critic",
                      message=T("Expand ", V("point")), target=p.ItemTarget(value=V("notes"), index=V("point")),
                      type=None),
             )),
        step(p.AssignStep, 36, (), ("count",), target=var("count"), value=C(0)),
        # while not done max 10: count = count + 1; if count > rounds: break; continue
        step(p.WhileStep, 37, ("done", "count", "rounds"), ("count",),
             test=p.Unary(op="not", operand=V("done")), limit=C(10), body=(
                 step(p.AssignStep, 38, ("count",), ("count",), target=var("count"), value=B("+", V("count"), C(1))),
                 step(p.IfStep, 39, ("count", "rounds"), (), branches=(p.Branch(
                     test=cmp(V("count"), ">", V("rounds")), body=(step(p.BreakStep, 39, id="39b"),)),), orelse=()),
                 step(p.ContinueStep, 40),
             )),
        # repeat rounds: print "tick {count}" if count > 0 else "start"
        step(p.RepeatStep, 41, ("rounds", "count"), (), count=V("rounds"),
             body=(step(p.PrintStep, 42, ("count",), value=p.IfElse(
                 test=cmp(V("count"), ">", C(0)), body=T("tick ", V("count")), orelse=C("start"))),)),
        # parallel: a = @writer "Title ideas for {topic}" / b = @critic "Risks of {topic}"
        step(p.ParallelStep, 43, ("topic", "@writer", "@critic"), ("a", "b", "@writer", "@critic"), branches=(
            step(p.AssignStep, 44, ("topic", "@writer"), ("a", "@writer"), target=var("a"),
                 value=ask("writer", "Title ideas for ", V("topic"))),
            step(p.AssignStep, 45, ("topic", "@critic"), ("b", "@critic"), target=var("b"),
                 value=ask("critic", "Risks of ", V("topic"))),
        )),
        # parallel for point in v.points max 3: detail = @writer Expand {point}
        step(p.ParallelForStep, 45, ("v", "@writer"), ("detail", "@writer"), id="45f", variable="point",
             iterable=A(V("v"), "points"), limit=C(3), collected=("detail",), body=(
                 step(p.AskStep, 45, ("point", "@writer"), ("detail", "@writer"), id="45g", agent="writer",
                      message=T("Expand ", V("point")), target=var("detail"), type=None),
             )),
        # summary.title = a[0][1:] and log(b, level="info") are independent: the compiler groups them
        step(p.ConcurrentStep, 46, ("a", "b", "summary"), ("summary",), id="46c", steps=(
            step(p.AssignStep, 46, ("a", "summary"), ("summary",), target=p.AttrTarget(value=V("summary"), name="title"),
                 value=p.Slice(value=p.GetItem(value=V("a"), index=C(0)), start=C(1), stop=None)),
            step(p.CallStep, 47, ("b",), (), expr=call("log", V("b"), kind="tool", level=C("info"))),
        )),
        # review = chat writer, critic: "Improve this draft until it is excellent: {draft}"
        #     until critic says "APPROVED" or not draft or 8 turns
        step(p.ChatStep, 48, ("draft",), ("review",), members=("writer", "critic"),
             opening=T("Improve this draft until it is excellent: ", V("draft")),
             until=p.BoolCondition(op="or", left=p.BoolCondition(
                 op="or", left=p.SaysCondition(agent="critic", text=T("APPROVED")),
                 right=p.ExprCondition(test=p.Unary(op="not", operand=V("draft")))),
                 right=p.TurnsCondition(count=8)),
             max_turns=8, target=var("review")),
        # team = group writer, critic, you: select auto, flow …, manager smart,
        #     until anyone says "DONE" or "the plan is agreed" and cost > $0.50 or time > 5m
        step(p.GroupStep, 51, ("topic",), ("team",), members=("writer", "critic", "you"),
             opening=T("Plan the launch of ", V("topic"), "."),
             until=p.BoolCondition(op="or", left=p.BoolCondition(
                 op="or", left=p.SaysCondition(agent=None, text=T("DONE")),
                 right=p.BoolCondition(op="and", left=p.ProseCondition(text=T("the plan is agreed")),
                                       right=p.UsageCondition(metric="cost", limit=p.Money(amount="0.50")))),
                 right=p.UsageCondition(metric="time", limit=p.Duration(seconds=300.0))),
             max_turns=10, target=var("team"), select="auto", seed=None,
             flow=(p.FlowEdge(source="writer", targets=("critic",)),
                   p.FlowEdge(source="critic", targets=("writer", "you"))),
             manager="smart"),
        # output {"review": review.last, "short": shorten(review.last, words=30), "tags": […]}
        step(p.OutputStep, 58, ("review",), value=p.DictOf(
            keys=(C("review"), C("short"), C("tags")),
            values=(A(V("review"), "last"), call("shorten", A(V("review"), "last"), kind="def", words=C(30)),
                    p.ListOf(items=(C("a"), C(1.5), C(True), C(None)))))),
    )
    return p.Plan(
        version=p.PLAN_VERSION, file="review.agent", source_sha256="0" * 64, default_model="smart",
        models=(p.ModelDecl(name="smart", provider="openai", model_id="gpt-4o-mini",
                            options=(p.Option(name="temperature", value=0.2),), span=sp(1)),),
        agents=(
            p.AgentDecl(name="writer", agent_kind="llm", system=T("You are a concise technical writer."),
                        description=None, model="smart", tools=("search",),
                        settings=p.AgentSettings(max_tool_rounds=3), target=None, reply_by=None, span=sp(3),
                        mcp=(p.McpUse(server="notes", tools=("add_note",), span=sp(4)),)),
            p.AgentDecl(name="critic", agent_kind="llm", system=T("You review drafts.\nReply APPROVED when done."),
                        description="Reviews drafts", model=None, tools=(), settings=p.AgentSettings(), target=None,
                        reply_by="shorten", span=sp(7)),
            p.AgentDecl(name="you", agent_kind="human", system=None, description=None, model=None, tools=(),
                        settings=p.AgentSettings(), target=None, reply_by=None, span=sp(9)),
            p.AgentDecl(name="calc", agent_kind="python", system=None, description=None, model=None, tools=(),
                        settings=p.AgentSettings(), target="tools:calc", reply_by=None, span=sp(10)),
        ),
        tools=(p.ToolDecl(name="log", module="mytools", function="log_event",
                          params=(p.Param(name="text", type=STR, default=None, required=True),
                                  p.Param(name="level", type=None, default=C("info"), required=False)),
                          description="Log an event.", schema={}, span=sp(11)),),
        types=(p.RecordDecl(name="Verdict", fields=(
            p.Field(name="score", type=INT, default=None),
            p.Field(name="verdict", type=p.UnionType(options=(p.LiteralType(value="publish"),
                                                              p.LiteralType(value="revise"))), default=None),
            p.Field(name="points", type=p.ListType(item=STR), default=p.ListOf(items=())),
            p.Field(name="notes", type=p.DictType(value=p.ListType(item=STR)), default=p.DictOf(keys=(), values=())),
        ), span=sp(12)),),
        inputs=(p.InputDecl(name="topic", type=STR, default=C("Lark parsers"), span=sp(16)),
                p.InputDecl(name="rounds", type=INT, default=None, span=sp(17))),
        budgets=(p.Budget(metric="tokens", limit=20000, span=sp(18)), p.Budget(metric="cost", limit="1.00", span=sp(18)),
                 p.Budget(metric="time", limit=600.0, span=sp(19))),
        defs=(shorten,),
        body=body,
        mcp_servers=(p.McpServer(name="notes", transport="stdio", command=("python", "notes.py"), url=None,
                                 env=("NOTES_DIR",), timeout=10.0, span=sp(4)),),
    )


def edge_plan() -> p.Plan:
    """Odd corners: hostile text, odd ids, empty blocks, round-robin groups, steps out of place."""
    nasty = T('say "hi" # <b>&amp;</b> `x` {braces} back\\slash\nnew line |pipe|')
    body = (
        step(p.PrintStep, 1, id="end", value=nasty),
        step(p.RepeatStep, 2, id="2.1", count=C(3), body=()),
        step(p.IfStep, 3, id="2_1", branches=(p.Branch(test=V("x"), body=(step(p.ReturnStep, 4, value=None),)),),
             orelse=(step(p.BreakStep, 5),)),
        step(p.GroupStep, 6, id="start", members=("a", "b", "c"), opening=nasty,
             until=p.ProseCondition(text=nasty), max_turns=3, target=None, select="round_robin", seed=None,
             flow=(), manager=None),
        step(p.GroupStep, 7, members=("a", "b"), opening=C("go"), until=None, max_turns=4, target=None,
             select="random", seed=7, flow=(), manager=None),
        step(p.ChatStep, 8, members=("a", "b", "c"), opening=C("three"), until=None, max_turns=6,
             target=p.ItemTarget(value=V("log"), index=C(-1))),
        step(p.ParallelStep, 9, branches=()),
        step(p.AskStep, 10, agent="a", message=T("json please"), target=None, type=VERDICT),
        step(p.CallStep, 11, expr=ask("a", "typed", type=p.ListType(item=VERDICT))),
        step(p.ContinueStep, 12),
        step(p.AssignStep, 13, target=var("who"), value=p.AgentRef(name="b")),
        step(p.AskStep, 14, agent="", agent_expr=V("who"), message=T("your turn"), target=None, type=None),
    )
    agents = tuple(p.AgentDecl(name=name, agent_kind="llm", system=None, description=None, model=None, tools=(),
                               settings=p.AgentSettings(), target=None, reply_by=None, span=sp(1)) for name in "abc")
    return p.Plan(version=p.PLAN_VERSION, file='odd "name".agent', source_sha256="", default_model=None, models=(),
                  agents=agents, tools=(), types=(), inputs=(), budgets=(), defs=(), body=body)


PLANS = {"review": review_plan, "edges": edge_plan}


# --- snapshots -----------------------------------------------------------------------


@pytest.mark.parametrize("name", PLANS)
def test_tree(name: str, snapshot: Any) -> None:
    assert plan_tree(PLANS[name]()) == snapshot


def test_tree_verbose(snapshot: Any) -> None:
    assert plan_tree(review_plan(), verbose=True) == snapshot


@pytest.mark.parametrize("name", PLANS)
def test_mermaid(name: str, snapshot: Any) -> None:
    assert plan_mermaid(PLANS[name]()) == snapshot


@pytest.mark.parametrize("name", PLANS)
def test_dot(name: str, snapshot: Any) -> None:
    assert plan_dot(PLANS[name]()) == snapshot


def test_tree_line_format() -> None:
    lines = plan_tree(review_plan()).splitlines()
    assert '  26  ask     draft = @writer "Draft a 100-word blurb about {topic}."' in lines
    assert '  27  ask     v: Verdict = @critic "Score the draft from 1 to 10: {draft}"' in lines
    assert "  46  concurrent: 2 independent steps, may run at once" in lines
    assert "  47    call    log(b, level=\"info\")" in lines


def test_every_record_kind_is_drawn() -> None:
    """The test plans hold every record kind, so each dispatch arm runs (new kinds must be added here)."""
    kinds: set[str] = set()

    def collect(data: Any) -> None:
        if isinstance(data, dict):
            kinds.add(data.get("kind", ""))
            for value in data.values():
                collect(value)
        elif isinstance(data, list):
            for item in data:
                collect(item)

    for make in PLANS.values():
        collect(to_data(make()))
    assert set(RECORDS) - kinds == set()


NEW_SPAN = sp(99)


@attrs.frozen
class NewStep:
    """A step kind plan.py might grow that drawing does not know yet."""

    kind = "new"
    id: str = "s99"
    span: Span = NEW_SPAN
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()


@pytest.mark.parametrize("draw", [plan_tree, plan_mermaid, plan_dot])
def test_an_unknown_record_fails_loudly(draw: Any) -> None:
    with pytest.raises(AssertionError, match="unhandled case: "):
        draw(attrs.evolve(edge_plan(), body=(NewStep(),)))
    with pytest.raises(AssertionError, match="unhandled case: "):
        expr_source(object())  # type: ignore[arg-type]


def test_drawing_is_deterministic() -> None:
    for make in PLANS.values():
        for draw in (plan_tree, plan_mermaid, plan_dot):
            assert draw(make()) == draw(make())


# --- the drawings are valid ------------------------------------------------------------

MERMAID_NODE = re.compile(r'^ *([A-Za-z][A-Za-z0-9_]*)(\["[^"]*"\]|\{"[^"]*"\}|\("[^"]*"\))$')
MERMAID_EDGE = re.compile(r'^ *([A-Za-z][A-Za-z0-9_]*) -->(?:\|"[^"]*"\|)? ([A-Za-z][A-Za-z0-9_]*)$')
MERMAID_SUBGRAPH = re.compile(r'^ *subgraph ([A-Za-z][A-Za-z0-9_]*)\["[^"]*"\]$')
MERMAID_KEYWORDS = {"end", "subgraph", "graph", "flowchart", "style", "class", "classDef", "click", "linkStyle",
                    "default", "direction"}


@pytest.mark.parametrize("name", PLANS)
def test_mermaid_is_well_formed(name: str) -> None:
    """Every line is one of the few basic forms we emit; ids are unique and declared before use."""
    lines = plan_mermaid(PLANS[name]()).splitlines()
    assert lines[0] == "flowchart TD"
    nodes: list[str] = []
    clusters: list[str] = []
    depth = 0
    for line in lines[1:]:
        if m := MERMAID_SUBGRAPH.match(line):
            clusters.append(m.group(1))
            depth += 1
        elif line.strip() == "end":
            depth -= 1
            assert depth >= 0
        elif m := MERMAID_NODE.match(line):
            nodes.append(m.group(1))
        else:
            m = MERMAID_EDGE.match(line)
            assert m, f"not basic Mermaid: {line!r}"
            assert depth == 0 and {m.group(1), m.group(2)} <= set(nodes), line
    assert depth == 0
    ids = nodes + clusters
    assert len(ids) == len(set(ids)) and not set(ids) & MERMAID_KEYWORDS


@pytest.mark.parametrize("name", PLANS)
def test_dot_is_accepted_by_graphviz(name: str) -> None:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz `dot` is not installed")
    text = plan_dot(PLANS[name]())
    result = subprocess.run(["dot", "-Tsvg"], input=text, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "<svg" in result.stdout


def test_dot_escapes_labels() -> None:
    plan = attrs.evolve(edge_plan(), body=(step(p.PrintStep, 1, value=T('a\\b\n"c"')),))
    text = plan_dot(plan)
    assert 'label="plan odd \\"name\\".agent"' in text
    # the source text `"a\\b\n\"c\""`, with its backslashes and quotes escaped once more for DOT
    assert r'label="print\n\"a\\\\b\\n\\\"c\\\"\""' in text


# --- expressions back to source ----------------------------------------------------------

x, y, z, a, b, c = (V(name) for name in "xyzabc")


@pytest.mark.parametrize(("expr", "source"), [
    (B("*", B("+", a, b), c), "(a + b) * c"),
    (B("+", a, B("*", b, c)), "a + b * c"),
    (B("-", a, B("-", b, c)), "a - (b - c)"),
    (B("-", B("-", a, b), c), "a - b - c"),
    (p.Unary(op="-", operand=B("**", x, C(2))), "-x ** 2"),
    (B("**", p.Unary(op="-", operand=x), C(2)), "(-x) ** 2"),
    (B("**", x, B("**", y, z)), "x ** y ** z"),
    (B("**", B("**", x, y), z), "(x ** y) ** z"),
    (B("**", x, p.Unary(op="-", operand=y)), "x ** -y"),
    (p.Unary(op="-", operand=p.Unary(op="-", operand=x)), "- -x"),
    (p.Unary(op="-", operand=C(-3)), "- -3"),
    (B("**", C(-2), C(2)), "(-2) ** 2"),
    (B("or", p.Unary(op="not", operand=a), b), "not a or b"),
    (p.Unary(op="not", operand=B("or", a, b)), "not (a or b)"),
    (B("and", B("or", a, b), c), "(a or b) and c"),
    (B("or", a, B("and", b, c)), "a or b and c"),
    (p.Unary(op="not", operand=cmp(a, "==", b)), "not a == b"),
    (cmp(a, "<", b, "<=", c), "a < b <= c"),
    (cmp(cmp(a, "<", b), "<", c), "(a < b) < c"),
    (cmp(a, "not in", b, "is not", C(None)), "a not in b is not none"),
    (p.IfElse(test=c, body=x, orelse=y), "x if c else y"),
    (p.IfElse(test=c, body=p.IfElse(test=a, body=x, orelse=y), orelse=z), "(x if a else y) if c else z"),
    (p.IfElse(test=c, body=x, orelse=p.IfElse(test=a, body=y, orelse=z)), "x if c else y if a else z"),
    (p.IfElse(test=p.IfElse(test=a, body=b, orelse=c), body=x, orelse=y), "x if (b if a else c) else y"),
    (B("+", p.IfElse(test=c, body=x, orelse=y), C(1)), "(x if c else y) + 1"),
    (call("f", A(call("g", x), "y"), p.GetItem(value=A(V("m"), "rows"), index=B("+", C(1), C(2)))),
     "f(g(x).y, m.rows[1 + 2])"),
    (A(B("+", a, b), "real"), "(a + b).real"),
    (p.GetItem(value=call("f"), index=p.IfElse(test=c, body=x, orelse=y)), "f()[x if c else y]"),
    (p.Slice(value=A(x, "y"), start=p.Unary(op="-", operand=C(2)), stop=None), "x.y[-2:]"),
    (p.Slice(value=x, start=None, stop=B("+", a, C(1))), "x[:a + 1]"),
    (call("join", p.ListOf(items=(C("a"), C("b"))), sep=C(", ")), 'join(["a", "b"], sep=", ")'),
    (A(ask("critic", "Score ", V("draft")), "tokens"), '(@critic "Score {draft}").tokens'),
    (B("and", a, ask("you", "Ship it?", yes_no=True)), 'a and @you? "Ship it?"'),
    (T("a ", B("+", x, C(1)), " ", p.DictOf(keys=(C("k"),), values=(C("v"),))), "\"a {x + 1} { {'k': 'v'} }\""),
    (C('quote " back \\ brace { tab\t'), r'"quote \" back \\ brace {{ tab\t"'),
    (C(1e-05), "1.0e-05"),
    (p.Duration(seconds=0.25), "250ms"),
    (p.Duration(seconds=90), "90s"),
    (p.Duration(seconds=7200), "2h"),
    (p.Money(amount="0.50"), "$0.50"),
])
def test_expr_source(expr: p.Expr, source: str) -> None:
    assert expr_source(expr) == source


def test_types_and_conditions() -> None:
    union = p.UnionType(options=(p.LiteralType(value="a"), p.ListType(item=p.DictType(value=INT)), p.NamedType(
        name="none")))
    assert type_source(union) == '"a" | list[dict[str, int]] | none'
    says = p.SaysCondition(agent=None, text=T("DONE"))
    turns = p.TurnsCondition(count=3)
    assert condition_source(p.BoolCondition(op="and", left=p.BoolCondition(op="or", left=says, right=turns),
                                            right=turns)) == '(anyone says "DONE" or 3 turns) and 3 turns'
    assert condition_source(p.BoolCondition(op="or", left=says, right=p.BoolCondition(
        op="or", left=turns, right=turns))) == 'anyone says "DONE" or (3 turns or 3 turns)'
    assert condition_source(p.UsageCondition(metric="tokens", limit=B("*", C(2), C(1000)))) == "tokens > 2 * 1000"


# --- round trip through the real parser: parse(expr_source(e)) is e ------------------------


def from_syntax(node: Any) -> p.Expr:
    """The plan expression a syntax-tree expression stands for (the subset drawn here)."""
    match node:
        case n.Name(id=name):
            return V(name)
        case n.Literal(value=value):
            return C(value)
        case n.Template(parts=parts):
            return T(*(part if isinstance(part, str) else from_syntax(part.expr) for part in parts))
        case n.Attribute(value=value, attr=attr):
            return p.GetAttr(value=from_syntax(value), name=attr)
        case n.Index(value=value, index=index):
            return p.GetItem(value=from_syntax(value), index=from_syntax(index))
        case n.Slice(value=value, start=start, stop=stop):
            return p.Slice(value=from_syntax(value), start=None if start is None else from_syntax(start),
                           stop=None if stop is None else from_syntax(stop))
        case n.Call(func=n.Name(id=callee), args=args, keywords=keywords):
            return call(callee, *map(from_syntax, args), **{k.name.id: from_syntax(k.value) for k in keywords})
        case n.UnaryOp(op=op, operand=operand):
            return p.Unary(op=op, operand=from_syntax(operand))
        case n.BinaryOp(op=op, left=left, right=right):
            return B(op, from_syntax(left), from_syntax(right))
        case n.Compare(left=left, ops=ops, comparators=comparators):
            return p.Compare(left=from_syntax(left), ops=ops, comparators=tuple(map(from_syntax, comparators)))
        case n.Conditional(test=test, body=body, orelse=orelse):
            return p.IfElse(test=from_syntax(test), body=from_syntax(body), orelse=from_syntax(orelse))
        case n.Ask(agent=agent, message=message, yes_no=yes_no):
            text = from_syntax(message)
            assert isinstance(text, p.Text)
            return p.Ask(agent=agent.id, message=text, yes_no=yes_no, type=None, span=sp(1))
        case n.ListExpr(items=items):
            return p.ListOf(items=tuple(map(from_syntax, items)))
    raise AssertionError(f"not drawn here: {node!r}")


names = st.sampled_from([V("a"), V("b"), V("xs")])
leaves = st.one_of(names, st.integers(0, 99).map(C), st.booleans().map(C), st.just(C(None)),
                   st.text(st.sampled_from('ab "{}\\\n'), min_size=1, max_size=5).map(T))


def grow(inner: st.SearchStrategy[p.Expr]) -> st.SearchStrategy[p.Expr]:
    return st.one_of(
        st.builds(B, st.sampled_from(["or", "and", "+", "-", "*", "/", "//", "%", "**"]), inner, inner),
        st.builds(lambda op, e: p.Unary(op=op, operand=e), st.sampled_from(["not", "-", "+"]), inner),
        st.builds(lambda left, pairs: p.Compare(left=left, ops=tuple(o for o, _ in pairs),
                                                comparators=tuple(r for _, r in pairs)),
                  inner, st.lists(st.tuples(st.sampled_from(["<", "<=", "==", "in", "not in", "is not"]), inner),
                                  min_size=1, max_size=2)),
        st.builds(lambda t, bd, o: p.IfElse(test=t, body=bd, orelse=o), inner, inner, inner),
        st.builds(lambda v, name: p.GetAttr(value=v, name=name), inner, st.sampled_from(["last", "x"])),
        st.builds(lambda v, i: p.GetItem(value=v, index=i), inner, inner),
        st.builds(lambda v, i, j: p.Slice(value=v, start=i, stop=j), inner, st.none() | inner, st.none() | inner),
        st.builds(lambda args: call("f", *args), st.lists(inner, max_size=2)),
        st.builds(lambda e: T("n=", e), names),  # a string in an interpolation in a string has no quote left
        st.builds(lambda who, q, e: p.Ask(agent=who, message=T("q ", e), yes_no=q, type=None, span=sp(1)),
                  st.sampled_from(["w", "you"]), st.booleans(), names),
        st.lists(inner, max_size=2).map(lambda items: p.ListOf(items=tuple(items))),
    )


@settings(max_examples=300, deadline=None)
@given(st.recursive(leaves, grow, max_leaves=8))
def test_expr_source_round_trips_through_the_parser(expr: p.Expr) -> None:
    source = expr_source(expr)
    assert from_syntax(parse_expression(source)) == expr, source


def test_the_deepest_plans_the_parser_allows_still_draw() -> None:
    """200 levels of expression (dsl's limit) inside 100 levels of blocks (its nesting limit)."""
    expr: p.Expr = V("x")
    for level in range(200):
        expr = B("-", C(level), expr) if level % 2 else p.Unary(op="not", operand=expr)
    inner: p.Step = step(p.PrintStep, 300, value=T("deep ", expr))
    for level in range(100):
        inner = step(p.IfStep, 200 - level, branches=(p.Branch(test=V("c"), body=(inner,)),), orelse=())
    plan = attrs.evolve(edge_plan(), body=(inner,))
    for draw in (plan_tree, plan_mermaid, plan_dot):
        assert "deep" in draw(plan)
