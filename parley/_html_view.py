"""A stored run as one self-contained HTML page (`parley show RUN --html`).

The page needs nothing from the network and runs no script: its CSS is inline,
its drawings are inline SVG, and its Content-Security-Policy forbids scripts
and every fetch. Everything in it that came from the run (model replies, tool
arguments, printed text, errors) is escaped, so a reply holding markup shows
as text. The store has masked secrets already; what the page adds from
elsewhere (the script's lines, the plan drawing) is masked the same way.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
import subprocess
from decimal import Decimal, InvalidOperation
from html import escape
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from parley._html_timeline import timeline_svg
from parley.runtime.budget import shown_cost
from parley.runtime.secrets import redact, redact_data

#: Agents' colours, in the order they first speak (readable on light and dark backgrounds).
PALETTE = ("#1f77b4", "#c2185b", "#2e7d32", "#8e44ad", "#d35400", "#00838f", "#6d4c41", "#5c6bc0")


def run_page(run: dict[str, Any], events: list[dict[str, Any]], plan: Any, plan_problem: str | None,
             version: str) -> str:
    """The page for `run` (a record of the store) and its `events`; `plan` is the `Plan` it ran (None when
    the store keeps none: `plan_problem` says why)."""
    whole = [{**e, "data": redact_data(e["data"])} for e in events if "damaged" not in e]
    damaged = [e for e in events if "damaged" in e]
    colors: dict[str, str] = {}

    def color(agent: str | None) -> str:
        if agent is None:
            return "#888888"
        return colors.setdefault(agent, PALETTE[len(colors) % len(PALETTE)])

    for event in whole:  # colours in speaking order, the same in every section
        if event["kind"] in ("turn", "human_input"):
            color(event["data"].get("agent"))
    source = _source_lines(run)
    started, ended = float(run["started"]), float(run["ended"] or run["started"])
    sections = [
        _errors(run, whole, damaged, source),
        _section("timeline", "Timeline",
                 '<p class="hint">Time runs left to right; work done at once sits in lanes one under the other. '
                 'Hover a bar for its details; click it to find it in the transcript.</p>'
                 + timeline_svg(whole, started, ended, color) + _legend()),
        _section("transcript", "Transcript", _transcript(whole, source, color)),
        _section("steps", "Steps", _steps(whole, source, run)),
        _section("plan", "Plan", _plan(plan, plan_problem)),
    ]
    title = f"Parley run {run['id']} · {Path(run['script']).name}"
    template = Template(resources.files("parley").joinpath("_html_view.html").read_text(encoding="utf-8"))
    return template.substitute(title=escape(title), header=_header(run, whole), body="\n".join(sections),
                               version=escape(version))


def write_page(page: str, run_id: str, output: str | None, piped: bool) -> str | None:
    """Write `page` where the user asked: to `output` (`-` is standard output), else to standard output when it
    is piped, else to `parley-RUN.html` in the current folder. Returns the file written (None: stdout)."""
    import click

    if output == "-" or (output is None and piped):
        click.echo(page, nl=False)
        return None
    path = Path(output or f"parley-{run_id}.html")
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as error:
        raise click.UsageError(f"cannot write {path}: {error.strerror}") from None
    return str(path)


# --- sections ---------------------------------------------------------------------


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>\n{body}\n</section>'


def _header(run: dict[str, Any], events: list[dict[str, Any]]) -> str:
    started = datetime.datetime.fromtimestamp(run["started"]).strftime("%Y-%m-%d %H:%M:%S")
    seconds = f"{run['ended'] - run['started']:.1f} s" if run["ended"] else "not ended"
    usage = next((e["data"]["usage"] for e in events if e["kind"] == "run_end" and "usage" in e["data"]), None)
    cost = shown_cost(usage) if usage else f"${run['cost']:.4f}"
    facts = [("run", run["id"]), ("started", started), ("time", seconds), ("turns", str(run["turns"])),
             ("tokens", str(run["tokens"])), ("cost", cost)]
    if run.get("model"):
        facts.append(("model", run["model"]))
    if run.get("attempts", 1) > 1:
        facts.append(("attempts", str(run["attempts"])))
    inputs = run.get("inputs") or "{}"
    if inputs != "{}":
        facts.append(("inputs", inputs))
    status = run["status"]
    return (f'<h1>{escape(Path(run["script"]).name)} <span class="status {escape(status)}">{escape(status)}</span></h1>'
            f'<p class="path">{escape(run["script"])}</p><dl class="facts">'
            + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts) + "</dl>"
            '<nav><a href="#timeline">Timeline</a> <a href="#transcript">Transcript</a> <a href="#steps">Steps</a> '
            '<a href="#plan">Plan</a>' + (' <a href="#errors">Errors</a>' if _failed(run, events) else "") + "</nav>")


def _failed(run: dict[str, Any], events: list[dict[str, Any]]) -> bool:
    return bool(run.get("error")) or run["status"] not in ("done", "running") or any(
        e["kind"] in ("error", "tool_error") for e in events)


def _errors(run: dict[str, Any], events: list[dict[str, Any]], damaged: list[dict[str, Any]],
            source: list[str] | None) -> str:
    """The run's failure and every error on the way (tool errors the agents were told of too)."""
    if not _failed(run, events) and not damaged:
        return ""
    items = []
    if run.get("error") or run["status"] not in ("done", "running"):
        items.append(f'<li class="error"><b>{escape(run["status"])}</b>: {escape(run.get("error") or "")}</li>')
    for e in events:
        where = _line_link(e, source)
        if e["kind"] == "error":
            items.append(f'<li class="error"><a href="#ev-{e["seq"]}">{escape(str(e["data"].get("reason")))}</a> '
                         f'{where}: {escape(str(e["data"].get("message")))}</li>')
        elif e["kind"] == "tool_error":
            items.append(f'<li class="tool-error"><a href="#ev-{e["seq"]}">tool {escape(str(e["data"].get("tool")))}'
                         f'</a> {where}: {escape(str(e["data"].get("error")))}</li>')
    for e in damaged:
        items.append(f'<li class="error">event {e["seq"]} is damaged: {escape(str(e["damaged"]))}</li>')
    return _section("errors", "Errors", f'<ul class="errors">{"".join(items)}</ul>')


