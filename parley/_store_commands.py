"""The commands that read the run store: `parley runs`, `show` and `trace`, and what `run` shares with them."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from parley import __version__


def use_color(stream: object) -> bool:
    """Colour on a terminal, or anywhere when FORCE_COLOR is set (not empty, not 0); never when NO_COLOR is
    set (not empty: an empty NO_COLOR is as if unset, https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR", "") not in ("", "0"):
        return True
    return bool(getattr(stream, "isatty", lambda: False)())


def stored_run(store, run_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The run `run_id` (or a unique prefix of it) names in the store, or a usage error."""
    from parley.runtime.recording import RecordError, recorded_run

    try:
        return recorded_run(store, run_id)
    except RecordError as error:
        raise click.UsageError(str(error)) from None


def store_flag(store_path: str | None) -> str:
    """The `--store` a hint repeats, so the command it suggests reads the same store."""
    return f" --store {store_path}" if store_path else ""


def open_store(path: str | None, in_memory: bool):  # type: ignore[no-untyped-def]
    """The run store at `path` (default: the user's), or in memory; a usage error when it cannot be opened."""
    from parley.runtime.store import Store, StoreDamaged, StoreError, default_path

    try:
        return Store(":memory:" if in_memory else (path or default_path()))
    except StoreDamaged:
        raise  # its message says what to do
    except StoreError as error:
        raise click.UsageError(f"{error} (use --store PATH, or --no-store)") from None


@click.command()
@click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None, help="The run store.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--check", "check_store", is_flag=True,
              help="Check the store for damage (SQLite's integrity check, every row read back); exit 1 if damaged.")
def runs(store_path: str | None, limit: int, check_store: bool) -> None:
    """Recent runs: id, script, status, turns, tokens, cost, time (a damaged one: what is wrong)."""
    import datetime

    from parley._store_check import check, damaged_runs

    if check_store:
        from parley.runtime.store import default_path

        sys.exit(check(store_path or str(default_path())))
    store = open_store(store_path, False)
    rows = store.runs(limit)
    if not rows:
        click.echo("no runs yet")
        return
    line = "{:<12}  {:<19}  {:<11} {:>5} {:>7} {:>9} {:>7}  {}"
    click.echo(line.format("RUN", "STARTED", "STATUS", "TURNS", "TOKENS", "COST", "TIME", "SCRIPT"))
    for row in rows:
        if "damaged" in row:
            click.echo(f"{'?' * 12}  damaged: {row['damaged']}")
            continue
        started = datetime.datetime.fromtimestamp(row["started"]).strftime("%Y-%m-%d %H:%M:%S")
        seconds = f"{row['ended'] - row['started']:.1f}s" if row["ended"] else "-"
        tries = f" (resumed ×{row['attempts'] - 1})" if row["attempts"] > 1 else ""
        cost = f"${row['cost']:.4f}"
        if row.get("unpriced"):  # some reply's price is unknown: what is known is a floor
            cost = "unknown" if not row["cost"] else f"≥{cost}"
        click.echo(line.format(row["id"], started, row["status"], row["turns"], row["tokens"], cost,
                               seconds, f"{row['script']}{tries}"))
    damaged_runs(store, rows)


@click.command()
@click.argument("run_id")
@click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None, help="The run store.")
@click.option("--json", "as_json", is_flag=True, help="The run and its events as JSON.")
@click.option("--plan", "as_plan", is_flag=True,
              help="The plan the run ran, as a plan file (`parley run` runs it): kept with each run.")
@click.option("--html", "as_html", is_flag=True,
              help="A self-contained web page: transcript, timeline, steps' tokens and cost, plan, errors.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="With --html: the file to write (`-` for stdout; default: parley-RUN.html here, or stdout "
                   "when piped).")
def show(run_id: str, store_path: str | None, as_json: bool, as_plan: bool, as_html: bool,
         output: str | None) -> None:
    """A stored run's transcript (or, with --json, its record and every event; with --plan, its plan;
    with --html, a web page of it)."""
    from parley._store_check import damaged_events
    from parley.console import Console
    from parley.runtime.events import Event

    if sum((as_json, as_plan, as_html)) > 1:
        raise click.UsageError("choose one of --json, --plan and --html")
    if output is not None and not as_html:
        raise click.UsageError("-o/--output writes the --html page: add --html")
    store = open_store(store_path, False)
    found = stored_run(store, run_id)
    if as_html:
        from parley._html_command import show_html

        show_html(store, found, output)
        return
    if as_plan:
        kept = store.plan(found["id"])
        if kept is None:
            raise click.UsageError(f"run {found['id']} keeps no plan (it was made by an older Parley)")
        click.echo(json.dumps(store.decoded(kept, f"the plan kept with run {found['id']}"), indent=2,
                              ensure_ascii=False))
        return
    events = store.events(found["id"])
    if as_json:
        click.echo(json.dumps({"run": found, "events": events}, indent=2, ensure_ascii=False))
        damaged_events(store, found["id"], events)
        return
    console = Console(color=use_color(sys.stderr))
    for item in events:
        if "damaged" in item:
            click.echo(f"[event {item['seq']} is damaged: {item['damaged']}]", err=True)
            continue
        console(Event(kind=item["kind"], step=item["step"], file=item["file"], line=item["line"], time=item["time"],
                      data=item["data"]))
    usage = {"turns": found["turns"], "tokens": found["tokens"], "cost": found["cost"],
             "seconds": (found["ended"] or found["started"]) - found["started"]}
    if found.get("unpriced"):
        usage["unpriced"] = found["unpriced"]
    console.usage(usage)
    click.echo(f"status: {found['status']}" + (f" ({found['error']})" if found["error"] else ""), err=True)
    damaged_events(store, found["id"], events)


@click.command()
@click.argument("run_id")
@click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None, help="The run store.")
@click.option("--format", "output_format", type=click.Choice(["jsonl", "otlp-json"]), default="jsonl",
              show_default=True, help="Events as JSON lines, or OpenTelemetry spans (OTLP/JSON, GenAI attributes).")
def trace(run_id: str, store_path: str | None, output_format: str) -> None:
    """A stored run's events, one JSON object per line (or as OpenTelemetry spans)."""
    from parley._store_check import damaged_events

    store = open_store(store_path, False)
    found = stored_run(store, run_id)
    events = store.events(found["id"])
    if output_format == "otlp-json":

        from parley.otel import captures_content
        from parley.runtime.otlp import otlp_trace

        whole = [event for event in events if "damaged" not in event]
        click.echo(json.dumps(otlp_trace(found, whole, __version__, captures_content()), ensure_ascii=False))
    else:
        for event in events:
            click.echo(json.dumps(event, ensure_ascii=False))
    damaged_events(store, found["id"], events)
