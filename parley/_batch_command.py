"""`parley batch FILE ROWS --out OUT.jsonl`: a script over a dataset, one JSON line per row; resumable."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from parley._store_commands import open_store, store_flag


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False), required=False)
@click.argument("rows", type=click.Path(exists=True, dir_okay=False), required=False)
@click.option("--out", "out_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write one JSON line per row here: its inputs, outputs, status, usage and run id.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None,
              help="The most rows in flight at once.  [default: 8]")
@click.option("--unordered", is_flag=True, help="Write rows as they finish, not in input order.")
@click.option("--bad-rows", type=click.Choice(["skip", "stop"]), default="stop", show_default=True,
              help="A row whose inputs do not fit the script: report it and go on (skip), or run nothing (stop).")
@click.option("--model", default=None, help="Use this model for every agent (as for `parley run`).")
@click.option("--base-url", default=None, help="With --model MODEL-ID: the OpenAI-compatible server.")
@click.option("--allow-code", is_flag=True, help="Let executor agents run the code they are sent.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default=None,
              help="Run rows in this process (local, the default), or on the Ray cluster RAY_ADDRESS names (a "
                   "local Ray when unset; needs parley-lang[ray]). A resumed batch keeps its engine unless given.")
@click.option("--resume", "resume", metavar="BATCH_ID", default=None,
              help="Finish a batch that stopped: only its rows that did not end run (each resuming its own run).")
@click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None,
              help="The run store (default: .parley/parley.db, or PARLEY_STORE); each row is a run in it.")
@click.option("--no-store", is_flag=True, help="Keep the rows' runs in memory only (the batch cannot resume).")
@click.option("--quiet", "-q", is_flag=True, help="No progress; only the summary.")
def batch(file: str | None, rows: str | None, out_path: str | None, concurrency: int | None, unordered: bool,
          bad_rows: str, model: str | None, base_url: str | None, allow_code: bool, engine: str | None,
          resume: str | None, store_path: str | None, no_store: bool, quiet: bool) -> None:
    """Run a script once per row of ROWS (JSONL, or CSV with a header of input names).

    Every row is checked against the script's inputs before the first request. The batch is recorded in
    the run store as it goes: stopped (Ctrl-C, SIGTERM, a crash), `parley batch --resume BATCH_ID` runs
    only the rows that did not end. Exit status: 0 every row done, 1 a script error, 2 usage or (with
    --bad-rows stop) a bad row, 3 some row did not finish (it failed, ran out of its budget, or was a bad
    row skipped), 130 interrupted (143 on SIGTERM).
    """
    from parley.batch import check_rows, read_rows
    from parley.batch_ledger import BatchLedger, LedgerError

    if resume is not None:
        if no_store:
            raise click.UsageError("--resume reads the batch from the run store; drop --no-store")
        if file or rows:
            raise click.UsageError("--resume takes the script and rows the batch began with; give neither")
        store = open_store(store_path, False)
        try:
            ledger = BatchLedger.resume(store, resume)
        except LedgerError as error:
            raise click.UsageError(str(error)) from None
        settings = ledger.settings
        program = _program_of(ledger)
        rows_path = ledger.rows_path
    else:
        if not file or not rows or not out_path:
            raise click.UsageError("give the script FILE, the ROWS file and --out OUT.jsonl "
                                   "(or --resume BATCH_ID to finish a batch)")
        import parley

        program = parley.load(file)
        rows_path = rows
        settings = {"out": os.path.abspath(out_path), "concurrency": concurrency or 8, "unordered": unordered,
                    "bad_rows": bad_rows, "model": model, "base_url": base_url, "allow_code": allow_code,
                    "engine": engine or "local"}
        store = ledger = None
    listed = check_rows(program.plan, read_rows(rows_path))
    problems = [values for _number, _given, values in listed if isinstance(values, str)]
    if problems and settings["bad_rows"] == "stop":
        shown = "\n".join(f"  {p}" for p in problems[:10])
        more = f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise click.UsageError(f"{len(problems)} of {len(listed)} rows do not fit the script's inputs "
                               f"(nothing was run; --bad-rows skip runs the others):\n{shown}{more}")
    if ledger is None:
        store = open_store(store_path, no_store)
        if not no_store:
            from parley.runtime.recording import compact_plan_json, plan_sha256

            ledger = BatchLedger.start(store, script=program.path or program.plan.file,
                                       plan_sha256=plan_sha256(program.plan), plan=compact_plan_json(program.plan),
                                       rows_path=rows_path, rows=len(listed), settings=settings)
    out_path = out_path or settings["out"]
    options: dict[str, Any] = {"model": settings["model"], "base_url": settings["base_url"],
                               "allow_code": settings["allow_code"], "store": store}
    if ledger is not None:
        ended = sum(1 for entry in ledger.rows.values() if entry.result is not None)
        click.echo(f"batch {ledger.batch_id}: {len(listed)} rows" + (f", {ended} ended already" if ended else "")
                   + f" → {out_path}", err=True)
    _run(program, listed, out_path, options, ledger, settings, concurrency or settings["concurrency"],
         engine or settings.get("engine", "local"), quiet, store_path)


def _run(program: Any, listed: list[Any], out_path: str, options: dict[str, Any], ledger: Any,
         settings: dict[str, Any], concurrency: int, engine: str, quiet: bool, store_path: str | None) -> None:
    import asyncio

    from parley._batch_progress import Tally, progress_for
    from parley.batch import run_checked

    runner = None
    if engine == "ray":
        from parley.batch_ray import RayRunner

        runner = RayRunner.connect(concurrency)
    progress = progress_for(len(listed), sys.stderr, quiet=quiet)
    tally = progress.tally if progress is not None else Tally(len(listed))
    counts: collections.Counter[str] = collections.Counter()
    failures: collections.Counter[str] = collections.Counter()

    async def go(out: Any) -> None:
        with _stopped_by_signals() as stopped:
            async for result in run_checked(program, listed, concurrency=concurrency,
                                            ordered=not settings["unordered"], ledger=ledger, runner=runner,
                                            **options):
                out.write(json.dumps(result.as_json(), ensure_ascii=False) + "\n")
                out.flush()
                counts[result.status] += 1
                if result.error is not None:
                    failures[f"{result.error['kind']}: {result.error['message']}"] += 1
                if progress is not None:
                    progress.add(result)
                else:
                    tally.add(result)
        if stopped:
            raise _Stopped(stopped[0])

    try:
        with open(out_path, "w", encoding="utf-8") as out:
            asyncio.run(go(out))
    except (_Stopped, KeyboardInterrupt) as stop:  # the rows in flight were cancelled: their runs `interrupted`
        if progress is not None:
            progress.close()
        signum = stop.signum if isinstance(stop, _Stopped) else signal.SIGINT
        hint = ""
        if ledger is not None:
            ledger.end("interrupted")
            hint = f"; resume with: parley batch --resume {ledger.batch_id}{store_flag(store_path)}"
        said = "terminated" if signum == signal.SIGTERM else "interrupted"
        click.echo(f"{said}: {tally.ended} of {len(listed)} rows ended{hint}", err=True)
        sys.exit(128 + signum)
    finally:
        if runner is not None:
            runner.close()
    if progress is not None:
        progress.close()
    if ledger is not None:
        ledger.end("done")
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    click.echo(f"{len(listed)} rows: {summary}; {tally.tokens} tokens, {tally.cost_text}, "
               f"{tally.rate:.1f} rows/s → {out_path}", err=True)
    for message, n in failures.most_common(5):
        click.echo(f"  {n} × {message}", err=True)
    if len(failures) > 5:
        click.echo(f"  … and {len(failures) - 5} other errors (the `error` of each line in {out_path})", err=True)
    if counts["done"] != len(listed):
        sys.exit(3)


class _Stopped(Exception):
    """Ctrl-C or SIGTERM stopped the batch (its rows in flight were cancelled and settled first)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum


