"""One open document, checked: the same diagnostics as `parley check`, its outline, and the imports it reads.

The unsaved text of the document is what is checked; the files it imports
are read from disk, relative to the document's folder, as the compiler
reads them. A document that does not parse keeps the outline of its last
good parse for completion, beside what a lexical scan finds now.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import attrs

from parley.compiler import CompileResult, compile_source
from parley.dsl.diagnostics import Diagnostic
from parley.dsl.parser import parse_path, parse_source
from parley.dsl.source import Source
from parley.lsp.outline import Decl, Outline, from_module, scan


def uri_path(uri: str) -> Path | None:
    """The file a `file:` URI names (None for unsaved buffers and other schemes)."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return Path(unquote(parsed.path))


def path_uri(path: str | os.PathLike[str]) -> str:
    """The `file:` URI of a path."""
    return Path(path).absolute().as_uri()


@attrs.frozen
class Analysis:
    """A document as last checked: its text (`source`), whether it parsed, the compile result and the outline."""

    uri: str
    path: Path | None
    source: Source
    parsed: bool
    result: CompileResult | None
    outline: Outline
    previous: Outline | None = None

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return self.result.diagnostics if self.result is not None else ()

    def names(self) -> Outline:
        """The outline, with what the last good parse knew and the scan cannot see (for completion)."""
        if self.parsed or self.previous is None:
            return self.outline
        have = {d.name for d in (*self.outline.decls, *self.outline.variables)}
        return Outline(
            (*self.outline.decls, *(d for d in self.previous.decls if d.name not in have)),
            (*self.outline.variables, *(d for d in self.previous.variables if d.name not in have)),
            self.outline.default_model or self.previous.default_model,
        )


class Documents:
    """The open documents' analyses, and the outlines of the files they import (re-read when changed)."""

    def __init__(self) -> None:
        self.open: dict[str, Analysis] = {}
        self._good: dict[str, Outline] = {}
        self._files: dict[Path, tuple[float, Outline]] = {}

    def check(self, uri: str, text: str) -> Analysis:
        """Check the document's current text (as `parley check` would) and remember the result."""
        path = uri_path(uri)
        name = str(path) if path is not None else uri
        parsed = parse_source(text, name)
        result = compile_source(text, name, path)
        if parsed.module is not None and parsed.ok:
            outline = from_module(parsed.module, parsed.source, path)
            self._good[uri] = outline
        else:
            outline = scan(parsed.source, path)
        analysis = Analysis(uri, path, parsed.source, parsed.ok, result, outline, self._good.get(uri))
        self.open[uri] = analysis
        return analysis

    def close(self, uri: str) -> None:
        self.open.pop(uri, None)
        self._good.pop(uri, None)

    def file_outline(self, path: Path) -> Outline | None:
        """The outline of an imported file (None when it cannot be read); an open document's own text wins."""
        for analysis in self.open.values():
            if analysis.path == path:
                return analysis.names()
        try:
            stamp = path.stat().st_mtime
        except OSError:
            return None
        cached = self._files.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        parsed = parse_path(path, str(path))
        outline = (from_module(parsed.module, parsed.source, path) if parsed.module is not None
                   else scan(parsed.source, path))
        self._files[path] = (stamp, outline)
        return outline

    def imported(self, decl: Decl) -> Decl | None:
        """What a `from "file" import name` brings in: the declaration in that file."""
        if decl.kind != "import" or decl.target is None or decl.origin is None:
            return None
        outline = self.file_outline(decl.target)
        return outline.find(decl.origin) if outline is not None else None

    def source_of(self, path: Path) -> str | None:
        """The text of a file, as open in the editor or else on disk."""
        for analysis in self.open.values():
            if analysis.path == path:
                return analysis.source.text
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