def _legend() -> str:
    kinds = (("model", "model reply"), ("tool", "tool call"), ("tool_error", "tool error"), ("wait", "retry wait"),
             ("human", "a person's answer"), ("error", "error"))
    return '<p class="legend">' + " ".join(f'<span class="key {k}"></span>{escape(text)}' for k, text in kinds) + "</p>"


def _line_link(event: dict[str, Any], source: list[str] | None) -> str:
    line = event.get("line")
    if not line:
        return ""
    text = source[line - 1].strip() if source and 0 < line <= len(source) else ""
    title = f' title="{escape(text)}"' if text else ""
    return f'<span class="line"{title}>line {int(line)}</span>'


def _transcript(events: list[dict[str, Any]], source: list[str] | None, color: Any) -> str:
    rows = [_entry(e, source, color) for e in events]
    return '<ol class="transcript">' + "".join(row for row in rows if row) + "</ol>"


def _speaker(name: Any, color: Any) -> str:
    return f'<span class="speaker" style="color:{color(str(name))}">{escape(str(name))}</span>'


def _entry(e: dict[str, Any], source: list[str] | None, color: Any) -> str:
    """One event of the transcript (or "" for those it does not show: the run's start and end)."""
    d, where = e["data"], _line_link(e, source)
    match e["kind"]:
        case "turn":
            badges = " <span class=\"badge\">cached</span>" if d.get("cached") else (
                " <span class=\"badge\">journal</span>" if d.get("journaled") else "")
            body = f'{_speaker(d.get("agent"), color)} {where}{badges}<div class="text">{escape(str(d.get("text")))}</div>'
            kind = "turn"
        case "human_input":
            answer = escape(str(d.get("text"))) if d.get("text") else '<i>(pressed enter)</i>'
            body = f'{_speaker(d.get("agent"), color)} <span class="badge">person</span> {where}' \
                   f'<div class="text">{answer}</div>'
            kind = "human"
        case "model_call":
            cost = "cost unknown" if d.get("cost") is None else f"${escape(str(d['cost']))}"
            body = (f'model call for {escape(str(d.get("agent") or "a selection"))}: {escape(str(d.get("model")))}, '
                    f'{int(d.get("input_tokens") or 0)} + {int(d.get("output_tokens") or 0)} tokens, {cost}, '
                    f'{float(d.get("seconds") or 0):.2f} s {where}')
            kind = "meta"
        case "tool_call":
            arguments = json.dumps(d.get("arguments"), indent=2, ensure_ascii=False)
            body = (f'↳ {escape(str(d.get("agent")))} calls <b>{escape(str(d.get("tool")))}</b> {where}'
                    f'<pre class="data">{escape(arguments)}</pre>')
            kind = "tool"
        case "tool_result":
            body = f'↳ {escape(str(d.get("tool")))} returned ({float(d.get("seconds") or 0):.2f} s)'
            kind = "meta"
        case "tool_error":
            body = f'↳ {escape(str(d.get("tool")))} failed {where}: {escape(str(d.get("error")))}'
            kind = "tool-error"
        case "print":
            body = f'<span class="badge">print</span> {where}<pre class="text">{escape(str(d.get("text")))}</pre>'
            kind = "print"
        case "output":
            value = json.dumps(d.get("value"), indent=2, ensure_ascii=False)
            body = f'<span class="badge">output</span> {where}<pre class="text">{escape(value)}</pre>'
            kind = "print"
        case "retry":
            why = d.get("reason") or d.get("problem") or d.get("reply") or ""
            wait = f", waits {float(d['wait']):.1f} s" if d.get("wait") else ""
            tries = f" (try {d.get('attempt')} of {d.get('tries')})" if d.get("attempt") else ""
            body = f'↻ retry {escape(str(d.get("what") or ""))}{escape(tries)}{escape(wait)} {where}: {escape(str(why))}'
            kind = "retry"
        case "conversation_start":
            members = d.get("members") or []
            body = (f'▶ {escape(", ".join(map(str, members)))} begin a conversation '
                    f'(at most {escape(str(d.get("max_turns")))} turns) {where}')
            kind = "meta"
        case "conversation_stop":
            body = f'■ stopped after {escape(str(d.get("turns")))} turns: {escape(str(d.get("reason")))} {where}'
            kind = "meta"
        case "handoff":
            body = f'↪ {escape(str(d.get("agent")))} handed the conversation to {escape(str(d.get("to")))} {where}'
            kind = "meta"
        case "code":
            body = (f'{escape(str(d.get("agent")))} ran {escape(str(d.get("language")))} code {where}: '
                    f'exit status {escape(str(d.get("exit_code")))}')
            kind = "meta"
        case "notice":
            body = f'parley: {escape(str(d.get("text")))}'
            kind = "notice"
        case "error":
            body = f'<b>{escape(str(d.get("reason")))}</b> {where}: {escape(str(d.get("message")))}'
            kind = "error"
        case _:  # run_start, run_end, cached (its model_call says it), reply_start (never stored)
            return ""
    return f'<li id="ev-{int(e["seq"])}" class="{kind}">{body}</li>'


