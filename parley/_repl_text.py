"""The REPL's reading of raw text: when an entry is complete, and how it splits into top-level chunks.

An entry is complete when no string or bracket is left open and, if a line
opened a block (a compound statement's header ends in `:`), an empty line
has closed it. Prose (the rest of the line after `@agent`) is plain text, so
its brackets, quotes and colons never keep an entry open.
"""

from __future__ import annotations

import re

import attrs

from parley.dsl import nodes as n
from parley.dsl.source import Source

PROMPT = ">>> "
CONTINUATION = "... "
#: Words that start a compound statement (a header ending in `:` opens its block).
_HEADERS = frozenset({"agent", "type", "def", "if", "elif", "else", "for", "repeat", "while", "parallel", "chat",
                      "group"})
#: The start of a statement whose message is prose: `@a`, `x = @a`, `x: T = @a`, `print @a`, `return @a`, `output @a`.
_PROSE = re.compile(r"\s*(?:(?:print|return|output)\s+)?(?:[A-Za-z_][\w.\[\]\"' ]*(?::[^=]*)?=\s*)?@[A-Za-z_]\w*\??")


def split_prose(line: str) -> tuple[str, str]:
    """A line as (code, prose): the prose is the rest of the line after `@agent`, if it is not a string."""
    match = _PROSE.match(line)
    if match and not line[match.end():].lstrip().startswith(("'", '"')):
        return line[: match.end()], line[match.end():]
    return line, ""
_CONVERSATION = re.compile(r"=\s*(?:chat|group)\b")
_DECLARATIONS = (n.ModelDecl, n.DefaultModel, n.AgentDecl, n.ImportAgent, n.FromImport, n.PythonImport, n.TypeDecl,
                 n.TypeAlias, n.InputDecl, n.BudgetStmt, n.Def)


def is_complete(text: str) -> bool:
    """Whether `text` (the lines typed so far) is a whole entry, or needs a continuation line."""
    lines = text.split("\n")
    if not text.strip():
        return True
    triple: str | None = None
    depth = 0
    block = False
    for line in lines:
        code = split_prose(line)[0] if triple is None else line
        triple, depth, code = _scan(code, triple, depth)
        stripped = code.rstrip()
        if triple is None and stripped.endswith(":") and _is_header(stripped):
            block = True
    if triple is not None or depth > 0:
        return False
    return not block or not lines[-1].strip()


def _scan(line: str, triple: str | None, depth: int) -> tuple[str | None, int, str]:
    """Carry the open triple-quoted string and bracket depth across one line; also return the line's
    code without its comment."""
    i = 0
    end = len(line)
    while i < len(line):
        if triple is not None:
            close = line.find(triple, i)
            if close < 0:
                return triple, depth, line[:i]
            i, triple = close + 3, None
            continue
        char = line[i]
        if char == "#":
            end = i
            break
        if line.startswith(('"""', "'''"), i):
            triple, i = line[i: i + 3], i + 3
            continue
        if char in "\"'":
            j = i + 1
            while j < len(line) and line[j] != char:
                j += 2 if line[j] == "\\" else 1
            i = j + 1
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        i += 1
    return triple, depth, line[:end]


def _is_header(code: str) -> bool:
    words = code.split(None, 1)
    return bool(words) and (words[0].rstrip(":") in _HEADERS or _CONVERSATION.search(code) is not None)


@attrs.frozen
class Chunk:
    """One top-level statement of an entry, with the comments above it.

    `declares` names what a declaration declares (so a later one can replace
    it); `source` and `first_line` are where it was typed or read, for
    diagnostics.
    """

    text: str
    node: n.Stmt
    source: Source
    first_line: int
    declares: frozenset[str] = frozenset()

    @property
    def is_declaration(self) -> bool:
        return isinstance(self.node, _DECLARATIONS)

    @property
    def lines(self) -> int:
        return self.text.count("\n") + 1


def chunks(module: n.Module, source: Source) -> list[Chunk]:
    """Split a parsed entry (or file) into its top-level statements; comments go with the statement below."""
    found = []
    body = module.body
    for index, node in enumerate(body):
        start = body[index - 1].span.end_line + 1 if index else 1
        end = node.span.end_line if index < len(body) - 1 else len(source.lines)
        lines = list(source.lines[start - 1: end])
        while lines and not lines[0].strip():
            lines.pop(0)
            start += 1
        while lines and not lines[-1].strip():
            lines.pop()
        found.append(Chunk("\n".join(lines), node, source, start, declared(node)))
    return found


def declared(node: n.Stmt) -> frozenset[str]:
    """The names a declaration declares (`default model` and each budget kind count as names)."""
    if isinstance(node, n.ModelDecl | n.AgentDecl | n.TypeDecl | n.TypeAlias | n.InputDecl | n.Def):
        return frozenset({node.name.id})
    if isinstance(node, n.DefaultModel):
        return frozenset({"default model"})
    if isinstance(node, n.BudgetStmt):
        return frozenset({f"budget {node.kind}"})
    if isinstance(node, n.FromImport | n.PythonImport):
        return frozenset((name.alias or name.name).id for name in node.names)
    return frozenset()


def joined(parts: list[Chunk]) -> tuple[str, list[int]]:
    """Chunks as one script, and the line each chunk starts on: declarations first (a blank line
    around anything longer than a line, and between kinds), then the statements in order."""
    declarations = [c for c in parts if c.is_declaration]
    statements = [c for c in parts if not c.is_declaration]
    ordered = declarations + statements
    text_lines: list[str] = []
    starts: list[int] = []
    previous: Chunk | None = None
    for chunk in ordered:
        if previous is not None and (
            chunk.lines > 1 or previous.lines > 1 or chunk.is_declaration != previous.is_declaration
            or (chunk.is_declaration and type(chunk.node) is not type(previous.node))
        ):
            text_lines.append("")
        starts.append(len(text_lines) + 1)
        text_lines.extend(chunk.text.split("\n"))
        previous = chunk
    order = {id(c): i for i, c in enumerate(ordered)}
    return "\n".join(text_lines) + "\n", [starts[order[id(c)]] for c in parts]
