"""Plans drawn for people: an indented text tree, a Mermaid flowchart and a Graphviz DOT graph.

Each is a pure function of the plan (same plan, same text), so drawings can be
snapshot-tested and diffed. Mermaid and DOT share one layout (`_Graph`), built
once by walking the steps in the order they run; only the final printing differs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

import attrs

from compiler import plan as p
from dsl.source import Span

# --- expressions back to source --------------------------------------------------

# Binding strength, loosest first, as in grammar/parley.lark. An operand is
# parenthesised only when it binds more loosely than its place requires.
_TERNARY, _OR, _AND, _NOT, _COMPARE, _SUM, _TERM, _FACTOR, _POWER, _POSTFIX = range(1, 11)
_BINARY = {  # op: (its strength, left operand's place, right operand's place)
    "or": (_OR, _OR, _AND), "and": (_AND, _AND, _NOT), "+": (_SUM, _SUM, _TERM), "-": (_SUM, _SUM, _TERM),
    "*": (_TERM, _TERM, _FACTOR), "/": (_TERM, _TERM, _FACTOR), "//": (_TERM, _TERM, _FACTOR),
    "%": (_TERM, _TERM, _FACTOR), "**": (_POWER, _POSTFIX, _FACTOR),
}
_Q = '"'  # strings are drawn in double quotes; an interpolation inside one uses single quotes
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0", "{": "{{", "}": "}}"}


def _unhandled(value: NoReturn) -> NoReturn:
    """The end of every dispatch: mypy proves it unreachable, and a new record kind fails loudly."""
    raise AssertionError(f"draw: unhandled plan record {value!r}")


def expr_source(expr: p.Expr) -> str:
    """`expr` as readable Parley source, with only the parentheses the grammar needs."""
    return _expr(expr, 0, _Q)


def _expr(expr: p.Expr, place: int, q: str) -> str:
    text, strength = _expr_strength(expr, q)
    return f"({text})" if strength < place else text


def _expr_strength(e: p.Expr, q: str) -> tuple[str, int]:
    """Source text of `e` and how tightly it binds; `q` is the quote its strings use."""
    match e:
        case p.Const(value=value):
            return _const(value, q)
        case p.Money(amount=amount):
            return "$" + amount, _POSTFIX
        case p.Duration(seconds=seconds):
            return _duration(seconds), _POSTFIX
        case p.Var(name=name):
            return name, _POSTFIX
        case p.Text():
            return _text(e, q), _POSTFIX
        case p.ListOf(items=items):
            return "[" + ", ".join(_expr(item, 0, q) for item in items) + "]", _POSTFIX
        case p.DictOf(keys=keys, values=values):
            return "{" + ", ".join(f"{_expr(k, 0, q)}: {_expr(v, 0, q)}" for k, v in zip(keys, values)) + "}", _POSTFIX
        case p.GetAttr(value=value, name=name):
            return f"{_expr(value, _POSTFIX, q)}.{name}", _POSTFIX
        case p.GetItem(value=value, index=index):
            return f"{_expr(value, _POSTFIX, q)}[{_expr(index, 0, q)}]", _POSTFIX
        case p.Call(callee=callee, args=args, keywords=keywords):
            parts = [_expr(a, 0, q) for a in args] + [f"{k.name}={_expr(k.value, 0, q)}" for k in keywords]
            return f"{callee}({', '.join(parts)})", _POSTFIX
        case p.Unary(op="not", operand=operand):
            return "not " + _expr(operand, _NOT, q), _NOT
        case p.Unary(op=op, operand=operand):
            inner = _expr(operand, _FACTOR, q)
            return op + (" " if inner[0] in "+-" else "") + inner, _FACTOR  # `- -x`, not `--x`
        case p.Binary(op=op, left=left, right=right):
            strength, left_place, right_place = _BINARY.get(op, (_SUM, _SUM, _TERM))
            return f"{_expr(left, left_place, q)} {op} {_expr(right, right_place, q)}", strength
        case p.Compare(left=left, ops=ops, comparators=comparators):
            rest = "".join(f" {op} {_expr(right, _SUM, q)}" for op, right in zip(ops, comparators))
            return _expr(left, _SUM, q) + rest, _COMPARE
        case p.IfElse(test=test, body=body, orelse=orelse):
            return f"{_expr(body, _OR, q)} if {_expr(test, _OR, q)} else {_expr(orelse, _TERNARY, q)}", _TERNARY
        case p.Ask(agent=agent, message=message, yes_no=yes_no, type=type_):
            # Looser than a postfix, so `(@a "…").last` keeps its parentheses. A typed ask has no
            # expression syntax: `as T` is the drawing's notation for it.
            text = f"@{agent}{'?' if yes_no else ''} {_text(message, q)}"
            return (f"{text} as {type_source(type_)}", _TERNARY) if type_ else (text, _POWER)
        case _:
            _unhandled(e)


def _const(value: str | float | bool | None, q: str) -> tuple[str, int]:
    if isinstance(value, str):
        return _quoted(value, q), _POSTFIX
    if value is None or isinstance(value, bool):
        return {None: "none", True: "true", False: "false"}[value], _POSTFIX
    text = repr(value)
    if isinstance(value, float) and "e" in text and "." not in text:
        text = text.replace("e", ".0e")  # the grammar's floats need a `.`
    return text, (_FACTOR if text.startswith("-") else _POSTFIX)


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    millis = seconds * 1000
    return f"{int(millis)}ms" if millis == int(millis) else f"{seconds}s"


def _quoted(text: str, q: str = _Q) -> str:
    """A string literal (every Parley string interpolates, so braces are doubled)."""
    return q + "".join(_ESCAPES.get(c, "\\" + c if c == q else c) for c in text) + q


def _text(text: p.Text, q: str = _Q) -> str:
    out = []
    for part in text.parts:
        if isinstance(part, str):
            out.append(_quoted(part, q)[1:-1])
        else:  # an interpolation cannot contain its string's own quote, and `{{` would read as a brace
            source = _expr(part, 0, "'" if q == _Q else _Q)
            pad = " " if source[0] == "{" or source[-1] == "}" else ""
            out.append("{" + pad + source + pad + "}")
    return q + "".join(out) + q


def type_source(t: p.TypeRef) -> str:
    """A type as written in Parley."""
    match t:
        case p.NamedType(name=name):
            return name
        case p.ListType(item=item):
            return f"list[{type_source(item)}]"
        case p.DictType(value=value):
            return f"dict[str, {type_source(value)}]"
        case p.LiteralType(value=value):
            return _quoted(value)
        case p.UnionType(options=options):
            return " | ".join(type_source(o) for o in options)
        case _:
            _unhandled(t)


def condition_source(c: p.Condition, place: int = 0) -> str:
    """An `until` condition as written (`and` binds tighter than `or`)."""
    match c:
        case p.TurnsCondition(count=count):
            return f"{count} turns"
        case p.SaysCondition(agent=agent, text=text):
            return f"{agent or 'anyone'} says {_text(text)}"
        case p.ProseCondition(text=text):
            return _text(text)
        case p.UsageCondition(metric=metric, limit=limit):
            return f"{metric} > {_expr(limit, _SUM, _Q)}"
        case p.BoolCondition(op=op, left=left, right=right):
            strength = 2 if op == "and" else 1
            both = f"{condition_source(left, strength)} {op} {condition_source(right, strength + 1)}"
            return f"({both})" if strength < place else both
        case _:
            _unhandled(c)


def _target(t: p.Target) -> str:
    match t:
        case p.VarTarget(name=name):
            return name
        case p.ItemTarget(value=value, index=index):
            return f"{_expr(value, _POSTFIX, _Q)}[{expr_source(index)}]"
        case p.AttrTarget(value=value, name=name):
            return f"{_expr(value, _POSTFIX, _Q)}.{name}"
        case _:
            _unhandled(t)


def _param(name: str, type_: p.TypeRef | None, default: p.Expr | None) -> str:
    """A parameter or field: `name[: type][ = default]`."""
    return name + (f": {type_source(type_)}" if type_ else "") + (f" = {expr_source(default)}" if default else "")


def _value(value: object) -> str:
    """An option's constant value (plain JSON data) as source."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(_value, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_value(k)}: {_value(v)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, (str, int, float, bool)):
        return _const(value, _Q)[0]
    return repr(value)


