"""Every example parses cleanly; its tree is pinned by a snapshot of its statements."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.dsl.parser import parse_path
from helpers import EXAMPLES, example_files, rendered


def test_there_are_examples() -> None:
    programs = sorted(EXAMPLES.glob("*.agent"))
    assert len(programs) >= 6


@pytest.mark.parametrize("path", example_files(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_parses(path: Path, snapshot) -> None:
    result = parse_path(path, display=str(path.relative_to(EXAMPLES)))
    assert result.ok, rendered(result)
    assert result.diagnostics == ()
    assert result.module is not None
    outline = [f"{s.span.line}: {type(s).__name__}" for s in result.module.body]
    assert outline == snapshot
