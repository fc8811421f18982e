"""Parse and compile speed, and grammar load time, measured side by side in one run.

Builds a 10,000-line script from the examples (benchmarks/corpus.py), then
takes the median of five runs of: the front end (decode, Lark LALR parse,
syntax-tree building), Lark alone (its parse tree, no nodes), and the front
end plus the compiler (checks and the plan). Grammar load time is measured
in fresh processes, from the on-disk cache and cold.

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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import EXAMPLES, build

from parley.compiler import compile_source
from parley.dsl._lark import parser
from parley.dsl.parser import parse_source

RUNS = 5

_LOAD = (
    "import time, sys; sys.path.insert(0, {root!r}); import dsl._lark as l; "
    "t = time.perf_counter(); l.parser(); print(time.perf_counter() - t)"
)


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
    script = build()
    line_count = script.count("\n")
    virtual_path = EXAMPLES / "bench.agent"  # imports resolve as for the examples
    compiled = compile_source(script, "bench.agent", path=virtual_path)
    assert compiled.ok and not any(d.is_error for d in compiled.diagnostics), "the benchmark script must be valid"
    lark = parser()
    front_end = median_seconds(lambda: parse_source(script, "bench.agent"))
    lark_only = median_seconds(lambda: lark.parse(script + "\n", start="start"))
    full = median_seconds(lambda: compile_source(script, "bench.agent", path=virtual_path))
    parser.cache_clear()
    load_time(cold=False)  # make sure the cache exists
    warm, cold = load_time(cold=False), load_time(cold=True)
    print(f"script: {line_count} lines, {len(script.encode()) / 1000:.0f} kB, built from examples/ (valid: compiles clean)")
    print(f"lark alone (parse tree only):     median {lark_only * 1000:.0f} ms = {line_count / lark_only:,.0f} lines/s")
    print(f"front end (parse + syntax tree):  median {front_end * 1000:.0f} ms = {line_count / front_end:,.0f} lines/s"
          f"  ({front_end / lark_only:.2f}x lark alone; target 20,000 lines/s)")
    print(f"parse + compile (checks + plan):  median {full * 1000:.0f} ms = {line_count / full:,.0f} lines/s"
          f"  ({full / front_end:.2f}x the front end; target 15,000 lines/s)")
    print(f"grammar load from cache:          median {warm * 1000:.1f} ms (target <= 50 ms)")
    print(f"grammar load cold (no cache):     median {cold * 1000:.1f} ms (first run on a machine)")


if __name__ == "__main__":
    main()
