"""What a script declares, and where: from its syntax tree, or from a lexical scan while it does not parse.

Completion, hover, go-to-definition and the symbol list all read one
`Outline`. A script being typed is often broken; the scan keeps those
features working on what each line plainly declares (`agent NAME`,
`def NAME`, `NAME = …`) until the script parses again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import attrs

from parley.dsl import nodes as n
from parley.dsl.source import Source, Span

Kind = Literal["agent", "model", "type", "def", "input", "variable", "import", "tool", "field", "param", "setting"]


@attrs.frozen
class Decl:
    """One declared name: `span` is the name itself, `whole` the declaration; `detail` a one-line summary,
    `doc` the system message or docstring; an import's `target` file and `origin` name (`from … import origin`)."""

    name: str
    kind: Kind
    span: Span
    whole: Span
    detail: str = ""
    doc: str | None = None
    children: tuple[Decl, ...] = ()
    target: Path | None = None
    origin: str | None = None


@attrs.frozen
class Outline:
    """A file's declarations in order (`decls`, top level) and every variable it assigns, first assignment first."""

    decls: tuple[Decl, ...]
    variables: tuple[Decl, ...] = ()
    default_model: str | None = None

    def find(self, name: str, kinds: tuple[Kind, ...] = ()) -> Decl | None:
        """The declaration of `name` (of one of `kinds`, when given): top level first, then variables."""
        for decl in (*self.decls, *self.variables):
            if decl.name == name and (not kinds or decl.kind in kinds):
                return decl
        return None

    def of(self, *kinds: Kind) -> list[Decl]:
        """The top-level declarations of these kinds."""
        return [decl for decl in self.decls if decl.kind in kinds]


def snippet(source: Source, span: Span) -> str:
    """The source text a span covers."""
    lines = [source.line_text(number) for number in range(span.line, span.end_line + 1)]
    if not lines:
        return ""
    if len(lines) == 1:
        return lines[0][span.column - 1:span.end_column]
    return "\n".join([lines[0][span.column - 1:], *lines[1:-1], lines[-1][:span.end_column]])


def import_target(relative: str | None, base: Path | None) -> Path | None:
    """Where an import path points, relative to the importing script's folder (as the compiler finds it)."""
    if not relative:
        return None
    try:
        return ((base or Path.cwd()) / relative).resolve()
    except (OSError, RuntimeError, ValueError):
        return None


def from_module(module: n.Module, source: Source, path: Path | None) -> Outline:
    """The outline of a parsed script."""
    base = path.parent if path is not None else None
    decls: list[Decl] = []
    default_model = None
    for statement in module.body:
        match statement:
            case n.DefaultModel():
                default_model = statement.model.id
            case n.ModelDecl():
                decls.append(Decl(statement.name.id, "model", statement.name.span, statement.span,
                                  snippet(source, statement.span)))
            case n.AgentDecl():
                decls.append(_agent(statement, source))
            case n.ImportAgent():
                target = import_target(statement.path.text, base)
                name = statement.alias or n.Name(id=Path(statement.path.text or "").stem, span=statement.path.span)
                decls.append(Decl(name.id, "import", name.span, statement.span, snippet(source, statement.span),
                                  target=target))
            case n.FromImport():
                target = import_target(statement.path.text, base)
                for item in statement.names:
                    local = item.alias or item.name
                    decls.append(Decl(local.id, "import", local.span, statement.span,
                                      f'from "{statement.path.text}" import {item.name.id}', target=target,
                                      origin=item.name.id))
            case n.PythonImport():
                for item in statement.names:
                    local = item.alias or item.name
                    decls.append(Decl(local.id, "tool", local.span, item.span,
                                      f'from python "{statement.module.text}" import {item.name.id}'))
            case n.TypeDecl():
                fields = tuple(Decl(f.name.id, "field", f.name.span, f.span, snippet(source, f.type.span))
                               for f in statement.fields)
                decls.append(Decl(statement.name.id, "type", statement.name.span, statement.span,
                                  f"type {statement.name.id}", children=fields))
            case n.TypeAlias():
                decls.append(Decl(statement.name.id, "type", statement.name.span, statement.span,
                                  snippet(source, statement.span)))
            case n.InputDecl():
                decls.append(Decl(statement.name.id, "input", statement.name.span, statement.span,
                                  snippet(source, statement.type.span)))
            case n.Def():
                decls.append(_def(statement, source))
            case _:
                pass
    return Outline(tuple(decls), tuple(_variables(module.body, source)), default_model)


