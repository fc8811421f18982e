"""The compiler on the examples and through the public API: plans pinned by snapshots."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

import parley
from parley.compiler import compile_path, compile_source
from parley.compiler import plan as p
from parley.compiler.serialize import plan_from_json, plan_to_json
from helpers import EXAMPLES, ROOT, example_files

PROGRAMS = sorted(EXAMPLES.glob("*.agent"))


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _example_id(path: Path) -> str:
    """`hello.agent`, `lib.naming.agent`: the test id, and so the snapshot's file name (no `/` in it)."""
    return path.relative_to(EXAMPLES).as_posix().replace("/", ".")


@pytest.fixture
def snapshot_json(snapshot):
    """Snapshots as JSON files, one per test: `__snapshots__/test_compile/test_example_plan_json[hello.agent].json`."""
    return snapshot.use_extension(JSONSnapshotExtension)


def _json_data(text: str) -> Any:
    """JSON text as data whose objects keep their key order (syrupy sorts the keys of a plain dict)."""
    return json.loads(text, object_pairs_hook=OrderedDict)


@pytest.fixture(autouse=True)
def _run_from_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # imported files are shown relative to the working folder


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.name)
def test_example_compiles_clean(path: Path) -> None:
    result = compile_path(path, display=_relative(path))
    assert result.ok
    assert [d for d in result.diagnostics] == []


@pytest.mark.parametrize("path", example_files(), ids=_example_id)
def test_example_plan_json(path: Path, snapshot_json) -> None:
    """Each example's whole plan, exactly as `plan_to_json` writes it, and read back to the same plan."""
    result = compile_path(path, display=_relative(path))
    assert result.ok, [d.message for d in result.diagnostics]
    assert result.plan is not None
    text = plan_to_json(result.plan)
    data = _json_data(text)
    # The snapshot file is the plan's own JSON text, byte for byte (nothing cut at syrupy's depth limit).
    assert snapshot_json.extension.serialize(data) == text + "\n"
    assert data == snapshot_json
    assert plan_from_json(text) == result.plan


def test_public_api_compiles_text_and_paths() -> None:
    program = parley.compile('agent a:\n    """Hi."""\nx = @a Hello.\nprint x\n', "t.agent")
    assert isinstance(program.plan, p.Plan)
    assert [s.kind for s in program.plan.body] == ["ask", "print"]
    loaded = parley.load(EXAMPLES / "review.agent")
    assert loaded.plan.file.endswith("review.agent")
    assert parley.compile(EXAMPLES / "review.agent").plan.body == loaded.plan.body


def test_compile_errors_raise_one_script_error() -> None:
    with pytest.raises(parley.ScriptError) as caught:
        parley.compile("x = @writr Hi.\nprint y\n", "bad.agent")
    text = str(caught.value)
    assert "bad.agent:1:5: error[P202]: unknown agent `writr`" in text
    assert "bad.agent:2:7: error[P201]: unknown name `y`" in text
    assert [d.code for d in caught.value.diagnostics if d.is_error] == ["P202", "P201"]


def test_warnings_do_not_stop_compilation() -> None:
    program = parley.compile('agent a:\n    """Hi."""\nagent b:\n    """Ho."""\nt = chat a, b:\n    "Go."\nprint t.last\n')
    assert [d.code for d in program.warnings] == ["P260"]
    chat = program.plan.body[0]
    assert isinstance(chat, p.ChatStep) and chat.max_turns == p.DEFAULT_MAX_TURNS


def test_load_missing_file_is_usage_error(tmp_path: Path) -> None:
    with pytest.raises(parley.UsageError):
        parley.load(tmp_path / "missing.agent")


def test_turn_limit_comes_from_until() -> None:
    source = (
        'agent a:\n    """A."""\nagent b:\n    """B."""\n'
        't = chat a, b:\n    "Go."\n    until b says "OK" or 4 turns or 7 turns\n'
        'u = chat a, b:\n    "Go."\n    until ("done" and 2 turns) or 6 turns\n'
        'print "{t} {u}"\n'
    )
    plan = compile_source(source).plan
    assert plan is not None
    assert [s.max_turns for s in plan.body[0].steps] == [4, 6]  # type: ignore[attr-defined]


def test_independent_asks_are_grouped_and_dependent_ones_are_not() -> None:
    source = (
        'agent a:\n    """A."""\nagent b:\n    """B."""\n'
        "x = @a One.\ny = @b Two.\nz = @a Three {x}.\nprint \"{y} {z}\"\n"
    )
    plan = compile_source(source).plan
    assert plan is not None
    kinds = [s.kind for s in plan.body]
    assert kinds == ["concurrent", "ask", "print"]
    group = plan.body[0]
    assert isinstance(group, p.ConcurrentStep)
    assert [s.agent for s in group.steps] == ["a", "b"]  # type: ignore[attr-defined]


def test_imports_resolve_relative_to_the_importing_file(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "roles.agent").write_text('agent helper:\n    """Helps."""\n\ndef greet(name):\n    return @helper Greet {name}.\n')
    main = tmp_path / "main.agent"
    main.write_text('from "lib/roles.agent" import helper, greet\nprint greet("Ada")\nx = @helper Hi.\nprint x\n')
    result = compile_path(main, display="main.agent")
    assert result.ok, [d.message for d in result.diagnostics]
    assert result.plan is not None
    assert [a.name for a in result.plan.agents] == ["roles.helper"]
    assert [d.name for d in result.plan.defs] == ["roles.greet"]
