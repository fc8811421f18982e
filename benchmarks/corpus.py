"""The 10,000-line benchmark scripts: one built from the examples, one dense in asks.

Each example is repeated with the names it declares suffixed per copy
(`writer` becomes `writer_3`), so the big script is valid: it parses and
compiles with no errors, like the examples themselves. The dense script
repeats one unit (a prose ask, an if/elif/else, a chat, interpolations that
call, index and slice) with its variables numbered; it compiles clean too.
"""

from __future__ import annotations

import re
from pathlib import Path

import parley
from parley.dsl import nodes as n

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def declared_names(module: n.Module) -> set[str]:
    """Names a script declares at its top level (including the local names of its imports)."""
    names: set[str] = set()
    for statement in module.body:
        if isinstance(statement, n.ModelDecl | n.AgentDecl | n.TypeDecl | n.TypeAlias | n.Def | n.InputDecl):
            names.add(statement.name.id)
        elif isinstance(statement, n.FromImport | n.PythonImport):
            names.update((item.alias or item.name).id for item in statement.names)
        elif isinstance(statement, n.ImportAgent):
            names.add(statement.alias.id if statement.alias else Path(statement.path.text or "").stem)
    return names | assigned_names(module.body)


def assigned_names(body: tuple[n.Stmt, ...], in_parallel: bool = False) -> set[str]:
    """Variables set inside top-level `parallel` blocks (not in defs).

    A second copy must not set them: after the first copy's `answer = ...`, a
    `parallel for` setting `answer` again is an error (every iteration would
    change a variable set before the loop).
    """
    names: set[str] = set()
    for statement in body:
        if in_parallel and isinstance(statement, n.Assign | n.AugAssign) and isinstance(statement.target, n.Name):
            names.add(statement.target.id)
        blocks: list[tuple[n.Stmt, ...]] = []
        if isinstance(statement, n.If):
            blocks = [branch.body for branch in statement.branches] + [statement.orelse]
        elif isinstance(statement, n.For | n.Repeat | n.While | n.Parallel):
            blocks = [statement.body]
        for block in blocks:
            names |= assigned_names(block, in_parallel or isinstance(statement, n.Parallel))
    return names


def renamed(text: str, names: set[str], suffix: str) -> str:
    """`text` with each declared name suffixed; import lines keep the names they import from."""
    lines = []
    word = re.compile(r"(?<![\w.:])(" + "|".join(sorted(map(re.escape, names), key=len, reverse=True)) + r")\b")
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("budget ", "default model")):
            continue  # run-wide settings: once per script, kept from the first copy only
        match = re.match(r'(\s*from\s+(?:python\s+)?"[^"]*"\s+import\s+)(.*)', line)
        if match:
            items = []
            for item in match.group(2).split(","):
                parts = item.split(" as ")
                local = parts[-1].strip()
                items.append(f"{parts[0].strip()} as {local}{suffix}")
            lines.append(match.group(1) + ", ".join(items))
            continue
        match = re.match(r'(\s*import\s+"([^"]*)")(?:\s+as\s+(\w+))?\s*$', line)
        if match:
            local = match.group(3) or Path(match.group(2)).stem
            lines.append(f"{match.group(1)} as {local}{suffix}")
            continue
        lines.append(word.sub(lambda m: m.group(1) + suffix, line) if names else line)
    return "\n".join(lines) + "\n"


def build(lines: int = 10_000) -> str:
    """At least `lines` lines: every example once as written, then renamed copies, cut at a file boundary."""
    sources = [(p.read_text(encoding="utf-8"), declared_names(parley.parse(p.read_bytes(), p.name)))
               for p in sorted(EXAMPLES.glob("*.agent"))]
    parts: list[str] = []
    total = copy = 0
    while total < lines:
        for index, (text, names) in enumerate(sources):
            chunk = text if not parts else renamed(text, names, f"_{copy}_{index}")
            parts.append(chunk + "\n")
            total += chunk.count("\n") + 1
            if total >= lines:
                break
        copy += 1
    return "".join(parts)


_DENSE_HEADER = '''\
model smart = openai("gpt-4o-mini", temperature=0.2)
default model smart

agent writer:
    """You are a concise technical writer."""

agent critic:
    """You review drafts for accuracy and clarity. Reply APPROVED when a draft needs no changes."""
    max_auto_replies: 4

agent editor:
    """You shorten texts without losing facts."""

input topic: str = "Lark parsers"
input audience: str = "new programmers"
input words: int = 100

'''

_DENSE_UNIT = '''\
# Unit {i}: a draft, a check, a chat and a summary.
draft_{i} = @writer Draft a {{words}}-word note about {{topic}} for {{audience}}, part {i}. No lists.
if len(draft_{i}) > words * 8:
    print "draft {i} is long ({{len(draft_{i})}} characters); shortening it for {{audience}}"
    draft_{i} = @editor Shorten this to {{words}} words, keep every fact: {{draft_{i}}}
elif "TODO" in draft_{i} or len(draft_{i}) < 10:
    print "draft {i} about {{topic}} looks unfinished: {{draft_{i}[:40]}}"
else:
    print "draft {i} is ready: {{len(draft_{i})}} characters for {{audience}}"
review_{i} = chat writer, critic:
    "Improve this draft about {{topic}} until it is excellent: {{draft_{i}}}"
    until critic says "APPROVED" or 4 turns
if review_{i}.turns > 2:
    note_{i} = @editor Summarize what changed in part {i} about {{topic}}, in one sentence: {{review_{i}.last}}
    print "part {i}: {{note_{i}}}"
else:
    print "part {i} was approved after {{review_{i}.turns}} turns: {{review_{i}.last[:60]}}"

'''


def build_dense(lines: int = 10_000) -> str:
    """At least `lines` lines dense in asks with interpolated prose, ifs and chats (valid: compiles clean)."""
    parts = [_DENSE_HEADER]
    total = _DENSE_HEADER.count("\n")
    index = 0
    while total < lines:
        unit = _DENSE_UNIT.format(i=index)
        parts.append(unit)
        total += unit.count("\n")
        index += 1
    return "".join(parts)
