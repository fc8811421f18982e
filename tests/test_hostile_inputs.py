"""Hostile inputs: each ends in a diagnostic (or a clean parse), never in a traceback or a hang.

Every case is parsed through the API (`parley.parse`, checked like the fuzz tests:
only `ScriptError`, spans inside the file, trees that dump) and through the
command line (`parley check` and `parley check --json` on a file). The
time bound per case is a guard against hangs only; how fast the parser is
belongs to the benchmarks.
"""

from __future__ import annotations

import gc
import json
import time
import weakref
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

import parley
from parley.cli import main
from parley.dsl.dump import dump
from parley.dsl.parser import MAX_SOURCE_BYTES, MAX_SYNTAX_ERRORS, parse_path, parse_source

from test_fuzz import CORPUS, NAMES, check, file_lines, span_problem

ROOT = Path(__file__).resolve().parent.parent

#: Generous bounds per case, a guard against hangs, not a speed claim: CPU seconds of this
#: process (so other jobs on a shared machine cannot make it flaky), and wall-clock seconds
#: as the backstop for a hang that does not burn CPU.
SECONDS = 5.0
WALL_SECONDS = 30.0
FILENAME = "hostile.agent"
OK = "ok"  # in an expectation: the script may parse cleanly
ANY = "any"  # in an expectation: any error will do (the point is that there is one, not a traceback)


@attrs.frozen
class Case:
    """A hostile input and what may come of it: some of `expect` (codes, or OK for a clean parse)."""

    id: str
    data: str | bytes
    expect: frozenset[str]


def case(id: str, data: str | bytes, *expect: str) -> Case:
    return Case(id, data, frozenset(expect))


def nested_blocks(depth: int) -> str:
    return "".join("    " * level + "if x:\n" for level in range(depth)) + "    " * depth + "print x\n"


def chain(terms: int, op: str = "+", term: str = "1") -> str:
    return f" {op} ".join([term] * terms)


TEN_MB = 10 * 1024 * 1024
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00\x1f\xf3\xffa"

