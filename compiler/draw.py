"""Plans drawn for people: an indented text tree, a Mermaid flowchart and a Graphviz DOT graph.

Each is a pure function of the plan (same plan, same text), so drawings can be
snapshot-tested and diffed. Mermaid and DOT share one layout (`_Graph`), built
once by walking the steps in the order they run; only the final printing differs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import attrs

from parley.compiler import plan as p
from parley.compiler.plan import assert_never
from parley.compiler.source_text import (
    agent_source,
    condition_source,
    duration_source,
    expr_source,
    param_source,
    string_source,
    target_source,
    text_source,
    type_source,
    value_source,
)
from parley.dsl.source import Span


def _mcp_use(use: p.McpUse) -> str:
    """An agent's MCP server, with the tools it takes when not all of them."""
    return use.server + (f" ({', '.join(use.tools)})" if use.tools is not None else "")


def _some(*texts: object) -> list[str]:
    """The texts that are there: `cond and text` leaves out what does not apply."""
    return [text for text in texts if isinstance(text, str) and text]


# --- one step in words -----------------------------------------------------------

_Conversation = p.ChatStep | p.GroupStep
_Loop = p.ForStep | p.RepeatStep | p.WhileStep


def _summary(step: p.Step) -> str:
    """The step's own line, as close to its source as the plan allows (its keyword is its kind)."""
    match step:
        case p.AskStep(agent=agent, message=message, target=target, type=type_, agent_expr=held):
            lead = f"{target_source(target)}{f': {type_source(type_)}' if type_ else ''} = " if target else ""
            typed = f" as {type_source(type_)}" if type_ and not target else ""
            return f"{lead}@{agent_source(agent, held)} {text_source(message)}{typed}"
        case p.AssignStep(target=target, value=value):
            return f"{target_source(target)} = {expr_source(value)}"
        case p.TellStep(agent=agent, message=message, agent_expr=held):
            return f"{agent_source(agent, held)} {expr_source(message)}"
        case p.ForgetStep(agents=agents, agent_exprs=held):
            return ", ".join([*agents, *(expr_source(h) for h in held)])
        case p.ChatStep() | p.GroupStep():
            lead = f"{target_source(step.target)} = {step.kind} " if step.target else ""  # else the kind says it
            return f"{lead}{', '.join(step.members)}: {expr_source(step.opening)}"
        case p.IfStep(branches=branches):
            return expr_source(branches[0].test) if branches else ""
        case p.ForStep() | p.RepeatStep() | p.WhileStep():
            return _loop_head(step, keyword=False)
        case p.ParallelStep(branches=branches):
            return f"{len(branches)} branches, run at once"
        case p.ParallelForStep(variable=variable, iterable=iterable, limit=limit):
            return f"{variable} in {expr_source(iterable)} max {expr_source(limit)}"
        case p.ConcurrentStep(steps=steps):
            return f"{len(steps)} independent steps, may run at once"
        case p.CallStep(expr=expr) | p.PrintStep(value=expr) | p.OutputStep(value=expr):
            return expr_source(expr)
        case p.ReturnStep(value=value):
            return expr_source(value) if value else ""
        case p.BreakStep() | p.ContinueStep():
            return ""
        case _:
            assert_never(step)


def _loop_head(step: _Loop, bound_only: bool = False, keyword: bool = True) -> str:
    """`for x in xs`, `repeat n`, `while test max n`; `bound_only` keeps just what bounds it, and
    `keyword` False leaves out the loop's keyword (its kind)."""
    lead = step.kind + " " if keyword else ""
    match step:
        case p.ForStep(variables=variables, iterable=iterable):
            return f"{lead}{', '.join(variables)} in {expr_source(iterable)}"
        case p.RepeatStep(count=count):
            return f"{lead}{expr_source(count)}"
        case p.WhileStep(test=test, limit=limit):
            return ("" if bound_only else f"{lead}{expr_source(test)} ") + f"max {expr_source(limit)}"
        case _:
            assert_never(step)


