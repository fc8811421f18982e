"""`parley show RUN --html`: the page's structure, its escaping, and the timeline's lanes for concurrent branches."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from html_pages import HOSTILE, panel_page

from parley import __version__
from parley._html_timeline import Bar, lanes
from parley._html_view import run_page
from parley.cli import main


class Page(HTMLParser):
    """What a browser's parser finds in a page: its elements with their attributes, and its text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str, **wanted: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.elements if t == tag and all(
            (a.get(k.rstrip("_")) or "").split().__contains__(v) if k == "class_" else a.get(k) == v
            for k, v in wanted.items())]


@pytest.fixture(scope="module")
def panel(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """examples/panel.agent run once with the scripted model; its page and its store."""
    return panel_page(tmp_path_factory.mktemp("panel"))


def test_the_page_has_every_section_and_the_run_facts(panel: dict[str, Any]) -> None:
    page = Page(panel["html"])
    assert [a["id"] for a in page.all("section")] == ["timeline", "transcript", "steps", "plan"]  # no errors
    text = "".join(page.text)
    assert panel["run"] in text and "panel.agent" in text and "done" in text
    speakers = [a for t, a in page.elements if t == "span" and a.get("class") == "speaker"]
    assert len(speakers) == 4  # the three experts and the moderator
    assert "Risky: a rewrite costs a year." in text and "About $200k over a year." in text
    assert "parallel" in text  # the plan, drawn or as text
    # Each turn names its source line, with the line itself when the script is unchanged.
    assert any(a.get("title") == "s = @skeptic {question}" for a in page.all("span", class_="line"))


def test_the_page_loads_nothing_and_runs_nothing(panel: dict[str, Any]) -> None:
    page = Page(panel["html"])
    assert page.all("script") == [] and page.all("img") == [] and page.all("link") == []
    policy = [a["content"] for a in page.all("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    assert policy and "default-src 'none'" in str(policy[0])
    for tag, attrs in page.elements:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("href", "src", "xlink:href"):
            assert (attrs.get(name) or "#").startswith("#"), (tag, attrs)  # anchors within the page only


def test_a_reply_with_markup_shows_as_text(panel: dict[str, Any]) -> None:
    page = Page(panel["html"])
    assert HOSTILE in "".join(page.text)  # in the transcript, as the model wrote it
    assert "<script>alert" not in panel["html"] and "onerror=alert(1)>" not in panel["html"]
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in panel["html"]


def test_the_timeline_puts_concurrent_branches_in_lanes_side_by_side(panel: dict[str, Any]) -> None:
    page = Page(panel["html"])
    replies = [a for a in page.all("g", class_="bar") if "model" in str(a.get("class")).split()]
    assert len(replies) == 4
    experts, moderator = replies[:3], replies[3]
    assert sorted(a["data-lane"] for a in experts) == ["0", "1", "2"]  # one lane each
    spans = [(float(str(a["data-start"])), float(str(a["data-end"]))) for a in experts]
    assert max(s for s, _ in spans) < min(e for _, e in spans)  # all three at once
    assert all(e - s >= 0.2 for s, e in spans)
    assert moderator["data-lane"] == "0" and float(str(moderator["data-start"])) >= max(e for _, e in spans) - 0.01


def test_steps_show_tokens_and_cost(panel: dict[str, Any]) -> None:
    page = Page(panel["html"])
    rows = _table(panel["html"])
    by_step = {row[0]: row for row in rows[1:]}
    skeptic = next(row for row in by_step.values() if row[3] == "skeptic")
    header = rows[0]
    assert skeptic[header.index("turns")] == "1" and skeptic[header.index("model calls")] == "1"
    assert int(skeptic[header.index("tokens in")]) > 0 and skeptic[header.index("cost")] == "$0.00"  # scripted: free
    assert rows[-1][0] == "run" and "$0.00" in rows[-1]
    assert page.all("table", class_="steps")


def _table(html: str) -> list[list[str]]:
    """The steps table's rows as the text of their cells."""

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.rows: list[list[str]] = []
            self.inside = False

        def handle_starttag(self, tag: str, attrs: Any) -> None:
            if tag == "table" and ("class", "steps") in attrs:
                self.inside = True
            elif self.inside and tag == "tr":
                self.rows.append([])
            elif self.inside and tag in ("td", "th"):
                self.rows[-1].append("")

        def handle_endtag(self, tag: str) -> None:
            if tag == "table":
                self.inside = False

        def handle_data(self, data: str) -> None:
            if self.inside and self.rows and self.rows[-1]:
                self.rows[-1][-1] += data

    cells = Cells()
    cells.feed(html)
    return cells.rows


def _event(seq: int, kind: str, time: float, step: str | None = "s1", line: int | None = 3, **data: Any
           ) -> dict[str, Any]:
    return {"seq": seq, "step": step, "kind": kind, "file": "x.agent", "line": line, "time": time, "data": data}


def _record(**fields: Any) -> dict[str, Any]:
    return {"id": "abc123def456", "script": "x.agent", "script_path": None, "script_sha256": "", "status": "done",
            "started": 1000.0, "ended": 1010.0, "turns": 1, "tokens": 10, "cost": 0.0, "error": None, "model": None,
            "attempts": 1, "inputs": "{}", **fields}


def test_unknown_costs_retries_tool_errors_and_failures_are_shown() -> None:
    call = {"provider": "openai", "model": "my-own-model", "response_model": "my-own-model", "finish_reason": "stop",
            "cached": False, "journaled": False}
    events = [
        _event(1, "run_start", 1000.0, step=None, line=None, file="x.agent", run="abc123def456"),
        _event(2, "retry", 1001.0, what="request", agent="w", model="my-own-model", attempt=1, tries=3, wait=2.0,
               reason="429 rate limit"),
        _event(3, "model_call", 1004.0, agent="w", input_tokens=7, output_tokens=3, seconds=4.0, cost=None, **call),
        _event(4, "tool_call", 1004.1, agent="w", tool="lookup", arguments={"q": "<b>x</b>"}, call_id="c1"),
        _event(5, "tool_error", 1005.0, tool="lookup", error="no such thing", call_id="c1", seconds=0.9),
        _event(6, "error", 1010.0, step="s2", line=5, reason="budget", message="the token budget is spent"),
        _event(7, "run_end", 1010.0, step=None, line=None, usage={"turns": 1, "tokens": 10, "cost": "0",
                                                                  "unpriced": 1, "seconds": 10.0}),
    ]
    html = run_page(_record(status="failed", error="the token budget is spent"), events, None,
                    "this run keeps no plan", __version__)
    page = Page(html)
    assert next(a["id"] for a in page.all("section")) == "errors"
    text = "".join(page.text)
    assert "the token budget is spent" in text and "no such thing" in text and "this run keeps no plan" in text
    assert "cost unknown" in text and "$0.00" not in _table(html)[1]  # unknown is never shown as $0
    assert "unknown (1 reply of unpriced models)" in " ".join(_table(html)[1])
    assert '{\n  "q": "<b>x</b>"\n}' in text  # tool arguments, escaped
    bars = {a["class"]: a for a in page.all("g") if str(a.get("class", "")).startswith("bar ")}
    wait, reply = bars["bar wait"], bars["bar model"]
    assert wait["data-lane"] == reply["data-lane"]  # the retry's wait sits over the request it delayed
    assert float(str(wait["data-start"])) == pytest.approx(1.0) and float(str(wait["data-end"])) == pytest.approx(3.0)
    assert float(str(bars["bar tool_error"]["data-start"])) == pytest.approx(4.1)
    assert page.all("g", class_="error")  # the failure marked on the timeline


def test_lanes_keep_sequential_work_in_one_lane_and_split_overlaps() -> None:
    def bar(seq: int, start: float, end: float) -> Bar:
        return Bar(start, end, "model", "a", "", seq, "s1", "a")

    assert lanes([bar(1, 0, 1), bar(2, 1.0005, 2), bar(3, 2, 3)], tolerance=0.002) == [0, 0, 0]
    assert lanes([bar(1, 0, 2), bar(2, 0.5, 1), bar(3, 0.6, 3), bar(4, 1.5, 2.5)], tolerance=0.002) == [0, 1, 2, 1]


def test_the_plan_is_text_without_graphviz(panel: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import parley._html_view as view

    monkeypatch.setattr(view.shutil, "which", lambda name: None)
    shown = CliRunner().invoke(main, ["show", panel["run"], "--store", panel["store"], "--html", "-o", "-"])
    assert shown.exit_code == 0
    page = Page(shown.stdout)
    assert "Graphviz (dot) is not installed" in "".join(page.text)
    assert page.all("pre", class_="plan-tree") and not page.all("div", class_="plan-drawing")


def test_where_the_page_goes(panel: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    piped = CliRunner().invoke(main, ["show", panel["run"], "--store", panel["store"], "--html"])
    assert piped.exit_code == 0 and piped.stdout.startswith("<!DOCTYPE html>")  # stdout is not a terminal
    assert list(tmp_path.iterdir()) == []
    wrong = CliRunner().invoke(main, ["show", panel["run"], "--store", panel["store"], "-o", "x.html"])
    assert wrong.exit_code == 2 and "add --html" in wrong.output
    both = CliRunner().invoke(main, ["show", panel["run"], "--store", panel["store"], "--html", "--json"])
    assert both.exit_code == 2 and "choose one of" in both.output
    missing = CliRunner().invoke(main, ["show", panel["run"], "--store", panel["store"], "--html", "-o",
                                        str(tmp_path / "no" / "such" / "x.html")])
    assert missing.exit_code == 2 and "cannot write" in missing.output


def test_a_terminal_gets_a_file_named_after_the_run(panel: dict[str, Any], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import parley._html_view as view

    monkeypatch.chdir(tmp_path)
    written = view.write_page("<p>page</p>", panel["run"], None, piped=False)
    assert written == f"parley-{panel['run']}.html" and (tmp_path / written).read_text() == "<p>page</p>"
