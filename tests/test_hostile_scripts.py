"""Hostile scripts: checked in bounded time and memory, reported in bounded size, never a traceback.

A generated or damaged script can repeat one mistake a hundred thousand times,
hold a megabyte on one line, or nest as deep as it likes. Each shape below is
checked in a subprocess of its own, where CPU time, peak memory and the size
of the rendered report are measured. Then: the caps on diagnostics keep the
counts honest, long lines are clipped around the caret, and whatever the
compiler meets, only a `ScriptError` (or, for Parley's own bugs, an
`InternalError`) leaves it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from parley.compiler import compile_path, compile_source
from parley.dsl.caps import MAX_PER_LINE, MAX_SHOWN
from parley.dsl.diagnostics import MAX_LINE_SHOWN, Omitted, render, render_all, tally
from parley.dsl.errors import InternalError
from parley.dsl.parser import MAX_SOURCE_BYTES

from parley.cli import main

MB = MAX_SOURCE_BYTES - 1_000  # just under the size limit, so the file is read and checked


def _fill(unit: str, size: int = MB) -> str:
    return unit * (size // len(unit))


#: name -> script text. Each was slow, huge or fatal before its bound existed.
SHAPES = {
    # One error per interpolation, each printing its whole line: 290 MB of report from 24 KB.
    "1mb-of-interpolation-errors": _fill('print "' + "{x}" * 300 + '"\n'),
    # A megabyte on one line, with an error at its end (the word before it is looked for).
    "1mb-line-string-and-error": 'x = "' + "a" * (MB - 20) + '" "b"\n',
    # The case of the quadratic search for the word before an error: 26 s before.
    "80k-string-and-error": 'x = "' + "a" * 80_000 + '" "b"\n',
    "deep-brackets": "x = " + "(" * 400_000 + "1" + ")" * 400_000 + "\n",
    "deep-indentation": "".join("    " * i + "if true:\n" for i in range(700)) + "    " * 700 + "print 1\n",
    # Thousands of unknown names among thousands of known ones ("did you mean" compares pairs).
    "unknown-names-among-many": "".join(f"v{i} = {i}\n" for i in range(8_000))
    + "".join(f"print w{i}\n" for i in range(8_000)),
    # A `chat` header full of colons and comments, then a syntax error below it.
    "chat-header-of-colons": "x = 1\n" + _fill("chat:#", 500_000) + "\n" + "  y y\n",
    # Syntax errors after 300 KB of good statements: recovery must not re-read the good part each time.
    "errors-after-300kb": _fill("x = 1\nprint x\n", 300_000) + "y = = 1\n" * 30,
    # A megabyte of one character that starts no token.
    "1mb-of-semicolons": _fill(";"),
}

#: Generous bounds for a shared 2-core machine: a 1 MB script is checked in seconds.
CPU_SECONDS = 20.0
REPORT_BYTES = 200_000
PEAK_MEMORY_MB = 800

_MEASURE = """
import json, re, resource, sys, time

