"""`parley show RUN --html`: read the run from the store, make its page, write it where the user expects."""

from __future__ import annotations

import sys
from typing import Any

import click

from parley import __version__


def show_html(store: Any, run: dict[str, Any], output: str | None) -> None:
    """Write the page of `run` to `output` (`-`: stdout), else to stdout when piped, else to `parley-RUN.html`
    in the current folder, telling the path on stderr."""
    from parley._html_view import run_page, write_page
    from parley._store_check import damaged_events
    from parley.dsl.errors import PlanError
    from parley.runtime.recording import stored_plan

    events = store.events(run["id"])
    plan, problem = None, None
    try:
        plan = stored_plan(store, run["id"])
    except PlanError as error:
        problem = f"the plan kept with this run cannot be read: {error}"
    if plan is None and problem is None:
        problem = "this run keeps no plan (made by an older Parley, or its plan held a secret)"
    page = run_page(run, events, plan, problem, __version__)
    written = write_page(page, run["id"], output, piped=not sys.stdout.isatty())
    if written is not None:
        click.echo(f"wrote {written}", err=True)
    damaged_events(store, run["id"], events)
