"""Completion: what may be written at the cursor, read from the line before it and the document's outline.

After `@`, the agents; after `NAME.`, a record's fields, a conversation's
attributes or an imported file's names; inside an `agent` block, its
settings; after `:` or `->`, types; elsewhere keywords, variables, defs and
built-ins. Only the text before the cursor is read, so a half-typed line
still completes.
"""

from __future__ import annotations

import re

from lsprotocol import types as t

from parley.compiler.builtins import BUILTINS
from parley.compiler.resolve import SETTINGS
from parley.compiler.types import PRIMITIVES, REPLY_ATTRIBUTES, THREAD_ATTRIBUTES
from parley.dsl.keywords import RESERVED, SOFT
from parley.lsp.analysis import Analysis, Documents
from parley.lsp.outline import Decl, Outline

_KINDS = {
    "agent": t.CompletionItemKind.Class, "model": t.CompletionItemKind.Constant,
    "type": t.CompletionItemKind.Struct, "def": t.CompletionItemKind.Function, "tool": t.CompletionItemKind.Function,
    "input": t.CompletionItemKind.Variable, "variable": t.CompletionItemKind.Variable,
    "import": t.CompletionItemKind.Module, "field": t.CompletionItemKind.Field,
    "param": t.CompletionItemKind.Variable, "setting": t.CompletionItemKind.Property,
}
_AGENT = re.compile(r"@([A-Za-z_]\w*)?$")
_MEMBER = re.compile(r"([A-Za-z_]\w*)\.(\w*)$")
_TYPE = re.compile(r"(?:^\s*[A-Za-z_]\w*\s*:\s*(?:[\w\[\], |\"]*[\[,|]\s*)?|->\s*|^type\s+\w+\s*=\s*)(\w*)$")
_SETTING = re.compile(r"^\s+(\w*)$")
_SETTING_VALUE = re.compile(r"^\s+(model|tools)\s*:\s*(?:[\w, ]*,\s*)?(\w*)$")
_AGENT_HEADER = re.compile(r"agent\s+\w+(?:\s+is\s+(\w+))?")
_AGENT_KINDS = {"human": "human", "executor": "executor", "python": "python"}


def complete(documents: Documents, analysis: Analysis, line: int, before: str) -> list[t.CompletionItem]:
    """The completions for a cursor on 0-based `line` with `before` the text left of it."""
    outline = analysis.names()
    if _AGENT.search(before):
        return [_item(decl) for decl in _agents(documents, outline)]
    if match := _MEMBER.search(before):
        return _members(documents, outline, match.group(1))
    header = _block_header(analysis, line)
    if header is not None and (agent := _AGENT_HEADER.match(header)):
        if match := _SETTING_VALUE.match(before):
            kinds = ("model",) if match.group(1) == "model" else ("def", "tool")
            return [_item(decl) for decl in outline.of(*kinds)] + (
                [_item(d) for d in _from_imports(documents, outline, kinds)])
        if _SETTING.match(before):
            kind = _AGENT_KINDS.get(agent.group(1) or "", "llm")
            return [t.CompletionItem(label=key, kind=t.CompletionItemKind.Property, detail=f"{kind} agent setting",
                                     insert_text=f"{key}: ") for key in SETTINGS[kind]]  # type: ignore[index]
        return []
    if _TYPE.search(before) and not before.lstrip().startswith(("if ", "elif ", "while ", "for ", "else")):
        declared = outline.of("type") + _from_imports(documents, outline, ("type",))
        return [_item(decl) for decl in declared] + [
            t.CompletionItem(label=name, kind=t.CompletionItemKind.TypeParameter, detail="built-in type")
            for name in (*PRIMITIVES, "list", "dict")]
    return _everything(documents, outline)


def _item(decl: Decl, label: str | None = None) -> t.CompletionItem:
    return t.CompletionItem(label=label or decl.name, kind=_KINDS.get(decl.kind, t.CompletionItemKind.Text),
                            detail=decl.detail or decl.kind, documentation=decl.doc)


def _agents(documents: Documents, outline: Outline) -> list[Decl]:
    return outline.of("agent") + _from_imports(documents, outline, ("agent",))


def _from_imports(documents: Documents, outline: Outline, kinds: tuple[str, ...]) -> list[Decl]:
    """The names `from "file" import …` brought in that are of these kinds there, under their local names."""
    found = []
    for decl in outline.of("import"):
        target = documents.imported(decl)
        if target is not None and target.kind in kinds:
            found.append(Decl(decl.name, target.kind, decl.span, decl.whole, target.detail, target.doc,
                              target.children))
    return found


def _members(documents: Documents, outline: Outline, owner: str) -> list[t.CompletionItem]:
    decl = outline.find(owner)
    if decl is None:
        return []
    if decl.kind == "import" and decl.origin is None and decl.target is not None:
        imported = documents.file_outline(decl.target)
        return [_item(d) for d in imported.decls if d.kind != "import"] if imported is not None else []
    type_name = decl.detail.strip()
    if type_name == "thread":
        return [t.CompletionItem(label=a, kind=t.CompletionItemKind.Field, detail="conversation")
                for a in THREAD_ATTRIBUTES]
    if type_name == "reply":
        return [t.CompletionItem(label=a, kind=t.CompletionItemKind.Field, detail="reply") for a in REPLY_ATTRIBUTES]
    record = outline.find(type_name, ("type",)) or next(
        (d for d in _from_imports(documents, outline, ("type",)) if d.name == type_name), None)
    return [_item(field) for field in record.children] if record is not None else []


def _everything(documents: Documents, outline: Outline) -> list[t.CompletionItem]:
    items = [t.CompletionItem(label=word, kind=t.CompletionItemKind.Keyword) for word in sorted(RESERVED | SOFT)]
    seen = {item.label for item in items}
    for decl in (*outline.of("variable", "input", "def", "tool", "import", "model", "type"), *outline.variables,
                 *_from_imports(documents, outline, ("def", "type"))):
        if decl.name not in seen:
            seen.add(decl.name)
            items.append(_item(decl))
    items += [t.CompletionItem(label=b.name, kind=t.CompletionItemKind.Function, detail=b.signature())
              for b in BUILTINS.values() if b.name not in seen]
    return items


def _block_header(analysis: Analysis, line: int) -> str | None:
    """The header line of the top-level block the cursor's line is in (None at the top level)."""
    lines = analysis.source.lines
    current = lines[line] if 0 <= line < len(lines) else ""
    if current[:1] not in (" ", "\t"):
        return None
    for index in range(min(line, len(lines)) - 1, -1, -1):
        text = lines[index]
        if text.strip() and not text.lstrip().startswith("#") and text[:1] not in (" ", "\t"):
            return text
    return None
