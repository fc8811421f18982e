"""Names under the cursor: which declaration they mean (here or in an imported file), go to definition,
and the document's symbols."""

from __future__ import annotations

import re
from pathlib import Path

from lsprotocol import types as t

from parley.lsp.analysis import Analysis, Documents, path_uri
from parley.lsp.outline import Decl, Outline, import_target
from parley.lsp.positions import Lines

_SYMBOLS = {
    "agent": t.SymbolKind.Class, "model": t.SymbolKind.Constant, "type": t.SymbolKind.Struct,
    "def": t.SymbolKind.Function, "tool": t.SymbolKind.Function, "input": t.SymbolKind.Variable,
    "variable": t.SymbolKind.Variable, "import": t.SymbolKind.Module, "field": t.SymbolKind.Field,
    "param": t.SymbolKind.Variable, "setting": t.SymbolKind.Property,
}
_IMPORT_PATH = re.compile(r'^(?:import|from)\s+"([^"]+)"')


def resolve(documents: Documents, analysis: Analysis, lines: Lines,
            position: t.Position) -> tuple[Decl, Outline] | None:
    """The declaration the name under the cursor means, and the outline it is in."""
    word = lines.word_at(position)
    if word is None:
        return None
    name, start, _ = word
    text = lines.line(position.line)
    outline = analysis.names()
    owner = re.search(r"([A-Za-z_]\w*)\.$", text[:start])
    if owner is not None:  # `prefix.name`: a name of an imported file, or a record's field
        prefix = outline.find(owner.group(1))
        if prefix is not None and prefix.kind == "import" and prefix.origin is None and prefix.target is not None:
            imported = documents.file_outline(prefix.target)
            decl = imported.find(name) if imported is not None else None
            return (decl, imported) if decl is not None and imported is not None else None
        return None
    kinds: tuple = ("agent", "import") if text[:start].endswith("@") else ()
    decl = outline.find(name, kinds)
    if decl is None:
        return None
    if decl.kind == "import" and decl.origin is not None and decl.target is not None:
        target = documents.imported(decl)
        imported = documents.file_outline(decl.target)
        if target is not None and imported is not None and not _on(decl, position, start):
            return target, imported
    return decl, outline


def _on(decl: Decl, position: t.Position, start: int) -> bool:
    """Is the cursor on the declaration itself (an import's own line)?"""
    return decl.span.line - 1 == position.line and decl.span.column - 1 == start


def definition(documents: Documents, analysis: Analysis, lines: Lines, position: t.Position) -> t.Location | None:
    """Where the name (or import path) under the cursor is declared."""
    text = lines.line(position.line)
    if match := _IMPORT_PATH.match(text):
        char = lines.char(position)
        if match.start(1) <= char <= match.end(1):
            target = import_target(match.group(1), analysis.path.parent if analysis.path else None)
            if target is not None and target.is_file():
                zero = t.Position(line=0, character=0)
                return t.Location(uri=path_uri(target), range=t.Range(start=zero, end=zero))
            return None
    found = resolve(documents, analysis, lines, position)
    if found is None:
        return None
    decl, _ = found
    if decl.kind == "import" and decl.target is not None and decl.origin is None:
        zero = t.Position(line=0, character=0)
        return t.Location(uri=path_uri(decl.target), range=t.Range(start=zero, end=zero))
    if decl.span.file == analysis.source.name:
        return t.Location(uri=analysis.uri, range=lines.range(decl.span))
    text_there = documents.source_of(Path(decl.span.file))
    if text_there is None:
        return None
    return t.Location(uri=path_uri(decl.span.file), range=Lines(text_there, lines.encoding).range(decl.span))


def symbols(analysis: Analysis, lines: Lines) -> list[t.DocumentSymbol]:
    """The document's declarations (agents, models, types with their fields, defs with their parameters,
    inputs, imports) and the variables of its top level."""
    outline = analysis.outline

    def symbol(decl: Decl) -> t.DocumentSymbol:
        whole = lines.range(decl.whole)
        name = lines.range(decl.span)
        if (name.start.line, name.start.character) < (whole.start.line, whole.start.character) or (
                (name.end.line, name.end.character) > (whole.end.line, whole.end.character)):
            whole = name
        return t.DocumentSymbol(name=decl.name, kind=_SYMBOLS.get(decl.kind, t.SymbolKind.Variable),
                                detail=decl.detail.splitlines()[0] if decl.detail else None,
                                range=whole, selection_range=name,
                                children=[symbol(c) for c in decl.children] or None)

    top = [d for d in outline.variables if d.whole.line == d.span.line and d.span.column == 1]
    found = [symbol(d) for d in (*outline.decls, *top) if d.span.file == analysis.source.name]
    return sorted(found, key=lambda s: (s.range.start.line, s.range.start.character))