def _some(*texts: object) -> list[str]:
    """The texts that are there: `cond and text` leaves out what does not apply."""
    return [text for text in texts if isinstance(text, str) and text]


# --- one step in words -----------------------------------------------------------

_Conversation = p.ChatStep | p.GroupStep


def _summary(step: p.Step) -> str:
    """The step's own line, as close to its source as the plan allows (its keyword is its kind)."""
    match step:
        case p.AskStep(agent=agent, message=message, target=target, type=type_):
            lead = f"{_target(target)}{f': {type_source(type_)}' if type_ else ''} = " if target else ""
            return f"{lead}@{agent} {_text(message)}" + (f" as {type_source(type_)}" if type_ and not target else "")
        case p.AssignStep(target=target, value=value):
            return f"{_target(target)} = {expr_source(value)}"
        case p.TellStep(agent=agent, message=message):
            return f"{agent} {expr_source(message)}"
        case p.ForgetStep(agents=agents):
            return ", ".join(agents)
        case p.ChatStep() | p.GroupStep():
            lead = f"{_target(step.target)} = {step.kind} " if step.target else ""  # else the kind says it
            return f"{lead}{', '.join(step.members)}: {expr_source(step.opening)}"
        case p.IfStep(branches=branches):
            return expr_source(branches[0].test) if branches else ""
        case p.LoopStep():
            return _loop_head(step)
        case p.ParallelStep(branches=branches):
            return f"{len(branches)} branches, run at once"
        case p.ConcurrentStep(steps=steps):
            return f"{len(steps)} independent steps, may run at once"
        case p.CallStep(expr=expr) | p.PrintStep(value=expr) | p.OutputStep(value=expr):
            return expr_source(expr)
        case p.ReturnStep(value=value):
            return expr_source(value) if value else ""
        case p.BreakStep() | p.ContinueStep():
            return ""
        case _:
            _unhandled(step)


