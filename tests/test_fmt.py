"""`parley fmt`: the canonical layout, its guarantees, and the command.

The guarantees, checked on every example, every test script that parses,
and generated programs (clean, and made messy at random):

- idempotent: formatting formatted text changes nothing;
- meaning-preserving: the plan of the formatted script equals the plan of
  the original, compared as plan JSON with every `span` (and the
  `source_sha256` of the text) left out, since those describe where things
  are, not what they do; a script that compiles with errors keeps the same
  diagnostics (code and message);
- nothing is lost: the tokens (prose and strings included) and the comments
  are the same, in the same order, byte for byte (a triple-quoted string may
  only move its continuation lines with its statement);
- the examples are the house style: each is already formatted, and a messy
  copy (2-space indentation, extra spaces, extra blank lines, trailing
  spaces) formats back to it.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import EXAMPLES, ROOT, example_files, rendered
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Token
from plan_eval import scripts
from test_syntax_tree import CONSTRUCTS

import parley
from parley.compiler import compile_source
from parley.compiler.serialize import plan_to_json
from parley.dsl import fmt as fmt_module
from parley.dsl._lark import parser
from parley.cli import main
from parley.dsl.errors import InternalError, ScriptError
from parley.dsl.parser import parse_source

# --- helpers --------------------------------------------------------------------------------------


def fuzz(max_examples: int) -> settings:
    return settings(max_examples=int(os.environ.get("PARLEY_FUZZ_EXAMPLES", max_examples)), derandomize=True,
                    deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# The helpers below are pure functions of their arguments, called again and again on the same texts (a
# script, its formatted and its messy form): each is worked out once. What they return is only read.


@functools.lru_cache(maxsize=2048)
def plan_data(text: str, name: str, path: Path | None = None) -> Any:
    """The plan as JSON data without positions; or, when the script does not compile, its diagnostics."""
    result = compile_source(text, name, path=path)
    if result.plan is None:
        return [(d.code, d.message) for d in result.diagnostics]

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("span", "source_sha256")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(json.loads(plan_to_json(result.plan)))


@functools.lru_cache(maxsize=2048)
def real_tokens(text: str) -> tuple[Token, ...]:
    """The script's tokens as the parser lexes them, in order, without layout tokens."""
    tree = parser().parse(text + "\n", start="start")
    found = [t for t in tree.scan_values(lambda v: isinstance(v, Token)) if not t.type.startswith("_")]
    return tuple(sorted(found, key=lambda t: t.start_pos))


@functools.lru_cache(maxsize=2048)
def formatted_text(text: str, name: str) -> str:
    return parley.format_source(text, name)


def comments(text: str) -> list[str]:
    """Every comment's text, in order (what lies between tokens, from `#`)."""
    found, position = [], 0
    for token in [*real_tokens(text), None]:
        gap = text[position:token.start_pos if token is not None else len(text)]
        found += [line.split("#", 1)[1].rstrip() for line in gap.split("\n") if "#" in line]
        if token is not None:
            position = token.end_pos
    return found


def check_guarantees(text: str, name: str = "t.agent", path: Path | None = None) -> str:
    """Format `text` and check every guarantee; the formatted text."""
    formatted = formatted_text(text, name)
    assert formatted_text(formatted, name) == formatted, "not idempotent"
    assert plan_data(formatted, name, path) == plan_data(text, name, path)
    before, after = real_tokens(text), real_tokens(formatted)
    assert [(t.type, str(t)) for t in before if "\n" not in t] == [(t.type, str(t)) for t in after if "\n" not in t]
    assert [t.type for t in before] == [t.type for t in after]
    assert comments(formatted) == comments(text)
    assert formatted == "" or (formatted.endswith("\n") and not formatted.endswith("\n\n"))
    inside_strings = {line for t in after if "\n" in t for line in range(t.line, (t.end_line or t.line) + 1)}
    lines = formatted.split("\n")
    assert [n for n, line in enumerate(lines, 1) if line != line.rstrip() and n not in inside_strings] == []
    return formatted


