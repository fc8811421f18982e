"""docs/patterns.md: every Parley program in it passes `parley check --strict`, and each stated line count is true."""

from __future__ import annotations

import re

import pytest

import parley
from helpers import ROOT

PAGE = (ROOT / "docs" / "patterns.md").read_text(encoding="utf-8")
#: "AutoGen (AgentChat), 14 lines:" or "Parley, 10 lines:", then a fenced block.
COUNTED = re.findall(r"^(?:AutoGen \([^)]*\)|Parley), (\d+) lines:\n\n```(\w+)\n(.*?)\n```", PAGE, re.M | re.S)
PROGRAMS = [code for _count, language, code in COUNTED if language == "parley"]


def test_the_page_compares_programs() -> None:
    assert len(PROGRAMS) >= 7 and len(COUNTED) == 2 * len(PROGRAMS)


@pytest.mark.parametrize(("count", "language", "code"), COUNTED, ids=[f"{c[1]}-{i}" for i, c in enumerate(COUNTED)])
def test_each_line_count_is_the_blocks(count: str, language: str, code: str) -> None:
    assert int(count) == sum(1 for line in code.splitlines() if line.strip())


@pytest.mark.parametrize("code", PROGRAMS, ids=[f"program-{i}" for i in range(len(PROGRAMS))])
def test_each_parley_program_checks_clean(code: str) -> None:
    program = parley.compile(code + "\n", "pattern.agent")  # raises ScriptError on any error
    assert program.warnings == (), program.render_warnings()


def test_the_table_matches_the_sections() -> None:
    rows = re.findall(r"^\| ([^|]+) \| (\d+) lines \| (\d+) lines \|$", PAGE, re.M)
    sections = re.findall(r"^### (.+)\n", PAGE, re.M)
    assert [title.strip() for title, _a, _p in rows] == sections[:len(rows)]
    counts = [int(c) for c, _language, _code in COUNTED]
    assert [int(n) for _t, a, p in rows for n in (a, p)] == counts