CASES = [
    # --- encodings and binary -------------------------------------------------
    case("not-utf8", b'x = 1\nprint "caf\xe9"\n', "P001"),
    case("not-utf8-first-byte", b"\xff\xfe\x00x", "P001", "P002"),
    case("utf16", "print 1\n".encode("utf-16"), "P001", "P002"),
    case("encoded-surrogate", b'x = "\xed\xa0\x80"\n', "P001"),
    case("png-header", PNG, "P002"),
    case("nul-bytes", b"\x00" * 64, "P002"),
    case("nul-in-text", "x = 1\nprint x\0\n", "P002"),
    case("nul-in-bytes", b"x = 1\ny = 2\nprint \x00y\n", "P002"),
    # --- empty and nearly empty -----------------------------------------------
    case("empty", "", OK),
    case("empty-bytes", b"", OK),
    case("only-blank-lines", "\n\n   \n\t\n", OK),
    case("only-comments", "# one\n# two\n    # indented comment\n#\n", OK),
    case("only-comment-no-newline", "# just this", OK),
    # --- size ------------------------------------------------------------------
    case("10MB-text", "x = 1\n" * (TEN_MB // 6), "P004"),
    case("10MB-bytes", b"# " + b"a" * TEN_MB + b"\n", "P004"),
    case("just-over-the-limit", "#" * MAX_SOURCE_BYTES + "\n", "P004"),
    case("just-under-the-limit", "#" + "a" * (MAX_SOURCE_BYTES - 2) + "\n", OK),
    # --- nesting -----------------------------------------------------------------
    case("500-parens", "x = " + "(" * 500 + "1" + ")" * 500 + "\n", "P106"),
    case("500-lists", "x = " + "[" * 500 + "1" + "]" * 500 + "\n", "P106"),
    case("500-dicts", "x = " + "{1: " * 500 + "1" + "}" * 500 + "\n", "P106"),
    case("500-mixed-brackets", "x = " + "([{1: " * 167 + "1" + "}])" * 167 + "\n", "P106"),
    case("500-unclosed-parens", "x = " + "(" * 500 + "\n", "P106", "P103"),
    case("500-closers", "x = 1" + ")" * 500 + "\n", "P107", ANY),
    case("500-blocks", nested_blocks(500), "P106"),
    case("500-parens-in-until", 'chat a, b:\n    "hi"\n    until ' + "(" * 500 + "1 turns" + ")" * 500 + "\n",
         "P106"),
    case("500-generic-types", "type T = " + "list[" * 500 + "str" + "]" * 500 + "\n", "P106"),
    # --- long chains ---------------------------------------------------------------
    case("5000-term-sum", "x = " + chain(5000) + "\n", "P150", OK),
    case("5000-term-sum-in-prose", "@writer Total: {" + chain(5000) + "}\n", "P150", OK),
    case("5000-term-sum-in-string", 'print "Total: {' + chain(5000) + '}"\n', "P150", OK),
    case("5000-term-sum-in-call", "x = f(" + chain(5000) + ")\n", "P150", OK),
    case("5000-or", "x = " + chain(5000, "or", "y") + "\n", "P150", OK),
    case("5000-not", "x = " + "not " * 5000 + "y\n", "P150", OK),
    case("5000-minus", "x = " + "-" * 5000 + "1\n", "P150", OK),
    case("5000-power", "x = " + chain(5000, "**", "2") + "\n", "P150", OK),
    case("5000-attributes", "x = y" + ".z" * 5000 + "\n", "P150", OK),
    case("5000-calls", "x = f" + "()" * 5000 + "\n", "P150", OK),
    case("5000-indexes", "x = y" + "[0]" * 5000 + "\n", "P150", OK),
    case("5000-ternaries", "x = " + "1 if y else " * 5000 + "1\n", "P150", OK),
    case("5000-comparisons", "x = " + chain(5000, "<") + "\n", "P150", OK),
    case("5000-arguments", "x = f(" + ", ".join(["1"] * 5000) + ")\n", "P150", OK),
    case("5000-union-type", "type T = " + chain(5000, "|", "str") + "\n", OK),
    # --- braces in prose and strings -------------------------------------------------
    case("500-nested-braces-in-prose", "@writer " + "{ " * 500 + "x" + " }" * 500 + "\n", "P106", "P125"),
    case("500-nested-parens-in-prose", "@writer {" + "(" * 500 + "x" + ")" * 500 + "}\n", "P106", "P125"),
    case("500-nested-braces-in-string", 'print "' + "{ " * 500 + "x" + " }" * 500 + '"\n', "P106", "P125"),
    case("1000-literal-braces-in-prose", "@writer " + "{" * 1000 + "x" + "}" * 1000 + "\n", OK),
    case("501-open-braces-in-prose", "@writer " + "{" * 501 + "x\n", "P124"),
    case("500-close-braces-in-prose", "@writer x" + "} " * 500 + "\n", "P124"),
    case("quotes-nested-in-interpolations", "@writer {\"{'{x}'}\"}\n", OK),
    case("500-interpolations", "@writer " + "{x} " * 500 + "\n", OK),
    # --- long lines --------------------------------------------------------------------
    case("100k-prose", "@writer " + "word " * 20_000 + "\n", OK),
    case("100k-string", 'x = "' + "a" * 100_000 + '"\n', OK),
    case("100k-name", "x" * 100_000 + " = 1\n", OK),
    case("100k-comment", "# " + "c" * 100_000 + "\nx = 1\n", OK),
    case("100k-list", "x = [" + '"abcdefgh", ' * 8_400 + "1]\n", OK),
    case("100k-spaces-then-error", "x = 1" + " " * 100_000 + "= 2\n", ANY),
    case("100k-unterminated-string", 'x = "' + "a" * 100_000 + "\n", "P110"),
    case("100k-unterminated-triple-string", 'x = """' + "a\n" * 50_000, "P111"),
    # --- many of something ---------------------------------------------------------------
    case("10000-at-signs", "@" * 10_000 + "\n", "P112"),
    case("10000-at-names-in-prose", "@writer " + "@critic " * 10_000 + "\n", OK),
    case("10000-yes-no-asks", "x = " + chain(10_000, "and", '@you? "ok?"') + "\n", "P150", OK),
    case("10000-unquoted-yes-no-asks", "x = " + "@you? " * 10_000 + "\n", ANY),
    case("10000-blank-lines", "\n" * 10_000 + "x = 1\n", OK),
    case("10000-errors", "x = = 1\n" * 10_000, ANY),
    # --- line endings, BOM and odd whitespace ----------------------------------------------
    case("crlf", "if x:\r\n    print x\r\n", OK),
    case("lone-cr", "if x:\r    print x\r", OK),
    case("mixed-line-endings", "x = 1\r\ny = 2\rz = 3\n", OK),
    case("bom", "\ufeffx = 1\n", OK),
    case("bom-bytes", b"\xef\xbb\xbfx = 1\r\n", OK),
    case("two-boms", "\ufeff\ufeffx = 1\n", ANY),
    case("bom-mid-file", "x = 1\n\ufeffy = 2\n", ANY),
    case("form-feed-line", "x = 1\n\x0c\ny = 2\n", OK),
    case("form-feed-between-tokens", "x =\x0c1\n", OK),
    case("form-feed-in-indentation", "if x:\n\x0c    print x\n", OK, ANY),
    case("form-feed-after-indentation", "if x:\n    \x0cprint x\n", OK, ANY),
    case("vertical-tab", "x = 1\x0b\n", "P114"),
    case("line-separator", "x = 1\u2028y = 2\n", "P114"),
    case("next-line-in-prose", "@writer one\x85two\n", OK),
    # --- surrogates ---------------------------------------------------------------------------
    # Text built in Python may hold lone surrogates, which no file can: refused as not Unicode text.
    case("surrogate-in-string", 'x = "\udcff"\n', "P001"),
    case("surrogate-in-prose", "@writer caf\udce9 {x}\n", "P001"),
    case("surrogate-in-comment", "# \ud800\nx = 1\n", "P001"),
    case("surrogate-in-code", "x = \udcff\n", "P001"),
    case("surrogate-pair-halves", "x = \ud83d\ude00\n", "P001"),
    # --- tabs ------------------------------------------------------------------------------------
    case("tab-indent", "if x:\n\tprint x\n", "P104"),
    case("tab-after-spaces", "if x:\n    \tprint x\n", "P104"),
    case("tab-in-nested-block", "if x:\n    if y:\n    \t    print y\n", "P104"),
    case("tab-inside-line", "x\t=\t1\n", OK),
    case("tab-inside-brackets", "x = [\n\t1,\n\t2,\n]\n", OK),
    # --- errors in bulk -------------------------------------------------------------------------
    case("too-many-errors", "".join(f"x{i} = = 1\n" for i in range(200)), ANY),
]
IDS = [c.id for c in CASES]
assert len(set(IDS)) == len(IDS)


def timed(function, *args):  # type: ignore[no-untyped-def]
    """Call `function(*args)` under the hang guard."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = function(*args)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert cpu < SECONDS, f"took {cpu:.1f} CPU seconds (guard: {SECONDS}s)"
    assert wall < WALL_SECONDS, f"took {wall:.1f} s on the clock (guard: {WALL_SECONDS}s)"
    return value


@pytest.mark.parametrize("hostile", CASES, ids=IDS)
def test_parse_ends_in_a_diagnostic(hostile: Case) -> None:
    """`parley.parse` returns a tree or raises ScriptError, spans inside the file, trees dump; then the codes."""
    module = timed(check, hostile.data, FILENAME)
    result = parse_source(hostile.data, FILENAME)
    assert (module is not None) == result.ok
    found = [d.code for d in result.diagnostics]
    errors = [d for d in result.diagnostics if d.is_error]
    if result.ok:
        assert OK in hostile.expect, f"parsed cleanly ({found}); expected one of {sorted(hostile.expect)}"
    else:
        assert ANY in hostile.expect or {d.code for d in errors} & hostile.expect, (
            f"got {found}; expected one of {sorted(hostile.expect)}"
        )


def encoded(data: str | bytes) -> bytes:
    """The file a text is saved as; lone surrogates become the (invalid) bytes they stand for."""
    if isinstance(data, bytes):
        return data
    try:
        return data.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return data.encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("hostile", CASES, ids=IDS)
def test_cli_check(hostile: Case, tmp_path: Path) -> None:
    """`parley check FILE` and `--json`: no traceback, exit 1 on errors and 0 otherwise, JSON as documented.

    `check` compiles too, so it may find more errors than the parser; it must
    report at least the parser's, and agree with itself between the two formats.
    """
    path = tmp_path / "hostile.agent"
    path.write_bytes(encoded(hostile.data))
    parse_errors = [d for d in parse_path(path).diagnostics if d.is_error]
    runner = CliRunner()

    as_json = timed(runner.invoke, main, ["check", "--json", str(path)])
    assert as_json.exception is None or isinstance(as_json.exception, SystemExit), repr(as_json.exception)
    payload = json.loads(as_json.stdout)
    assert {"diagnostics", "errors", "warnings", "files"} <= set(payload)
    assert payload["files"] == 1
    # A capped list ends in a note counting what it left out: the totals include those.
    shown = [item for item in payload["diagnostics"] if "omitted" not in item]
    left_out = [item["omitted"] for item in payload["diagnostics"] if "omitted" in item]
    assert len(left_out) <= 1 and all(item["code"] == "P199" for item in payload["diagnostics"] if "omitted" in item)
    assert payload["errors"] == sum(item["severity"] == "error" for item in shown) + sum(o["errors"] for o in left_out)
    assert payload["warnings"] == sum(item["severity"] == "warning" for item in shown) + sum(
        o["warnings"] for o in left_out)
    assert as_json.exit_code == (1 if payload["errors"] else 0)
    if parse_errors:
        assert payload["errors"] >= 1
    for item in payload["diagnostics"]:
        assert {"code", "severity", "message", "span", "help"} <= set(item)
        assert item["severity"] in ("error", "warning")
        assert set(item["span"]) == {"file", "line", "column", "end_line", "end_column"}
        assert item["span"]["file"] == str(path)
    reported = {(item["code"], item["span"]["line"], item["span"]["column"]) for item in payload["diagnostics"]}
    for diagnostic in parse_errors:
        assert (diagnostic.code, diagnostic.span.line, diagnostic.span.column) in reported

    plain = timed(runner.invoke, main, ["check", str(path)])
    assert plain.exception is None or isinstance(plain.exception, SystemExit), repr(plain.exception)
    assert plain.exit_code == as_json.exit_code, plain.output
    assert "Traceback" not in plain.output
    for item in payload["diagnostics"]:
        span = item["span"]
        assert f"{path}:{span['line']}:{span['column']}: {item['severity']}[{item['code']}]" in plain.output


# --- encodings: where the caret goes ---------------------------------------------------------

#: (bytes, line, column of the bad byte as an editor counts characters)
BAD_BYTES = {
    "lf": (b'x = 1\nprint "caf\xe9"\n', 2, 11),
    "crlf": (b'x = 1\r\nprint "caf\xe9"\r\n', 2, 11),
    "lone-cr": (b'x = 1\rprint "caf\xe9"\r', 2, 11),
    "bom": (b'\xef\xbb\xbfprint "caf\xe9"\n', 1, 11),
    "multibyte-before": ('print "\u00e9\u20ac\U0001f600'.encode() + b'\xff"\n', 1, 11),
    "first-byte": (b"\x80x = 1\n", 1, 1),
    "cut-mid-character": ('print "\u20ac'.encode()[:-1], 1, 8),
    "encoded-surrogate": (b'x = "\xed\xa0\x80"\n', 1, 6),
    "third-line": (b"# ok\n\n\tx = \xc0\xaf\n", 3, 6),
}


@pytest.mark.parametrize("name", sorted(BAD_BYTES))
def test_not_utf8_points_at_the_bad_byte(name: str) -> None:
    data, line, column = BAD_BYTES[name]
    result = parse_source(data, FILENAME)
    assert [d.code for d in result.diagnostics] == ["P001"]
    diagnostic = result.diagnostics[0]
    assert f"0x{_first_bad_byte(data):02x}" in diagnostic.message
    assert (diagnostic.span.line, diagnostic.span.column) == (line, column)
    assert span_problem(diagnostic.span, file_lines(data), "P001", FILENAME) is None


def _first_bad_byte(data: bytes) -> int:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return data[error.start]
    raise AssertionError("valid UTF-8")


def test_not_utf8_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "latin1.agent"
    path.write_bytes(b'x = 1\nprint "caf\xe9"\n')
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:2:11: error[P001]" in result.output


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "lone-cr"])
@pytest.mark.parametrize("kind", ["bytes", "str"])
def test_nul_points_at_its_line(newline: str, kind: str) -> None:
    """The binary-file diagnostic names the line of the first NUL, counting lines as the parser does."""
    text = newline.join(["x = 1", "y = 2", "print \x00y", ""])
    result = parse_source(text.encode() if kind == "bytes" else text, FILENAME)
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("P002", 3)]


# --- empty files --------------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["", b"", "\n\n", "   \n"], ids=["str", "bytes", "newlines", "spaces"])
def test_empty_file_is_a_warning(data: str | bytes) -> None:
    module = parley.parse(data, FILENAME)
    assert module.body == ()
    result = parse_source(data, FILENAME)
    assert result.ok
    assert [(d.code, d.severity) for d in result.diagnostics] == [("P003", parley.Severity.WARNING)]


def test_empty_file_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "empty.agent"
    path.write_bytes(b"")
    runner = CliRunner()
    plain = runner.invoke(main, ["check", str(path)])
    assert plain.exit_code == 0, plain.output
    assert "warning[P003]" in plain.output
    payload = json.loads(runner.invoke(main, ["check", "--json", str(path)]).stdout)
    assert payload["errors"] == 0 and payload["warnings"] == 1
    assert payload["diagnostics"][0]["code"] == "P003"


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", str(tmp_path / "missing.agent")])
    assert result.exit_code == 2
    result = CliRunner().invoke(main, ["check", "--json", str(tmp_path / "missing.agent")])
    assert result.exit_code == 2


def test_directory_is_a_usage_error(tmp_path: Path) -> None:
    assert CliRunner().invoke(main, ["check", str(tmp_path)]).exit_code == 2


# --- size ------------------------------------------------------------------------------------------


def test_10mb_text_is_refused() -> None:
    result = timed(parse_source, "x = 1\n" * (TEN_MB // 6), FILENAME)
    assert [d.code for d in result.diagnostics] == ["P004"]
    with pytest.raises(parley.ScriptError):
        parley.parse("x = 1\n" * (TEN_MB // 6), FILENAME)


def test_10mb_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "huge.agent"
    path.write_bytes(b"x = 1\n" * (TEN_MB // 6))
    result = timed(parse_path, path)
    assert [d.code for d in result.diagnostics] == ["P004"]
    assert "MB" in result.diagnostics[0].message
    cli = timed(CliRunner().invoke, main, ["check", str(path)])
    assert cli.exit_code == 1 and "error[P004]" in cli.output


def test_size_limit_counts_utf8_bytes() -> None:
    """A script of multi-byte characters is measured in bytes, as the file is."""
    text = "# " + "\u20ac" * (MAX_SOURCE_BYTES // 3 + 1) + "\n"  # fewer characters than the limit, more bytes
    assert len(text) < MAX_SOURCE_BYTES < len(text.encode())
    assert [d.code for d in parse_source(text, FILENAME).diagnostics] == ["P004"]
    assert [d.code for d in parse_source(text.encode(), FILENAME).diagnostics] == ["P004"]


# --- line endings and BOMs parse exactly like LF ----------------------------------------------------


def _same_outcome(a: str | bytes, b: str | bytes) -> None:
    first, second = parse_source(a, FILENAME), parse_source(b, FILENAME)
    assert [(d.code, d.span, d.message) for d in first.diagnostics] == \
        [(d.code, d.span, d.message) for d in second.diagnostics]
    assert dump(first.module) == dump(second.module)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("variant", ["crlf", "cr", "bom", "bom-crlf", "crlf-bytes", "bom-bytes"])
def test_line_endings_and_bom_parse_like_lf(name: str, variant: str) -> None:
    text = CORPUS[name]
    other = {
        "crlf": text.replace("\n", "\r\n"),
        "cr": text.replace("\n", "\r"),
        "bom": "\ufeff" + text,
        "bom-crlf": "\ufeff" + text.replace("\n", "\r\n"),
        "crlf-bytes": text.replace("\n", "\r\n").encode(),
        "bom-bytes": b"\xef\xbb\xbf" + text.encode(),
    }[variant]
    assert parley.parse(text, FILENAME) is not None
    _same_outcome(text, other)


BROKEN = [
    "if x\n    print x\n",
    "agent writer:\n    model smart\n\nwhile not done:\n    print 1\n",
    'x = "open\ny = 2\n',
    "if x:\n  print 1\n print 2\n",
    "x = (1,\n     2\n",
    "@writer {oops +}\n",
    'print """never closed\n\n',
    "if x:\n\tprint x\n",
]


@pytest.mark.parametrize("text", BROKEN, ids=range(len(BROKEN)))
def test_crlf_errors_are_reported_like_lf(text: str) -> None:
    _same_outcome(text, text.replace("\n", "\r\n"))
    _same_outcome(text, text.replace("\n", "\r"))
    _same_outcome(text, "\ufeff" + text)


@pytest.mark.parametrize("name", NAMES)
def test_cli_reports_crlf_like_lf(name: str, tmp_path: Path) -> None:
    """`parley check` says the same about a script saved with CRLF, lone CR or a BOM as with LF."""
    text = CORPUS[name]
    variants = {
        "lf": text.encode(), "crlf": text.replace("\n", "\r\n").encode(),
        "cr": text.replace("\n", "\r").encode(), "bom": b"\xef\xbb\xbf" + text.encode(),
    }
    outputs = {}
    for variant, data in variants.items():
        folder = tmp_path / variant
        folder.mkdir()
        path = folder / "script.agent"
        path.write_bytes(data)
        for library in (ROOT / "examples" / "lib").glob("*.agent") if "/" not in name else ():
            (folder / "lib").mkdir(exist_ok=True)
            (folder / "lib" / library.name).write_bytes(library.read_bytes())
        result = CliRunner().invoke(main, ["check", str(path)])
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        outputs[variant] = (result.exit_code, result.output.replace(str(folder), "DIR"))
    assert outputs["crlf"] == outputs["lf"]
    assert outputs["cr"] == outputs["lf"]
    assert outputs["bom"] == outputs["lf"]


# --- depth: what the limits promise ----------------------------------------------------------------


@pytest.mark.parametrize("opener, closer", [("(", ")"), ("[", "]"), ("{", "}")])
def test_nesting_inside_an_interpolation_is_reported_as_nesting(opener: str, closer: str) -> None:
    """Too-deep brackets inside `{…}` get the nesting diagnostic, as they do outside text."""
    inner = opener * 500 + "x" + closer * 500 if opener != "{" else "{1: " * 500 + "1" + "}" * 500
    for text in (f"@writer {{ {inner} }}\n", f'print "{{ {inner} }}"\n'):
        result = parse_source(text, FILENAME)
        assert [d.code for d in result.diagnostics][:1] == ["P106"], [
            (d.code, d.message) for d in result.diagnostics
        ]


def test_mismatched_bracket_inside_an_interpolation_is_explained() -> None:
    result = parse_source("@writer {f(x]}\n", FILENAME)
    assert result.diagnostics
    message = result.diagnostics[0].message
    assert "`?`" not in message, message


@pytest.mark.parametrize("joiner", ["or", "and"])
def test_long_until_condition_is_refused_or_usable(joiner: str, tmp_path: Path) -> None:
    """A 5,000-term `until` either gets P150 or yields a tree that later stages can walk (dump)."""
    text = 'chat a, b:\n    "hi"\n    until ' + chain(5000, joiner, "1 turns") + "\n"
    result = timed(parse_source, text, FILENAME)
    if result.ok:
        assert result.module is not None
        json.dumps(dump(result.module))
    else:
        assert "P150" in [d.code for d in result.diagnostics]
    path = tmp_path / "until.agent"
    path.write_text(text)
    cli = timed(CliRunner().invoke, main, ["check", str(path)])
    assert cli.exception is None or isinstance(cli.exception, SystemExit), cli.exception
    assert cli.exit_code == (0 if result.ok else 1)


def nested_interpolations(terms: int) -> str:
    """An expression `terms` deep inside each of five nested texts: prose, \"\"\", ''', ", '."""
    tail = " + 1" * terms
    expr = "x" + tail
    for quote in ("'", '"', "'''", '"""'):
        expr = f"{quote}{{{expr}}}{quote}{tail}"
    return "@writer {" + expr + "}\n"


def test_expression_depth_limit_holds_across_interpolations() -> None:
    """Each `{…}` is parsed on its own, but the depth limit (P150) is meant for the whole tree.

    Five texts nested in one another, each holding a 199-deep sum, make a 1,000-deep
    tree from a 4 kB line; it must be refused, or be shallow enough to walk.
    """
    text = nested_interpolations(199)
    result = timed(parse_source, text, FILENAME)
    if result.ok:
        assert result.module is not None
        json.dumps(dump(result.module))
    else:
        assert "P150" in [d.code for d in result.diagnostics]


def test_too_many_errors_stop_with_a_warning() -> None:
    result = timed(parse_source, "".join(f"x{i} = = 1\n" for i in range(200)), FILENAME)
    errors = [d for d in result.diagnostics if d.is_error]
    assert len(errors) == MAX_SYNTAX_ERRORS
    assert result.diagnostics[-1].code == "P199"


FLOODS = {
    "single-closing-braces": "@writer x" + "} " * 500 + "\n",
    "empty-interpolations": "@writer " + "{}" * 500 + "\n",
    "unknown-escapes": 'x = "' + "\\q" * 500 + '"\n',
    "unknown-agent-kinds": "agent a is humn\n" * 500,
    "bad-interpolations": 'print "{x +}"\n' * 500,
}


def test_error_cap_applies_to_errors_in_text_and_declarations() -> None:
    """Like syntax errors, the errors found while building the tree stop at MAX_SYNTAX_ERRORS (then P199)."""
    counts = {}
    for name, text in FLOODS.items():
        result = timed(parse_source, text, FILENAME)
        errors = [d for d in result.diagnostics if d.is_error]
        assert errors, name
        counts[name] = (len(errors), errors[0].code)
    flooded = {name: count for name, count in counts.items() if count[0] > MAX_SYNTAX_ERRORS}
    assert not flooded, f"more than {MAX_SYNTAX_ERRORS} errors (count, code): {flooded}"


def test_tab_in_indentation_points_at_the_tab() -> None:
    result = parse_source("if x:\n    \tprint x\n", FILENAME)
    assert [(d.code, d.span.line, d.span.column) for d in result.diagnostics] == [("P104", 2, 5)]


def test_error_at_the_end_of_a_long_line_has_the_right_column() -> None:
    text = "x = 1" + " " * 100_000 + "= 2\n"
    result = timed(parse_source, text, FILENAME)
    assert result.diagnostics[0].span.line == 1
    assert result.diagnostics[0].span.column == text.index("= 2") + 1


# --- many bad scripts in one process -------------------------------------------------------------

LEFT_BEHIND = {
    "clean": "x = 1\n",
    "missing-colon": "if x\n    print x\n",
    "double-equals": "x = = 1\n",
    "unclosed-bracket": "x = (\n",
    "bad-interpolation": "@writer {x +}\n",
    "not-utf8": b"\xff",
}


@pytest.mark.parametrize("name", sorted(LEFT_BEHIND))
def test_a_parse_leaves_nothing_alive(name: str) -> None:
    """Once its result is dropped, nothing of a parse stays in memory (editors and servers parse all day).

    A file kept alive by a cache grows the process by tens of kB per bad script.
    """
    result = parse_source(LEFT_BEHIND[name], FILENAME)
    source = weakref.ref(result.source)
    del result
    gc.collect()
    assert source() is None, "the Source of a finished parse is still referenced"
