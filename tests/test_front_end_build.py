"""Nodes are built while Lark parses: what that must not change.

An interpolation is parsed (and its nodes built) in the middle of the file's
own parse; a parse that fails reports its syntax errors only; the grammar
cache still holds across processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from parley.dsl import nodes as n
from parley.dsl.dump import dump
from parley.dsl.parser import parse_source


def codes(text: str) -> list[tuple[str, int, int, str]]:
    result = parse_source(text, "t.agent")
    return [(d.code, d.span.line, d.span.column, d.message) for d in result.diagnostics]


def test_an_interpolation_parsed_inside_brackets_and_a_block_leaves_the_file_layout_alone() -> None:
    # `{items[0]}` is parsed on its own while the file's parse has a block and a bracket open:
    # the newlines inside the call must still be ignored, the dedent after it still counted.
    text = 'if ready:\n    x = f(\n        "{items[0]} and {len(items)}",\n        2,\n    )\n    y = 1\nz = 2\n'
    result = parse_source(text, "t.agent")
    assert result.ok and result.module is not None
    first = result.module.body[0]
    assert isinstance(first, n.If)
    assert [type(s).__name__ for s in first.branches[0].body] == ["Assign", "Assign"]
    call = first.branches[0].body[0].value
    assert isinstance(call, n.Call) and isinstance(call.args[0], n.Template)
    index = call.args[0].parts[0]
    assert isinstance(index, n.Interpolation)
    assert dump(index.expr.span) == "3:11-3:18"
    assert isinstance(result.module.body[1], n.Assign)


def test_a_syntax_error_after_an_interpolation_names_the_file_s_open_bracket() -> None:
    # The same mistake with a plain `{name}` (no parse of its own) and with `{items[0]}`:
    # the diagnostic explains the file's layout, not the interpolation's.
    plain = codes('x = f(\n    "{item}",\n    2\ny = 1\n')
    parsed = codes('x = f(\n    "{items[0]}",\n    2\ny = 1\n')
    assert parsed == plain
    assert parsed and parsed[0][0].startswith("P1")


def test_a_parse_that_fails_reports_no_tree_problems_found_before_its_syntax_error() -> None:
    # `robot` is no agent kind (P140), found while the nodes are built; the syntax error below
    # means no tree, so only the syntax error is reported, as when the tree was built after parsing.
    assert [code for code, *_ in codes('agent helper is robot\nx = "{a[1]}"\ny = = 2\n')] == ["P177"]
    assert [code for code, *_ in codes('agent helper is robot\nx = "{a[1]}"\n')] == ["P140"]


def test_an_interpolation_with_an_error_inside_a_valid_file_is_reported_once() -> None:
    found = codes('x = "{a +}"\ny = "{b * * 2}"\n')
    assert [code for code, *_ in found] == ["P125", "P125"]
    assert [line for _, line, _, _ in found] == [1, 2]


def test_the_grammar_cache_is_reused_by_the_next_process(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("PARLEY_NO_GRAMMAR_CACHE", None)
    load = "from parley.dsl._lark import parser; parser()"
    subprocess.run([sys.executable, "-c", load], env=env, check=True, timeout=120)
    [cache] = list((tmp_path / "parley").iterdir())
    written = cache.stat().st_mtime_ns
    subprocess.run([sys.executable, "-c", load], env=env, check=True, timeout=120)
    assert cache.stat().st_mtime_ns == written, "the second process rebuilt the grammar instead of loading it"