def _loop_head(step: p.LoopStep, bound_only: bool = False) -> str:
    """`for x in xs`, `repeat n`, `while test max n`; `bound_only` keeps just what bounds it."""
    def show(e: p.Expr | None) -> str:
        return expr_source(e) if e else "?"

    if step.loop == "for":
        return f"for {', '.join(step.variables)} in {show(step.iterable)}"
    if step.loop == "repeat":
        return f"repeat {show(step.count)}"
    if step.loop == "while":
        return ("" if bound_only else f"while {show(step.test)} ") + f"max {show(step.limit)}"
    return step.loop


def _clauses(step: _Conversation) -> list[str]:
    """A chat's or group's clauses, one per line, as written under it."""
    lines = []
    if isinstance(step, p.GroupStep):
        lines = _some(f"select {step.select}" + (f"(seed={step.seed})" if step.seed is not None else ""),
                      step.flow and "flow " + ", ".join(f"{e.source} -> {' | '.join(e.targets)}" for e in step.flow),
                      step.manager and f"manager {step.manager}")
    return lines + _some(step.until and f"until {condition_source(step.until)}", f"max {step.max_turns} turns")


# --- the tree --------------------------------------------------------------------


def _row(line: int | None, depth: int, kind: str, text: str) -> str:
    """`line  kind  text`; nesting indents the kind, so line numbers stay in one column."""
    return f"{line if line is not None else '':>4}  {'  ' * depth}{kind:<7} {text}".rstrip()


def plan_tree(plan: p.Plan, verbose: bool = False) -> str:
    """The plan as an indented tree (`parley plan --format tree`); `verbose` adds reads and writes."""
    lines = _some(f"plan {plan.file} (version {plan.version})",
                  plan.default_model and f"default model {plan.default_model}", "declarations:")

    def decl(span: Span, kind: str, head: str, *more: object) -> None:
        """A declaration's line; one imported from another script says where its line numbers are."""
        elsewhere = span.file != plan.file and f"from {span.file}"
        lines.extend([_row(span.line, 0, kind, head), *(_row(None, 0, "", text) for text in _some(elsewhere, *more))])

    for m in plan.models:
        args = ([_quoted(m.model_id)] if m.model_id is not None else []) + [
            f"{o.name}={_value(o.value)}" for o in m.options]
        decl(m.span, "model", f"{m.name} = {m.provider}({', '.join(args)})")
    for a in plan.agents:
        facts = _some(a.agent_kind + (f" {_quoted(a.target)}" if a.target else ""), a.model and f"model {a.model}",
                      a.tools and f"tools {', '.join(a.tools)}")
        # The description defaults to the system message's first line: show it only when it says more.
        first = a.system.parts[0].partition("\n")[0] if a.system and isinstance(a.system.parts[0], str) else None
        decl(a.span, "agent", f"{a.name}: {'; '.join(facts)}", a.system and f"system {_text(a.system)}",
             a.description != first and a.description and f"description {_quoted(a.description)}",
             *(f"{o.name}: {_value(o.value)}" for o in a.settings), a.reply_by and f"reply by {a.reply_by}")
    for t in plan.tools:
        params = ", ".join(_param(x.name, x.type, x.default) for x in t.params)
        decl(t.span, "tool", f"{t.name}({params}) = python {_quoted(f'{t.module}:{t.function}')}",
             t.description and _quoted(t.description))
    for r in plan.types:
        decl(r.span, "type", r.name, *(_param(f.name, f.type, f.default) for f in r.fields))
    for i in plan.inputs:
        decl(i.span, "input", _param(i.name, i.type, i.default))
    for b in plan.budgets:
        decl(b.span, "budget", _budget(b))
    for d in plan.defs:
        decl(d.span, "def", _signature(d), d.doc and _quoted(d.doc))
        lines.extend(_tree_steps(d.body, 1, verbose))
    return "\n".join([*lines, "body:", *_tree_steps(plan.body, 0, verbose)]) + "\n"


