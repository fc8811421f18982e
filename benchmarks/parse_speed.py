"""Parse and compile speed, and grammar load time, measured side by side in one run.

Two 10,000-line scripts (benchmarks/corpus.py): one built from the examples,
one dense in asks with interpolated prose, ifs and chats. For each, the
median CPU time (time.process_time) of seven rounds, interleaved, of: Lark alone (its parse
tree, no nodes), Parley's parsing loop over Lark's tables alone (no nodes),
the front end (decode, parse, syntax tree) and the front end plus the
compiler (checks and the plan), as lines per second and as a ratio to the
targets (>= 1.00 meets it). Load times are measured in fresh processes: the
parsing tables a valid script needs (from their cache), and Lark's grammar,
which explains syntax errors (from its cache, and cold).

    python benchmarks/parse_speed.py
"""

from __future__ import annotations

import gc
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import EXAMPLES, build, build_dense

from parley.compiler import compile_source
from parley.dsl._lalr import tables
from parley.dsl._lark import parser
from parley.dsl.parser import parse_source

RUNS = 7
FRONT_END_TARGET = 20_000  # lines/s, parse + syntax tree
COMPILE_TARGET = 15_000  # lines/s, parse + compile

_LOAD = (
    "import time, sys; sys.path.insert(0, {root!r}); import dsl._lark as l; "
    "t = time.perf_counter(); l.parser(); print(time.perf_counter() - t)"
)
_TABLES = (
    "import time; t = time.perf_counter(); from parley.dsl._lalr import tables; tables(); "
    "print(time.perf_counter() - t)"
)


def median_seconds(runs: int = RUNS, **actions: Callable[[], object]) -> dict[str, float]:
    """Median CPU time of each action over `runs` rounds, the actions interleaved within each round (so
    a slow spell of the shared machine hits them alike): other work on the machine does not count,
    and each call starts from a collected heap (no collection owed by the call before it)."""
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(runs):
        for name, action in actions.items():
            gc.collect()
            start = time.process_time()
            action()
            samples[name].append(time.process_time() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def load_time(cold: bool, code: str = _LOAD) -> float:
    env = dict(os.environ)
    if cold:
        env["PARLEY_NO_GRAMMAR_CACHE"] = "1"
    samples = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", code.format(root=str(ROOT))], env=env, capture_output=True, text=True, check=True
        )
        samples.append(float(out.stdout.strip()))
    return statistics.median(samples)


def _no_nodes(rule: str, children: list[object]) -> None:
    """Builds nothing: the loop's own cost, as `lark alone` is Lark's."""


def measure(label: str, script: str) -> None:
    """Print the three figures for one script, which must compile clean."""
    line_count = script.count("\n")
    virtual_path = EXAMPLES / "bench.agent"  # imports resolve as for the examples
    compiled = compile_source(script, "bench.agent", path=virtual_path)
    assert compiled.ok and not any(d.is_error for d in compiled.diagnostics), f"the {label} script must be valid"
    lark = parser()
    medians = median_seconds(
        lark=lambda: lark.parse(script + "\n", start="start"),
        loop=lambda: tables().parse(script + "\n", "start", _no_nodes),
        front_end=lambda: parse_source(script, "bench.agent"),
        full=lambda: compile_source(script, "bench.agent", path=virtual_path),
    )
    lark_only, loop_only, front_end, full = (medians[name] for name in ("lark", "loop", "front_end", "full"))
    front_rate, full_rate = line_count / front_end, line_count / full
    print(f"{label}: {line_count} lines, {len(script.encode()) / 1000:.0f} kB (valid: compiles clean)")
    print(f"  lark alone (parse tree only):     median {lark_only * 1000:4.0f} ms CPU = {line_count / lark_only:7,.0f} lines/s")
    print(f"  parley's loop alone (no nodes):   median {loop_only * 1000:4.0f} ms CPU = {line_count / loop_only:7,.0f} lines/s"
          f"  ({lark_only / loop_only:.2f}x as fast as lark alone)")
    print(f"  front end (parse + syntax tree):  median {front_end * 1000:4.0f} ms CPU = {front_rate:7,.0f} lines/s"
          f"  = {front_rate / FRONT_END_TARGET:.2f}x the target of {FRONT_END_TARGET:,} ({front_end / lark_only:.2f}x lark alone)")
    print(f"  parse + compile (checks + plan):  median {full * 1000:4.0f} ms CPU = {full_rate:7,.0f} lines/s"
          f"  = {full_rate / COMPILE_TARGET:.2f}x the target of {COMPILE_TARGET:,} ({full / front_end:.2f}x the front end)")


def main() -> None:
    measure("examples-built script", build())
    measure("dense script (asks, ifs, chats, interpolated prose)", build_dense())
    parser.cache_clear()
    load_time(cold=False)  # make sure the cache exists
    warm, cold = load_time(cold=False), load_time(cold=True)
    tables_load = load_time(cold=False, code=_TABLES)
    print(f"parsing tables load from cache:   median {tables_load * 1000:.1f} ms (all a valid script needs)")
    print(f"grammar load from cache:          median {warm * 1000:.1f} ms (target <= 50 ms; to explain syntax errors)")
    print(f"grammar load cold (no cache):     median {cold * 1000:.1f} ms (first run on a machine)")


if __name__ == "__main__":
    main()
