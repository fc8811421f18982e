"""The table of labelled syntax mistakes (`grammar/syntax_errors.py`) keeps its promises.

Every example of every mistake fails to parse, and the first diagnostic is
that mistake's own code: two mistakes failing in the same parser state would
shadow each other. Every diagnostic points inside the text, says something
and says how to fix it, with no placeholder left unreplaced.
"""

from __future__ import annotations

import re

import pytest

from lark.exceptions import UnexpectedToken

from parley.dsl._lark import parser
from parley.dsl.diagnostics import Severity, render_all
from parley.dsl.parser import parse_source
from parley.grammar.syntax_errors import MISTAKES, Mistake

CASES = [
    pytest.param(label, example, id=f"{label}-{index}")
    for label, mistake in MISTAKES.items()
    for index, example in enumerate(mistake.examples)
]
PLACEHOLDER = re.compile(r"\{(found|found_text|agent|previous|previous_text)\}")


def test_the_table_is_rich_enough() -> None:
    assert len(MISTAKES) >= 30
    assert len({(m.code, m.message) for m in MISTAKES.values()}) >= 30
    for label, mistake in MISTAKES.items():
        assert isinstance(mistake, Mistake)
        assert re.fullmatch(r"P1\d\d", mistake.code), label
        assert mistake.examples, f"{label} has no example"
        assert mistake.message and mistake.help and mistake.label, label
        for example in mistake.examples:
            assert example.endswith("\n"), f"{label}: {example!r} should end with a newline"


def test_examples_are_not_shared() -> None:
    seen: dict[str, str] = {}
    for label, mistake in MISTAKES.items():
        for example in mistake.examples:
            assert example not in seen, f"{example!r} is an example of both {seen[example]} and {label}"
            seen[example] = label


@pytest.mark.parametrize(("label", "example"), CASES)
def test_example_gives_its_own_code_first(label: str, example: str) -> None:
    result = parse_source(example, "mistake.agent")
    assert not result.ok, f"{label}: {example!r} parses"
    first = result.diagnostics[0]
    assert first.code == MISTAKES[label].code, (
        f"{label}: {example!r} gave {first.code} ({first.message}) instead of {MISTAKES[label].code}"
    )


@pytest.mark.parametrize(("label", "example"), CASES)
def test_diagnostics_point_inside_the_text(label: str, example: str) -> None:
    result = parse_source(example, "mistake.agent")
    lines = len(example.split("\n"))
    for diagnostic in result.diagnostics:
        span = diagnostic.span
        assert span.file == "mistake.agent"
        assert 1 <= span.line <= lines, f"{label}: {diagnostic}"
        assert span.line <= span.end_line <= lines, f"{label}: {diagnostic}"
        assert span.column >= 1 and span.end_column >= 1, f"{label}: {diagnostic}"
        if span.end_line == span.line:
            assert span.end_column >= span.column, f"{label}: {diagnostic}"
        assert diagnostic.message.strip(), f"{label}: empty message"
        assert diagnostic.help and diagnostic.help.strip(), f"{label}: {diagnostic.code} has no help line"
        assert diagnostic.severity in (Severity.ERROR, Severity.WARNING)


@pytest.mark.parametrize(("label", "example"), CASES)
def test_no_placeholder_is_left(label: str, example: str) -> None:
    result = parse_source(example, "mistake.agent")
    text = render_all(result.diagnostics, {result.source.name: result.source})
    assert text.count("help: ") == len(result.diagnostics)
    assert not PLACEHOLDER.search(text), f"{label}: {example!r} renders a placeholder:\n{text}"



_STAND_INS = {"NAME": "zq", "INT": "987", "FLOAT": "9.5", "STRING": '"zq"'}


def _with_other_token(example: str) -> str | None:
    """The example with its unexpected token replaced by another of the same kind, if it is a word, number or string.

    Lark's `match_examples` prefers an example failing on the very same token
    text; a user's script almost never has it, so a mistake must be found by
    its parser state and kind of token alone.
    """
    try:
        parser().parse(example, start="start")
    except UnexpectedToken as error:
        token = error.token
        if token.type not in _STAND_INS or str(token) in ("in",):
            return None
        lines = example.split("\n")
        line = lines[token.line - 1]
        start = token.column - 1
        lines[token.line - 1] = line[:start] + _STAND_INS[token.type] + line[start + len(str(token)):]
        return "\n".join(lines)
    except Exception:  # noqa: BLE001 - lexer and layout failures have no token to replace
        return None
    return None


OTHER_WORDS = [
    pytest.param(label, other, id=f"{label}-{index}")
    for label, mistake in MISTAKES.items()
    for index, example in enumerate(mistake.examples)
    if (other := _with_other_token(example)) is not None
]


@pytest.mark.parametrize(("label", "other"), OTHER_WORDS)
def test_mistake_is_found_whatever_the_words(label: str, other: str) -> None:
    result = parse_source(other, "mistake.agent")
    assert result.diagnostics, f"{label}: {other!r} parses"
    first = result.diagnostics[0]
    assert first.code == MISTAKES[label].code, (
        f"{label}: {other!r} gave {first.code} ({first.message}) instead of {MISTAKES[label].code}"
    )


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("x = f(1 2)\n", "P180"),
        ("x = [a b]\n", "P180"),
        ('x = {"a": x "b": 2}\n', "P180"),
        ("x = f(a=1 b=2)\n", "P180"),
        ("x = f(g(1) 2)\n", "P180"),
        ("x = [x[0] 2]\n", "P180"),
        ("x = a.b c\n", "P184"),
        ("x = g(1) 2\n", "P184"),
    ],
)
def test_a_missing_separator_is_found_after_any_expression(text: str, code: str) -> None:
    """After any complete expression: a missing `,` inside brackets, two expressions side by side outside."""
    result = parse_source(text, "mistake.agent")
    assert [d.code for d in result.diagnostics][:1] == [code]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("x = (1 + 2]\n", "P108"),  # the lexer rejects `]` before the bracket matcher sees it
        ("total = sum(scores]\n", "P108"),
        ("x = f(a, b))\n", "P107"),
        ("print x]\n", "P107"),
        ('x = {"a": 1}\n', None),
    ],
)
def test_closing_brackets_are_explained(text: str, code: str | None) -> None:
    result = parse_source(text, "mistake.agent")
    assert [d.code for d in result.diagnostics][:1] == ([code] if code else [])


def test_unterminated_triple_quotes_point_at_the_opening() -> None:
    result = parse_source('agent w:\n    """You write.\n    model: m\n', "mistake.agent")
    first = result.diagnostics[0]
    assert (first.code, first.span.line, first.span.column, first.span.end_column) == ("P111", 2, 5, 7)


def test_a_stray_word_that_is_an_agent_suggests_the_at_sign() -> None:
    result = parse_source('agent writer:\n    """You write."""\n\nwriter Draft a title.\n', "mistake.agent")
    first = result.diagnostics[0]
    assert first.code == "P190" and "`@writer`" in (first.help or "")
