"""The timeline of a stored run, drawn as inline SVG for `parley show --html`.

A run's events carry when each thing ended and, for model calls and tool
calls, how long it took; so each becomes a bar from its start to its end. Bars
that overlap in time (the branches of `parallel`, the iterations of
`parallel for`, independent steps run at once) go to separate lanes, one
under the other, so concurrent work is seen side by side; a sequential run
stays in one lane. A retry's wait is drawn over the request it delays.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape
from typing import Any, Literal

import attrs

BarKind = Literal["model", "tool", "tool_error", "wait", "human"]
MarkKind = Literal["error", "human", "stop", "handoff", "output"]

#: Width of the drawing (SVG units; it scales to the page's width), a lane's height and the gap between lanes.
WIDTH = 960
LANE = 26
GAP = 6
AXIS = 24


@attrs.frozen
class Bar:
    """Something that took time: `start`/`end` in seconds since the epoch, what it was (`kind`), its short
    `label`, a `detail` line for the tooltip, and the event (`seq`) the transcript shows it at."""

    start: float
    end: float
    kind: BarKind
    label: str
    detail: str
    seq: int
    step: str | None
    agent: str | None


@attrs.frozen
class Mark:
    """Something that happened at one moment (an error, a person's answer, a conversation's end)."""

    time: float
    kind: MarkKind
    detail: str
    seq: int


def bars_and_marks(events: list[dict[str, Any]]) -> tuple[list[Bar], list[Mark]]:
    """The bars and marks of a run's (undamaged) events, in the order of the events."""
    bars: list[Bar] = []
    marks: list[Mark] = []
    for event in events:
        data, end, seq = event["data"], float(event["time"]), event["seq"]
        line = f" · line {event['line']}" if event.get("line") else ""
        match event["kind"]:
            case "model_call":
                who = data.get("agent") or "(selection)"
                tokens = f"{data.get('input_tokens', 0)} + {data.get('output_tokens', 0)} tokens"
                cost = data.get("cost")
                price = "cost unknown" if cost is None else f"${cost}"
                origin = " · cached" if data.get("cached") else " · from the journal" if data.get("journaled") else ""
                seconds = float(data.get("seconds") or 0.0)
                bars.append(Bar(end - seconds, end, "model", who,
                                f"{who}{line} · {data.get('model')} · {tokens} · {price} · {seconds:.2f} s{origin}",
                                seq, event["step"], data.get("agent")))
            case "tool_result" | "tool_error":
                seconds = float(data.get("seconds") or 0.0)
                failed = event["kind"] == "tool_error"
                what = f": {data.get('error')}" if failed else ""
                bars.append(Bar(end - seconds, end, "tool_error" if failed else "tool", data.get("tool", "tool"),
                                f"tool {data.get('tool')}{line} · {seconds:.2f} s{what}", seq, event["step"], None))
            case "retry" if data.get("wait"):
                wait = float(data["wait"])
                why = data.get("reason") or data.get("problem") or ""
                bars.append(Bar(end, end + wait, "wait", "retry",
                                f"waits {wait:.1f} s before try {(data.get('attempt') or 0) + 1}"
                                f"{' of ' + str(data['tries']) if data.get('tries') else ''}: {why}",
                                seq, event["step"], data.get("agent")))
            case "human_input" if data.get("seconds"):
                seconds = float(data["seconds"])
                bars.append(Bar(end - seconds, end, "human", data.get("agent", "person"),
                                f"{data.get('agent')}{line} answered after {seconds:.1f} s", seq, event["step"],
                                data.get("agent")))
            case "human_input":
                marks.append(Mark(end, "human", f"{data.get('agent')}{line} answered", seq))
            case "error":
                marks.append(Mark(end, "error", f"error{line}: {data.get('message')}", seq))
            case "conversation_stop":
                marks.append(Mark(end, "stop", f"stopped{line}: {data.get('reason')}", seq))
            case "handoff":
                marks.append(Mark(end, "handoff", f"{data.get('agent')} handed to {data.get('to')}{line}", seq))
            case "output":
                marks.append(Mark(end, "output", f"output{line}", seq))
            case _:
                pass
    return bars, marks


