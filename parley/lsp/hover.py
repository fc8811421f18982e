"""Hover: what a name under the cursor is (an agent's model and system message, a variable's type, a def's
signature) and, over a diagnostic's span, what is wrong and what its code means."""

from __future__ import annotations

from lsprotocol import types as t

from parley.lsp.analysis import Analysis, Documents
from parley.lsp.diagnostics import hover_text
from parley.lsp.navigation import resolve
from parley.lsp.outline import Decl, Outline
from parley.lsp.positions import Lines, contains


def hover(documents: Documents, analysis: Analysis, lines: Lines, position: t.Position) -> t.Hover | None:
    """The hover for a position, or None when there is nothing to say."""
    char = lines.char(position)
    parts = []
    found = resolve(documents, analysis, lines, position)
    if found is not None:
        decl, outline = found
        parts.append(describe(decl, outline, documents))
    for diagnostic in analysis.diagnostics:
        if diagnostic.span.file == analysis.source.name and contains(diagnostic.span, position.line, char):
            parts.append(hover_text(diagnostic))
    if not parts:
        return None
    return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value="\n\n---\n\n".join(parts)))


def describe(decl: Decl, outline: Outline, documents: Documents) -> str:
    """A declaration as Markdown."""
    match decl.kind:
        case "agent":
            head = f"```parley\nagent {decl.name}\n```\n{decl.detail}"
            if "model" not in decl.detail and decl.detail.startswith("LLM") and outline.default_model:
                model = outline.find(outline.default_model, ("model",))
                head += f", default model `{outline.default_model}`"
                if model is not None:
                    head += f": `{model.detail}`"
            return head + (f"\n\n{_quoted(decl.doc)}" if decl.doc else "")
        case "variable" | "param":
            return f"```parley\n{decl.name}: {decl.detail}\n```" if decl.detail else f"(variable) `{decl.name}`"
        case "input":
            return f"```parley\ninput {decl.name}: {decl.detail}\n```"
        case "field":
            return f"```parley\n{decl.name}: {decl.detail}\n```"
        case "type":
            fields = "".join(f"\n    {f.name}: {f.detail}" for f in decl.children)
            return f"```parley\n{decl.detail}{':' if fields else ''}{fields}\n```"
        case "def":
            return f"```parley\n{decl.detail}\n```" + (f"\n\n{decl.doc}" if decl.doc else "")
        case "import":
            target = documents.imported(decl)
            if target is not None:
                return f"`{decl.detail}`\n\n" + describe(target, documents.file_outline(decl.target)  # type: ignore[arg-type]
                                                         or outline, documents)
            return f"`{decl.detail}`" + (f"\n\n{decl.target}" if decl.target is not None else "")
        case _:
            return f"```parley\n{decl.detail}\n```" if decl.detail else f"`{decl.name}` ({decl.kind})"


def _quoted(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.strip().splitlines())