def messy(text: str, rng: random.Random) -> str:
    """`text` re-laid out badly but with the same meaning: 2-space indentation, random extra spaces
    between tokens, trailing spaces, doubled blank lines and blank lines at the start of blocks and file."""
    out = ["\n" * rng.randint(0, 2)]
    position = brackets = 0
    moved: dict[int, int] = {}  # line → columns its indentation moved
    for token in [*real_tokens(text), None]:
        gap = text[position:token.start_pos if token is not None else len(text)]
        if "\n" not in gap and token is not None:
            out.append(gap + " " * rng.randint(0, 2) if position else gap)
        else:
            segments = gap.split("\n")
            first = segments[0].rstrip()
            lines = [first + " " * rng.randint(0, 3) if first else first]
            if not brackets and text[position - 1:position] == ":":
                lines.append("")  # a blank line at the start of a block
            for segment in segments[1:-1]:
                lines.append(_halved(segment) if segment.strip() else "")
                if not segment.strip():
                    lines.append("")  # blank lines doubled
            lines.append(_halved(segments[-1]))
            if token is not None:
                moved[token.line] = len(lines[-1]) - len(segments[-1])
            out.append("\n".join(lines))
        if token is None:
            break
        value = str(token)
        if "\n" in value:
            cut = -moved.get(token.line, 0)
            lines = value.split("\n")
            value = "\n".join([lines[0], *(line[cut:] if line.startswith(" " * cut) else line for line in lines[1:])])
            moved[token.end_line] = -cut
        brackets += (token.type in ("LPAR", "LSQB", "LBRACE")) - (token.type in ("RPAR", "RSQB", "RBRACE"))
        out.append(value)
        position = token.end_pos
    return "".join(out) + "\n\n"


def commented(text: str, rng: random.Random) -> str:
    """`text` with comments added at random: at line ends, and on lines of their own at any indentation."""
    out: list[str] = []
    position, count, prev = 0, 0, None
    for token in [*real_tokens(text), None]:
        gap = text[position:token.start_pos if token is not None else len(text)]
        if "\n" in gap:
            first, rest = gap.split("\n", 1)
            lines = [first]
            if prev is not None and prev.type != "PROSE" and rng.random() < 0.3:
                count += 1
                lines[0] += f"  # end {count}"
            for _ in range(rng.choice([0, 0, 1, 2])):
                count += 1
                lines.append(" " * rng.randint(0, 12) + f"# own {count}")
            gap = "\n".join(lines) + "\n" + rest
        out.append(gap)
        if token is None:
            break
        out.append(str(token))
        position, prev = token.end_pos, token
    return "".join(out)


