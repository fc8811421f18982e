"""One script over many rows of inputs: each row checked before any request, at most N rows in flight.

`Program.run_many` and `parley batch` share this. A row is one run, recorded in the
store like any other (its own run id); a row that fails is reported with its row
number and the error, and does not stop the others. Results come in input order,
or as they finish (`ordered=False`).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from parley.dsl.errors import BudgetExceeded, HostError, ParleyError, RunError, UsageError

if TYPE_CHECKING:
    from parley.batch_ledger import BatchLedger
    from parley.compiler.plan import Plan
    from parley.program import Program

RowStatus = Literal["done", "failed", "budget", "bad_row"]


@attrs.frozen
class RowResult:
    """What one row gave: `row` is its number in the input (1 for the first); `inputs` the row's values as
    the script's types read them (as given, for a row that does not fit; defaults are the run's to fill)."""

    row: int
    inputs: dict[str, Any]
    status: RowStatus
    output: Any = None
    outputs: list[Any] = attrs.field(factory=list)
    usage: dict[str, Any] = attrs.field(factory=dict)
    run_id: str | None = None
    error: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RowResult:
        """A row's result as `as_json` wrote it (values stay as JSON gave them)."""
        return cls(data["row"], data["inputs"], data["status"], data.get("output"), list(data.get("outputs") or []),
                   dict(data.get("usage") or {}), data.get("run_id"), data.get("error"))

    def as_json(self) -> dict[str, Any]:
        """The row as one JSON object (money as decimal text, as everywhere Parley writes JSON)."""
        from parley.runtime.values import jsonable

        usage = {k: (str(v) if k == "cost" and v is not None else v) for k, v in self.usage.items()}
        return {"row": self.row, "inputs": jsonable(self.inputs), "status": self.status,
                "output": jsonable(self.output), "outputs": jsonable(self.outputs), "usage": jsonable(usage),
                "run_id": self.run_id, "error": self.error}