def _budget(b: p.Budget) -> str:
    """As written: `20000 tokens`, `40 turns`, `$1.00`, `10m`."""
    if b.metric == "cost":
        return f"${b.limit}"
    if b.metric == "time" and not isinstance(b.limit, str):
        return _duration(b.limit)
    return f"{b.limit} {b.metric}"


def _signature(d: p.DefDecl) -> str:
    returns = f" -> {type_source(d.returns)}" if d.returns else ""
    return f"{d.name}({', '.join(_param(x.name, x.type, x.default) for x in d.params)}){returns}"


def _tree_steps(steps: Sequence[p.Step], depth: int, verbose: bool) -> list[str]:
    lines: list[str] = []
    for step in steps:
        note = "; ".join(f"{word} {', '.join(names)}" for word, names in (
            ("reads", step.reads), ("writes", step.writes)) if names)
        kind = step.kind + ":" if isinstance(step, (p.ParallelStep, p.ConcurrentStep)) else step.kind
        lines.append(_row(step.span.line, depth, kind, _summary(step) + (f"  # {note}" if verbose and note else "")))
        match step:
            case p.IfStep(branches=branches, orelse=orelse):
                for index, branch in enumerate(branches):
                    lines += _some(index and _row(None, depth, "elif", expr_source(branch.test)))
                    lines += _tree_steps(branch.body, depth + 1, verbose)
                if orelse:
                    lines += [_row(None, depth, "else", ""), *_tree_steps(orelse, depth + 1, verbose)]
            case p.ChatStep() | p.GroupStep():
                lines += [_row(None, depth, "", clause) for clause in _clauses(step)]
            case p.LoopStep(body=body) | p.ParallelStep(branches=body) | p.ConcurrentStep(steps=body):
                lines += _tree_steps(body, depth + 1, verbose)
    return lines


# --- the graph shared by Mermaid and DOT ---------------------------------------------


@attrs.define
class _Node:
    """A box (`box`), a decision (`decision`) or a marker such as start, join or stop (`round`)."""

    id: str
    shape: str
    lines: list[str]


@attrs.define
class _Cluster:
    """A Mermaid subgraph or a DOT cluster: a titled group of nodes and clusters."""

    id: str
    title: str
    items: list[_Node | _Cluster] = attrs.Factory(list)


# Words a Mermaid id must not be (DOT quotes every id, so any would do there).
_RESERVED = {"end", "subgraph", "graph", "flowchart", "style", "class", "classDef", "click", "linkStyle", "default",
             "direction"}
_Exits = list[tuple[str, str]]  # (node id, edge label): ways out of a step, joined to whatever runs next


