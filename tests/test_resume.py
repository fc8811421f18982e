"""Resume and replay from the effect journal, in process, against the fake OpenAI server over real HTTP."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fake_openai import (  # noqa: F401  (fake_openai_fixture registers the `fake_openai` fixture)
    fake_openai_fixture,
    reply,
    server_error,
    tool_call,
)

import parley
from parley.cli import main
from parley.runtime.store import Store, default_path


def header(base_url: str) -> str:
    return (f'model smart = openai("gpt-4o-mini", base_url="{base_url}", max_retries=0)\ndefault model smart\n'
            'from python "json" import dumps\n'
            'agent writer:\n    """You write."""\n    tools: dumps\nagent critic:\n    """You review."""\n'
            "agent you is human\n")


BODY = """\
a = @writer Write a title about {topic}.
b = @critic Judge: {a}
ok = @you Publish {a}?
c = @writer Encode the title as JSON.
encoded = dumps([a, b])
d = @critic Last word on {c}.
print "{a} | {b} | {ok} | {c} | {d} | {encoded}"
"""


def echo(body: dict[str, Any]) -> Any:
    """Answers from the request alone, so a resumed run gets the replies an uninterrupted one got."""
    last = body["messages"][-1]
    if body.get("tools") and last["role"] != "tool" and "JSON" in last["content"]:
        return reply(tool_calls=[tool_call("t1", "dumps", '{"obj": ["x"]}')])
    return reply(f"re:{str(last['content'])[:24]}")


class Counting:
    """The fake server's handler, failing the request numbered `fail_at` (1-based) once asked to."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.seen = 0
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Any:
        with self.lock:
            self.seen += 1
            if self.seen == self.fail_at:
                return server_error()
        return echo(body)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "runs.db")


def run_with(program: Any, store: Store, calls: dict[str, int], **options: Any) -> Any:
    def person(agent: str, prompt: str) -> str:
        calls["human"] += 1
        return "yes"

    def dumps(obj: Any) -> str:
        calls["tool"] += 1
        return json.dumps(obj)

    dumps.parley_journal = True  # type: ignore[attr-defined]  # it counts its calls: an outside effect, done once
    return program.run(store=store, human=person, tools={"dumps": dumps}, **options)


def sent_by(fake: Any, phase: str) -> int:
    """Requests a phase sent (its client says who it is in the `OpenAI-Organization` header): a request cut
    off by a failure may reach the server late, and must not count for the phase after it."""
    return sum(1 for r in fake.received
               if {k.lower(): v for k, v in r.headers.items()}.get("openai-organization") == phase)