def _clauses(step: _Conversation) -> list[str]:
    """A chat's or group's clauses, one per line, as written under it."""
    lines = []
    if isinstance(step, p.GroupStep):
        select = f"select by {step.select_by}" if step.select_by is not None else f"select {step.select}"
        lines = _some(select + (f"(seed={step.seed})" if step.seed is not None else ""),
                      step.flow and "flow " + ", ".join(f"{e.source} -> {' | '.join(e.targets)}" for e in step.flow),
                      step.manager and f"manager {step.manager}")
    return lines + _some(step.until and f"until {condition_source(step.until)}",
                         step.max_turns and f"max {step.max_turns} turns")


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
        args = ([string_source(m.model_id)] if m.model_id is not None else []) + [
            f"{o.name}={value_source(o.value)}" for o in m.options]
        decl(m.span, "model", f"{m.name} = {m.provider}({', '.join(args)})")
    for a in plan.agents:
        facts = _some(a.agent_kind + (f" {string_source(a.target)}" if a.target else ""),
                      a.model and f"model {a.model}", a.tools and f"tools {', '.join(a.tools)}",
                      a.mcp and f"mcp {', '.join(_mcp_use(use) for use in a.mcp)}")
        # The description defaults to the system message's first line: show it only when it says more.
        first = a.system.parts[0].partition("\n")[0] if a.system and isinstance(a.system.parts[0], str) else None
        decl(a.span, "agent", f"{a.name}: {'; '.join(facts)}", a.system and f"system {text_source(a.system)}",
             a.description != first and a.description and f"description {string_source(a.description)}",
             *(f"{name}: {value_source(value)}" for name, value in a.settings.given().items()),
             a.reply_by and f"reply by {a.reply_by}")
    for server in plan.mcp_servers:
        where = " ".join(server.command) if server.transport == "stdio" else server.url
        decl(server.span, "mcp", f"{server.name} = {server.transport} {string_source(where or '')}",
             server.env and f"env {', '.join(server.env)}", f"timeout {server.timeout:g}s")
    for t in plan.tools:
        params = ", ".join(param_source(x.name, x.type, x.default) for x in t.params)
        decl(t.span, "tool", f"{t.name}({params}) = python {string_source(f'{t.module}:{t.function}')}",
             t.description and string_source(t.description))
    for r in plan.types:
        decl(r.span, "type", r.name, *(param_source(f.name, f.type, f.default) for f in r.fields))
    for i in plan.inputs:
        decl(i.span, "input", param_source(i.name, i.type, i.default))
    for b in plan.budgets:
        decl(b.span, "budget", _budget(b))
    for d in plan.defs:
        decl(d.span, "def", _signature(d), d.doc and string_source(d.doc))
        lines.extend(_tree_steps(d.body, 1, verbose))
    return "\n".join([*lines, "body:", *_tree_steps(plan.body, 0, verbose)]) + "\n"


def _budget(b: p.Budget) -> str:
    """As written: `20000 tokens`, `40 turns`, `$1.00`, `10m`."""
    if b.metric == "cost":
        return f"${b.limit}"
    if b.metric == "time" and not isinstance(b.limit, str):
        return duration_source(b.limit)
    return f"{b.limit} {b.metric}"


def _signature(d: p.DefDecl) -> str:
    returns = f" -> {type_source(d.returns)}" if d.returns else ""
    return f"{d.name}({', '.join(param_source(x.name, x.type, x.default) for x in d.params)}){returns}"


def _tree_steps(steps: Sequence[p.Step], depth: int, verbose: bool) -> list[str]:
    lines: list[str] = []
    for step in steps:
        note = "; ".join(f"{word} {', '.join(names)}" for word, names in (
            ("reads", step.reads), ("writes", step.writes)) if names)
        kind = step.kind + ":" if isinstance(step, (p.ParallelStep, p.ConcurrentStep)) else step.kind
        kind = "parallel for" if isinstance(step, p.ParallelForStep) else kind
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
            case (p.ForStep(body=body) | p.RepeatStep(body=body) | p.WhileStep(body=body)
                  | p.ParallelStep(branches=body) | p.ConcurrentStep(steps=body) | p.ParallelForStep(body=body)):
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
            case p.ForStep(body=body) | p.RepeatStep(body=body) | p.WhileStep(body=body):
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
            case p.ParallelForStep(body=body):
                with self.cluster(sid + "_g", "parallel for: " + _short(_summary(step))):
                    node = self.link(into, self.node(sid, "round", "each item", "fork"))
                    return [(self.link(self.flow(body, [(node, "")]), self.node(sid + "_join", "round", "join")), "")]
            case p.ChatStep() | p.GroupStep():
                return self.conversation(sid, step, into)
            case _:
                assert_never(step)

    def conversation(self, sid: str, step: _Conversation, into: _Exits) -> _Exits:
        """Members as nodes: who may speak after whom, from the opening to the stop."""
        flow = step.flow if isinstance(step, p.GroupStep) else ()
        names = dict.fromkeys([*step.members, *(name for e in flow for name in (e.source, *e.targets))])
        head = f"{target_source(step.target)} = {step.kind}" if step.target else step.kind
        with self.cluster(sid + "_g", f"{step.kind} {', '.join(step.members)}"):
            opening = self.link(into, self.node(sid, "box", head, _short(expr_source(step.opening))))
            member = {name: self.node(f"{sid}_{name}", "round", "@" + name) for name in names}
            selector = ""
            if isinstance(step, p.GroupStep) and (flow or step.select != "round_robin"):
                selector = self.node(sid + "_select", "decision", *_clauses(step)[:1],
                                     *_some(step.manager and f"manager {step.manager}"))
            stop = self.node(sid + "_stop", "round", "stop", *_some(
                step.until and _short(f"until {condition_source(step.until)}"),
                step.max_turns and f"max {step.max_turns} turns"))
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