def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class _Graph:
    """Nodes in nested clusters, and edges in the order the steps run."""

    def __init__(self) -> None:
        self.root = _Cluster("plan", "")
        self.edges: list[tuple[str, str, str]] = []
        self._open = [self.root]
        self._ids: set[str] = set()
        self._loops: list[tuple[str, list[str]]] = []  # (loop node, its breaks), innermost last
        self._end = ""  # where `return` goes

    def fresh(self, want: str) -> str:
        """A valid, unused id: ASCII letters, digits and `_`, starting with a letter."""
        base = re.sub(r"\W", "_", want, flags=re.ASCII)
        base = base if re.match(r"[A-Za-z]", base) and base not in _RESERVED else "s" + base
        name, n = base, 1
        while name in self._ids:
            n += 1
            name = f"{base}_{n}"
        self._ids.add(name)
        return name

    def node(self, want: str, shape: str, *lines: str, id_: str = "") -> str:
        self._open[-1].items.append(_Node(id_ := id_ or self.fresh(want), shape, list(lines)))
        return id_

    @contextmanager
    def cluster(self, want: str, title: str) -> Iterator[None]:
        cluster = _Cluster(self.fresh(want), title)
        self._open[-1].items.append(cluster)
        self._open.append(cluster)
        yield
        self._open.pop()

    def link(self, exits: _Exits, target: str) -> str:
        self.edges += [(source, target, label) for source, label in exits]
        return target

    def fragment(self, start: str, steps: Sequence[p.Step], end: str, end_title: str) -> None:
        """A whole body from its start marker to its end marker, `return` included."""
        self._end = self.fresh(end)
        self.link(self.flow(steps, [(start, "")]), self.node("", "round", end_title, id_=self._end))

    def flow(self, steps: Sequence[p.Step], exits: _Exits) -> _Exits:
        for step in steps:
            exits = self.step(step, exits)
        return exits

    def step(self, step: p.Step, into: _Exits) -> _Exits:
        """Draw one step entered from `into`; its exits."""
        sid = "s" + step.id if step.id[:1].isdigit() else step.id
        label = _some(step.kind, _short(_summary(step)))
        match step:
            case p.AskStep() | p.AssignStep() | p.TellStep() | p.ForgetStep() | p.CallStep() | p.PrintStep() | \
                    p.OutputStep():
                return [(self.link(into, self.node(sid, "box", *label)), "")]
            case p.ReturnStep():
                self.link([(self.link(into, self.node(sid, "box", *label)), "")], self._end)
                return []
            case p.BreakStep() | p.ContinueStep():
                node = self.link(into, self.node(sid, "box", step.kind))
                if not self._loops:  # out of place, but still drawn
                    return [(node, "")]
                if isinstance(step, p.BreakStep):
                    self._loops[-1][1].append(node)
                else:
                    self.link([(node, "continue")], self._loops[-1][0])
                return []
            case p.IfStep(branches=branches, orelse=orelse):
                one = len(branches) == 1  # `yes`/`no`; else each edge is labelled with its test
                node = self.link(into, self.node(sid, "decision", *(label if one else ["if"])))
                exits: _Exits = []
                for branch in branches:
                    exits += self.flow(branch.body, [(node, "yes" if one else _short(expr_source(branch.test), 30))])
                exits += self.flow(orelse, [(node, "no" if one else "else")])
                return [(self.link(exits, self.node(sid + "_join", "round", "end if")), "")] if exits else []
            case p.LoopStep(body=body):
                node = self.link(into, self.node(sid, "box", "loop", _short(_loop_head(step))))
                self._loops.append((node, []))
                back = _short(_loop_head(step, bound_only=True), 30)
                self.link([(source, back) for source, _ in self.flow(body, [(node, "")])], node)
                return [(node, "done"), *((b, "break") for b in self._loops.pop()[1])]
            case p.ParallelStep(branches=branches) | p.ConcurrentStep(steps=branches):
                title = "parallel" if isinstance(step, p.ParallelStep) else "concurrent: may run at once"
                with self.cluster(sid + "_g", title):
                    node = self.link(into, self.node(sid, "round", step.kind, "fork"))
                    exits = [exit for branch in branches for exit in self.step(branch, [(node, "")])]
                    return [(self.link(exits, self.node(sid + "_join", "round", "join")), "")]
            case p.ChatStep() | p.GroupStep():
                return self.conversation(sid, step, into)
            case _:
                _unhandled(step)

    def conversation(self, sid: str, step: _Conversation, into: _Exits) -> _Exits:
        """Members as nodes: who may speak after whom, from the opening to the stop."""
        flow = step.flow if isinstance(step, p.GroupStep) else ()
        names = dict.fromkeys([*step.members, *(name for e in flow for name in (e.source, *e.targets))])
        head = f"{_target(step.target)} = {step.kind}" if step.target else step.kind
        with self.cluster(sid + "_g", f"{step.kind} {', '.join(step.members)}"):
            opening = self.link(into, self.node(sid, "box", head, _short(expr_source(step.opening))))
            member = {name: self.node(f"{sid}_{name}", "round", "@" + name) for name in names}
            selector = ""
            if isinstance(step, p.GroupStep) and (flow or step.select != "round_robin"):
                selector = self.node(sid + "_select", "decision", *_clauses(step)[:1],
                                     *_some(step.manager and f"manager {step.manager}"))
            stop = self.node(sid + "_stop", "round", "stop", *_some(
                step.until and _short(f"until {condition_source(step.until)}")), f"max {step.max_turns} turns")
        speakers = [member[name] for name in step.members]
        if selector:  # the selector picks each speaker, among those the flow allows
            self.edges += [(opening, selector, ""), *((selector, m, "") for m in speakers)]
            self.edges += [(member[e.source], member[t], "") for e in flow for t in e.targets] or [
                (m, selector, "") for m in speakers]
        elif speakers:  # members take turns in order
            self.edges += [(opening, speakers[0], "opens" if isinstance(step, p.ChatStep) else "")]
            self.edges += [(a, b, "") for a, b in zip(speakers, speakers[1:] + speakers[:1]) if a != b]
        return [(self.link([(m, "") for m in speakers], stop), "")]


