"""Golden compile errors: every script in `tests/compile_errors/` and what the compiler tells the user.

Each `NN-short-name.agent` file is a small, realistic script that parses but
does not compile (or compiles with a warning): unknown names, wrong arity,
bad bounds, misused agents, broken imports, conflicting `parallel` branches.
Its rendered diagnostics are pinned by a snapshot; regenerate with

    pytest tests/test_compile_errors.py --snapshot-update

and read the result as a user would: the first line, where the caret sits,
and whether the help says how to fix it.

Helper files live beside the scripts: `lib/*.agent` (imported libraries, not
golden files themselves) and `textutil.py` (a Python module the scripts
import). Scripts are compiled with the folder as the working directory, so
the imported files are displayed as `lib/….agent`, like the main file's
relative `display` name.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from parley.compiler import CompileResult, compile_path
from parley.dsl.diagnostics import Diagnostic, Severity, render, render_all

FOLDER = Path(__file__).resolve().parent / "compile_errors"
FILES = sorted(FOLDER.glob("*.agent"))
IDS = [p.stem for p in FILES]
PLACEHOLDER = re.compile(r"\{(found|found_text|agent|previous|previous_text|name|kind|what)\}")
#: Stands for the folder's absolute path in snapshots (see `test_no_absolute_paths`).
FOLDER_MARK = "<compile_errors>"

#: Every compiler code; each must be produced by at least one golden script.
CODES = {
    "P201": "unknown name",
    "P202": "unknown agent",
    "P203": "unknown model",
    "P204": "unknown type",
    "P205": "unknown function or tool",
    "P206": "unknown provider",
    "P210": "duplicate declaration",
    "P211": "variable hides a declaration",
    "P212": "script variable used in a def",
    "P213": "assigning an input",
    "P214": "recursive alias",
    "P215": "function not called",
    "P216": "agent or model used as a value",
    "P217": "calling a non-function",
    "P220": "arity",
    "P221": "unknown keyword",
    "P222": "unknown setting or option",
    "P223": "bad setting value",
    "P224": "non-member in flow/until",
    "P225": "member twice",
    "P226": "chat without exactly two members",
    "P227": "select/flow/manager on a chat",
    "P228": "a literal that cannot have the declared type",
    "P230": "non-agent member",
    "P231": "model/tools on a human/executor/python agent",
    "P232": "reply-by def signature",
    "P233": "select-by function",
    "P236": "select handoff with no member that can hand off",
    "P237": "select handoff member that never gets the floor",
    "P238": "a tool named like a transfer tool",
    "P240": "break/continue outside a loop",
    "P241": "return outside a def",
    "P242": "unreachable code",
    "P243": "unused variable",
    "P244": "unused input",
    "P245": "output in a def",
    "P246": "declaration inside a block",
    "P250": "unknown field or property",
    "P251": "literal never equal",
    "P252": "slice of a non-text, non-list, or by a non-int",
    "P254": "asking a variable that is not of type agent",
    "P255": "the type agent where a value comes from outside",
    "P260": "default turn limit only",
    "P261": "bad bound",
    "P262": "budget twice",
    "P263": "cost budget over a model with no known price",
    "P270": "import not found",
    "P271": "import cycle",
    "P272": "python module not importable",
    "P273": "no such python function",
    "P274": "bad python agent target",
    "P275": "imported name not declared there",
    "P276": "imported file is not a script",
    "P280": "parallel branches conflict",
    "P281": "parallel for iterations conflict",
}
WARNINGS = {"P237", "P242", "P243", "P244", "P260", "P263"}

#: Codes no script can produce yet, with the reason (strict xfail: remove the entry once it is fixed).
UNREACHABLE: dict[str, str] = {}

#: What each golden script is about: these codes must be among its diagnostics.
EXPECTED: dict[str, set[str]] = {
    "01-misspelt-agent": {"P202"},
    "02-misspelt-variable": {"P201"},
    "03-misspelt-model": {"P203"},
    "04-misspelt-type": {"P204"},
    "05-misspelt-field": {"P250"},
    "06-misspelt-setting": {"P222"},
    "07-misspelt-keyword-argument": {"P221"},
    "08-misspelt-tool": {"P205"},
    "09-interpolation-unknown-in-prose": {"P201"},
    "10-interpolation-unknown-in-string": {"P201"},
    "11-len-no-arguments": {"P220"},
    "12-join-three-arguments": {"P220"},
    "13-python-function-arity": {"P220"},
    "14-def-arity": {"P220"},
    "15-builtin-unknown-keyword": {"P221"},
    "16-max-zero": {"P261"},
    "17-until-zero-turns": {"P261"},
    "18-bad-setting-values": {"P223"},
    "19-model-option-out-of-range": {"P222", "P223"},
    "20-flow-non-member": {"P224"},
    "21-until-non-member": {"P224"},
    "22-select-on-chat": {"P227"},
    "23-chat-three-members": {"P226"},
    "24-member-twice": {"P225"},
    "25-member-is-model": {"P230"},
    "26-human-with-model": {"P231"},
    "27-reply-by-two-params": {"P232"},
    "28-break-outside-loop": {"P240"},
    "29-return-outside-def": {"P241"},
    "30-code-after-return": {"P242"},
    "31-unused-variable": {"P243"},
    "32-unused-input": {"P244"},
    "33-variable-shadows-agent": {"P211"},
    "34-script-variable-in-def": {"P212"},
    "35-assign-input": {"P213"},
    "36-recursive-alias": {"P214"},
    "37-function-not-called": {"P215"},
    "38-agent-as-value": {"P216"},
    "39-call-non-function": {"P217"},
    "40-unknown-function": {"P205"},
    "41-unknown-provider": {"P206"},
    "42-duplicate-declarations": {"P210"},
    "43-literal-never-equal": {"P251"},
    "44-annotation-on-item": {"P100"},  # should be P253: see UNREACHABLE
    "45-output-in-def": {"P245"},
    "46-declaration-in-block": {"P246"},
    "47-chat-without-until": {"P260"},
    "48-budget-twice": {"P262", "P261"},
    "49-repeat-negative": {"P261"},
    "50-import-missing-file": {"P270"},
    "51-import-undeclared-name": {"P275"},
    "52-import-cycle": {"P271"},
    "53-python-module-missing": {"P272"},
    "54-python-function-missing": {"P273"},
    "55-python-agent-bad-target": {"P274"},
    "56-parallel-conflict": {"P280"},
    "57-several-errors": {"P203", "P223", "P202", "P225", "P224", "P250", "P220", "P240"},
    "58-group-manager-unknown": {"P203", "P260"},
    "59-reply-by-problems": {"P205", "P231"},
    "60-default-model-unknown": {"P203"},
    "61-python-tool-arguments": {"P220", "P221"},
    "62-executor-settings": {"P222", "P223"},
    "63-loop-variable-shadows-agent": {"P211"},
    "64-select-unknown-option": {"P221"},
    "65-thread-property-typo": {"P250"},
    "66-error-in-imported-file": {"P203"},
    "67-import-prefix-misuse": {"P215", "P205"},
    "68-def-parameter-type": {"P204"},
    "69-tell-forget-unknown-agent": {"P202"},
    "70-declared-type-mismatch": {"P228"},
    "71-cost-budget-unpriced-model": {"P263", "P223"},
    "72-import-not-a-script": {"P276"},
    "73-import-name-too-long": {"P270"},
    "74-slice-wrong-types": {"P252"},
    "75-string-method-call": {"P217"},
    "76-ask-a-text-variable": {"P254"},
    "77-agent-type-from-outside": {"P255"},
    "80-select-by-unknown": {"P233"},
    "81-select-by-wrong-arity": {"P233"},
    "86-parallel-for-conflict": {"P281"},
    "90-parallel-both-print": {"P280"},
    "91-parallel-same-python-module": {"P280"},
    "92-parallel-both-execute": {"P280"},
    "95-until-conditions": {"P158", "P159", "P261", "P260"},
    "96-select-handoff": {"P236", "P237", "P238"},
}

#: Known compiler bugs, pinned as strict xfails so they are noticed when fixed.
DUPLICATED: dict[str, str] = {}
ABSOLUTE_PATHS: dict[str, str] = {}


@pytest.fixture(scope="module")
def results() -> dict[str, CompileResult]:
    """Every golden script compiled once, from inside the folder (see the module docstring)."""
    compiled = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(FOLDER)
        for path in FILES:
            compiled[path.stem] = compile_path(path, display=path.name)
    return compiled


def _text(result: CompileResult) -> str:
    return render_all(result.diagnostics, result.sources)


def _portable(text: str) -> str:
    return text.replace(str(FOLDER), FOLDER_MARK)


def _xfail(table: dict[str, str]) -> list[object]:
    return [
        pytest.param(path, marks=pytest.mark.xfail(strict=True, reason=table[path.stem]), id=path.stem)
        if path.stem in table else pytest.param(path, id=path.stem)
        for path in FILES
    ]


# --- the folder ----------------------------------------------------------------------


def test_golden_folder_is_populated() -> None:
    assert len(FILES) >= 45
    for path in FILES:
        stem = path.stem
        assert re.fullmatch(r"\d\d-[a-z0-9]+(-[a-z0-9]+)*", stem), f"{path.name}: name it NN-short-name.agent"
        lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
        assert 3 <= len(lines) <= 20, f"{path.name}: golden scripts are 3 to 20 lines"
        assert lines[0].startswith("# "), f"{path.name}: start with a comment saying what goes wrong"
    assert set(EXPECTED) == set(IDS), "every golden script says what it is about in EXPECTED, and only those"


# --- each script -----------------------------------------------------------------------


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_compile_errors(path: Path, results: dict[str, CompileResult], snapshot) -> None:  # type: ignore[no-untyped-def]
    result = results[path.stem]
    assert result.diagnostics, f"{path.name} produced no diagnostic"
    text = _text(result)
    if any(d.is_error for d in result.diagnostics):
        assert result.plan is None, f"{path.name} has errors but still produced a plan"
    else:
        assert result.plan is not None, f"{path.name} has only warnings but produced no plan"
    # Rendering never raises, with or without colour, and each diagnostic names its file.
    assert render_all(result.diagnostics, result.sources, color=True)
    for diagnostic in result.diagnostics:
        assert diagnostic.span.file in result.sources, f"{path.name}: {diagnostic} points into an unknown file"
        assert render(diagnostic, result.sources[diagnostic.span.file]).startswith(f"{diagnostic.span.file}:")
    assert not PLACEHOLDER.search(text), f"{path.name}: a message placeholder was left in:\n{text}"
    assert _portable(text) == snapshot


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_expected_codes(path: Path, results: dict[str, CompileResult]) -> None:
    codes = {d.code for d in results[path.stem].diagnostics}
    missing = EXPECTED[path.stem] - codes
    assert not missing, f"{path.name}: expected {sorted(missing)}, got {sorted(codes)}:\n{_text(results[path.stem])}"
    for diagnostic in results[path.stem].diagnostics:
        expected = Severity.WARNING if diagnostic.code in WARNINGS else Severity.ERROR
        if diagnostic.code in CODES:
            assert diagnostic.severity is expected, f"{path.name}: {diagnostic.code} should be a {expected.value}"


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_spans_lie_within_their_file(path: Path, results: dict[str, CompileResult]) -> None:
    result = results[path.stem]
    for diagnostic in result.diagnostics:
        span = diagnostic.span
        source = result.sources[span.file]
        where = f"{path.name}: {diagnostic.code} at {span.line}:{span.column}-{span.end_line}:{span.end_column}"
        assert 1 <= span.line <= span.end_line <= len(source.lines), where
        assert 1 <= span.column <= len(source.line_text(span.line)) + 1, where
        assert 1 <= span.end_column <= len(source.line_text(span.end_line)) + 1, where
        if span.end_line == span.line:
            assert span.column <= span.end_column, where
        assert diagnostic.message.strip(), f"{where}: empty message"
        assert diagnostic.help and diagnostic.help.strip(), f"{where}: no help line"


@pytest.mark.parametrize("path", _xfail(DUPLICATED))
def test_no_duplicate_diagnostics(path: Path, results: dict[str, CompileResult]) -> None:
    diagnostics = results[path.stem].diagnostics
    twice = [d for index, d in enumerate(diagnostics) if d in diagnostics[:index]]
    assert not twice, f"{path.name}: reported more than once: {twice}"


@pytest.mark.parametrize("path", _xfail(ABSOLUTE_PATHS))
def test_no_absolute_paths(path: Path, results: dict[str, CompileResult]) -> None:
    text = _text(results[path.stem])
    assert str(FOLDER) not in text and str(FOLDER.parent) not in text, text


def test_errors_are_in_source_order(results: dict[str, CompileResult]) -> None:
    """Several independent errors in one file are all reported, in the order they appear."""
    result = results["57-several-errors"]
    main = [d for d in result.diagnostics if d.span.file == "57-several-errors.agent"]
    assert len([d for d in main if d.is_error]) >= 8
    positions = [(d.span.line, d.span.column) for d in main]
    assert positions == sorted(positions)


# --- imports ---------------------------------------------------------------------------


def test_imported_files_are_shown_by_relative_path(results: dict[str, CompileResult]) -> None:
    for stem, expected in (("66-error-in-imported-file", "lib/broken.agent"), ("52-import-cycle", "lib/cycle_b.agent")):
        files = {d.span.file for d in results[stem].diagnostics}
        assert files == {expected}, f"{stem}: {files}"


def test_cycle_names_the_whole_chain(results: dict[str, CompileResult]) -> None:
    (cycle,) = [d for d in results["52-import-cycle"].diagnostics if d.code == "P271"]
    assert cycle.help is not None and "cycle_a.agent → cycle_b.agent → cycle_a.agent" in cycle.help


def test_imported_file_display_does_not_depend_on_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = FOLDER / "66-error-in-imported-file.agent"
    shown = []
    for folder in (FOLDER, FOLDER.parent, tmp_path):
        monkeypatch.chdir(folder)
        shown.append(_text(compile_path(path, display=path.name)))
    assert shown[0] == shown[1] == shown[2], "\n\n".join(shown)


# --- coverage --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=UNREACHABLE[c])) if c in UNREACHABLE else c
     for c in CODES],
)
def test_code_is_covered(code: str, results: dict[str, CompileResult]) -> None:
    """Every compiler code appears in some golden script's rendered diagnostics (pinned by the snapshots)."""
    texts = [_text(result) for result in results.values()]
    assert any(f"[{code}]" in text for text in texts), f"no golden script produces {code} ({CODES[code]})"