def peak_mb():
    # This process's own peak (VmHWM starts anew at exec; ru_maxrss keeps the forking parent's peak).
    try:
        with open("/proc/self/status") as status:
            return int(re.search(r"VmHWM:\\s+(\\d+)", status.read()).group(1)) / 1024
    except (OSError, AttributeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

from parley.compiler import compile_path
from parley.dsl.diagnostics import render_all, tally
start = time.process_time()
result = compile_path(sys.argv[1], display="hostile.agent")
report = render_all(result.diagnostics, result.sources)
cpu = time.process_time() - start
errors, warnings = tally(result.diagnostics)
print(json.dumps({"cpu": cpu, "report": len(report.encode()), "shown": len(result.diagnostics),
                  "errors": errors, "peak_mb": peak_mb()}))
"""


@pytest.mark.parametrize("name", list(SHAPES))
def test_any_shape_is_checked_in_bounded_time_memory_and_report(name: str, tmp_path: Path) -> None:
    path = tmp_path / "hostile.agent"
    path.write_text(SHAPES[name], encoding="utf-8")
    assert path.stat().st_size <= MAX_SOURCE_BYTES
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)], check=False, capture_output=True, text=True, timeout=180,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    assert figures["cpu"] < CPU_SECONDS, figures
    assert figures["report"] < REPORT_BYTES, figures
    assert figures["peak_mb"] < PEAK_MEMORY_MB, figures
    assert figures["shown"] <= MAX_SHOWN + 1, figures


# --- caps: a few per line, a bounded number in all, the rest counted ---------------------------


def test_errors_are_capped_per_line_and_counted() -> None:
    result = compile_source('print "' + "{x}" * 500 + '"\n', "many.agent")
    shown = [d for d in result.diagnostics if not isinstance(d, Omitted)]
    (note,) = [d for d in result.diagnostics if isinstance(d, Omitted)]
    assert len(shown) == MAX_PER_LINE and all(d.code == "P201" for d in shown)
    assert note is result.diagnostics[-1] and note.code == "P199"
    assert note.errors == 500 - MAX_PER_LINE and note.warnings == 0
    assert note.message == f"{500 - MAX_PER_LINE:,} more errors not shown"
    assert tally(result.diagnostics) == (500, 0)


def test_errors_are_capped_per_file_and_counted_through_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "many.agent"
    path.write_text("".join(f"print unknown{i}\n" for i in range(400)), encoding="utf-8")
    result = compile_path(path)
    assert len([d for d in result.diagnostics if d.is_error]) == MAX_SHOWN
    assert tally(result.diagnostics) == (400, 0)
    plain = CliRunner().invoke(main, ["check", str(path)])
    assert plain.exit_code == 1
    assert plain.output.count("error[P201]") == MAX_SHOWN
    assert f"{400 - MAX_SHOWN} more errors not shown" in plain.output
    assert "checked 1 file: 400 errors" in plain.output
    as_json = json.loads(CliRunner().invoke(main, ["check", "--json", str(path)]).stdout)
    assert as_json["errors"] == 400
    assert as_json["diagnostics"][-1]["omitted"] == {"errors": 400 - MAX_SHOWN, "warnings": 0}


def test_errors_are_shown_before_warnings() -> None:
    """Unused variables (warnings) early in a file do not push its errors out of the list."""
    text = "".join(f"unused{i} = {i}\n" for i in range(100)) + "print nowhere\n"
    result = compile_source(text, "w.agent")
    assert [d.code for d in result.diagnostics if d.is_error] == ["P201"]


# --- long lines are clipped around the caret ------------------------------------------------------


def test_a_long_line_is_clipped_around_the_caret() -> None:
    text = "x = [" + "1, " * 50_000 + "nowhere, " + "2, " * 50_000 + "3]\nprint x\n"
    result = compile_source(text, "long.agent")
    (diagnostic,) = result.diagnostics
    assert diagnostic.code == "P201"
    lines = render(diagnostic, result.sources["long.agent"]).split("\n")
    code, caret = lines[2], lines[3]
    assert len(code) < MAX_LINE_SHOWN + 20 and code.count("…") == 2
    at = caret.index("^")
    assert code[at:at + len("nowhere")] == "nowhere" and caret[at:].startswith("^" * len("nowhere") + " ")


def test_a_huge_name_is_shortened_in_the_message() -> None:
    name = "n" * 100_000
    result = compile_source(f"print {name}\n", "name.agent")
    text = render_all(result.diagnostics, result.sources)
    assert len(text) < 2_000 and "unknown name `nnnn" in text and "…`" in text


# --- recovery after errors skips what parsed well, and finds the same errors -----------------


def test_recovery_reports_every_error_after_good_statements() -> None:
    """Lines parsed whole before an error are not parsed again; the errors found are the same."""
    tail = "x = = 1\nif c:\n    d = 1\nelse:\n    e = = 2\nf = = 3\nrepeat 3 times:\n    print 1\nlet y = 2\n"
    alone = compile_source(tail, "r.agent").diagnostics
    after = compile_source("if a:\n    b = 1\nelse:\n    b = 2\n" * 50 + tail, "r.agent").diagnostics
    assert len(alone) == 5
    assert [(d.code, d.message, d.span.line - 200) for d in after] == [(d.code, d.message, d.span.line) for d in alone]


# --- only ScriptError leaves the compiler ------------------------------------------------------------


def test_a_lone_surrogate_is_a_diagnostic() -> None:
    result = compile_source('x = 1\nprint "\ud800"\n', "s.agent")
    (diagnostic,) = result.diagnostics
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.column) == ("P001", 2, 8)
    render_all(result.diagnostics, result.sources).encode("utf-8")  # printable: no surrogate left


def test_a_5000_digit_number_is_a_diagnostic() -> None:
    result = compile_source("x = " + "9" * 5_000 + "\nprint x\nbudget " + "9" * 5_000 + " tokens\n", "n.agent")
    assert [d.code for d in result.diagnostics] == ["P116", "P116"]
    result = compile_source("x = 1" + "0" * 400 + ".5\nprint x\n", "f.agent")
    assert [d.code for d in result.diagnostics] == ["P116"]


def test_an_import_with_a_300_character_name_is_a_diagnostic(tmp_path: Path) -> None:
    path = tmp_path / "main.agent"
    path.write_text(f'import "{"a" * 300}.agent"\nprint 1\n', encoding="utf-8")
    (diagnostic,) = compile_path(path).diagnostics
    assert diagnostic.code == "P270" and diagnostic.help and "too long" in diagnostic.help


@pytest.mark.parametrize("target", ["/etc/passwd", "/proc/self/mem", "/dev/zero"])
def test_a_file_that_is_not_a_script_is_not_read(target: str, tmp_path: Path) -> None:
    path = tmp_path / "main.agent"
    path.write_text(f'import "{target}"\nprint 1\n', encoding="utf-8")
    result = compile_path(path)
    assert [d.code for d in result.diagnostics] == ["P276"]
    assert set(result.sources) == {str(path)}  # the target's lines are nowhere to print
    output = CliRunner().invoke(main, ["check", str(path)]).output
    assert "root:" not in output and "Traceback" not in output


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs /proc")
def test_an_unreadable_script_is_a_diagnostic() -> None:
    result = compile_path("/proc/self/mem", display="mem.agent")  # a file whose reading fails (EIO)
    assert [d.code for d in result.diagnostics] == ["P005"]
    assert "cannot read the file" in result.diagnostics[0].message


def _broken(*args: object, **kwargs: object) -> None:
    raise ValueError("a bug nobody foresaw")


def test_anything_else_escaping_the_compiler_is_an_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from parley.compiler.driver import Compilation

    monkeypatch.setattr(Compilation, "run", _broken)
    with pytest.raises(InternalError, match="ValueError: a bug nobody foresaw") as caught:
        compile_source("print 1\n", "bug.agent")
    assert isinstance(caught.value.__cause__, ValueError)


@pytest.mark.parametrize("command", ["check", "run"])
def test_the_cli_reports_a_compiler_bug_as_internal(command: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from parley.compiler.driver import Compilation

    path = tmp_path / "bug.agent"
    path.write_text('print "hi"\n', encoding="utf-8")
    monkeypatch.setattr(Compilation, "run", _broken)
    result = CliRunner().invoke(main, [command, str(path)])
    assert result.exit_code == InternalError.exit_code, result.output
    assert "internal error" in result.output and "bug in Parley" in result.output
    assert "Traceback" not in result.output
