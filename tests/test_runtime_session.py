"""The runtime's session API (`parley.runtime.session`), driven directly, and a guard that the REPL uses only it."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT

from parley.compiler import compile_source
from parley.compiler import plan as p
from parley.dsl.errors import FailureKind, RunError
from parley.runtime.scripted import ScriptedModel
from parley.runtime.session import Session

RULES = ROOT / "tests" / "repl_rules.json"
WRITER = 'agent writer:\n    """You are a concise writer."""\n'


def _plan(text: str) -> p.Plan:
    result = compile_source(text, "session.agent")
    assert result.plan is not None, [d.message for d in result.diagnostics]
    return result.plan


def _new_steps(before: p.Plan, after: p.Plan) -> tuple[p.Step, ...]:
    """The steps `after` adds to `before` (the texts below keep every step on its own)."""
    assert after.body[: len(before.body)] == before.body
    return after.body[len(before.body):]


def test_two_entries_share_variables_a_thread_and_the_budget() -> None:
    first = _plan(WRITER + "draft = @writer hi\n")
    second = _plan(WRITER + "draft = @writer hi\nshort = @writer shorter than {draft}\n")
    model = ScriptedModel.from_file(RULES)
    events: list[Any] = []
    session = Session(first, model=model, on_event=events.append)

    async def entries() -> list[dict[str, Any]]:
        await session.run(first)
        after_first = session.usage()
        await session.run(second, _new_steps(first, second))
        await session.close()
        return [after_first, session.usage()]

    after_first, after_second = asyncio.run(entries())
    assert dict(session.variables) == {"draft": "Lark turns grammars into parsers for text.",
                                       "short": "Parsers read text."}
    assert [m.content for m in model.requests[-1].messages] == [
        "You are a concise writer.", "hi", "Lark turns grammars into parsers for text.",
        "shorter than Lark turns grammars into parsers for text."]
    assert [(m.role, m.content) for m in session.thread("writer")][-1] == ("assistant", "Parsers read text.")
    assert list(session.threads()) == ["writer"] and len(session.thread("writer")) == 4
    turns = [e.data["tokens"] for e in events if e.kind == "turn"]
    assert len(turns) == 2 and all(tokens > 0 for tokens in turns)
    assert (after_first["turns"], after_first["tokens"]) == (1, turns[0])
    assert (after_second["turns"], after_second["tokens"]) == (2, turns[0] + turns[1])


def test_an_input_set_later_is_seen_by_the_next_run_and_by_system_messages() -> None:
    plan = _plan('input topic: str = "Lark"\ninput words: int\n'
                 'agent writer:\n    """You are a concise writer on {topic}."""\n'
                 "print topic\n@writer hi\n")
    model = ScriptedModel.from_file(RULES)
    events: list[Any] = []
    session = Session(plan, model=model, on_event=events.append)

    async def runs() -> RunError:
        with pytest.raises(RunError) as refused:
            await session.run(plan)
        session.set_input("words", "80")  # text, read per the declared type
        await session.run(plan)
        session.set_input("topic", "tides")
        await session.run(plan)  # the same plan object: the new value still reaches the system message
        await session.close()
        return refused.value

    refused = asyncio.run(runs())
    assert refused.kind is FailureKind.INPUT and "input `words` has no value" in refused.message
    assert [e.data["text"] for e in events if e.kind == "print"] == ["Lark", "tides"]
    assert [r.messages[0].content for r in model.requests] == [
        "You are a concise writer on Lark.", "You are a concise writer on tides."]
    assert session.variables["words"] == 80 and session.variables["topic"] == "tides"


def test_a_failed_run_takes_back_its_unanswered_ask_and_keeps_what_it_did() -> None:
    plan = _plan("agent you is human\nx = 1\n@you Ready?\n")
    session = Session(plan)  # no way to ask a person: the ask fails

    with pytest.raises(RunError) as failed:
        asyncio.run(session.run(plan))
    assert failed.value.kind is FailureKind.INPUT
    assert session.thread("you") == ()
    assert session.variables["x"] == 1
    asyncio.run(session.close())


def test_cancelling_a_run_restores_threads_variables_and_inputs() -> None:
    first = _plan(WRITER + "n = [1]\n@writer hi\n")
    second = _plan(WRITER + 'n = [1]\n@writer hi\ninput topic: str = "Lark"\nn[0] = 2\n@writer slow please\n')
    model = ScriptedModel.from_file(RULES)
    session = Session(first, model=model)

    async def cancelled() -> None:
        await session.run(first)
        task = asyncio.ensure_future(session.run(second, _new_steps(first, second)))
        while "slow" not in model.requests[-1].messages[-1].content:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert dict(session.variables) == {"n": [1]}
        assert len(session.thread("writer")) == 2
        await session.run(second, ())  # the input cancelled with the run is read again
        assert session.variables["topic"] == "Lark"
        await session.close()

    asyncio.run(cancelled())


def test_forget_take_and_another_model_for_every_agent(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"rules": [], "default": "From the other model."}')
    plan = _plan(WRITER + "x = @writer hi\n")
    ask_again = _plan(WRITER + "y = @writer again\n")
    model, replacement = ScriptedModel.from_file(RULES), ScriptedModel.from_file(other)
    session = Session(plan, model=model)

    async def runs() -> None:
        await session.run(plan)
        assert session.take("x") == "Lark turns grammars into parsers for text."
        assert session.take("x") is None
        session.forget("writer")
        assert session.threads() == {}
        await session.use_model(replacement, "other")
        assert session.model is replacement
        await session.run(ask_again)
        await session.close()

    asyncio.run(runs())
    assert session.variables["y"] == "From the other model."
    assert [m.content for m in replacement.requests[0].messages] == ["You are a concise writer.", "again"]
    assert replacement.requests[0].model == "other"
    assert len(model.requests) == 1


# --- the REPL uses the session API, not the runtime's insides -----------------------------

_FRONT_DOOR = sorted((ROOT / "parley").glob("*.py"))
_REPL = [path for path in _FRONT_DOOR if path.name in ("session.py", "repl.py") or path.name.startswith("_repl_")]
#: Runtime modules, and names of others, that are a run's moving parts: the REPL reaches them only through
#: `runtime.session` (helpers that show values or costs are fine).
_INSIDE_MODULES = {"executor", "clients", "requests", "journal", "context", "agents", "conversations"}
_INSIDE_NAMES = {"Executor", "Clients", "Budget", "ModelCalls", "Journal", "StepContext", "Frame", "evaluate",
                 "read_input", "ToolBox"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def test_the_front_door_reads_no_private_attribute_of_another_object() -> None:
    found = [
        f"{path.name}:{node.lineno}: {ast.unparse(node)}"
        for path in _FRONT_DOOR for node in ast.walk(_tree(path))
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    ]
    assert found == []


def test_the_repl_drives_the_runtime_only_through_its_session_api() -> None:
    public = {name for name in vars(Session) if not name.startswith("_")}
    assert {"run", "set_input", "use_model", "forget", "take", "close", "variables", "thread", "threads",
            "usage", "model"} <= public
    imported: list[str] = []
    used: set[str] = set()
    for path in _REPL:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("parley.runtime"):
                imported += [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                imported += [f"{alias.name}._" for alias in node.names if alias.name.startswith("parley.runtime.")]
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) \
                    and node.value.attr == "runtime":
                used.add(node.attr)  # `….runtime.NAME`: the parley session's runtime session
    assert "parley.runtime.session" in imported
    inside = [name for name in imported
              if name.split(".")[2] in _INSIDE_MODULES or name.rsplit(".", 1)[1] in _INSIDE_NAMES]
    assert inside == []
    assert used and used <= public, used - public
    for name in public:
        assert getattr(Session, name).__doc__, f"Session.{name} has no docstring"


def test_the_documented_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    section = (ROOT / "docs" / "embedding.md").read_text(encoding="utf-8").split("## Interactive sessions", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "embedding.md", "exec"), {"__name__": "example"})  # noqa: S102 - our own docs
    assert capsys.readouterr().out == "OK 4 2\n"