def lanes(bars: list[Bar], tolerance: float) -> list[int]:
    """Each bar's lane: the first lane free when it starts (bars overlapping by more than `tolerance`
    seconds never share one). A retry's wait goes to the lane of the request it delays."""
    lane_of: list[int] = [0] * len(bars)
    ends: list[float] = []
    order = sorted(range(len(bars)), key=lambda i: (bars[i].start, bars[i].seq))
    waits = [i for i in order if bars[i].kind == "wait"]
    for i in order:
        if bars[i].kind == "wait":
            continue
        free = [n for n, end in enumerate(ends) if end <= bars[i].start + tolerance]
        lane_of[i] = free[0] if free else len(ends)
        if lane_of[i] == len(ends):
            ends.append(bars[i].end)
        else:
            ends[lane_of[i]] = bars[i].end
    for i in waits:
        wait = bars[i]
        host = [j for j, bar in enumerate(bars) if bar.kind == "model" and bar.step == wait.step
                and bar.agent == wait.agent and bar.start - tolerance <= wait.start <= bar.end + tolerance]
        if host:
            lane_of[i] = lane_of[host[0]]
        else:  # a request that failed for good: its waits stand alone
            free = [n for n, end in enumerate(ends) if end <= wait.start + tolerance]
            lane_of[i] = free[0] if free else len(ends)
            if lane_of[i] == len(ends):
                ends.append(wait.end)
            else:
                ends[lane_of[i]] = wait.end
    return lane_of


def _tick_step(span: float) -> float:
    """A round interval giving about six ticks over `span` seconds."""
    raw = span / 6 if span > 0 else 1.0
    power = 10 ** math.floor(math.log10(raw))
    return next(power * m for m in (1, 2, 5, 10) if power * m >= raw)


def timeline_svg(events: list[dict[str, Any]], started: float, ended: float,
                 color: Callable[[str | None], str]) -> str:
    """The run's timeline as an `<svg>` element (every text in it escaped); `color` gives an agent's colour."""
    bars, marks = bars_and_marks(events)
    last = max([ended, started, *(b.end for b in bars), *(m.time for m in marks)])
    first = min([started, *(b.start for b in bars)])
    span = max(last - first, 1e-3)
    lane_of = lanes(bars, tolerance=max(0.002, span * 0.001))
    count = max(lane_of, default=0) + 1

    def x(t: float) -> float:
        return round((t - first) / span * WIDTH, 2)

    height = AXIS + count * (LANE + GAP) + 14
    out = [(f'<svg class="timeline" viewBox="-24 0 {WIDTH + 48} {height}" width="100%" role="img" '
            f'aria-label="timeline: {len(bars)} bars in {count} lane{"s" if count != 1 else ""}" '
            f'data-lanes="{count}" xmlns="http://www.w3.org/2000/svg">')]
    step = _tick_step(span)
    tick = 0.0
    while tick <= span + 1e-9:
        at = round(tick / span * WIDTH, 2)
        out.append(f'<line class="tick" x1="{at}" y1="{AXIS - 6}" x2="{at}" y2="{height - 10}"/>'
                   f'<text class="tick-label" x="{at}" y="{AXIS - 10}">{_seconds(tick, step)}</text>')
        tick += step
    for n in range(count):
        y = AXIS + n * (LANE + GAP)
        out.append(f'<rect class="lane" data-lane="{n}" x="0" y="{y}" width="{WIDTH}" height="{LANE}"/>')
    for i in sorted(range(len(bars)), key=lambda i: bars[i].kind == "wait"):  # waits over their request
        bar, y = bars[i], AXIS + lane_of[i] * (LANE + GAP)
        left, width = x(bar.start), max(x(bar.end) - x(bar.start), 3.0)
        fill = f' style="fill:{color(bar.agent)}"' if bar.kind in ("model", "human") else ""
        label = ""
        if width > 8 * len(bar.label) + 8 and bar.kind != "wait":
            label = f'<text class="bar-label" x="{round(left + 4, 2)}" y="{y + LANE / 2 + 4}">{escape(bar.label)}</text>'
        out.append(f'<a href="#ev-{bar.seq}"><g class="bar {bar.kind}" data-seq="{bar.seq}" data-lane="{lane_of[i]}" '
                   f'data-start="{bar.start - first:.6f}" data-end="{bar.end - first:.6f}">'
                   f'<title>{escape(bar.detail)}</title>'
                   f'<rect x="{left}" y="{y + (6 if bar.kind == "wait" else 2)}" width="{round(width, 2)}" '
                   f'height="{LANE - (12 if bar.kind == "wait" else 4)}" rx="3"{fill}/>{label}</g></a>')
    for mark in marks:
        at = x(mark.time)
        out.append(f'<a href="#ev-{mark.seq}"><g class="mark {mark.kind}" data-seq="{mark.seq}">'
                   f'<title>{escape(mark.detail)}</title>'
                   f'<path d="M{at - 5},{height - 4} L{at + 5},{height - 4} L{at},{height - 13} Z"/></g></a>')
    out.append("</svg>")
    return "".join(out)


def _seconds(value: float, step: float) -> str:
    digits = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:.{digits}f} s"