def _steps(events: list[dict[str, Any]], source: list[str] | None, run: dict[str, Any]) -> str:
    """Per step: its line, its replies, tokens, cost (unknown when a reply's price was) and time."""
    rows: dict[str, dict[str, Any]] = {}
    for e in events:
        if e["step"] is None:
            continue
        row = rows.setdefault(e["step"], {"line": e["line"], "agents": [], "calls": 0, "turns": 0, "in": 0, "out": 0,
                                          "cost": Decimal(0), "unknown": 0, "start": None, "end": None, "retries": 0,
                                          "errors": 0, "seq": e["seq"]})
        d, end = e["data"], float(e["time"])
        begin = end - float(d.get("seconds") or 0) if e["kind"] in ("model_call", "tool_result", "tool_error", "human_input") else end
        row["start"] = begin if row["start"] is None else min(row["start"], begin)
        row["end"] = end if row["end"] is None else max(row["end"], end)
        if d.get("agent") and d["agent"] not in row["agents"] and e["kind"] in ("turn", "human_input", "model_call"):
            row["agents"].append(d["agent"])
        if e["kind"] == "model_call":
            row["calls"] += 1
            row["in"] += int(d.get("input_tokens") or 0)
            row["out"] += int(d.get("output_tokens") or 0)
            cost = _decimal(d.get("cost"))
            if cost is None:
                row["unknown"] += 1
            else:
                row["cost"] += cost
        elif e["kind"] in ("turn", "human_input"):
            row["turns"] += 1
        elif e["kind"] == "retry":
            row["retries"] += 1
        elif e["kind"] in ("error", "tool_error"):
            row["errors"] += 1
    head = ("step", "line", "source", "agents", "turns", "model calls", "tokens in", "tokens out", "cost", "time",
            "retries", "errors")
    body = []
    for step, r in rows.items():
        line = r["line"]
        text = source[line - 1].strip() if source and line and 0 < line <= len(source) else ""
        spent = shown_cost({"cost": r["cost"], "unpriced": r["unknown"]}) if r["calls"] else "–"
        cells = (f'<a href="#ev-{r["seq"]}">{escape(step)}</a>', str(line or ""), f"<code>{escape(text)}</code>",
                 escape(", ".join(r["agents"])), str(r["turns"]), str(r["calls"]), str(r["in"]), str(r["out"]),
                 escape(spent), f'{r["end"] - r["start"]:.2f} s', str(r["retries"]), str(r["errors"]))
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    total = (f'<tr class="total"><td>run</td><td></td><td></td><td></td><td>{int(run["turns"])}</td><td></td>'
             f'<td colspan="2">{int(run["tokens"])} tokens</td><td>{escape(_run_cost(run, events))}</td>'
             f'<td>{(run["ended"] or run["started"]) - run["started"]:.2f} s</td><td></td><td></td></tr>')
    return ('<table class="steps"><thead><tr>' + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead>"
            "<tbody>" + "".join(body) + total + "</tbody></table>")