def _graph(plan: p.Plan) -> _Graph:
    graph = _Graph()
    graph.fragment(graph.node("start", "round", "start"), plan.body, "finish", "end")
    for d in plan.defs:
        with graph.cluster(f"def_{d.name}", "def " + _short(_signature(d))):
            start = graph.node(f"def_{d.name}_start", "round", "def " + d.name)
            graph.fragment(start, d.body, f"def_{d.name}_return", "return")
    return graph


def _print(graph: _Graph, head: list[str], cluster: Callable[[_Cluster], str], close: str,
           node: Callable[[_Node], str], edge: Callable[[str, str, str], str]) -> str:
    """Clusters (opened by `cluster`, closed by `close`) and nodes, nested, then every edge."""
    out = list(head)

    def walk(items: list[_Node | _Cluster], pad: str) -> None:
        for item in items:
            if isinstance(item, _Cluster):
                out.append(pad + cluster(item))
                walk(item.items, pad + "    ")
                out.append(pad + close)
            else:
                out.append(pad + node(item))

    walk(graph.root.items, "    ")
    return "\n".join(out + ["    " + edge(*e) for e in graph.edges]) + "\n"


_MERMAID_ESCAPES = str.maketrans({'"': "#quot;", "#": "#35;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "`": "#96;"})
_MERMAID_SHAPES = {"box": '{id}["{label}"]', "decision": '{id}{{"{label}"}}', "round": '{id}("{label}")'}


def _mermaid_text(*lines: str) -> str:
    return "<br/>".join(line.translate(_MERMAID_ESCAPES) for line in lines)


def plan_mermaid(plan: p.Plan) -> str:
    """The body (and each def) as a Mermaid `flowchart TD`, using only its basic syntax."""
    return _print(
        _graph(plan), ["flowchart TD"], lambda c: f'subgraph {c.id}["{_mermaid_text(c.title)}"]', "end",
        lambda n: _MERMAID_SHAPES[n.shape].format(id=n.id, label=_mermaid_text(*n.lines)),
        lambda a, b, label: f'{a} -->|"{_mermaid_text(label)}"| {b}' if label else f"{a} --> {b}")


def _dot_text(*lines: str) -> str:
    return '"' + "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "")
                            for line in lines) + '"'


_DOT_SHAPES = {"box": "shape=box", "decision": "shape=diamond", "round": 'shape=box, style="rounded"'}


def plan_dot(plan: p.Plan) -> str:
    """The same drawing as `plan_mermaid`, as a Graphviz digraph (clusters for blocks and defs)."""
    head = ["digraph plan {", f"    label={_dot_text('plan ' + plan.file)};", "    labelloc=t;",
            '    graph [fontname="Helvetica"];', '    node [shape=box, fontname="Helvetica"];',
            '    edge [fontname="Helvetica"];']
    return _print(
        _graph(plan), head, lambda c: f'subgraph "cluster_{c.id}" {{ label={_dot_text(c.title)};', "}",
        lambda n: f'"{n.id}" [label={_dot_text(*n.lines)}, {_DOT_SHAPES[n.shape]}];',
        lambda a, b, label: f'"{a}" -> "{b}"' + (f" [label={_dot_text(label)}];" if label else ";")) + "}\n"
