"""One namespace, one front door: Parley embeds beside a host's own `runtime.py`, `import parley.runtime`
loads no parser, the wheel holds `parley` alone, and the checkout imports as installed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import ROOT

import parley
from parley.cli import main

#: The stage folders at the repository's top, each installed as `parley.<name>`.
STAGES = ("grammar", "dsl", "compiler", "runtime")

#: A host module named like a stage: importing it is the failure the tests look for.
HOST_MODULE = 'raise SystemExit("host module imported")\n'

SCRIPT = 'agent writer:\n    """You write."""\ninput name: str = "world"\nx = @writer Greet {name}.\noutput x\n'
RULES = {"rules": [{"contains": "Greet ada", "reply": "Hello, Ada!"}], "default": "not the rule"}


def python(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """This Python, in a fresh process, in `cwd` (which Python puts first on `sys.path`)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PARLEY"))} | env
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=environ,
                          timeout=120, check=False)


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A host program's folder holding its own `runtime.py`, `compiler.py`, `dsl.py` and `grammar.py`."""
    for name in STAGES:
        (tmp_path / f"{name}.py").write_text(HOST_MODULE, encoding="utf-8")
    (tmp_path / "x.agent").write_text(SCRIPT, encoding="utf-8")
    (tmp_path / "r.json").write_text(json.dumps(RULES), encoding="utf-8")
    return tmp_path


# --- one namespace ---------------------------------------------------------------------------------


def test_a_host_with_modules_named_like_the_stages_embeds_a_script(host: Path) -> None:
    for name in STAGES:  # the host's modules are what its own imports find
        shadowed = python("-c", f"import {name}", cwd=host)
        assert shadowed.returncode == 1 and "host module imported" in shadowed.stderr
    code = "import parley; print(parley.load('x.agent').run({'name': 'ada'}, model='scripted:r.json').output)"
    embedded = python("-c", code, cwd=host)
    assert embedded.returncode == 0, embedded.stderr
    assert embedded.stdout == "Hello, Ada!\n"


def test_no_stage_is_installed_as_a_top_level_module(tmp_path: Path) -> None:
    for name in STAGES:
        missing = python("-c", f"import {name}", cwd=tmp_path)
        assert missing.returncode == 1 and f"No module named '{name}'" in missing.stderr


def test_a_plan_file_runs_in_a_host_folder_with_the_installed_command(host: Path) -> None:
    """The console script, not an in-process call: `parley plan … --format json`, then `parley run p.json`."""
    command = Path(sys.executable).with_name("parley")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    shown = subprocess.run([command, "plan", "x.agent", "--format", "json"], cwd=host, capture_output=True,
                           text=True, env=environ, timeout=120, check=False)
    assert shown.returncode == 0, shown.stderr
    (host / "p.json").write_text(shown.stdout, encoding="utf-8")
    (host / "x.agent").unlink()
    ran = subprocess.run([command, "run", "p.json", "name=ada", "--model", "scripted:r.json", "--no-store"],
                         cwd=host, capture_output=True, text=True, env=environ, timeout=120, check=False)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "Hello, Ada!\n"


TOOL_MODULES = {
    "runtime.py": 'def now() -> str:\n    """What time it is."""\n    return "noon"\n',
    "compiler.py": 'def shout(text: str) -> str:\n    """Loudly."""\n    return text.upper() + "!"\n',
}
TOOL_SCRIPT = 'from python "runtime" import now\nfrom python "compiler" import shout\nprint shout(now())\n'


@pytest.fixture
def tool_folder(tmp_path: Path) -> Path:
    """A script importing its own tool modules named like two stages."""
    folder = tmp_path / "tools"
    folder.mkdir()
    for name, text in TOOL_MODULES.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "t.agent").write_text(TOOL_SCRIPT, encoding="utf-8")
    return folder


def test_a_tool_module_named_like_a_stage_checks_and_runs(tool_folder: Path) -> None:
    checked = CliRunner().invoke(main, ["check", str(tool_folder / "t.agent")])
    assert checked.exit_code == 0, checked.output
    assert parley.load(tool_folder / "t.agent").run().printed == ["NOON!"]
    assert "runtime" not in sys.modules and "compiler" not in sys.modules  # imported under private names
    assert tool_folder not in Path(sys.modules["parley.runtime"].__file__ or "").parents


def test_a_tool_module_named_like_a_stage_runs_from_its_own_folder(tool_folder: Path) -> None:
    """Run there, the script's `runtime.py` is also first on Python's path: Parley's stages are still its own."""
    code = "import parley; print(parley.load('t.agent').run().printed)"
    ran = python("-c", code, cwd=tool_folder)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "['NOON!']\n"


# --- imports point one way ------------------------------------------------------------------------------

#: Parley's modules a process has loaded, and whether any Lark module is among them.
LOADED = ("import sys, json; print(json.dumps(sorted(m for m in sys.modules "
          "if m == 'lark' or m.startswith(('lark.', 'parley')))))")

#: What the runtime may import from the stages before it: the plan IR and the dependency-free leaf.
RUNTIME_MAY_LOAD = {"parley.dsl", "parley.dsl.errors", "parley.dsl.source", "parley.dsl.records", "parley.compiler",
                    "parley.compiler.plan", "parley.compiler.types", "parley.compiler.python_modules"}