def _run_cost(run: dict[str, Any], events: list[dict[str, Any]]) -> str:
    usage = next((e["data"]["usage"] for e in events if e["kind"] == "run_end" and "usage" in e["data"]), None)
    return shown_cost(usage) if usage else f"${run['cost']:.4f}"


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _plan(plan: Any, problem: str | None) -> str:
    """The plan drawn by Graphviz when `dot` is installed, and always as an indented text tree."""
    if plan is None:
        return f'<p class="hint">{escape(problem or "this run keeps no plan")}</p>'
    from parley.compiler.draw import plan_dot, plan_tree

    tree = f'<pre class="plan-tree">{escape(redact(plan_tree(plan)))}</pre>'
    drawing = _dot_svg(redact(plan_dot(plan)))
    if drawing is None:
        return ('<p class="hint">Graphviz (<code>dot</code>) is not installed, so the plan is shown as text '
                '(install it for a drawing).</p>' + tree)
    return f'<div class="plan-drawing">{drawing}</div><details><summary>as text</summary>{tree}</details>'


def _dot_svg(dot: str) -> str | None:
    """The DOT graph as an inline `<svg>` element, or None when `dot` is not installed or fails."""
    program = shutil.which("dot")
    if program is None:
        return None
    try:
        done = subprocess.run([program, "-Tsvg"], input=dot, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    start = done.stdout.find("<svg")
    if done.returncode != 0 or start < 0:
        return None
    svg = done.stdout[start:]
    lowered = svg.lower()
    if "<script" in lowered or "<foreignobject" in lowered or "javascript:" in lowered:  # never: dot escapes text
        return None
    return svg


def _source_lines(run: dict[str, Any]) -> list[str] | None:
    """The script's lines, when the file is still there unchanged (its hash is the run's), secrets masked."""
    path = run.get("script_path")
    if not path:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")  # as the parser reads it
    if hashlib.sha256(text.encode()).hexdigest() != run.get("script_sha256"):
        return None
    return redact(text).splitlines()
