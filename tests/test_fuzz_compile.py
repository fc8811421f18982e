"""The compile fuzz: thousands of mutated scripts, each compiled under a time and a memory bound.

Seeds are the examples (and the libraries they import), the compile-error and
syntax-error tests, and every ```parley block of the docs (see `fuzzing.py`
for the mutations). Each case is compiled as `parley check` compiles a file,
imports found beside the script it came from, and must keep the compiler's
contract:

- `compile_source` returns; it raises nothing (`parley.compile` then raises
  `ScriptError` or returns a program): no ValueError, UnicodeError, OSError,
  RecursionError, InternalError…;
- the result has a plan exactly when it has no error, and every diagnostic's
  span lies inside its file (the script, or the imported file it names);
- the diagnostics render, a plan serializes to JSON;
- all of it within `Bounds` (CPU seconds, peak memory) per case.

A failure names the seed; `python tests/fuzzing.py SEED --save case.agent`
rebuilds the case. The default run is a few thousand cases in shards (so xdist
spreads them); PARLEY_FUZZ_CASES=50000 runs more, PARLEY_FUZZ_SEED=N starts
elsewhere. `pytest -s` prints each shard's figures; they are kept under the
pytest cache too (`.pytest_cache/d/parley-fuzz/`).
"""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from parley.compiler import compile_source, python_tools
from parley.compiler.serialize import plan_to_json
from parley.dsl.errors import ScriptError

from fuzzing import CORPUS, Bounds, Mutant, Overran, Tally, bounded, mutant, seeds, settle, tracing
from test_fuzz import file_lines, span_problem

FILENAME = "fuzz.agent"
DEFAULT_CASES = 2000
SHARDS = 4
BOUNDS = Bounds()

#: Problems the fuzz found that are being fixed elsewhere (pattern of the failure → what it is): see `settle`.
KNOWN: dict[str, str] = {}

#: Python modules a mutated script may import by name (beside those found by file next to it): the ones
#: the corpus imports. Any other name is refused as missing, so no mutation imports (runs) an arbitrary module.
ALLOWED_MODULES = frozenset({"math", "statistics", "json", "html"})


@pytest.fixture
def only_known_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutants import only harmless standard modules, and start or reach no MCP server."""
    real = python_tools.importlib.import_module

    def import_module(name: str, package: str | None = None) -> types.ModuleType:
        if name.partition(".")[0] not in ALLOWED_MODULES:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real(name, package)

    monkeypatch.setattr(python_tools, "importlib", types.SimpleNamespace(import_module=import_module))
    # A mutated `mcp(…)` may name any command or address: the compiler must start and reach none of them.
    monkeypatch.setenv("PARLEY_MCP_CHECK", "off")


def contract(case: Mutant) -> str:
    """Compile `case` and check the contract; the outcome (`plan` or `errors`), or AssertionError."""
    result = compile_source(case.data, FILENAME, case.origin.path)
    errors = [d for d in result.diagnostics if d.is_error]
    assert (result.plan is None) == bool(errors), f"plan {'missing' if result.plan is None else 'made'} with {len(errors)} errors"
    problems = []
    for diagnostic in result.diagnostics:
        file = diagnostic.span.file
        if file == FILENAME:
            lines = file_lines(case.data)
        elif file in result.sources:
            lines = list(result.sources[file].lines)
        else:
            problems.append(f"{diagnostic.code} names {file!r}, which is not among the sources {sorted(result.sources)}")
            continue
        problem = span_problem(diagnostic.span, lines, f"{diagnostic.code} {diagnostic.message[:80]!r} at", file)
        if problem is not None:
            problems.append(problem)
    assert not problems, "\n".join(problems[:5])
    if errors:
        assert ScriptError(result.diagnostics, result.sources).render()
        return "errors"
    assert result.plan is not None
    assert plan_to_json(result.plan)
    return "plan"


def warm_up() -> None:
    """Compile the corpus once, unmeasured: what the first compile in a process imports (the price
    tables, the grammar) is not any case's cost, and is slow under tracemalloc."""
    for seed in CORPUS:
        compile_source(seed.as_compiled(seed.data), FILENAME, seed.path)


def run_case(case: Mutant, tally: Tally) -> None:
    """One case under the bounds; a broken contract, an escape or a broken bound joins `tally.failures`."""
    failure, outcome = None, "failed"
    with bounded(BOUNDS) as measure:
        try:
            outcome = contract(case)
        except AssertionError as error:
            failure = f"contract: {error}"
        except (Exception, Overran, RecursionError) as error:  # noqa: BLE001 - an escape is what this looks for
            failure = f"escape: {type(error).__name__}: {str(error)[:300]}"
    failure = failure or measure.breaks(BOUNDS, len(case.data))
    tally.add(case.seed, measure, outcome if failure is None else "failed")
    if failure is not None:
        tally.failures.append(f"{case.describe()}\n    {failure}")


def save_failures(tally: Tally, folder: Path | None) -> str:
    """Each failing case as a file (bytes as compiled), for `parley check`; the folder, or ''."""
    if folder is None or not tally.failures:
        return ""
    from fuzzing import encoded

    for line in tally.failures:
        seed = int(line.split(":", 1)[0].removeprefix("seed "))
        case = mutant(seed)
        (folder / f"compile-{seed}.agent").write_bytes(case.data if isinstance(case.data, bytes) else encoded(case.data))
    return f" (cases saved in {folder}; imports resolved from each case's corpus folder)"


def test_corpus_is_what_the_fuzz_says() -> None:
    names = {seed.name for seed in CORPUS}
    assert "examples/review.agent" in names and "examples/lib/roles.agent" in names
    assert any(name.startswith("tests/compile_errors/") for name in names)
    assert any(name.startswith("tests/errors/") for name in names)
    assert sum(name.startswith("language.md#") for name in names) >= 10


def test_cases_are_rebuilt_from_their_seed() -> None:
    assert [mutant(seed) for seed in range(50)] == [mutant(seed) for seed in range(50)]
    assert len({repr(mutant(seed).data) for seed in range(50)}) >= 45


@pytest.mark.parametrize("shard", range(SHARDS))
@pytest.mark.usefixtures("only_known_modules")
def test_mutated_scripts_compile_or_fail_with_diagnostics(shard: int, request: pytest.FixtureRequest) -> None:
    tally = Tally(f"compile-{shard + 1}-of-{SHARDS}")
    warm_up()
    with tracing():
        for seed in seeds(DEFAULT_CASES, shard, SHARDS):
            run_case(mutant(seed), tally)
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("parley-fuzz") if cache is not None else None
    tally.record(folder)
    saved = save_failures(tally, folder)
    settle(tally, KNOWN, f"`python tests/fuzzing.py SEED` rebuilds one{saved}")
