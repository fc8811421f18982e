"""`parley batch` and `Program.run_many`: rows checked before any request, at most N in flight, one result
per row in input order (or as they finish), failures reported per row, and an exit status that says it all."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

import parley
from parley.cli import main
from parley.runtime.scripted import ScriptedModel

SCRIPT = ('agent writer:\n    """You write one line."""\ninput topic: str\ninput n: int = 1\n'
          'line = @writer Write {n} line about {topic}.\noutput line\n')
RULES = {"rules": [{"contains": "about tea", "reply": "Tea is calm.", "delay": 0.15},
                   {"contains": "about owls", "reply": "Owls see.", "delay": 0.02}], "default": "A line."}


@attrs.define
class Counting:
    """A model that counts the requests in flight, to check the concurrency bound."""

    model: Any
    now: int = 0
    most: int = 0
    asked: list[str] = attrs.Factory(list)

    @property
    def name(self) -> str:
        return "scripted"

    async def complete(self, request: Any, on_token: Any = None) -> Any:
        self.now += 1
        self.most = max(self.most, self.now)
        self.asked.append(request.messages[-1].content)
        try:
            await asyncio.sleep(0.02)
            return await self.model.complete(request, on_token)
        finally:
            self.now -= 1


def files(tmp_path: Path, rows: str, name: str = "rows.jsonl") -> tuple[Path, Path, Path]:
    script, table, rules = tmp_path / "t.agent", tmp_path / name, tmp_path / "rules.json"
    script.write_text(SCRIPT, encoding="utf-8")
    table.write_text(rows, encoding="utf-8")
    rules.write_text(json.dumps(RULES), encoding="utf-8")
    return script, table, rules


def batch(*args: str) -> Any:
    return CliRunner().invoke(main, ["batch", *args], env={"NO_COLOR": "1"})


BAD = '{"topic": "tea", "n": 2}\n{"topic": "owls"}\n{"topic": "x", "n": "many"}\nnot json\n{"topik": "y"}\n'


def test_a_bad_row_stops_the_batch_before_any_request(tmp_path: Path) -> None:
    script, table, rules = files(tmp_path, BAD)
    out = tmp_path / "out.jsonl"
    result = batch(str(script), str(table), "--out", str(out), "--model", f"scripted:{rules}", "--no-store")
    assert result.exit_code == 2, result.output
    assert "3 of 5 rows do not fit the script's inputs (nothing was run" in result.stderr
    assert "row 3: input `n`: 'many' is not of type 'integer'" in result.stderr
    assert "row 4 is not JSON" in result.stderr and "row 5: unknown input 'topik'" in result.stderr
    assert not out.exists()


def test_skipped_bad_rows_are_reported_and_the_others_run_in_input_order(tmp_path: Path) -> None:
    script, table, rules = files(tmp_path, BAD)
    out = tmp_path / "out.jsonl"
    result = batch(str(script), str(table), "--out", str(out), "--model", f"scripted:{rules}", "--no-store",
                   "--bad-rows", "skip")
    assert result.exit_code == 3, result.output  # not every row finished
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["row"], r["status"]) for r in lines] == [(1, "done"), (2, "done"), (3, "bad_row"), (4, "bad_row"),
                                                        (5, "bad_row")]
    assert lines[0]["inputs"] == {"topic": "tea", "n": 2} and lines[0]["output"] == "Tea is calm."
    assert lines[1]["inputs"] == {"topic": "owls"}  # as given: the run fills in the default
    assert lines[0]["usage"]["turns"] == 1 and lines[0]["usage"]["cost"] == "0"
    assert lines[2]["error"]["message"] == "row 3: input `n`: 'many' is not of type 'integer'"
    assert "5 rows: 3 bad_row, 2 done" in result.stderr


def test_csv_rows_as_they_finish_each_a_run_in_the_store(tmp_path: Path) -> None:
    script, table, rules = files(tmp_path, "topic,n\ntea,2\nowls,3\n", "rows.csv")
    out, store = tmp_path / "out.jsonl", tmp_path / "runs.db"
    result = batch(str(script), str(table), "--out", str(out), "--model", f"scripted:{rules}", "--unordered",
                   "--store", str(store))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["row"] for r in lines] == [2, 1]  # owls answers first
    assert lines[0]["inputs"] == {"topic": "owls", "n": 3}
    recorded = {row[0] for row in sqlite3.connect(store).execute("SELECT id FROM runs")}
    assert recorded == {r["run_id"] for r in lines}


def test_run_many_keeps_to_its_concurrency_and_checks_every_row_first() -> None:
    program = parley.compile(SCRIPT, "t.agent")
    model = Counting(ScriptedModel.from_data({"rules": [], "default": "A line."}))
    rows = [{"topic": f"t{i}"} for i in range(12)] + [{"topic": "late", "n": "x"}]
    results = program.run_many(rows, concurrency=3, model=model)
    assert [r.row for r in results] == list(range(1, 14))
    assert [r.status for r in results] == ["done"] * 12 + ["bad_row"]
    assert model.most == 3 and len(model.asked) == 12
    assert not any("late" in asked for asked in model.asked)


def test_a_failed_row_and_a_row_out_of_budget_do_not_stop_the_others() -> None:
    source = ('agent counter:\n    """You count."""\ninput topic: str\nbudget 2 turns\n'
              'n: int = @counter How many {topic}?\nx = 12 // (n - 3)\nm = @counter And again?\n'
              'm2 = @counter Once more?\noutput x\n')
    rules = {"rules": [{"contains": "How many owls", "json": 3}, {"contains": "How many", "json": 4}],
             "default": "fine"}
    results = parley.compile(source, "t.agent").run_many([{"topic": "owls"}, {"topic": "tea"}],
                                                        model=ScriptedModel.from_data(rules))
    owls, tea = results
    assert owls.status == "failed" and owls.error is not None and owls.error["kind"] == "value"
    assert owls.error["line"] == 6 and owls.run_id is None  # no store: the run was kept in memory
    assert tea.status == "budget" and tea.output is None and tea.usage["turns"] == 2


def test_run_many_inside_a_running_loop_says_to_use_the_async_form() -> None:
    program = parley.compile(SCRIPT, "t.agent")

    async def inside() -> None:
        with pytest.raises(parley.UsageError, match="run_many_async"):
            program.run_many([{"topic": "tea"}])
        found = [r.status async for r in program.run_many_async([{"topic": "tea"}],
                                                                model=ScriptedModel.from_data(RULES))]
        assert found == ["done"]

    asyncio.run(inside())


def test_a_csv_row_with_the_wrong_number_of_fields_is_named(tmp_path: Path) -> None:
    script, table, rules = files(tmp_path, "topic,n\ntea,2,extra\nowls\n", "rows.csv")
    result = batch(str(script), str(table), "--out", str(tmp_path / "out.jsonl"), "--no-store")
    assert result.exit_code == 2
    assert "row 1 has 3 fields, the header names 2" in result.stderr
    assert "row 2 has 1 fields, the header names 2" in result.stderr