def test_a_failed_run_resumes_without_repeating_any_call(fake_openai, store: Store,  # type: ignore[no-untyped-def]
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fake_openai.handler = Counting()
    calls = {"human": 0, "tool": 0}
    program = parley.compile(header(fake_openai.base_url) + 'input topic: str = "tides"\n' + BODY, "t.agent")
    baseline = run_with(program, Store(":memory:"), calls)
    total = fake_openai.handler.seen
    assert calls == {"human": 1, "tool": 2}  # the model's call of dumps, and the script's

    for fail_at in range(1, total + 1):
        fake_openai.handler = Counting(fail_at)
        calls = {"human": 0, "tool": 0}
        with pytest.raises(parley.RunError) as failed:
            run_with(program, store, calls)
        run_id = failed.value.result.run_id
        assert store.run(run_id)["status"] == "failed"
        journaled = store.db.execute("SELECT count(*) FROM journal WHERE run = ? AND kind = 'model'",
                                     (run_id,)).fetchone()[0]
        # (with `b` and `c` running at once, a reply may be journaled beside the failure, or dropped with it)
        assert journaled < total
        fake_openai.handler.fail_at = None
        monkeypatch.setenv("OPENAI_ORG_ID", f"resume-{fail_at}")
        resumed = run_with(program, store, calls, resume=run_id)
        monkeypatch.delenv("OPENAI_ORG_ID")
        assert resumed.printed == baseline.printed
        assert resumed.run_id == run_id and store.run(run_id)["status"] == "done"
        assert sent_by(fake_openai, f"resume-{fail_at}") == total - journaled  # not one journaled request again
        assert calls == {"human": 1, "tool": 2}  # nobody asked twice, no tool run twice
        assert resumed.usage.get("journaled", 0) >= journaled


def test_resume_refuses_a_changed_script_unless_forced(fake_openai, store: Store,  # type: ignore[no-untyped-def]
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fake_openai.handler = Counting(fail_at=3)
    source = header(fake_openai.base_url) + 'input topic: str = "tides"\n' + BODY
    calls = {"human": 0, "tool": 0}
    with pytest.raises(parley.RunError) as failed:
        run_with(parley.compile(source, "t.agent"), store, calls)
    run_id = failed.value.result.run_id
    changed = parley.compile(source.replace("Last word on", "Final word on"), "t.agent")
    with pytest.raises(parley.UsageError, match="the script changed since run .*use --force"):
        run_with(changed, store, calls, resume=run_id)
    fake_openai.handler.fail_at = None
    journaled = len([e for e in store.journal(run_id).values() if e.kind == "model"])  # `b` and `c` may run at once
    monkeypatch.setenv("OPENAI_ORG_ID", "forced")
    resumed = run_with(changed, store, calls, resume=run_id, force=True)
    monkeypatch.delenv("OPENAI_ORG_ID")
    assert resumed.printed[0].split(" | ")[4] == 're:Final word on re:["x"].'
    assert sent_by(fake_openai, "forced") == 5 - journaled  # of a, b, c (two rounds) and the changed d
    with pytest.raises(parley.UsageError, match="finished; nothing to resume"):
        run_with(changed, store, calls, resume=run_id)
    with pytest.raises(parley.UsageError, match="no single run matches 'nope'"):
        run_with(changed, store, calls, resume="nope")
    with pytest.raises(parley.UsageError, match="takes the inputs it was recorded with"):
        parley.compile(source, "t.agent").run({"topic": "x"}, store=store, resume=run_id)


def test_replay_runs_offline_and_names_the_step_that_differs(fake_openai, store: Store) -> None:  # type: ignore[no-untyped-def]
    fake_openai.handler = Counting()
    source = header(fake_openai.base_url) + 'input topic: str = "tides"\n' + BODY
    calls = {"human": 0, "tool": 0}
    recorded = run_with(parley.compile(source, "t.agent"), store, calls)
    seen = fake_openai.handler.seen
    calls = {"human": 0, "tool": 0}
    replayed = run_with(parley.compile(source, "t.agent"), store, calls, replay=recorded.run_id)
    assert replayed.printed == recorded.printed
    assert fake_openai.handler.seen == seen and calls == {"human": 0, "tool": 0}  # no request, no tool, nobody asked
    assert [r["id"] for r in store.runs()] == [recorded.run_id]  # a replay adds no run

    changed = parley.compile(source.replace("Judge: {a}", "Judge harshly: {a}"), "t.agent")
    with pytest.raises(parley.RunError) as failed:
        run_with(changed, store, calls, replay=recorded.run_id)
    assert failed.value.kind is parley.FailureKind.REPLAY
    assert str(failed.value).startswith("t.agent:12: this model request differs from the recorded one")
    assert fake_openai.handler.seen == seen

    more = parley.compile(source + "e = @writer One more.\n", "t.agent")
    with pytest.raises(parley.RunError, match=r"t.agent:18: the recorded run made no model request here"):
        run_with(more, store, calls, replay=recorded.run_id)


PARALLEL = """\
parallel:
    x1 = @writer First {topic}.
    y1 = @critic Second {topic}.
x2 = @writer Then {x1}.
y2 = @critic Then {y1}.
print "{x2} / {y2}"
"""


def test_concurrent_calls_are_keyed_by_step_path_not_by_arrival(fake_openai, store: Store,  # type: ignore[no-untyped-def]
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer's first request is sent first but answered last; the resume answers in the other order."""
    source = header(fake_openai.base_url) + 'input topic: str = "tides"\n' + PARALLEL
    program = parley.compile(source, "t.agent")
    arrivals: list[str] = []

    def slow_writer(fail_second_round: bool) -> Any:
        def answer(body: dict[str, Any]) -> Any:
            content = body["messages"][-1]["content"]
            if content.startswith("First"):
                time.sleep(0.3)
            arrivals.append(content)
            if fail_second_round and content.startswith("Then re:Second"):
                return server_error()
            return echo(body)
        return answer

    fake_openai.handler = slow_writer(fail_second_round=True)
    with pytest.raises(parley.RunError) as failed:
        program.run(store=store)
    assert arrivals[:2] == ["Second tides.", "First tides."]
    rows = dict(store.db.execute("SELECT path, result FROM journal WHERE run = ?", (failed.value.result.run_id,)))
    writer_path = next(path for path, result in rows.items() if "re:First" in result)
    critic_path = next(path for path, result in rows.items() if "re:Second" in result)
    assert writer_path != critic_path and writer_path.split("/")[0] == critic_path.split("/")[0]

    arrivals.clear()
    fake_openai.handler = slow_writer(fail_second_round=False)
    monkeypatch.setenv("OPENAI_ORG_ID", "resume")
    resumed = program.run(store=store, resume=failed.value.result.run_id)
    assert resumed.printed == ["re:Then re:First tides.. / re:Then re:Second tides.."]
    assert "Then re:Second tides.." in arrivals and sent_by(fake_openai, "resume") == 4 - len(rows)  # the calls not made

    replayed = program.run(store=store, replay=resumed.run_id)
    assert replayed.printed == resumed.printed


def test_the_clock_and_random_choices_are_journaled(fake_openai, store: Store) -> None:  # type: ignore[no-untyped-def]
    fake_openai.handler = Counting(fail_at=3)
    source = header(fake_openai.base_url) + (
        "t = now()\n"
        "g = group writer, critic:\n    \"Pick a name.\"\n    select random\n    until 3 turns\n"
        "last = @writer Done?\nprint \"{t} {g.last} {last}\"\n"
    )
    program = parley.compile(source, "t.agent")
    with pytest.raises(parley.RunError) as failed:
        program.run(store=store)
    first = store.journal(failed.value.result.run_id)
    clock = next(entry.result for entry in first.values() if entry.kind == "clock")
    time.sleep(0.01)
    fake_openai.handler.fail_at = None
    resumed = program.run(store=store, resume=failed.value.result.run_id)
    assert resumed.printed[0].startswith(f"{clock} ")
    choices = [entry for entry in store.journal(resumed.run_id).values() if entry.kind == "choice"]
    assert len(choices) == 2 and all(entry.result in ("writer", "critic") for entry in choices)


def test_cli_resume_and_replay(fake_openai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    fake_openai.handler = Counting(fail_at=2)
    (tmp_path / "t.agent").write_text(
        f'model smart = openai("gpt-4o-mini", base_url="{fake_openai.base_url}", max_retries=0)\n'
        'default model smart\nagent writer:\n    """You write."""\n'
        "a = @writer One.\nb = @writer Two.\nprint b\n", encoding="utf-8")
    runner = CliRunner()
    failed = runner.invoke(main, ["run", "t.agent"])
    assert failed.exit_code == 3
    assert "writer [line 5]\n  re:One." in failed.stderr  # a streamed reply is headed by its line too
    run_id = Store(default_path()).runs()[0]["id"]
    assert f"resume with: parley run --resume {run_id}" in failed.stderr
    fake_openai.handler.fail_at = None
    resumed = runner.invoke(main, ["run", "--resume", run_id])
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout == "re:Two.\n"
    assert "1 from the journal" in resumed.stderr and "(journal)" in resumed.stderr
    listed = runner.invoke(main, ["runs"]).stdout
    assert f"{run_id}  " in listed and "done" in listed and "t.agent (resumed ×1)" in listed
    seen = fake_openai.handler.seen
    replayed = runner.invoke(main, ["run", "t.agent", "--replay", run_id])
    assert replayed.exit_code == 0 and replayed.stdout == "re:Two.\n" and fake_openai.handler.seen == seen
    again = runner.invoke(main, ["run", "--resume", run_id])
    assert again.exit_code == 2 and "finished; nothing to resume" in again.stderr
    other = tmp_path / "other.agent"
    other.write_text((tmp_path / "t.agent").read_text(), encoding="utf-8")
    wrong = runner.invoke(main, ["run", str(other), "--resume", run_id])
    assert wrong.exit_code == 2 and "was of t.agent, not" in wrong.stderr
    assert runner.invoke(main, ["run", "--resume", run_id, "--no-store"]).exit_code == 2


def test_otlp_trace_has_genai_spans_with_file_and_line(fake_openai, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        snapshot) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    fake_openai.handler = echo
    (tmp_path / "t.agent").write_text(header(fake_openai.base_url) + "c = @writer Encode it as JSON.\nprint c\n",
                                      encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["run", "t.agent"]).exit_code == 0
    run_id = Store(default_path()).runs()[0]["id"]
    shown = runner.invoke(main, ["trace", run_id, "--format", "otlp-json"])
    assert shown.exit_code == 0
    trace = json.loads(shown.stdout)
    spans = trace["resourceSpans"][0]["scopeSpans"][0]["spans"]
    root = spans[0]
    assert all(s["traceId"] == root["traceId"] and len(s["spanId"]) == 16 for s in spans)
    by_id = {s["spanId"]: s["name"] for s in spans}  # run → the ask's turn → its model calls and tool call
    assert [(s["name"], by_id.get(s["parentSpanId"])) for s in spans] == [
        ("invoke_workflow t.agent", None), ("invoke_agent writer", "invoke_workflow t.agent"),
        ("chat gpt-4o-mini", "invoke_agent writer"), ("execute_tool dumps", "invoke_agent writer"),
        ("chat gpt-4o-mini", "invoke_agent writer")]
    assert all(int(s["startTimeUnixNano"]) <= int(s["endTimeUnixNano"]) for s in spans)
    outline = []
    for span in spans:
        attributes = {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}
        assert attributes.pop("gen_ai.conversation.id") == run_id  # the run is the conversation
        outline.append((span["name"], span["kind"], {k: v for k, v in attributes.items()
                                                     if k.startswith(("gen_ai.", "code."))}))
    assert outline == snapshot
    lines = runner.invoke(main, ["trace", run_id]).stdout.splitlines()
    assert [json.loads(line)["kind"] for line in lines][:2] == ["run_start", "model_call"]


def test_an_old_store_migrates_and_its_runs_stay(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    from parley.runtime.store import MIGRATIONS

    for version in (1, 2):
        for statement in MIGRATIONS[version]:
            db.execute(statement)
    db.execute("INSERT INTO runs (id, script, script_sha256, plan_version, inputs, status, started) "
               "VALUES ('abc', 's.agent', 'x', '1', '{}', 'failed', 1.0)")
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    store = Store(path)
    found = store.run("abc")
    assert found is not None and found["attempts"] == 1 and found["plan_sha256"] is None
    assert store.journal("abc") == {}


def test_runs_in_one_task_get_the_same_journal_keys(fake_openai, store: Store) -> None:  # type: ignore[no-untyped-def]
    """An embedding program running scripts one after another in one task: each run starts at the root."""
    import asyncio

    fake_openai.handler = echo
    program = parley.compile(header(fake_openai.base_url) + 'input topic: str = "tides"\n' + PARALLEL, "t.agent")

    async def twice() -> tuple[Any, Any]:
        return await program.run_async(store=store), await program.run_async(store=store)

    first, second = asyncio.run(twice())
    assert set(store.journal(first.run_id)) == set(store.journal(second.run_id))
    assert len(store.journal(first.run_id)) == 4


def test_a_tool_running_when_a_step_beside_it_fails_is_kept_not_run_again(fake_openai, store: Store) -> None:  # type: ignore[no-untyped-def]
    """The tool is in its thread when the other branch fails: it runs to its end and is journaled."""
    fake_openai.handler = Counting(fail_at=1)
    source = header(fake_openai.base_url) + (
        "parallel:\n    encoded = dumps([1, 2])\n    x = @critic Quick.\nprint \"{encoded} {x}\"\n")
    runs: list[float] = []

    def slow_dumps(obj: Any) -> str:
        time.sleep(0.3)
        runs.append(time.monotonic())
        return json.dumps(obj)

    slow_dumps.parley_journal = True  # type: ignore[attr-defined]  # journaled, so never run twice
    program = parley.compile(source, "t.agent")
    with pytest.raises(parley.RunError) as failed:
        program.run(store=store, tools={"dumps": slow_dumps})
    assert len(runs) == 1
    assert [e.kind for e in store.journal(failed.value.result.run_id).values()] == ["tool"]
    fake_openai.handler.fail_at = None
    resumed = program.run(store=store, tools={"dumps": slow_dumps}, resume=failed.value.result.run_id)
    assert resumed.printed == ["[1, 2] re:Quick."] and len(runs) == 1
