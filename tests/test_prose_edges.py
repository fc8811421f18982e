"""Where prose after `@agent` ends, and the diagnostics for lines that read two ways."""

from __future__ import annotations

from pathlib import Path

import pytest
from parley.compiler import compile_source
from parley.compiler import plan as p
from parley.dsl.fmt import format_source

HEAD = 'model m = scripted("x")\nagent w:\n    model: m\nagent v:\n    model: m\n'


def _messages(body: str, head: str = HEAD) -> list[str]:
    """The literal text each top-level ask sends (the script must compile)."""
    result = compile_source(head + body)
    assert result.plan is not None, [d.message for d in result.diagnostics]
    texts = []
    for step in result.plan.body:
        assert isinstance(step, p.AskStep | p.CallStep)
        message = step.message if isinstance(step, p.AskStep) else step.expr.message  # type: ignore[attr-defined]
        texts.append("".join(part for part in message.parts if isinstance(part, str)))
    return texts


def _codes(body: str) -> list[str]:
    return [d.code for d in compile_source(HEAD + body).diagnostics]


@pytest.mark.parametrize(("line", "sent"), [
    ("@w Draft it.  # note", "Draft it."),
    ("@w Draft it.      # note", "Draft it."),
    ("@w Draft it.\t\t# note", "Draft it."),
    ("@w Draft it.#note", "Draft it.#note"),
    ("@w Post about #python and #tea", "Post about #python and #tea"),
    ("@w See https://example.com/#top now", "See https://example.com/#top now"),
    ("@w 'Tis the season", "'Tis the season"),
    ('@w "Quoted, then unquoted', '"Quoted, then unquoted'),
    ("@w Don't stop  # it's a comment", "Don't stop"),
])
def test_where_prose_ends(line: str, sent: str) -> None:
    assert _messages(line + "\n") == [sent]


def test_one_space_hash_is_sent_and_warned() -> None:
    assert _messages("@w Draft it. # note\n") == ["Draft it. # note"]
    assert _codes("@w Draft it. # note\n") == ["P197"]
    assert _codes("@w Draft it. #\n") == ["P197"]
    assert _codes("@w Post about #python\n") == []
    assert _codes("@w Draft it.  # note\n") == []


def test_quoted_message_then_words_is_an_error() -> None:
    body = 'more = "x"\n@w "Quoted" and more\n'
    result = compile_source(HEAD + body)
    assert result.plan is None
    [diagnostic] = result.diagnostics
    assert diagnostic.code == "P198"
    assert (diagnostic.span.line, diagnostic.span.column) == (7, 13)
    assert "quote the whole instruction" in (diagnostic.help or "")


@pytest.mark.parametrize("body", [
    'more = true\nx = (@w "Quoted") and more\nprint(x)\n',
    'ready = true\nif @w? "Good?" and ready:\n    print("yes")\n',
    'x = @w "Quoted" + "!"\nprint(x)\n',
    '@w "Quoted"  # a comment\n',
])
def test_string_asks_that_stay_valid(body: str) -> None:
    assert "P198" not in _codes(body)
    assert compile_source(HEAD + body).plan is not None


@pytest.mark.parametrize("line", [
    "@w Draft it.   # note",
    "@w Draft it. # kept in the message",
    "@w 'Tis the season",
    "@w Post about #python  # comment",
])
def test_fmt_round_trips_prose_and_comments(line: str) -> None:
    once = format_source(HEAD + line + "\n")
    assert format_source(once) == once
    assert _messages(once, head="") == _messages(line + "\n")


def test_fmt_puts_two_spaces_before_a_comment() -> None:
    assert format_source(HEAD + "@w Draft it.     # note\n").endswith("@w Draft it.  # note\n")


def _branches(first: str, second: str, module: str = "") -> list[str]:
    body = f"{module}parallel:\n    {first}\n    {second}\n"
    return [d.code for d in compile_source(HEAD + body).diagnostics if d.is_error]


def test_parallel_prints_conflict() -> None:
    assert _branches('print("a")', 'print("b")') == ["P280"]
    assert _branches('print("a")', 'x = @w "b"') == []


def test_parallel_python_tools_conflict_by_module(tmp_path: Path) -> None:
    (tmp_path / "one.py").write_text("def f(x: str) -> str:\n    return x\n\ndef g(x: str) -> str:\n    return x\n")
    (tmp_path / "two.py").write_text("def h(x: str) -> str:\n    return x\n")
    script = (
        'from python "one" import f, g\nfrom python "two" import h\n'
        "parallel:\n    a = f(\"x\")\n    b = {second}\nprint(a + b)\n"
    )

    def codes(second: str) -> list[str]:
        path = tmp_path / "s.agent"
        path.write_text(script.format(second=second))
        return [d.code for d in compile_source(path.read_text(), str(path), path=path).diagnostics if d.is_error]

    assert codes('g("y")') == ["P280"]
    assert codes('h("y")') == []


def test_parallel_executors_conflict() -> None:
    body = 'agent r is executor\nagent s is executor\nparallel:\n    a = @r "1"\n    b = @s "2"\nprint(a + b)\n'
    assert [d.code for d in compile_source(body).diagnostics if d.is_error] == ["P280"]
