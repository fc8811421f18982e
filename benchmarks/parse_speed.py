"""Parse speed and grammar load time, measured side by side in one run.

Builds a 10,000-line script from the examples, parses it five times with the
full front end (decode, Lark LALR parse, syntax-tree building) and with Lark
alone (its parse tree, no nodes), and prints medians and their ratio. Grammar
load time is measured in fresh processes, from the on-disk cache and cold.

    python benchmarks/parse_speed.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dsl._lark import parser  # noqa: E402
from dsl.parser import parse_source  # noqa: E402

TARGET_LINES = 10_000
RUNS = 5

_LOAD = (
    "import time, sys; sys.path.insert(0, {root!r}); import dsl._lark as l; "
    "t = time.perf_counter(); l.parser(); print(time.perf_counter() - t)"
)


def build_script() -> str:
    """Concatenate the examples until the script has at least TARGET_LINES lines."""
    texts = [p.read_text(encoding="utf-8").rstrip("\n") + "\n" for p in sorted((ROOT / "examples").glob("*.agent"))]
    lines: list[str] = []
    while len(lines) < TARGET_LINES:
        for text in texts:
            lines.extend(text.splitlines())
            lines.append("")
    return "\n".join(lines[:TARGET_LINES]).rstrip() + "\n"


def _cut_at_statement(text: str) -> str:
    """Trim to the last top-level statement boundary so the script stays valid."""
    lines = text.splitlines()
    while lines and (not lines[-1].strip() or lines[-1].startswith((" ", "#"))):
        lines.pop()
    return "\n".join(lines[:-1]) + "\n"


def median_seconds(action, runs: int = RUNS) -> float:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def load_time(cold: bool) -> float:
    env = dict(os.environ)
    if cold:
        env["PARLEY_NO_GRAMMAR_CACHE"] = "1"
    samples = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", _LOAD.format(root=str(ROOT))], env=env, capture_output=True, text=True, check=True
        )
        samples.append(float(out.stdout.strip()))
    return statistics.median(samples)


def main() -> None:
    script = build_script()
    result = parse_source(script, "bench.agent")
    if not result.ok:
        script = _cut_at_statement(script)
        result = parse_source(script, "bench.agent")
    assert result.ok, [d.message for d in result.diagnostics][:3]
    line_count = script.count("\n")
    lark = parser()
    front_end = median_seconds(lambda: parse_source(script, "bench.agent"))
    lark_only = median_seconds(lambda: lark.parse(script + "\n", start="start"))
    parser.cache_clear()
    load_time(cold=False)  # make sure the cache exists
    warm, cold = load_time(cold=False), load_time(cold=True)
    print(f"script: {line_count} lines, {len(script.encode()) / 1000:.0f} kB, built from examples/")
    print(f"front end (parse + syntax tree): median {front_end * 1000:.0f} ms = {line_count / front_end:,.0f} lines/s")
    print(f"lark alone (parse tree only):    median {lark_only * 1000:.0f} ms = {line_count / lark_only:,.0f} lines/s")
    print(f"ratio front end / lark alone:    {front_end / lark_only:.2f}x the time")
    print(f"grammar load from cache:         median {warm * 1000:.1f} ms (target <= 50 ms)")
    print(f"grammar load cold (no cache):    median {cold * 1000:.1f} ms (first run on a machine)")
    print(f"target 20,000 lines/s:           {'met' if line_count / front_end >= 20_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
