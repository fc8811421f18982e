"""`parley batch FILE ROWS --out OUT.jsonl`: a script over a dataset, one JSON line per row."""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import time
from typing import Any

import click

from parley._store_commands import open_store


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.argument("rows", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_path", type=click.Path(dir_okay=False, writable=True), required=True,
              help="Write one JSON line per row here: its inputs, outputs, status, usage and run id.")
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True,
              help="The most rows in flight at once.")
@click.option("--unordered", is_flag=True, help="Write rows as they finish, not in input order.")
@click.option("--bad-rows", type=click.Choice(["skip", "stop"]), default="stop", show_default=True,
              help="A row whose inputs do not fit the script: report it and go on (skip), or run nothing (stop).")
@click.option("--model", default=None, help="Use this model for every agent (as for `parley run`).")
@click.option("--base-url", default=None, help="With --model MODEL-ID: the OpenAI-compatible server.")
@click.option("--allow-code", is_flag=True, help="Let executor agents run the code they are sent.")
@click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None,
              help="The run store (default: .parley/parley.db, or PARLEY_STORE); each row is a run in it.")
@click.option("--no-store", is_flag=True, help="Keep the rows' runs in memory only.")
def batch(file: str, rows: str, out_path: str, concurrency: int, unordered: bool, bad_rows: str, model: str | None,
          base_url: str | None, allow_code: bool, store_path: str | None, no_store: bool) -> None:
    """Run a script once per row of ROWS (JSONL, or CSV with a header of input names).

    Every row is checked against the script's inputs before the first request. Exit status: 0 every row
    done, 1 a script error, 2 usage or (with --bad-rows stop) a bad row, 3 some row did not finish (it
    failed, ran out of its budget, or was a bad row skipped).
    """
    import parley
    from parley.batch import check_rows, read_rows, run_checked

    program = parley.load(file)
    listed = check_rows(program.plan, read_rows(rows))
    problems = [values for _number, _given, values in listed if isinstance(values, str)]
    if problems and bad_rows == "stop":
        shown = "\n".join(f"  {p}" for p in problems[:10])
        more = f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise click.UsageError(f"{len(problems)} of {len(listed)} rows do not fit the script's inputs "
                               f"(nothing was run; --bad-rows skip runs the others):\n{shown}{more}")
    store = open_store(store_path, no_store)
    options: dict[str, Any] = {"model": model, "base_url": base_url, "allow_code": allow_code, "store": store}
    counts: collections.Counter[str] = collections.Counter()
    failures: collections.Counter[str] = collections.Counter()
    started = time.monotonic()

    async def go(out: Any) -> None:
        async for result in run_checked(program, listed, concurrency=concurrency, ordered=not unordered, **options):
            out.write(json.dumps(result.as_json(), ensure_ascii=False) + "\n")
            out.flush()
            counts[result.status] += 1
            if result.error is not None:
                failures[f"{result.error['kind']}: {result.error['message']}"] += 1
            done = sum(counts.values())
            if done % max(1, len(listed) // 10) == 0 or done == len(listed):
                click.echo(f"{done}/{len(listed)} rows · {counts['done']} done · "
                           f"{done - counts['done']} not · {time.monotonic() - started:.1f}s", err=True)

    with open(out_path, "w", encoding="utf-8") as out:
        asyncio.run(go(out))
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    click.echo(f"{len(listed)} rows: {summary} → {out_path}", err=True)
    for message, n in failures.most_common(5):
        click.echo(f"  {n} × {message}", err=True)
    if counts["done"] != len(listed):
        sys.exit(3)
