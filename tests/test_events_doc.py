"""Event kinds and their data fields: declared once (`runtime/events.py`), emitted as declared, documented."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import get_args

import pytest
from parley.dsl.errors import InternalError
from parley.runtime.events import FIELDS, EventKind, make_event
from parley.runtime.replies import origin
from parley.runtime.retries import RetrySink

ROOT = Path(__file__).resolve().parent.parent
EMBEDDING = ROOT / "docs" / "embedding.md"
# A field in the table's "data fields" cell, which starts each: `name`: what it is; `name`?: a field
# only some events have.
FIELD = re.compile(r"(?:^|; )`(\w+)`(\?)?:")


def documented() -> dict[str, tuple[set[str], set[str]]]:
    """The "Events" table of docs/embedding.md: kind -> (fields always there, fields sometimes there)."""
    text = EMBEDDING.read_text(encoding="utf-8")
    section = text.split("\n## Events\n", 1)[1].split("\n## ", 1)[0]
    table: dict[str, tuple[set[str], set[str]]] = {}
    for row in section.splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        kind = re.fullmatch(r"`(\w+)`", cells[0]) if row.startswith("|") else None
        if kind is None:
            continue
        assert kind[1] not in table, f"{kind[1]} is documented twice"
        assert len(cells) == 3, f"the row of {kind[1]} has {len(cells)} cells, not 3 (kind, when, data fields)"
        fields = FIELD.findall(cells[2])
        table[kind[1]] = ({name for name, mark in fields if not mark}, {name for name, mark in fields if mark})
    return table


def test_every_kind_declares_its_fields() -> None:
    assert set(FIELDS) == set(get_args(EventKind))


def test_every_kind_is_documented_with_the_fields_it_declares() -> None:
    table = documented()
    assert sorted(set(get_args(EventKind)) - set(table)) == [], "kinds missing from docs/embedding.md"
    assert sorted(set(table) - set(get_args(EventKind))) == [], "documented kinds that do not exist"
    for kind, (always, sometimes) in table.items():
        fields = FIELDS[kind]  # type: ignore[index]
        assert (always, sometimes) == (set(fields.always), set(fields.sometimes)), kind


def emit_calls() -> list[tuple[str, int, ast.Call]]:
    """Every `emit("kind", step, field=…)` / `x.emit(…)` call with a literal kind in runtime/ and parley/."""
    found = []
    for folder in ("runtime", "parley"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                first = node.args[0]
                if name == "emit" and isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.append((f"{folder}/{path.relative_to(ROOT / folder)}", node.lineno, node))
    return found


# What the `**spread` arguments of emit calls add: the only spreads the runtime uses, each checked below.
SPREADS = {
    "origin": set(origin(None)),  # a turn's or model call's `cached` and `journaled`
    "data": {name for name, p in inspect.signature(RetrySink.__call__).parameters.items()
             if p.kind is inspect.Parameter.KEYWORD_ONLY},  # what a client tells of each retry
}


def test_every_emit_uses_a_declared_kind_and_declared_fields() -> None:
    calls = emit_calls()
    assert len(calls) >= 20, "the scan should find the runtime's emit calls"
    emitted = set()
    problems = []
    for where, line, call in calls:
        kind = call.args[0].value  # type: ignore[attr-defined]
        emitted.add(kind)
        if kind not in FIELDS:
            problems.append(f"{where}:{line}: unknown event kind {kind!r}")
            continue
        given = {k.arg for k in call.keywords if k.arg is not None}
        spreads = [k.value for k in call.keywords if k.arg is None]
        for spread in spreads:
            head = spread.func if isinstance(spread, ast.Call) else spread
            name = getattr(head, "id", None)
            if name not in SPREADS:
                problems.append(f"{where}:{line}: `**{ast.unparse(spread)}`: teach this test its fields")
                continue
            given |= SPREADS[name]
        fields = FIELDS[kind]
        extra = sorted(given - fields.declared)
        if extra:
            problems.append(f"{where}:{line}: {kind!r} with undeclared field(s) {', '.join(extra)}")
        missing = sorted(fields.always - given)
        if missing:
            problems.append(f"{where}:{line}: {kind!r} without its field(s) {', '.join(missing)}")
    assert problems == []
    assert sorted(set(FIELDS) - emitted) == [], "declared kinds nothing emits"


def test_an_event_the_runtime_cannot_make_is_a_bug_in_parley() -> None:
    with pytest.raises(InternalError, match="unknown kind 'turns'"):
        make_event("turns", None, agent="a")  # type: ignore[arg-type]
    with pytest.raises(InternalError, match="'print' event with undeclared field.s. agent"):
        make_event("print", None, text="hi", agent="a")
    with pytest.raises(InternalError, match="'turn' event without its field.s. cached, journaled"):
        make_event("turn", None, agent="a", text="hi")
    event = make_event("retry", None, what="request", attempt=1, tries=3, wait=0.5, reason="429 rate limit")
    assert (event.kind, event.data["reason"]) == ("retry", "429 rate limit")
