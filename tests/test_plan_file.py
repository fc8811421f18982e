"""The plan is the contract: plan files run without their scripts, plans are validated before they run,
Python modules are found where the plan says, and every stored run keeps its plan."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import types
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

import parley
from parley.cli import main
from parley.compiler import compile_path
from parley.compiler import plan as p
from parley.compiler.serialize import plan_from_json, plan_to_json
from parley.compiler.validate import problems, validate
from parley.dsl.errors import PlanError
from parley.dsl.source import Span
from parley.runtime.store import MIGRATIONS, Store
from helpers import EXAMPLES, ROOT

RULES = '{"rules": [{"contains": "Review", "reply": "fine"}], "default": "hi"}'

#: A tool module beside the script: it logs every call, so a test can tell what ran twice.
TOOLS = '''\
from pathlib import Path


def stamp(word: str) -> str:
    """Stamp a word."""
    with Path(__file__).with_name("calls.log").open("a", encoding="utf-8") as log:
        log.write(word + "\\n")
    return word.upper() + "!"


stamp.parley_journal = True  # it writes a file: a resume serves its result from the journal


def answer(message: str) -> str:
    return "echo " + message
'''

SCRIPT = '''\
from python "tools" import stamp
agent writer:
    """You write."""
agent echo is python "tools:answer"
input name: str = "world"
a = stamp(name)
b = @writer Say hello to {a}.
c = @echo {b}
d = @writer Again for {c}.
print "{a} {b} {c} {d}"
'''


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A script with a tool module beside it, and a scripted model's rules; the working folder is elsewhere."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "tools.py").write_text(TOOLS, encoding="utf-8")
    (folder / "s.agent").write_text(SCRIPT, encoding="utf-8")
    (tmp_path / "rules.json").write_text(RULES, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return folder


def calls(folder: Path) -> list[str]:
    log = folder / "calls.log"
    return log.read_text(encoding="utf-8").split() if log.exists() else []


# --- plan files ------------------------------------------------------------------------------------


def test_a_plan_file_runs_without_its_script(project: Path) -> None:
    shown = cli("plan", "project/s.agent", "--format", "json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["module_path"] == ["."]
    (project / "s.json").write_text(shown.stdout, encoding="utf-8")
    (project / "s.agent").unlink()
    ran = cli("run", "project/s.json", "name=ada", "--model", "scripted:rules.json")
    assert ran.exit_code == 0, ran.output
    assert ran.stdout == "ADA! hi echo hi hi\n"
    assert calls(project) == ["ada"]
    assert cli("plan", "project/s.json").exit_code == 0  # a plan file can be drawn too


def test_a_plan_files_modules_are_found_from_its_own_folder(project: Path, tmp_path: Path) -> None:
    """The plan moves with its modules; where the script was, and the working folder, do not matter."""
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "s.json").write_text(cli("plan", "project/s.agent", "--format", "json").stdout, encoding="utf-8")
    (project / "tools.py").rename(moved / "tools.py")
    program = parley.load(moved / "s.json")
    assert program.path == str(moved / "s.json") and program.plan.file == "project/s.agent"
    result = program.run({"name": "bo"}, model="scripted:rules.json")
    assert result.printed == ["BO! hi echo hi hi"]
    assert calls(moved) == ["bo"]


def test_a_plan_file_without_its_modules_fails_the_run_clearly(project: Path, tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(cli("plan", "project/s.agent", "--format", "json").stdout, encoding="utf-8")
    ran = cli("run", "s.json", "--model", "scripted:rules.json")
    assert ran.exit_code == 3
    assert "project/s.agent:6: cannot import python module `tools`" in ran.stderr
    assert "Traceback" not in ran.output


def test_a_bad_plan_file_is_a_plan_error_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("broken.json").write_text("{kind: plan", encoding="utf-8")
    ran = cli("run", "broken.json")
    assert ran.exit_code == 1 and isinstance(ran.exception, SystemExit)  # a message, no traceback
    assert ran.stderr.startswith("error: broken.json: not JSON: ")
    Path("other.json").write_text('{"rules": []}', encoding="utf-8")
    ran = cli("run", "other.json")
    assert ran.exit_code == 1
    assert ran.stderr == 'error: other.json: not a Parley plan (no `"kind": "plan"` at the top)\n'
    with pytest.raises(PlanError, match="other.json: not a Parley plan"):
        parley.load("other.json")


def _review_plan() -> dict[str, Any]:
    result = compile_path(ROOT / "examples" / "review.agent", display="review.agent")
    assert result.plan is not None
    data = json.loads(plan_to_json(result.plan))
    assert isinstance(data, dict)
    return data


def _first_ask(data: Any, path: str = "") -> tuple[str, dict[str, Any]]:
    """The first `ask` step of the plan's body, with its path."""
    for index, step in enumerate(data["body"]):
        if step["kind"] == "ask":
            return f"body[{index}]", step
    raise AssertionError("no ask step")