def loaded_after(statement: str) -> list[str]:
    ran = python("-c", f"{statement}\n{LOADED}", cwd=ROOT)
    assert ran.returncode == 0, ran.stderr
    names = json.loads(ran.stdout)
    assert isinstance(names, list)
    return names


def test_importing_the_runtime_loads_no_parser() -> None:
    names = loaded_after("import parley.runtime, parley.runtime.executor")
    assert "parley.runtime.executor" in names  # the probe sees what was imported
    assert not [n for n in names if n == "lark" or n.startswith("lark.")]
    assert not [n for n in names if n.startswith("parley.grammar")]
    before_runtime = {n for n in names if n.startswith(("parley.dsl", "parley.compiler"))}
    assert before_runtime <= RUNTIME_MAY_LOAD, sorted(before_runtime - RUNTIME_MAY_LOAD)


def test_importing_parley_loads_no_parser_and_no_runtime() -> None:
    names = loaded_after("import parley")
    assert "parley" in names
    assert not [n for n in names if n == "lark" or n.startswith(("lark.", "parley.dsl.parser", "parley.dsl.nodes",
                                                                 "parley.grammar", "parley.compiler",
                                                                 "parley.runtime"))]


def test_the_parser_is_loaded_when_a_script_is_compiled() -> None:
    """The probe of the two tests above does see the parser once it is used."""
    names = loaded_after("import parley; parley.compile('print 1\\n')")
    assert "parley.dsl.parser" in names and "parley.dsl._lalr" in names and "parley.grammar" in names


def test_a_valid_script_is_compiled_without_lark_and_an_invalid_one_is_explained_by_it() -> None:
    """Lark makes the parsing tables once (then cached); a valid script needs only the tables,
    a script with a syntax error gets Lark's explanation."""
    loaded_after("import parley; parley.compile('print 1\\n')")  # the tables are cached now
    valid = loaded_after("import parley; parley.compile('x = [1, 2]\\nprint \"{x[0]}\"\\n')")
    assert "parley.dsl._lalr" in valid and not [n for n in valid if n == "lark" or n.startswith("lark.")]
    invalid = loaded_after("import parley\ntry:\n    parley.compile('x = = 1\\n')\nexcept parley.ScriptError:\n    pass")
    assert "lark" in invalid and "parley.dsl._syntax_errors" in invalid


# --- the checkout imports as installed ------------------------------------------------------------------

#: Drops the editable install's finder, as when an installed (non-editable) `parley` sits in site-packages.
NO_EDITABLE_FINDER = "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f)]"


@pytest.mark.parametrize("prelude", ["", NO_EDITABLE_FINDER], ids=["installed", "checkout-only"])
def test_the_stages_import_from_the_repository_root(prelude: str) -> None:
    code = (f"{prelude}\nimport parley.dsl, parley.compiler, parley.runtime, parley.grammar, parley.dsl.parser\n"
            "import parley\nprint(parley.compile('print 1\\n').run().printed)\n"
            "print(*(m.__file__ for m in (parley.dsl, parley.compiler, parley.runtime, parley.grammar)))")
    ran = python("-c", code, cwd=ROOT)
    assert ran.returncode == 0, ran.stderr
    printed, files = ran.stdout.splitlines()
    assert printed == "['1']"
    assert files.split() == [str(ROOT / stage / "__init__.py") for stage in ("dsl", "compiler", "runtime", "grammar")]


def test_python_dash_m_parley_works_from_the_repository_root() -> None:
    ran = python("-m", "parley", "check", "examples/hello.agent", cwd=ROOT, NO_COLOR="1")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "checked 1 file: no problems"


# --- the wheel -------------------------------------------------------------------------------------------


def _sources(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*.py") if "__pycache__" not in p.parts]


def test_the_wheel_holds_the_parley_package_alone(tmp_path: Path) -> None:
    """Built (offline) from a copy of the checkout, so a stale `build/` can neither help nor hide a file."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", ".*cache", ".hypothesis", ".parley", "tests",
        "benchmarks", "examples"))
    started = time.perf_counter()
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
                            "--no-index", "-q", "-w", str(tmp_path / "dist")], cwd=tree, capture_output=True,
                           text=True, timeout=300, check=False)
    seconds = time.perf_counter() - started
    assert built.returncode == 0, built.stdout + built.stderr
    assert seconds < 60, f"building the wheel took {seconds:.0f} s"
    wheels = list((tmp_path / "dist").glob("parley_lang-*.whl"))
    assert len(wheels) == 1, wheels
    names = zipfile.ZipFile(wheels[0]).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"parley"}
    expected = {f"parley/{p.relative_to(tree / 'parley').as_posix()}" for p in _sources(tree / "parley")}
    for stage in STAGES:
        expected |= {f"parley/{stage}/{p.relative_to(tree / stage).as_posix()}" for p in _sources(tree / stage)}
    assert {n for n in names if n.endswith(".py")} == expected
    assert "parley/py.typed" in names
    assert "parley/_html_view.html" in names  # the page of `parley show --html`
    lark_files = {f"parley/grammar/{p.name}" for p in (tree / "grammar").glob("*.lark")}
    assert lark_files and lark_files <= set(names)
    metadata = zipfile.ZipFile(wheels[0]).read(wheels[0].name.split("-py3")[0] + ".dist-info/METADATA").decode()
    assert "Name: parley-lang" in metadata