def _agent(decl: n.AgentDecl, source: Source) -> Decl:
    settings = tuple(Decl(s.key.id, "setting", s.key.span, s.span, snippet(source, s.span)) for s in decl.settings)
    model = next((snippet(source, s.values[0].span) for s in decl.settings if s.key.id == "model" and s.values), None)
    kind = "LLM agent" if decl.kind == "llm" else f"{decl.kind} agent"
    detail = f"{kind}, model {model}" if model else kind
    return Decl(decl.name.id, "agent", decl.name.span, decl.span, detail,
                doc=template_text(decl.system, source) if decl.system is not None else None, children=settings)


def _def(decl: n.Def, source: Source) -> Decl:
    params = tuple(Decl(p.name.id, "param", p.name.span, p.span,
                        snippet(source, p.type.span) if p.type is not None else "") for p in decl.params)
    header = source.line_text(decl.span.line).strip().rstrip(":")
    doc = template_text(decl.docstring, source) if decl.docstring is not None else None
    return Decl(decl.name.id, "def", decl.name.span, decl.span, header, doc=doc, children=params)


def template_text(template: n.Template, source: Source) -> str:
    """A string or prose as its text, each `{…}` as written."""
    parts = []
    for part in template.parts:
        if isinstance(part, str):
            parts.append(part)
        else:
            written = snippet(source, part.span)
            parts.append(written if written.startswith("{") else "{" + written + "}")
    return "".join(parts)


def _variables(body: tuple[n.Stmt, ...], source: Source) -> Iterator[Decl]:
    """Every name assigned, at any depth, once (its first assignment), with the type it plainly has."""
    seen: set[str] = set()
    pending: list[object] = list(reversed(body))
    while pending:
        node = pending.pop()
        found: list[tuple[n.Name, str]] = []
        if isinstance(node, n.Assign) and isinstance(node.target, n.Name):
            annotation = snippet(source, node.annotation.span) if node.annotation is not None else None
            found.append((node.target, annotation or _type_of(node.value)))
        elif isinstance(node, n.Conversation) and isinstance(node.target, n.Name):
            found.append((node.target, "thread"))
        elif isinstance(node, n.AugAssign):
            found.append((node.target, ""))
        elif isinstance(node, n.For):
            found.extend((target, "") for target in node.targets)
        elif isinstance(node, n.Parallel) and node.target is not None:
            found.append((node.target, ""))
        elif isinstance(node, n.Def):
            found.extend((p.name, snippet(source, p.type.span) if p.type is not None else "") for p in node.params)
        for name, type_text in found:
            if name.id not in seen:
                seen.add(name.id)
                yield Decl(name.id, "variable", name.span, getattr(node, "span", name.span), type_text)
        inner: list[object] = []
        for attribute in ("body", "orelse"):
            value = getattr(node, attribute, None)
            if isinstance(value, tuple):
                inner.extend(value)
        if isinstance(node, n.If):
            for branch in node.branches:
                inner.extend(branch.body)
            inner.extend(node.orelse)
        pending.extend(reversed(inner))


def _type_of(value: n.Expr) -> str:
    """The type a value plainly has (an empty string when it takes the checker to know)."""
    match value:
        case n.Ask(yes_no=True):
            return "bool"
        case n.Ask() | n.Template():
            return "str"
        case n.Literal(value=bool()):
            return "bool"
        case n.Literal(value=int()):
            return "int"
        case n.Literal(value=float()):
            return "float"
        case n.ListExpr():
            return "list"
        case n.DictExpr():
            return "dict"
        case _:
            return ""


# --- the lexical scan ------------------------------------------------------------------------------

