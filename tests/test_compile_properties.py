"""Properties of every compiled plan, on random valid scripts and on every example.

- compiling is deterministic: the same text gives equal plans, identical JSON
  and the same diagnostics, in this process and in others with a different
  hash seed;
- plans round-trip exactly: `plan_from_json(plan_to_json(plan)) == plan`, and
  writing the loaded plan gives the same text;
- step ids are unique and follow reading order: `s1`, `s2`, … pre-order, the
  defs' bodies first, then the script's body (a step before the steps inside it);
- every span (steps, asks inside expressions, declarations) lies within its
  source file, a step's span contains the spans of the steps inside it, and
  sibling steps come one after the other without overlapping.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

from parley.compiler import CompileResult, compile_path, compile_source
from parley.compiler import plan as p
from parley.compiler.serialize import plan_from_json, plan_to_json
from parley.dsl.source import Source, Span
from helpers import EXAMPLES, ROOT, example_files
from plan_eval import all_steps, children, scripts


def fuzz(max_examples: int) -> settings:
    """Derandomized (the same examples every run), no deadline, a fixed budget."""
    return settings(max_examples=int(os.environ.get("PARLEY_FUZZ_EXAMPLES", max_examples)), derandomize=True,
                    deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def display(path: Path) -> str:
    return str(path.relative_to(ROOT))


def compile_example(path: Path) -> CompileResult:
    return compile_path(path, display=display(path))


def ok(result: CompileResult, what: str) -> p.Plan:
    errors = [f"{d.span}: {d.code} {d.message}" for d in result.diagnostics if d.is_error]
    assert result.plan is not None and not errors, f"{what}:\n" + "\n".join(errors)
    return result.plan


# --- the properties -------------------------------------------------------------------------


def check_deterministic(first: CompileResult, again: CompileResult) -> str:
    """Both compilations gave the same plan, JSON and diagnostics; returns the JSON."""
    assert first.plan == again.plan
    text = plan_to_json(first.plan)
    assert text == plan_to_json(again.plan)
    assert first.diagnostics == again.diagnostics
    return text


def check_round_trip(plan: p.Plan, text: str) -> None:
    """`text` is `plan_to_json(plan)`."""
    loaded = plan_from_json(text)
    assert loaded == plan
    assert plan_to_json(loaded) == text
    assert plan_from_json(plan_to_json(plan, indent=None)) == plan


def check_ids(plan: p.Plan) -> None:
    ids = [step.id for step in all_steps(plan)]
    assert len(set(ids)) == len(ids), [i for i in ids if ids.count(i) > 1]
    assert ids == [f"s{n}" for n in range(1, len(ids) + 1)]


def check_spans(plan: p.Plan, sources: dict[str, Source]) -> None:
    def inside(span: Span, what: str) -> None:
        assert span.file in sources, (what, span)
        source = sources[span.file]
        assert 1 <= span.line <= span.end_line <= len(source.lines), (what, span)
        assert (span.line, span.column) <= (span.end_line, span.end_column), (what, span)
        assert 1 <= span.column <= len(source.line_text(span.line)) + 1, (what, span)
        assert 1 <= span.end_column <= len(source.line_text(span.end_line)) + 1, (what, span)

    def contains(outer: Span, inner: Span) -> bool:
        return outer.file == inner.file and (outer.line, outer.column) <= (inner.line, inner.column) \
            and (inner.end_line, inner.end_column) <= (outer.end_line, outer.end_column)

    def body(steps: tuple[Any, ...], parent: Any) -> None:
        previous = None
        for step in steps:
            inside(step.span, step.id)
            for ask in _asks(step):
                inside(ask.span, f"an ask in {step.id}")
                assert contains(step.span, ask.span), (step.id, step.span, ask.span)
            if parent is not None:
                assert contains(parent.span, step.span), (parent.id, parent.span, step.id, step.span)
            if previous is not None and previous.span.file == step.span.file:
                end, start = (previous.span.end_line, previous.span.end_column), (step.span.line, step.span.column)
                assert end < start, (previous.id, previous.span, step.id, step.span)
            previous = step
            for inner in children(step):
                body(inner, step)

    for decl in (*plan.models, *plan.agents, *plan.tools, *plan.types, *plan.inputs, *plan.budgets, *plan.defs):
        inside(decl.span, f"{decl.kind} {getattr(decl, 'name', '')}")
    for decl in plan.defs:
        body(decl.body, None)
    body(plan.body, None)


def _asks(step: Any) -> list[p.Ask]:
    """The asks inside a step's own expressions (not inside the steps nested in it)."""
    found, pending = [], [getattr(step, f.name) for f in attrs.fields(type(step))
                          if f.name not in ("steps", "branches", "body", "orelse")]
    if isinstance(step, p.IfStep):
        pending += [b.test for b in step.branches]
    while pending:
        current = pending.pop()
        if isinstance(current, tuple):
            pending.extend(current)
        elif isinstance(current, p.Ask):
            found.append(current)
            pending.append(current.message)
        elif attrs.has(type(current)) and not isinstance(current, Span):
            pending.extend(getattr(current, f.name) for f in attrs.fields(type(current)))
    return found