def test_a_plan_naming_an_undeclared_agent_is_refused_naming_it(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    data = _review_plan()
    path, ask = _first_ask(data)
    declared = ask["agent"]
    ask["agent"] = declared[:-1]  # `critic` → `criti`
    with pytest.raises(PlanError) as raised:
        plan_from_json(json.dumps(data))
    assert str(raised.value) == (f"the plan of review.agent is not valid: {path}.agent: no agent {declared[:-1]!r} "
                                 f"is declared (did you mean {declared!r}?)")
    monkeypatch.chdir(tmp_path)
    Path("p.json").write_text(json.dumps(data), encoding="utf-8")
    ran = cli("run", "p.json")
    assert ran.exit_code == 1
    assert ran.stderr == f"error: p.json: {raised.value}\n"


# --- validate ------------------------------------------------------------------------------------------

SPAN = Span("t.agent", 1, 1, 1, 5)
NONE = p.AgentSettings()


def _plan(**fields: Any) -> p.Plan:
    base: dict[str, Any] = {f.name: () for f in attrs.fields(p.Plan)}
    base |= {"version": p.PLAN_VERSION, "file": "t.agent", "source_sha256": "0" * 64, "default_model": None}
    return p.Plan(**(base | fields))


def _agent(name: str, **fields: Any) -> p.AgentDecl:
    base: dict[str, Any] = {"name": name, "agent_kind": "llm", "system": None, "description": None, "model": None,
                            "tools": (), "settings": NONE, "target": None, "reply_by": None, "span": SPAN}
    return p.AgentDecl(**(base | fields))


def _step(cls: type, step_id: str, **fields: Any) -> Any:
    return cls(id=step_id, span=SPAN, reads=(), writes=(), **fields)


def test_validate_lists_every_problem_with_its_path() -> None:
    ask = p.Ask(agent="writr", message=p.Text(parts=("hi",)), yes_no=False, type=p.NamedType(name="Draft"),
                span=SPAN)
    plan = _plan(
        default_model="gpt",
        agents=(_agent("writer", model="smart", tools=("lookup",), reply_by="review"), _agent("writer")),
        body=(
            _step(p.PrintStep, "s1", value=ask),
            _step(p.ChatStep, "s1", members=("writer",), opening=p.Const(value="go"),
                  until=p.SaysCondition(agent="critic", text=p.Text(parts=("DONE",))), max_turns=4, target=None),
            _step(p.CallStep, "s3", expr=p.Call(callee="helper", callee_kind="def", args=(), keywords=())),
            _step(p.BreakStep, "s4"),
            _step(p.RepeatStep, "s5", count=p.Const(value=2), body=(_step(p.BreakStep, "s6"),)),
        ),
    )
    assert problems(plan) == [
        "default_model: no model 'gpt' is declared",
        "agents[0].model: no model 'smart' is declared",
        "agents[0].tools[0]: no tool or def 'lookup' is declared",
        "agents[0].reply_by: no def 'review' is declared",
        "agents[1].name: agent 'writer' is declared twice (first as agents[0])",
        "body[0].value.agent: no agent 'writr' is declared (did you mean 'writer'?)",
        "body[0].value.type.name: no type 'Draft' is declared",
        "body[1].id: step id 's1' is also the id of body[0]",
        "body[1].members: a chat has exactly two members, not 1",
        "body[1].until.agent: no agent 'critic' is declared",
        "body[2].expr.callee: no def 'helper' is declared",
        "body[3]: `break` outside a loop",
    ]
    with pytest.raises(PlanError, match=r"^the plan of t.agent is not valid \(12 problems\):\n  default_model: "):
        validate(plan)


def test_validate_checks_each_value_has_its_fields_type() -> None:
    """A plan built by hand can put anything anywhere; the place's type is checked before any name."""
    plan = _plan(body=(_step(p.PrintStep, "s1", value=_step(p.BreakStep, "s2")),  # a step where a value goes
                       _step(p.OutputStep, "s3", value=p.Duration(seconds=float("nan")))))
    assert problems(plan) == [
        "body[0].value: expected an expression, found a 'break' record",
        "body[1].value.seconds: expected a number, found nan",
    ]


def test_a_compiled_plan_is_valid() -> None:
    for path in sorted(EXAMPLES.rglob("*.agent")):
        plan = compile_path(path).plan
        assert plan is not None
        assert problems(plan) == [], path


def test_program_from_plan_validates() -> None:
    plan = _plan(body=(_step(p.AskStep, "s1", agent="nobody", message=p.Text(parts=("hi",)), target=None,
                             type=None),))
    with pytest.raises(PlanError, match="body\\[0\\].agent: no agent 'nobody' is declared"):
        parley.Program.from_plan(plan)
    fine = attrs.evolve(plan, agents=(_agent("nobody"),))
    result = parley.Program.from_plan(fine).run(model="scripted:" + str(EXAMPLES / "hello.rules.json"))
    assert result.usage["turns"] == 1


# --- modules ----------------------------------------------------------------------------------------------


def test_a_tool_module_named_like_a_host_module_is_the_scripts(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = types.ModuleType("tools")
    host.stamp = lambda word: "the host's"  # type: ignore[attr-defined]
    host.answer = lambda message: "the host's"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tools", host)
    path_before = list(sys.path)
    program = parley.load(project / "s.agent")
    result = program.run({"name": "cy"}, model="scripted:rules.json")
    assert result.printed == ["CY! hi echo hi hi"]
    assert sys.modules["tools"] is host and sys.path == path_before  # the host's module and path as they were


def test_a_tool_module_may_import_its_neighbours(tmp_path: Path) -> None:
    (tmp_path / "helpers_for_plan_test.py").write_text("def shout(t):\n    return t.upper()\n", encoding="utf-8")
    (tmp_path / "tools.py").write_text("import helpers_for_plan_test\n\ndef loud(text: str) -> str:\n"
                                       "    return helpers_for_plan_test.shout(text)\n", encoding="utf-8")
    (tmp_path / "t.agent").write_text('from python "tools" import loud\nprint loud("hey")\n', encoding="utf-8")
    assert parley.load(tmp_path / "t.agent").run().printed == ["HEY"]


# --- the plan kept with each run ----------------------------------------------------------------------------


def _stopped_run(project: Path) -> str:
    """A run of the project's script stopped by its turn budget after its first reply."""
    ran = cli("run", "project/s.agent", "name=di", "--model", "scripted:rules.json", "--max-turns", "1")
    assert ran.exit_code == 4, ran.output
    assert calls(project) == ["di"]
    return ran.stderr.split("resume with: parley run --resume ")[1].split()[0]


def test_a_stored_run_resumes_with_its_script_deleted(project: Path) -> None:
    run_id = _stopped_run(project)
    (project / "s.agent").unlink()
    resumed = cli("run", "--resume", run_id)
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stderr.startswith(f"{project / 's.agent'} is not there any more: running the plan kept with "
                                     f"run {run_id}\n")
    assert resumed.stdout == "DI! hi echo hi hi\n"
    assert calls(project) == ["di"]  # the tool's call came from the journal
    replayed = cli("run", "--replay", run_id)
    assert replayed.exit_code == 0 and replayed.stdout == "DI! hi echo hi hi\n"
    shown = cli("show", run_id)
    assert shown.exit_code == 0 and "status: done" in shown.stderr
    assert cli("trace", run_id).stdout.startswith('{"seq": 1')
    kept = cli("show", run_id, "--plan").stdout
    assert plan_from_json(kept).file == "project/s.agent"


def test_a_moved_script_resumes_from_where_it_is_now(project: Path, tmp_path: Path) -> None:
    run_id = _stopped_run(project)
    (project / "s.agent").rename(project / "renamed.agent")
    resumed = cli("run", "project/renamed.agent", "--resume", run_id)
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout == "DI! hi echo hi hi\n" and calls(project) == ["di"]


def test_a_present_script_that_changed_is_still_refused(project: Path) -> None:
    run_id = _stopped_run(project)
    script = project / "s.agent"
    script.write_text(SCRIPT.replace("Again for", "Once more for"), encoding="utf-8")
    refused = cli("run", "--resume", run_id)
    assert refused.exit_code == 2
    assert f"the script changed since run {run_id}: resuming would mix two scripts; use --force" in refused.stderr
    assert calls(project) == ["di"]


def _store_path() -> str:
    return os.environ["PARLEY_STORE"]


def test_a_forced_resume_keeps_the_plan_it_ran(project: Path) -> None:
    run_id = _stopped_run(project)
    (project / "s.agent").write_text(SCRIPT.replace("Again for", "Once more for"), encoding="utf-8")
    assert cli("run", "--resume", run_id, "--force").exit_code == 0
    kept = plan_from_json(Store(_store_path()).plan(run_id) or "")
    assert "Once more for " in plan_to_json(kept)


def test_a_plan_file_run_resumes_from_its_plan_file(project: Path) -> None:
    (project / "s.json").write_text(cli("plan", "project/s.agent", "--format", "json").stdout, encoding="utf-8")
    ran = cli("run", "project/s.json", "name=el", "--model", "scripted:rules.json", "--max-turns", "1")
    assert ran.exit_code == 4
    run_id = ran.stderr.split("resume with: parley run --resume ")[1].split()[0]
    found = Store(_store_path()).run(run_id)
    assert found is not None and found["script_path"] == str(project / "s.json")
    (project / "s.agent").unlink()
    resumed = cli("run", "--resume", run_id)
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout == "EL! hi echo hi hi\n" and "not there any more" not in resumed.stderr


def test_an_old_store_gains_the_plan_column_and_says_what_it_lacks(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for version in (1, 2, 3):
        for statement in MIGRATIONS[version]:
            db.execute(statement)
    db.execute("INSERT INTO runs (id, script, script_sha256, plan_version, inputs, status, started, script_path) "
               f"VALUES ('abc123', 'gone.agent', 'x', '1', '{{}}', 'failed', 1.0, '{tmp_path / 'gone.agent'}')")
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    store = Store(path)
    assert store.run("abc") is not None and store.plan("abc123") is None
    store.close()
    refused = cli("run", "--resume", "abc", "--store", str(path))
    assert refused.exit_code == 2
    assert (f"run abc123 was of {tmp_path / 'gone.agent'}, which is not there any more (and its record keeps no "
            "plan to run instead: it was made by an older Parley)") in refused.stderr
    assert "keeps no plan" in cli("show", "abc", "--plan", "--store", str(path)).stderr


def test_a_plan_holding_a_secret_is_not_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAN_TEST_TOKEN", "s3cr3t-value-42")
    program = parley.compile('print "s3cr3t-value-42"\n', "t.agent")
    store = Store(tmp_path / "runs.db")
    result = program.run(store=store)
    assert store.plan(result.run_id) is None
    assert parley.compile('print "fine"\n', "t.agent").run(store=store).run_id is not None