_HEAD = {
    "agent": re.compile(r"agent\s+([A-Za-z_]\w*)(?:\s+is\s+(\w+))?"),
    "model": re.compile(r"model\s+([A-Za-z_]\w*)\s*="),
    "type": re.compile(r"type\s+([A-Za-z_]\w*)"),
    "input": re.compile(r"input\s+([A-Za-z_]\w*)\s*(?::\s*([^=]+?))?\s*(?:=|$)"),
    "def": re.compile(r"\s*def\s+([A-Za-z_]\w*)\s*\(([^)]*)\)?"),
}
_IMPORT = re.compile(r'import\s+"([^"]+)"(?:\s+as\s+([A-Za-z_]\w*))?')
_FROM = re.compile(r'from\s+"([^"]+)"\s+import\s+(.+)')
_ASSIGN = re.compile(r"\s*([A-Za-z_]\w*)\s*(?::\s*([^=]+?))?\s*=(?!=)")
_FIELD = re.compile(r"\s+([A-Za-z_]\w*)\s*:\s*(.+?)\s*$")
_KEYWORDS = frozenset({"agent", "model", "type", "input", "def", "import", "from", "if", "elif", "else", "for",
                       "while", "repeat", "parallel", "print", "output", "return", "tell", "budget", "default"})


def scan(source: Source, path: Path | None) -> Outline:
    """The outline of a script that does not parse, from what each line plainly declares."""
    base = path.parent if path is not None else None
    decls: list[Decl] = []
    variables: list[Decl] = []
    fields: list[Decl] = []
    in_type: tuple[str, Span] | None = None
    default_model = None

    def at(number: int, start: int, name: str) -> Span:
        return Span(source.name, number, start + 1, number, start + len(name))

    def close_type() -> None:
        nonlocal in_type, fields
        if in_type is not None:
            decls.append(Decl(in_type[0], "type", in_type[1], in_type[1], f"type {in_type[0]}",
                              children=tuple(fields)))
        in_type, fields = None, []

    for number, line in enumerate(source.lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        whole = Span(source.name, number, 1, number, max(len(line), 1))
        if in_type is not None and line[:1] in (" ", "\t"):
            if match := _FIELD.match(line):
                fields.append(Decl(match.group(1), "field", at(number, match.start(1), match.group(1)), whole,
                                   match.group(2)))
            continue
        close_type()
        if match := re.match(r"default\s+model\s+([A-Za-z_]\w*)", line):
            default_model = match.group(1)
            continue
        for kind, pattern in _HEAD.items():
            if match := pattern.match(line):
                name = match.group(1)
                span = at(number, match.start(1), name)
                if kind == "type" and line.rstrip().endswith(":"):
                    in_type = (name, span)
                elif kind == "agent":
                    decls.append(Decl(name, "agent", span, whole, f"{match.group(2) or 'LLM'} agent"))
                elif kind == "def":
                    decls.append(Decl(name, "def", span, whole, line.strip().rstrip(":")))
                else:
                    decls.append(Decl(name, kind, span, whole, (match.group(2) or "").strip()  # type: ignore[arg-type]
                                      if kind == "input" else line.strip()))
                break
        else:
            if match := _IMPORT.match(line):
                name = match.group(2) or Path(match.group(1)).stem
                start = match.start(2) if match.group(2) else match.start(1)
                decls.append(Decl(name, "import", at(number, start, name), whole, line.strip(),
                                  target=import_target(match.group(1), base)))
            elif (match := _FROM.match(line)) and not line.startswith("from python"):
                target = import_target(match.group(1), base)
                for item in re.finditer(r"([A-Za-z_]\w*)(?:\s+as\s+([A-Za-z_]\w*))?", match.group(2)):
                    local = item.group(2) or item.group(1)
                    start = match.start(2) + (item.start(2) if item.group(2) else item.start(1))
                    decls.append(Decl(local, "import", at(number, start, local), whole,
                                      f'from "{match.group(1)}" import {item.group(1)}', target=target,
                                      origin=item.group(1)))
            elif (match := _ASSIGN.match(line)) and match.group(1) not in _KEYWORDS:
                name = match.group(1)
                if all(v.name != name for v in variables):
                    variables.append(Decl(name, "variable", at(number, match.start(1), name), whole,
                                          (match.group(2) or "").strip()))
    close_type()
    return Outline(tuple(decls), tuple(variables), default_model)
