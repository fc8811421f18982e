"""Text and list operations: slices `x[start:stop]` and the text built-ins, compiled and run with the
scripted model; wrong types are diagnostics when the compiler knows them, value errors naming the line
when only the run does."""

from __future__ import annotations

from typing import Any

import pytest
from parley.compiler import plan as p
from parley.compiler.serialize import plan_from_json, plan_to_json
from parley.compiler.source_text import expr_source
from parley.dsl.errors import FailureKind
from parley.dsl.fmt import format_source
from parley.runtime.scripted import ScriptedModel

import parley

AGENTS = 'agent writer:\n    """You write."""\n'


def run(source: str, reply: str = "OK") -> list[str]:
    return list(parley.compile(source, "t.agent").run(model=ScriptedModel(default=reply)).printed)


def codes(source: str) -> list[tuple[str, int]]:
    with pytest.raises(parley.ScriptError) as caught:
        parley.compile(source, "t.agent")
    return [(d.code, d.span.line) for d in caught.value.diagnostics]


def run_error(source: str) -> str:
    with pytest.raises(parley.RunError) as caught:
        run(source)
    assert caught.value.kind is FailureKind.VALUE and caught.value.exit_code == 3
    return str(caught.value)


@pytest.mark.parametrize(("expr", "expected"), [
    ("s[0:2]", "pa"), ("s[-3:]", "ley"), ("s[:n]", "par"), ("s[n:]", "ley"), ("s[1:-1]", "arle"),
    ("s[:]", "parley"), ("s[-100:100]", "parley"), ("s[4:2]", ""), ("s[-n:-1]", "le"),
    ("xs[0:2]", "[10, 20]"), ("xs[-2:]", "[40, 50]"), ("xs[:n]", "[10, 20, 30]"), ("xs[1:-1]", "[20, 30, 40]"),
    ("xs[n - 1:n + 1]", "[30, 40]"), ("xs[5:]", "[]"), ("len(xs[:-1])", "4"), ("xs[1:][0]", "20"),
    ("[1, 2, 3][1:]", "[2, 3]"), ('"abc"[1:]', "bc"), ("s[0:2] + s[-2:]", "paey"),
])
def test_slices_of_texts_and_lists(expr: str, expected: str) -> None:
    source = f's = "parley"\nxs = [10, 20, 30, 40, 50]\nn = 3\nprint {expr}\n'
    assert run(source) == [expected]


def test_a_slice_of_a_reply_is_text_and_the_list_slice_is_a_new_value() -> None:
    source = AGENTS + (
        "r = @writer Write.\nhead = r[:5]\nprint head\nprint head + \"!\"\n"
        "xs = [1, 2, 3]\nys = xs[:2]\nys[0] = 9\nprint xs\nprint ys\n"
        "c: list[int] = xs[1:]\nprint c\n"
    )
    assert run(source, reply="Hello, world") == ["Hello", "Hello!", "[1, 2, 3]", "[9, 2]", "[2, 3]"]


@pytest.mark.parametrize(("expr", "expected"), [
    ('startswith(s, "par")', "true"), ('startswith(s, "ley")', "false"), ('endswith(s, "ley")', "true"),
    ('endswith(s, "")', "true"), ("split(t, \",\")", '["a", " b", " c"]'), ("strip(\"  x \")", "x"),
    ("lower(\"AbC\")", "abc"), ("upper(s)", "PARLEY"), ('replace(s, "ley", "ty")', "party"),
    ('contains(s, "rle")', "true"), ('"rle" in s', "true"), ('join(split(t, ", "), "+")', "a+b+c"),
    ("len(s)", "6"), ('startswith(s[2:], "rl")', "true"),
])
def test_text_builtins(expr: str, expected: str) -> None:
    assert run(f's = "parley"\nt = "a, b, c"\nprint {expr}\n') == [expected]


def test_text_builtins_read_a_reply_as_its_text() -> None:
    assert run(AGENTS + 'r = @writer Write.\nprint startswith(r, "Hel")\n', reply="Hello") == ["true"]


@pytest.mark.parametrize(("source", "expected"), [
    ("c = chat writer, critic:\n    \"Go.\"\n    until 2 turns\nprint c[-1:]\n", [("P252", 4)]),
    ('s = "abc"\nprint s["0":]\n', [("P252", 2)]),
    ('s = "abc"\nprint s[:1.5]\n', [("P252", 2)]),
    ('s = "abc"\nb = "1"\nprint s[b:]\n', [("P252", 3)]),
    ('s = "abc"\nprint s[true:]\n', [("P252", 2)]),
    ("d = {\"a\": 1}[0:1]\n", [("P252", 1)]),
    ("n: int = 5\nprint n[0:1]\n", [("P252", 2)]),
    ('s = "abc"\nprint s.startswith("a")\n', [("P217", 2)]),
    ('print startswith("abc")\n', [("P220", 1)]),
])
def test_wrong_types_are_diagnostics(source: str, expected: list[tuple[str, int]]) -> None:
    full = AGENTS + 'agent critic:\n    """You review."""\n' + source
    assert [(code, line - 4) for code, line in codes(full)] == expected


def test_the_method_help_names_a_builtin_that_exists() -> None:
    with pytest.raises(parley.ScriptError) as caught:
        parley.compile('s = "abc"\nprint s.endswith("c")\nprint s.find("c")\n', "t.agent")
    first, second = (d.help or "" for d in caught.value.diagnostics)
    assert "`endswith(s, …)`" in first
    assert "no built-in `find`" in second  # never advice that fails with P205


@pytest.mark.parametrize(("source", "message"), [
    ("x = 5\ny = x[0:1]\n", "t.agent:2: only a text or a list can be sliced, not 5"),
    ('s = "abc"\nb = 1.5\nt = s[0:b]\n', "t.agent:3: a slice's bounds are ints, not 1.5"),
    ('s = "abc"\nd = {"a": 1}\nt = d[0:1]\n', 'not {"a": 1}'),
    ('s = "abc"\nb = str(1)\nt = s[b:]\n', "t.agent:3: a slice's bounds are ints, not 1"),
    ('x = 3\nok = startswith(x, "a")\n', "t.agent:2: startswith() works on texts, not 3"),
    ('ok = endswith("abc", 1)\n', "t.agent:1: endswith() works on texts, not 1"),
])
def test_bad_values_stop_the_run_naming_the_line(source: str, message: str) -> None:
    assert message in run_error(source)


def test_a_slice_survives_the_plan_json_and_reads_back_as_source() -> None:
    program = parley.compile('s = "abc"\nn = 1\nprint s[-n:] + s[:2] + s[:]\n', "t.agent")
    again = plan_from_json(plan_to_json(program.plan))
    assert again == program.plan
    found: list[Any] = []

    def walk(value: Any) -> None:
        if isinstance(value, p.Slice):
            found.append(value)
        if isinstance(value, tuple | list):
            for item in value:
                walk(item)
        elif hasattr(value, "__attrs_attrs__"):
            for field in value.__attrs_attrs__:
                walk(getattr(value, field.name))

    walk(again)
    assert [expr_source(s) for s in found] == ["s[-n:]", "s[:2]", "s[:]"]


def test_fmt_writes_slices_tight() -> None:
    assert format_source("x = s [ 1 : - 2 ]\ny = s[ :n]\n") == "x = s[1:-2]\ny = s[:n]\n"
