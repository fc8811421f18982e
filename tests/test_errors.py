"""Golden error messages: every script in `tests/errors/` and what the user is told about it.

Each `NN-short-name.agent` file is a small script with the mistakes people
really make. Its rendered diagnostics are pinned by a snapshot; regenerate
with `pytest tests/test_errors.py --snapshot-update` and read the result as a
user would: the message, where the caret sits, and whether the help says how
to fix it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from parley.dsl.diagnostics import render, render_all
from parley.dsl.parser import MAX_SYNTAX_ERRORS, parse_path

ERRORS = Path(__file__).resolve().parent / "errors"
FILES = sorted(ERRORS.glob("*.agent"))
PLACEHOLDER = re.compile(r"\{(found|found_text|agent|previous|previous_text)\}")


def test_golden_folder_is_populated() -> None:
    assert len(FILES) >= 40
    for path in FILES:
        stem = path.stem
        assert stem[:2].isdigit() and stem[2] == "-", f"{path.name}: name it NN-short-name.agent"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_errors(path: Path, snapshot) -> None:  # type: ignore[no-untyped-def]
    result = parse_path(path, display=path.name)
    assert result.diagnostics, f"{path.name} produced no diagnostic"
    assert not result.ok or all(not d.is_error for d in result.diagnostics)
    sources = {result.source.name: result.source}
    text = render_all(result.diagnostics, sources)
    # Rendering never raises, with or without colour, and each diagnostic names the file.
    assert render_all(result.diagnostics, sources, color=True)
    for diagnostic in result.diagnostics:
        assert render(diagnostic, result.source).startswith(f"{path.name}:")
    assert len([d for d in result.diagnostics if d.is_error]) <= MAX_SYNTAX_ERRORS
    assert not PLACEHOLDER.search(text), f"{path.name}: a message placeholder was left in:\n{text}"
    assert text == snapshot
