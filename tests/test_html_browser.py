"""`parley show --html` in a real browser (Debian's headless Chromium): the page renders without a console
error, loads nothing, runs no script, and its timeline shows the panel's three experts side by side.

One browser per module. Skipped, saying so, only when Chromium or Playwright is absent (.ci/run installs both).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from html_pages import HOSTILE, panel_page

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
CHROMIUM = os.environ.get("PARLEY_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("Chromium is not installed (apt-get install chromium): the browser tests are SKIPPED",
                allow_module_level=True)

#: Headless, as root, and quiet: no GPU, no network of its own, a fresh profile (Playwright makes one).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def panel(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return panel_page(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def browser(panel: dict[str, Any]) -> Iterator[Any]:
    """Chromium, started once the run is made (Playwright's sync API holds an event loop, where `parley run`
    cannot start its own)."""
    with sync_api.sync_playwright() as playwright:
        started = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield started
        started.close()


@pytest.fixture(scope="module")
def shown(browser: Any, panel: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The panel run's page, opened from its file, with what the browser said while loading it."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    said: list[str] = []
    page.on("console", lambda message: said.append(f"console {message.type}: {message.text}"))
    page.on("pageerror", lambda error: said.append(f"page error: {error}"))
    page.on("dialog", lambda dialog: (said.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("request", lambda request: None if request.url.startswith("file:") else said.append(
        f"request: {request.url}"))
    page.goto(panel["file"].resolve().as_uri(), wait_until="load")
    yield {**panel, "page": page, "said": said}
    page.close()


def test_the_page_renders_without_errors_and_loads_nothing(shown: dict[str, Any]) -> None:
    page = shown["page"]
    assert shown["said"] == []
    assert page.title().startswith(f"Parley run {shown['run']}")
    assert page.evaluate("document.querySelectorAll('script, img, iframe, link').length") == 0
    assert HOSTILE in page.inner_text("#transcript")  # the markup in a reply shows as text
    for section in ("#timeline", "#transcript", "#steps", "#plan"):
        box = page.locator(section).bounding_box()
        assert box is not None and box["height"] > 40, section


def test_the_timeline_shows_the_concurrent_branches_side_by_side(shown: dict[str, Any], tmp_path: Path) -> None:
    page = shown["page"]
    boxes = page.eval_on_selector_all("#timeline g.bar.model", """bars => bars.map(bar => {
        const box = bar.querySelector('rect').getBoundingClientRect();
        const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
        return {x: box.x, y: box.y, right: box.right, bottom: box.bottom,
                seen: hit !== null && bar.contains(hit), label: bar.textContent};
    })""")
    assert len(boxes) == 4
    experts, moderator = boxes[:3], boxes[3]
    assert all(box["seen"] for box in boxes)  # each bar is drawn and on top where it is
    assert max(b["x"] for b in experts) < min(b["right"] for b in experts) - 100  # at the same time, for long
    rows = sorted(experts, key=lambda b: b["y"])
    assert all(upper["bottom"] <= lower["y"] for upper, lower in pairwise(rows))  # in lanes, one under another
    assert moderator["x"] >= max(b["right"] for b in experts) - 2 and moderator["y"] == rows[0]["y"]
    svg = page.locator("#timeline svg").bounding_box()
    assert svg is not None and all(svg["x"] <= b["x"] and b["right"] <= svg["x"] + svg["width"] + 1 for b in boxes)
    picture = tmp_path / "timeline.png"
    page.locator("#timeline").screenshot(path=str(picture))
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 2000
