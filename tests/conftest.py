"""Fixtures shared by the tests (plain helpers live in `helpers.py`)."""

from __future__ import annotations

import pytest

from dsl.parser import ParseResult, parse_source
from helpers import EXAMPLES, ROOT, example_files, rendered

__all__ = ["EXAMPLES", "ROOT", "example_files", "rendered"]


@pytest.fixture
def check_text():
    """Parse text and return (result, rendered diagnostics)."""

    def run(text: str, name: str = "test.agent") -> tuple[ParseResult, str]:
        result = parse_source(text, name)
        return result, rendered(result)

    return run
