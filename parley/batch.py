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
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from parley.dsl.errors import BudgetExceeded, HostError, ParleyError, RunError, UsageError

if TYPE_CHECKING:
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
                      **options: Any) -> AsyncIterator[RowResult]:
    """`run_rows` for rows `check_rows` read already."""
    if concurrency < 1:
        raise UsageError(f"concurrency is at least 1, not {concurrency}")
    gate = asyncio.Semaphore(concurrency)

    async def one(number: int, given: dict[str, Any], values: dict[str, Any] | str) -> RowResult:
        if isinstance(values, str):
            return RowResult(number, given, "bad_row", error={"kind": "input", "message": values, "line": None})
        async with gate:
            try:
                result = await program.run_async(values, **options)
            except (RunError, HostError) as failed:  # the row's run failed (the host's code in it too)
                partial = failed.result
                return RowResult(number, values, "budget" if isinstance(failed, BudgetExceeded) else "failed",
                                 output=getattr(partial, "output", None),
                                 outputs=list(getattr(partial, "outputs", None) or []),
                                 usage=dict(getattr(partial, "usage", None) or {}),
                                 run_id=getattr(partial, "run_id", None), error=_error(failed))
        return RowResult(number, values, "done", output=result.output, outputs=list(result.outputs),
                         usage=dict(result.usage), run_id=result.run_id)

    tasks = [asyncio.ensure_future(one(*item)) for item in checked]
    try:
        for task in (tasks if ordered else asyncio.as_completed(tasks)):
            yield await task
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _error(error: ParleyError) -> dict[str, Any]:
    kind = "host" if isinstance(error, HostError) else getattr(getattr(error, "kind", None), "label", "run")
    span = getattr(error, "span", None)
    return {"kind": kind, "message": getattr(error, "message", None) or str(error),
            "line": span.line if span is not None else None}
