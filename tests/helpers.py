"""Shared test helpers: paths, the examples, rendering diagnostics."""

from __future__ import annotations

from pathlib import Path

from parley.dsl.diagnostics import render_all
from parley.dsl.parser import ParseResult

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def example_files() -> list[Path]:
    """Every runnable example and every library script it imports."""
    return sorted(EXAMPLES.rglob("*.agent"))


def rendered(result: ParseResult) -> str:
    """All diagnostics of a parse, rendered as the user sees them (no colour)."""
    return render_all(result.diagnostics, {result.source.name: result.source})