def check_all(result: CompileResult, again: CompileResult, text: str, what: str) -> None:
    plan = ok(result, what)
    check_round_trip(plan, check_deterministic(result, again))
    check_ids(plan)
    check_spans(plan, result.sources)
    assert plan.source_sha256 == hashlib.sha256(text.encode()).hexdigest()


# --- generated scripts ---------------------------------------------------------------------------


@fuzz(150)
@given(scripts())
def test_generated_scripts(text: str) -> None:
    result = compile_source(text, "gen.agent")
    check_all(result, compile_source(text, "gen.agent"), text, text)
    assert result.plan.file == "gen.agent"


# --- the examples ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", example_files(), ids=lambda path: str(path.relative_to(EXAMPLES)))
def test_examples(path: Path) -> None:
    result = compile_example(path)
    text = path.read_bytes().decode("utf-8-sig")
    check_all(result, compile_example(path), text, display(path))
    assert result.plan.file == display(path)


# --- across processes and working directories ----------------------------------------------------------

_DUMP = """
import hashlib, json, sys
import parley
from parley.compiler import compile_path, compile_source
from parley.compiler.serialize import plan_to_json
out = {}
for name in json.loads(sys.argv[1]):
    out[name] = plan_to_json(compile_path(name, display=name).plan)
for path in json.loads(sys.argv[2]):
    with open(path, encoding="utf-8") as f:
        out[path] = plan_to_json(compile_source(f.read(), "gen.agent").plan)
print(json.dumps({k: hashlib.sha256(v.encode()).hexdigest() for k, v in out.items()}))
"""


def _generated(count: int) -> list[str]:
    found: list[str] = []

    @fuzz(count)
    @given(scripts())
    def collect(text: str) -> None:
        found.append(text)

    collect()
    return found


def test_plans_do_not_depend_on_the_hash_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the subprocesses run there (see the working-directory test below)
    names = [display(path) for path in example_files()]
    generated = []
    for index, text in enumerate(_generated(15)):
        path = tmp_path / f"gen{index}.agent"
        path.write_text(text, encoding="utf-8")
        generated.append(str(path))
    here = {name: plan_to_json(compile_path(ROOT / name, display=name).plan) for name in names}
    here |= {path: plan_to_json(compile_source(Path(path).read_text(encoding="utf-8"), "gen.agent").plan)
             for path in generated}
    expected = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in here.items()}
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-c", _DUMP, json.dumps(names), json.dumps(generated)], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == expected, f"PYTHONHASHSEED={seed}"


IMPORTING = [path for path in example_files() if '\nimport "' in path.read_text(encoding="utf-8")
             or '\nfrom "' in path.read_text(encoding="utf-8")]


@pytest.mark.parametrize("path", IMPORTING, ids=lambda path: path.name)
def test_plans_do_not_depend_on_the_working_directory(path: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Imported files are named after the importing script's display name, wherever the compiler runs."""
    monkeypatch.chdir(ROOT)
    at_root = compile_example(path)
    monkeypatch.chdir(tmp_path)
    elsewhere = compile_example(path)
    assert plan_to_json(at_root.plan) == plan_to_json(elsewhere.plan)
    assert list(at_root.sources) == list(elsewhere.sources)
    folder = str(Path(display(path)).parent)
    assert all(name.startswith(folder + "/") for name in at_root.sources), list(at_root.sources)


def test_some_examples_import() -> None:
    assert IMPORTING, "the working-directory test needs an example that imports"
