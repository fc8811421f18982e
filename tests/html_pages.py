"""A run to look at: examples/panel.agent with the scripted model, its three experts answering at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from helpers import EXAMPLES

from parley.cli import main

HOSTILE = "Go bold <script>alert('x')</script> <img src=x onerror=alert(1)> & </svg><b>"

#: The panel's three experts answer after 0.2 s each (one with markup in its reply); the moderator at once.
PANEL_RULES = {"rules": [
    {"system": "bold change", "reply": HOSTILE, "delay": 0.2},
    {"system": "risks", "reply": "Risky: a rewrite costs a year.", "delay": 0.2},
    {"system": "costs and benefits", "reply": "About $200k over a year.", "delay": 0.2},
], "default": "OK"}


def panel_page(folder: Path) -> dict[str, Any]:
    """Run the panel into a store in `folder` and write its page there with `parley show --html -o`."""
    rules = folder / "panel.rules.json"
    rules.write_text(json.dumps(PANEL_RULES))
    store = str(folder / "runs.db")
    ran = CliRunner().invoke(main, ["run", str(EXAMPLES / "panel.agent"), "--model", f"scripted:{rules}",
                                    "--store", store])
    assert ran.exit_code == 0, ran.output
    run_id = ran.output.rsplit("run ", 1)[1].split()[0]
    page_file = folder / "panel.html"
    shown = CliRunner().invoke(main, ["show", run_id, "--store", store, "--html", "-o", str(page_file)])
    assert shown.exit_code == 0, shown.output
    assert f"wrote {page_file}" in shown.output
    return {"run": run_id, "store": store, "file": page_file, "html": page_file.read_text(encoding="utf-8")}
