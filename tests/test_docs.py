"""The docs keep up with the code: every diagnostic code is documented, the keywords agree."""

from __future__ import annotations

import re

from parley.dsl.keywords import RESERVED
from parley.grammar import grammar_text
from helpers import ROOT


def test_every_code_is_documented() -> None:
    sources = [*(ROOT / "dsl").glob("*.py"), *(ROOT / "grammar").glob("*.py")]
    codes = {code for path in sources for code in re.findall(r'"(P\d{3})"', path.read_text())}
    documented = set(re.findall(r"^\| (P\d{3}) \|", (ROOT / "docs" / "diagnostics.md").read_text(), re.M))
    assert codes - documented == set()
    assert len(codes) >= 60


def test_reserved_words_match_the_grammar() -> None:
    match = re.search(r"NAME: /\(\?!\(\?:([a-z|]+)\)", grammar_text())
    assert match is not None
    assert set(match.group(1).split("|")) == RESERVED


def test_reserved_words_are_documented() -> None:
    reference = (ROOT / "docs" / "language.md").read_text()
    listed = reference.split("These words are **reserved**", 1)[1].split("```", 2)[1]
    assert set(listed.split()) - {"text"} == RESERVED
