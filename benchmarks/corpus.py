"""The 10,000-line benchmark script, built from the examples.

Each example is repeated with the names it declares suffixed per copy
(`writer` becomes `writer_3`), so the big script is valid: it parses and
compiles with no errors, like the examples themselves.
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
