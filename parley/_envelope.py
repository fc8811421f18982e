"""`parley run --json`: one JSON object on stdout for every run, done or not, so a caller reads one shape.

    {"run_id", "status", "exit_code", "outputs", "output",
     "usage": {"turns", "tokens", "cost", "cost_known", "time"},
     "error": null | {"kind", "message", "line"}}

`status` is the run store's word for how the run ended (`done`, `failed`,
`budget`, `interrupted`); `cost` is exact decimal text, and `null` (with
`cost_known: false`) when a reply came from a model whose price is unknown:
an unknown cost is never shown as a number.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Literal

import click

Status = Literal["done", "failed", "budget", "interrupted"]


def envelope(status: Status, exit_code: int, *, run_id: str | None = None, output: Any = None,
             outputs: list[Any] | None = None, usage: dict[str, Any] | None = None,
             error: BaseException | None = None) -> dict[str, Any]:
    """The envelope of one run (see the module)."""
    from parley.runtime.values import jsonable

    return {
        "run_id": run_id, "status": status, "exit_code": exit_code,
        "outputs": jsonable(list(outputs or [])), "output": jsonable(output),
        "usage": usage_of(usage or {}), "error": None if error is None else error_of(error),
    }


def usage_of(usage: dict[str, Any]) -> dict[str, Any]:
    """A run's usage summary as the envelope gives it."""
    known = not usage.get("unpriced")
    cost = usage.get("cost", 0)
    return {
        "turns": usage.get("turns", 0), "tokens": usage.get("tokens", 0),
        "cost": str(Decimal(str(cost))) if known else None, "cost_known": known,
        "time": usage.get("seconds", 0.0),
    }


def error_of(error: BaseException) -> dict[str, Any]:
    """`{kind, message, line}` of what ended the run: the failure kind's label (`model`, `budget`, `host`,
    `internal`, `store`, `interrupted`…), the message without the location, and the script's line."""
    from parley.dsl.errors import HostError, InternalError
    from parley.runtime.secrets import redact

    if isinstance(error, KeyboardInterrupt):
        return {"kind": "interrupted", "message": "terminated" if type(error).__name__ == "Terminated"
                else "interrupted", "line": None}
    kind = getattr(getattr(error, "kind", None), "label", None)
    if isinstance(error, HostError):
        kind = "host"
    elif isinstance(error, InternalError):
        kind = "internal"
    elif kind is None:
        kind = "store" if type(error).__name__ == "StoreError" else "run"
    span = getattr(error, "span", None)
    message = getattr(error, "message", None) or str(error)
    return {"kind": kind, "message": redact(str(message)), "line": span.line if span is not None else None}


def status_of(error: BaseException) -> Status:
    from parley.dsl.errors import BudgetExceeded

    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return "budget" if isinstance(error, BudgetExceeded) else "failed"


def echo_failure(error: BaseException, exit_code: int, run_id: str | None) -> None:
    """The envelope of a run that did not finish, with what it did until it stopped."""
    partial = getattr(error, "result", None)
    echo(envelope(status_of(error), exit_code, run_id=getattr(partial, "run_id", None) or run_id,
                  output=getattr(partial, "output", None), outputs=getattr(partial, "outputs", None),
                  usage=getattr(partial, "usage", None), error=error))


def echo_result(result: Any, exit_code: int = 0) -> None:
    """The envelope of a run that finished."""
    echo(envelope("done", exit_code, run_id=result.run_id, output=result.output, outputs=result.outputs,
                  usage=result.usage))


def echo(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def shown_output(result: Any) -> str | None:
    """What `parley run` prints of the run's `output` on stdout after the run: nothing when there is none,
    when it is `none`, or when the script's last `print` showed just that already."""
    from parley.runtime.evaluate import show

    if not result.outputs or result.output is None:
        return None
    text = show(result.output)
    return None if result.printed and result.printed[-1] == text else text