def read_rows(path: str | Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """The rows of a JSONL file (one object a line) or a CSV file (a header line of input names), numbered
    from 1; a row that cannot be read is given as the reason, so the caller can report it by number."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read the rows in {path}: {error}") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        for number, record in enumerate(reader, start=1):
            extra = record.pop(None, None) or []  # type: ignore[call-overload]
            fields = sum(v is not None for v in record.values()) + len(extra)
            if fields != len(reader.fieldnames or []):
                yield number, f"has {fields} fields, the header names {len(reader.fieldnames or [])}"
            else:
                yield number, dict(record)
        return
    number = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        number += 1
        try:
            record = json.loads(line)
        except ValueError as error:
            yield number, f"is not JSON: {error}"
            continue
        yield (number, record) if isinstance(record, dict) else (number, "is not a JSON object of inputs")


def check_row(plan: Plan, row: dict[str, Any]) -> dict[str, Any]:
    """The row's inputs as the script's types read them; `UsageError` says what is wrong (before any request)."""
    from parley.runtime.inputs import read_input

    known = {i.name: i for i in plan.inputs}
    unknown = sorted(set(row) - set(known))
    if unknown:
        raise UsageError(f"unknown input {unknown[0]!r}; the script's inputs are: {', '.join(sorted(known)) or 'none'}")
    values = {}
    for name, decl in known.items():
        if name in row:
            try:
                values[name] = read_input(decl, row[name], plan)
            except RunError as error:
                raise UsageError(error.message) from None
        elif decl.default is None:
            raise UsageError(f"input `{name}` has no value")
    return values


#: A row as read and checked: its number, what it gave, and its inputs as the script reads them or why it cannot.
CheckedRow = tuple[int, dict[str, Any], "dict[str, Any] | str"]


def check_rows(plan: Plan, rows: Iterable[tuple[int, dict[str, Any] | str]]) -> list[CheckedRow]:
    """Every row read and checked (before the first request); a row that does not fit carries the reason."""
    checked: list[CheckedRow] = []
    for number, row in rows:
        if isinstance(row, str):
            checked.append((number, {}, f"row {number} {row}"))
            continue
        try:
            checked.append((number, row, check_row(plan, row)))
        except UsageError as error:
            checked.append((number, row, f"row {number}: {error}"))
    return checked


def run_rows(program: Program, rows: Iterable[tuple[int, dict[str, Any] | str]], *, concurrency: int = 8,
             ordered: bool = True, **options: Any) -> AsyncIterator[RowResult]:
    """Run `program` once per row, at most `concurrency` at once; bad rows come back as `bad_row` results."""
    return run_checked(program, check_rows(program.plan, rows), concurrency=concurrency, ordered=ordered, **options)


async def run_checked(program: Program, checked: list[CheckedRow], *, concurrency: int = 8, ordered: bool = True,
                      ledger: BatchLedger | None = None, runner: RowRunner | None = None,
                      **options: Any) -> AsyncIterator[RowResult]:
    """`run_rows` for rows `check_rows` read already. With a `ledger`, each row's run and result are
    recorded as they happen, and a row the ledger has a result for is given back, not run again; `runner`
    runs one row (default: in this process, `run_row`)."""
    if concurrency < 1:
        raise UsageError(f"concurrency is at least 1, not {concurrency}")
    gate = asyncio.Semaphore(concurrency)
    run_one = runner or run_row
    from parley.runtime.limits import widen_default_cap

    widen_default_cap(concurrency)  # the rows asked for are not held to the default cap; a model's own limit holds

    async def one(number: int, given: dict[str, Any], values: dict[str, Any] | str) -> RowResult:
        known = ledger.rows.get(number) if ledger is not None else None
        if known is not None and known.result is not None:
            return RowResult.from_json(known.result)
        if isinstance(values, str):
            result = RowResult(number, given, "bad_row", error={"kind": "input", "message": values, "line": None})
        else:
            async with gate:
                result = await run_one(program, number, values, known.run_id if known else None, ledger, options)
        if ledger is not None:
            ledger.row_ended(number, result.as_json())
        return result

    tasks = [asyncio.ensure_future(one(*item)) for item in checked]
    try:
        for task in (tasks if ordered else asyncio.as_completed(tasks)):
            yield await task
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


#: Runs one row: (program, row number, inputs, the run to resume or None, the ledger, `run` options).
RowRunner = Callable[["Program", int, dict[str, Any], "str | None", "BatchLedger | None", dict[str, Any]],
                     Awaitable[RowResult]]


async def run_row(program: Program, number: int, values: dict[str, Any], run_id: str | None,
                  ledger: BatchLedger | None, options: dict[str, Any]) -> RowResult:
    """One row's run in this process. With a ledger, the row's run id is noted before its run starts; `run_id`
    is the one a stopped batch noted: that run is picked up where it stopped (its journaled calls served,
    not sent again), or, when it finished already, its result is read from its record."""
    store = options.get("store")
    picked = pick_up(store, number, values, run_id)
    if isinstance(picked, RowResult):
        return picked
    resume = picked
    if resume is None and ledger is not None and store is not None:
        from parley.runtime.store import new_run_id

        if run_id is None:
            run_id = new_run_id()
            ledger.run_started(number, run_id)
        options = {**options, "run_id": run_id}  # a run noted but never started (killed between) starts now
    try:
        result = await program.run_async(None if resume else values, resume=resume, **options)
    except (RunError, HostError) as failed:  # the row's run failed (the host's code in it too)
        partial = failed.result
        return RowResult(number, values, "budget" if isinstance(failed, BudgetExceeded) else "failed",
                         output=getattr(partial, "output", None),
                         outputs=list(getattr(partial, "outputs", None) or []),
                         usage=dict(getattr(partial, "usage", None) or {}),
                         run_id=getattr(partial, "run_id", None) or run_id, error=_error(failed))
    except UsageError as refused:  # its run cannot be resumed (the script changed under it, say)
        return RowResult(number, values, "failed", run_id=run_id,
                         error={"kind": "usage", "message": str(refused), "line": None})
    return RowResult(number, values, "done", output=result.output, outputs=list(result.outputs),
                     usage=dict(result.usage), run_id=result.run_id)


def pick_up(store: Any, number: int, values: dict[str, Any], run_id: str | None) -> RowResult | str | None:
    """What a row's noted run leaves to do: its result, when the run finished (read from its record); the
    run's id, to resume it, when it stopped; None when `store` has no such run (one is to start)."""
    if run_id is None or store is None or store.run(run_id) is None:
        return None
    return finished_row(store, number, values, run_id) or run_id


def finished_row(store: Any, number: int, values: dict[str, Any], run_id: str) -> RowResult | None:
    """Row `number`'s result read from its run's record, when that run is `done` (it ended, but the batch
    stopped before writing the row's line); None otherwise."""
    record = store.run(run_id)
    if record is None or record["status"] != "done":
        return None
    events = store.events(record["id"])
    outputs = [e["data"]["value"] for e in events if e["kind"] == "output" and e["data"]]
    usage = next((e["data"]["usage"] for e in reversed(events) if e["kind"] == "run_end" and e["data"]), {})
    return RowResult(number, values, "done", output=outputs[-1] if outputs else None, outputs=outputs,
                     usage=dict(usage), run_id=record["id"])


def _error(error: ParleyError) -> dict[str, Any]:
    kind = "host" if isinstance(error, HostError) else getattr(getattr(error, "kind", None), "label", "run")
    span = getattr(error, "span", None)
    return {"kind": kind, "message": getattr(error, "message", None) or str(error),
            "line": span.line if span is not None else None}
