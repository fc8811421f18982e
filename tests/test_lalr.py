"""Parley's parsing loop (`dsl._lalr`) decides exactly as Lark does, on valid and damaged scripts.

The loop runs Lark's own tables; these tests hold it to Lark's results: the
same syntax tree and builder diagnostics for every script Lark accepts, a
rejection for every script Lark rejects, and (since Lark then explains the
error reading from the failing statement only) the same first diagnostic as
Lark reading the whole file.
"""

from __future__ import annotations

import marshal
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lark import UnexpectedInput

from parley.dsl._build import DepthGuard, TreeBuilder
from parley.dsl._indent import LayoutError
from parley.dsl._lalr import FORMAT, Rejected, alternation, tables
from parley.dsl._lark import building, parser
from parley.dsl._syntax_errors import diagnose
from parley.dsl.dump import dump
from parley.dsl.parser import _expr_parser, parse_source
from parley.dsl.source import Source

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import build, build_dense  # noqa: E402
from fuzzing import mutant  # noqa: E402

EXAMPLES = sorted((ROOT / "examples").rglob("*.agent"))
DAMAGED = 400  # damaged scripts compared (the fuzz corpus's first seeds that are text of a modest size)
_INTERPOLATION = re.compile(r"\{([^{}\n]+)\}")


def with_loop(text: str, start: str = "start") -> tuple[str, Any, list[str]]:
    """('ok', tree dump, builder diagnostic codes) from Parley's loop, or ('rejected', None, [])."""
    found: list[Any] = []
    builder = _builder(text, found)
    try:
        value = tables().parse(text, start, builder.build)[0]
    except Rejected:
        return "rejected", None, []
    return "ok", dump(value), [d.code for d in found]


def with_lark(text: str, start: str = "start") -> tuple[str, Any, list[str]]:
    """The same from Lark, building the same nodes with the same builder."""
    found: list[Any] = []
    builder = _builder(text, found)
    try:
        with building(builder.build):
            value = parser().parse(text, start=start)[0]
    except (UnexpectedInput, LayoutError):
        return "rejected", None, []
    return "ok", dump(value), [d.code for d in found]


def _builder(text: str, found: list[Any]) -> TreeBuilder:
    guard = DepthGuard()
    return TreeBuilder("t.agent", found, _expr_parser(Source("t.agent", text), found, guard), guard=guard)


def damaged_scripts() -> list[str]:
    found: list[str] = []
    seed = 0
    while len(found) < DAMAGED:
        case = mutant(seed)
        seed += 1
        if not isinstance(case.data, str) or len(case.data) >= 20_000:
            continue
        text = case.data.replace("\r\n", "\n").replace("\r", "\n")
        decodable = "\0" not in text and not re.search("[\ud800-\udfff]", text)
        if decodable and any(line.strip() and not line.strip().startswith("#") for line in text.split("\n")):
            found.append(text)  # a script without code, or not text, is refused before it is parsed
    return found


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_gets_lark_s_tree(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    loop = with_loop(text)
    assert loop[0] == "ok"
    assert loop == with_lark(text)


def test_both_ten_thousand_line_benchmark_scripts_get_lark_s_tree() -> None:
    for text in (build(), build_dense()):
        loop = with_loop(text)
        assert loop[0] == "ok" and loop == with_lark(text)


def test_interpolated_expressions_of_the_examples_and_their_damaged_forms_get_lark_s_result() -> None:
    expressions = sorted({m.group(1) for path in EXAMPLES for m in _INTERPOLATION.finditer(path.read_text())})
    assert len(expressions) > 50
    damaged = [e[:-1] for e in expressions] + [e + " +" for e in expressions] + [e.replace(".", "..") for e in expressions]
    outcomes = {"ok": 0, "rejected": 0}
    for text in expressions + damaged:
        loop = with_loop(text, "expr")
        assert loop == with_lark(text, "expr"), text
        outcomes[loop[0]] += 1
    assert outcomes["ok"] > 50 and outcomes["rejected"] > 50, outcomes


def test_damaged_scripts_are_accepted_or_rejected_exactly_as_lark_decides() -> None:
    outcomes = {"ok": 0, "rejected": 0}
    for text in damaged_scripts():
        loop = with_loop(text)
        assert loop == with_lark(text), text[:300]
        outcomes[loop[0]] += 1
    assert outcomes["ok"] > 20 and outcomes["rejected"] > 200, outcomes


def test_a_rejected_script_gets_the_first_diagnostic_lark_gives_reading_the_whole_file() -> None:
    compared = 0
    for text in damaged_scripts():
        code = [line for line in text.split("\n") if line.strip() and not line.strip().startswith("#")]
        if with_loop(text)[0] == "ok" or code[0][:1].isspace():  # an indented first statement has its own P102
            continue
        try:
            with building(None):
                parser().parse(text if text.endswith("\n") else text + "\n", start="start")
        except (UnexpectedInput, LayoutError) as error:
            whole = diagnose(error, Source("t.agent", text))
        else:
            continue
        first = parse_source(text, "t.agent").diagnostics[0]
        assert (first.code, first.span, first.message) == (whole.code, whole.span, whole.message), text[:300]
        compared += 1
    assert compared > 200


def test_a_statement_far_below_the_error_free_lines_is_explained_without_reading_them_again() -> None:
    text = "x = 1\n" * 5_000 + "y = = 2\n"
    result = parse_source(text, "t.agent")
    [diagnostic] = result.diagnostics
    assert diagnostic.span.line == 5_001 and diagnostic.code.startswith("P1")


def test_a_state_s_terminals_tried_one_by_one_find_what_its_alternation_finds() -> None:
    """Before a state is busy its terminals are tried alone, in Lark's order; after, as Lark's one alternation."""
    texts = [(EXAMPLES[0].parent / name).read_text(encoding="utf-8") for name in ("review.agent", "panel.agent")]
    lexers = {tuple(lexer.terminals): lexer for lexer in tables().lexer_of}.values()
    compared = 0
    for lexer in lexers:
        combined = re.compile(alternation(lexer.terminals), lexer.flags)
        alone = [(name, re.compile(pattern, lexer.flags)) for name, pattern in lexer.terminals]
        for text in texts:
            for position in range(0, len(text), 4):
                match = combined.match(text, position)
                first = next(((found.group(), name) for name, pattern in alone
                              if (found := pattern.match(text, position)) is not None), None)
                assert first == ((match.group(), match.lastgroup) if match is not None else None), (position, text)
                compared += 1
    assert compared > 10_000


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong shape"])
def test_a_damaged_tables_cache_is_made_again_from_lark(tmp_path: Path, damage: str) -> None:
    environ = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    environ.pop("PARLEY_NO_GRAMMAR_CACHE", None)
    check = "import parley; print(parley.compile('x = [1]\\nprint \"{x[0]}\"\\n', 't.agent').run().printed)"
    first = subprocess.run([sys.executable, "-c", check], env=environ, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    [cache] = (tmp_path / "parley").glob("tables-*")
    data = cache.read_bytes()
    cache.write_bytes({"garbage": b"\x00not marshal at all", "truncated": data[: len(data) // 2],
                       "wrong shape": marshal.dumps({"format": FORMAT, "actions": [], "rules": 3})}[damage])
    again = subprocess.run([sys.executable, "-c", check], env=environ, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout == first.stdout, again.stderr
    assert marshal.loads(cache.read_bytes()) == marshal.loads(data), "the tables were made again and cached"
