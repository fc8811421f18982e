"""What a run gives back: its outputs, what it printed, its threads, its events and its usage."""

from __future__ import annotations

from typing import Any

import attrs

from parley.runtime.events import Event


@attrs.define
class Result:
    """What a run produced: the `output` value (the last `output` run), every output, the
    script's threads, the printed lines, the events and the usage."""

    output: Any
    outputs: list[Any]
    printed: list[str]
    threads: dict[str, list[dict[str, str]]]
    events: list[Event]
    usage: dict[str, Any]
    run_id: str | None = None  # the run's id in the store, when it was recorded
