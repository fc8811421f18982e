"""Start-up loads only what the command needs: `import parley` and `parley --version` no parser, no event
loop, no JSON Schema checker, no terminal renderer, no OpenAI SDK; `check` and a run of an untyped
script no more than they use (benchmarks/startup.py measures what this keeps cheap)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Libraries that cost tens of milliseconds to import, each needed by some commands only.
HEAVY = ("lark", "asyncio", "jsonschema", "rich", "openai")

#: Runs the `parley` command line with the arguments given, then prints the modules the process loaded.
COMMAND = ("import json, sys\nsys.argv = ['parley', *sys.argv[1:]]\nfrom parley.cli import main\n"
           "try:\n    main()\nexcept SystemExit:\n    pass\nprint(json.dumps(sorted(sys.modules)))\n")

UNTYPED = 'agent greeter:\n    """You greet people."""\nx = @greeter Greet Ada.\nprint x\n'
TYPED = 'agent greeter:\n    """You greet people."""\ntype Greeting:\n    text: str\ng: Greeting = @greeter Say hello.\nprint g.text\n'
RULES = {"rules": [{"contains": "hello", "json": {"text": "Hello, Ada!"}}], "default": "Hello, Ada!"}


def loaded(folder: Path, *args: str, code: str = COMMAND, cache: Path | None = None) -> tuple[set[str], str]:
    """The top-level packages of the modules a fresh process running `code` loaded, and what it printed before;
    `cache`: the folder for Parley's parsing caches."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PARLEY", "OTEL_"))}
    if cache is not None:
        environ["XDG_CACHE_HOME"] = str(cache)
    ran = subprocess.run([sys.executable, "-c", code, *args], cwd=folder, capture_output=True, text=True,
                         env=environ | {"NO_COLOR": "1"}, timeout=120, check=False)
    assert ran.returncode == 0, ran.stderr
    *printed, modules = ran.stdout.splitlines()
    return {name.split(".")[0] for name in json.loads(modules)}, "\n".join(printed)


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    (tmp_path / "one.agent").write_text('print "hello"\n', encoding="utf-8")
    (tmp_path / "untyped.agent").write_text(UNTYPED, encoding="utf-8")
    (tmp_path / "typed.agent").write_text(TYPED, encoding="utf-8")
    (tmp_path / "rules.json").write_text(json.dumps(RULES), encoding="utf-8")
    return tmp_path


def test_import_parley_loads_none_of_the_heavy_libraries(scripts: Path) -> None:
    names, _ = loaded(scripts, code="import json, sys, parley\nprint(json.dumps(sorted(sys.modules)))")
    assert "parley" in names
    assert not names & set(HEAVY), sorted(names & set(HEAVY))


def test_parley_version_loads_none_of_the_heavy_libraries(scripts: Path) -> None:
    names, printed = loaded(scripts, "--version")
    assert printed == "parley, version " + __import__("parley").__version__
    assert "click" in names
    assert not names & set(HEAVY), sorted(names & set(HEAVY))


def test_parley_check_of_a_valid_script_loads_nothing_a_run_needs_and_no_lark(scripts: Path) -> None:
    """Lark is loaded once, to make the parsing tables (then cached); a valid script needs only the tables.

    The cache starts empty, so Lark builds the grammar cold (its rule names are then its own tokens, which
    the tables must not keep: reading them back would import Lark)."""
    cache = scripts / "cache"
    first, _ = loaded(scripts, "check", "one.agent", cache=cache)
    assert "lark" in first
    names, printed = loaded(scripts, "check", "one.agent", cache=cache)
    assert printed == "checked 1 file: no problems"
    assert "click" in names  # the probe sees what was imported
    assert not names & set(HEAVY), sorted(names & set(HEAVY))


def test_a_run_checks_values_against_schemas_only_when_the_script_has_types(scripts: Path) -> None:
    run = ("run", "--model", "scripted:rules.json", "--quiet", "--no-store")
    untyped, printed = loaded(scripts, run[0], "untyped.agent", *run[1:])
    assert printed == "Hello, Ada!"
    assert "asyncio" in untyped
    assert not untyped & {"jsonschema", "rich", "openai"}, sorted(untyped & set(HEAVY))
    typed, printed = loaded(scripts, run[0], "typed.agent", *run[1:])
    assert printed == "Hello, Ada!"
    assert "jsonschema" in typed  # the typed reply was checked against its schema


def test_the_grammar_is_loaded_from_its_cache_once_built(scripts: Path) -> None:
    """Building the parser takes about a second; its caches (Lark's grammar, and the tables Parley's parsing
    loop reads from it) must serve every later process (Lark keys its cache by its options' text, so an option
    whose text differs between processes would rebuild it every time)."""
    cache = scripts / "cache"
    code = "import sys\nsys.argv = ['parley', *sys.argv[1:]]\nfrom parley.cli import main\nmain()\n"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PARLEY"))}
    environ |= {"XDG_CACHE_HOME": str(cache), "NO_COLOR": "1"}
    stamps = []
    for _ in range(2):
        ran = subprocess.run([sys.executable, "-c", code, "check", "one.agent"], cwd=scripts, capture_output=True,
                             text=True, env=environ, timeout=120, check=False)
        assert ran.returncode == 0, ran.stderr
        files = sorted((cache / "parley").glob("*-*.*"))
        assert [file.name.split("-")[0] for file in files] == ["grammar", "tables"], files
        stamps.append([file.stat().st_mtime_ns for file in files])
    assert stamps[1] == stamps[0], "the second process built the grammar again instead of loading its cache"