def _halved(line: str) -> str:
    stripped = line.lstrip(" ")
    return " " * ((len(line) - len(stripped)) // 2) + stripped


def parsing_test_scripts() -> list[Path]:
    """Every `.agent` file under tests/ that parses (the compile-error scripts; the syntax-error ones do not)."""
    found = []
    for path in sorted((ROOT / "tests").rglob("*.agent")):
        if parse_source(path.read_bytes(), str(path)).ok:
            found.append(path)
    return found


TEST_SCRIPTS = parsing_test_scripts()
SYNTAX_ERRORS = [p for p in sorted((ROOT / "tests" / "errors").glob("*.agent")) if not parse_source(p.read_bytes()).ok]


def display(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --- snapshots of messy scripts ----------------------------------------------------------------------

MESSY = {
    "comments-in-odd-places": '''\


# A header comment, then blank lines to squeeze.   
model smart=openai( "gpt-4o-mini" , temperature = 0.2 )   # the model
default model smart
agent writer :   # the writer
  """You write."""
  # about the setting
  model : smart
  # the end of the agent block
input topic : str="x"   
def f( a ) :
      # first thing in the block
      if a :
            return a  # returned
            # closing the if, indented like it
      # closing the def
# at the top level again
      return "none"
draft = @writer Draft a blurb about {topic}. # this is prose, not a comment
tools = [  # open
    "search",
      # between items
    "save"  ,
]
# the last word
''',
    "nested-blocks": '''\
agent a:
   "You are a."
agent b:
   "You are b."
def score(xs : list[int] , k : int=2)->int :
   total=0
   for x in xs :
      if x>k and not x==3 :
         total+=x*-1
      elif x<=- k :
         while total<100 max 10 :
            total=total*2
            if total% 7==0 :
               break
      else :
         repeat 2 :
            total -=1
   return total
print score([ 1,2 ,3 ], k = 1)
''',
    "prose-and-strings": '''\
agent writer:
    """You write."""
input topic: str = "x"
draft = @writer     Write   a LONG piece: quotes "kept", colons: kept, a # kept, {topic} and {{braces}}  and spacing   inside.   
print   "A {topic} with {{literal}} braces and {len(  draft )} chars"
print r"raw {not} interpolated \\d"
x = {"k" : "{topic}",'single':'it\\'s'}
print  @writer    Summarise: {draft}
''',
    "triple-quoted-strings": '''\
agent critic:
  """
  You review drafts.
    Keep this indentation.
  Reply APPROVED.
  """
if true:
        note = """
        Indented with the code: moves with it.
        """
        raw = r"""
          raw text
        """
        odd = """first line
  less indented than the code: stays as written"""
print note
''',
    "parallel-and-conversations": '''\
agent writer:
    "You write."
agent critic:
    "You critique."
agent planner:
    "You plan."
agent you is human
parallel :
  a=@writer First idea.
  b=@critic? "Ready?"
  c =@planner  Plan {a}.
review=chat writer,critic :
  "Improve: {a}"
  until critic says "APPROVED" or 8 turns
team = group planner , writer , critic :
  """
  Build it.
  """
  select random( seed=7 )
  flow planner->writer , writer->critic|planner
  until (  "done" and 2 turns ) or tokens>5000 or anyone says "DONE"
chat writer, you:
  "Talk."
  until 3 turns
''',
}


@pytest.mark.parametrize("name", sorted(MESSY))
def test_messy_scripts_snapshot(name: str, snapshot) -> None:
    formatted = check_guarantees(MESSY[name], f"{name}.agent")
    assert formatted == snapshot


# --- rules, one at a time -------------------------------------------------------------------------------


def test_comment_placement() -> None:
    text = "if true:\n    x = 1\n    # in the if\n# after the if\ny = 2  # the end\n"
    assert parley.format_source(text) == text
    assert parley.format_source("if true:\n  x = 1\n  # in\n#out\ny = 2 # end\n") == (
        "if true:\n    x = 1\n    # in\n#out\ny = 2  # end\n"
    )


def test_blank_lines_around_block_declarations() -> None:
    text = "x = 1\n# the agent\nagent a:\n    \"A.\"\ny = 2\nagent b is human\nz = 3\n"
    assert parley.format_source(text) == (
        "x = 1\n\n# the agent\nagent a:\n    \"A.\"\n\ny = 2\nagent b is human\nz = 3\n"
    )


def test_a_triple_quoted_string_moves_only_when_its_value_stays() -> None:
    assert check_guarantees('if true:\n  x = """\n    a\n      b\n    """\n') == (
        'if true:\n    x = """\n      a\n        b\n      """\n'
    )
    text = 'if true:\n  x = """\n    a\n      \n    b\n    """\n  print x\n'
    # Moving the lines would change the blank line's value (6 spaces, 4 of them indentation): kept as is.
    formatted = check_guarantees(text)
    assert '"""\n    a\n      \n    b\n    """' in formatted
    assert formatted.splitlines()[1] == '    x = """'


def test_empty_and_comment_only_scripts() -> None:
    assert parley.format_source("") == ""
    assert parley.format_source("\n\n  \n") == ""
    assert parley.format_source("\n# just a note   \n\n\n# and another\n\n") == "# just a note\n\n# and another\n"


def test_windows_line_endings_and_bom() -> None:
    assert parley.format_source("\ufeffx = 1\r\nprint x\r\n") == "x = 1\nprint x\n"


def test_syntax_errors_raise_script_error() -> None:
    with pytest.raises(ScriptError) as caught:
        parley.format_source("x = (1\n", "bad.agent")
    assert "bad.agent:1:5: error[P103]" in str(caught.value)


@pytest.mark.parametrize("path", SYNTAX_ERRORS, ids=lambda p: p.name)
def test_scripts_with_syntax_errors_are_refused(path: Path, tmp_path: Path) -> None:
    copy = tmp_path / path.name
    copy.write_bytes(path.read_bytes())
    result = fmt(str(copy))
    assert result.exit_code == 1
    expected = parse_source(path.read_bytes(), str(copy))
    assert expected.diagnostics and rendered(expected) in result.stderr
    assert copy.read_bytes() == path.read_bytes()


def test_a_change_of_meaning_is_caught(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(fmt_module, "layout", lambda text, toks, same: text.replace("1", "2"))
    with pytest.raises(InternalError, match="would change its meaning"):
        parley.format_source("x = 1\n")
    script = tmp_path / "s.agent"
    script.write_text("x  = 1\n")
    result = fmt(str(script))
    assert result.exit_code == 1
    assert "formatting" in result.stderr and "would change its meaning" in result.stderr
    assert script.read_text() == "x  = 1\n"


def parley_blocks(path: Path) -> list[str]:
    """The ```parley code blocks of a Markdown file, unindented."""
    blocks = re.findall(r"^( *)```parley\n(.*?)^\1```", path.read_text(), re.MULTILINE | re.DOTALL)
    return ["\n".join(line[len(indent):] for line in block.split("\n")) for indent, block in blocks]


@pytest.mark.parametrize("path", sorted((ROOT / "docs").glob("*.md")), ids=lambda p: p.name)
def test_the_docs_are_formatted(path: Path) -> None:
    for block in parley_blocks(path):
        assert parley.format_source(block) == block


# --- the examples and the test scripts ----------------------------------------------------------------------


@pytest.mark.parametrize("path", example_files(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_examples_are_formatted(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert check_guarantees(text, display(path), path) == text


@pytest.mark.parametrize("path", example_files(), ids=lambda p: str(p.relative_to(EXAMPLES)))
@pytest.mark.parametrize("seed", [1, 2])
def test_messy_examples_format_back(path: Path, seed: int) -> None:
    text = path.read_text(encoding="utf-8")
    untidy = messy(text, random.Random(seed))
    assert untidy != text
    assert plan_data(untidy, display(path), path) == plan_data(text, display(path), path)
    assert check_guarantees(untidy, display(path), path) == text


@pytest.mark.parametrize("path", TEST_SCRIPTS, ids=display)
def test_test_scripts(path: Path) -> None:
    text = parse_source(path.read_bytes(), display(path)).source.text
    check_guarantees(text, display(path), path)
    check_guarantees(messy(text, random.Random(3)), display(path), path)


@pytest.mark.parametrize("name", sorted(CONSTRUCTS))
def test_every_construct(name: str) -> None:
    check_guarantees(CONSTRUCTS[name])
    check_guarantees(messy(CONSTRUCTS[name], random.Random(4)))


def test_there_are_test_scripts_and_doc_examples() -> None:
    assert len(TEST_SCRIPTS) >= 50 and len(SYNTAX_ERRORS) >= 50
    assert len(parley_blocks(ROOT / "docs" / "language.md")) >= 40


# --- generated programs ------------------------------------------------------------------------------------


@fuzz(60)
@given(scripts(), st.randoms(use_true_random=False))
def test_generated_scripts(text: str, rng: random.Random) -> None:
    formatted = check_guarantees(text, "gen.agent")
    assert check_guarantees(messy(text, rng), "gen.agent") == formatted


@fuzz(60)
@given(scripts(), st.randoms(use_true_random=False))
def test_generated_scripts_with_comments(text: str, rng: random.Random) -> None:
    with_comments = commented(text, rng)
    formatted = check_guarantees(with_comments, "gen.agent")
    assert check_guarantees(messy(with_comments, rng), "gen.agent") == formatted


# --- the command --------------------------------------------------------------------------------------------


def fmt(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(main, ["fmt", *args], input=stdin)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    clean = tmp_path / "clean.agent"
    clean.write_text((EXAMPLES / "hello.agent").read_text())
    untidy = tmp_path / "untidy.agent"
    untidy.write_text(MESSY["nested-blocks"])
    broken = tmp_path / "broken.agent"
    broken.write_text("x = (1\nprint x\n")
    return {"clean": clean, "untidy": untidy, "broken": broken}


def test_fmt_rewrites_in_place(files: dict[str, Path]) -> None:
    result = fmt(str(files["clean"]), str(files["untidy"]))
    assert result.exit_code == 0, result.output
    assert files["untidy"].read_text() == parley.format_source(MESSY["nested-blocks"])
    assert f"reformatted {files['untidy']}" in result.stderr
    assert "1 file reformatted, 1 file left unchanged" in result.stderr
    assert [p.name for p in files["untidy"].parent.iterdir() if p.name.endswith(".tmp")] == []
    again = fmt(str(files["untidy"]))
    assert again.exit_code == 0 and "1 file left unchanged" in again.stderr


def test_fmt_keeps_permissions_and_symlinks(files: dict[str, Path], tmp_path: Path) -> None:
    files["untidy"].chmod(0o640)
    link = tmp_path / "link.agent"
    link.symlink_to(files["untidy"])
    assert fmt(str(link)).exit_code == 0
    assert link.is_symlink()
    assert files["untidy"].read_text() == parley.format_source(MESSY["nested-blocks"])
    assert stat.S_IMODE(files["untidy"].stat().st_mode) == 0o640


def test_fmt_check(files: dict[str, Path]) -> None:
    original = files["untidy"].read_text()
    result = fmt("--check", str(files["clean"]), str(files["untidy"]))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"would reformat {files['untidy']}", "1 file would be reformatted, 1 file already formatted",
    ]
    assert result.stdout == ""
    assert files["untidy"].read_text() == original
    assert fmt("--check", str(files["clean"])).exit_code == 0


def test_fmt_diff(files: dict[str, Path]) -> None:
    original = files["untidy"].read_text()
    result = fmt("--diff", str(files["untidy"]), str(files["clean"]))
    assert result.exit_code == 0
    assert files["untidy"].read_text() == original
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"--- {files['untidy']}", f"+++ {files['untidy']}"]
    assert "-def score(xs : list[int] , k : int=2)->int :" in lines
    assert "+def score(xs: list[int], k: int = 2) -> int:" in lines
    assert fmt("--diff", "--check", str(files["untidy"])).exit_code == 1


def test_fmt_diff_marks_a_missing_final_newline(tmp_path: Path) -> None:
    script = tmp_path / "s.agent"
    script.write_text("x = 1\nprint  x")
    assert fmt("--diff", str(script)).stdout.endswith("-print  x\n\\ No newline at end of file\n+print x\n")


def test_fmt_refuses_syntax_errors(files: dict[str, Path]) -> None:
    original = files["broken"].read_text()
    result = fmt(str(files["broken"]), str(files["untidy"]))
    assert result.exit_code == 1
    assert f"{files['broken']}:1:5: error[P103]: `(` was never closed" in result.stderr
    assert "has syntax errors; not formatted" in result.stderr
    assert files["broken"].read_text() == original
    assert files["untidy"].read_text() == parley.format_source(MESSY["nested-blocks"])  # the others still are


def test_fmt_diagnostics_match_check(files: dict[str, Path]) -> None:
    checked = CliRunner().invoke(main, ["check", str(files["broken"])]).stdout
    shown = fmt("--check", str(files["broken"])).stderr
    assert checked.split("\n\n")[0] in shown


def test_fmt_stdin_to_stdout() -> None:
    result = fmt("-", stdin="x=1\nprint(x)\n")
    assert result.exit_code == 0
    assert result.stdout == "x = 1\nprint(x)\n"
    assert fmt("--check", "-", stdin="x=1\n").exit_code == 1
    assert fmt("--check", "-", stdin="x = 1\n").exit_code == 0


def test_fmt_usage_errors_exit_2(tmp_path: Path) -> None:
    assert fmt().exit_code == 2
    assert fmt(str(tmp_path / "missing.agent")).exit_code == 2
    assert fmt("--no-such-flag", str(EXAMPLES / "hello.agent")).exit_code == 2
    assert fmt(str(tmp_path)).exit_code == 2