@contextlib.contextmanager
def _stopped_by_signals() -> Iterator[list[int]]:
    """While the batch runs, Ctrl-C and SIGTERM cancel it at its next await, never in the middle of a
    store write or a run's start: every run in flight then settles as `interrupted`. Yields the signals
    taken (empty when none was)."""
    import asyncio

    loop, main = asyncio.get_running_loop(), asyncio.current_task()
    taken: list[int] = []

    def stop(signum: int) -> None:
        if not taken and main is not None:
            main.cancel()
        taken.append(signum)

    handled = []
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop, signum)
            handled.append(signum)
    try:
        yield taken
    except asyncio.CancelledError:
        if not taken:
            raise
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)


def _program_of(ledger: Any) -> Any:
    """The program a resumed batch runs: its script when it is unchanged, else the plan the batch kept."""
    import parley
    from parley.program import Program
    from parley.runtime.recording import plan_sha256

    if Path(ledger.script).is_file():
        program = parley.load(ledger.script)
        if plan_sha256(program.plan) == ledger.plan_sha256:
            return program
        raise click.UsageError(f"{ledger.script} changed since batch {ledger.batch_id} began: resuming would mix "
                               "two scripts (start a new batch)")
    if ledger.plan is None:
        raise click.UsageError(f"batch {ledger.batch_id} ran {ledger.script}, which is gone")
    from parley.compiler.serialize import plan_from_json

    return Program(plan_from_json(ledger.plan), (), {}, ledger.script)
