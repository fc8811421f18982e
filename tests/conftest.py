"""Shared test helpers: parsing to plain data, rendering diagnostics, the examples folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsl.diagnostics import render_all
from dsl.parser import ParseResult, parse_source

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def example_files() -> list[Path]:
    """Every runnable example and every library script it imports."""
    return sorted(EXAMPLES.rglob("*.agent"))


def rendered(result: ParseResult) -> str:
    """All diagnostics of a parse, rendered as the user sees them (no colour)."""
    return render_all(result.diagnostics, {result.source.name: result.source})


@pytest.fixture
def check_text():
    """Parse text and return (result, rendered diagnostics)."""

    def run(text: str, name: str = "test.agent") -> tuple[ParseResult, str]:
        result = parse_source(text, name)
        return result, rendered(result)

    return run
