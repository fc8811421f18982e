"""`parley batch` throughput next to a hand-written asyncio + semaphore loop making the same requests.

A two-ask script over N rows against the fake OpenAI-compatible server of the tests, answering every
request after 200 ms, run in a process of its own (so its threads take no time from the client's). At
each concurrency, in fresh processes, one after the other:

  parley    `parley batch SCRIPT ROWS --out OUT --concurrency C` (the command's own code, with its run
            store on disk: every row a run, its journal and the batch's ledger written as it goes);
  loop      `AsyncOpenAI` + `asyncio.Semaphore(C)`: per row, the same two requests (the second with the
            first reply in its history, as the script's agent keeps its thread), and one JSON line;
  ray       (with --ray, at one concurrency) `parley batch --engine ray` on a local Ray.

It prints rows/s, CPU seconds per row and peak memory (max RSS) of each, and Parley's throughput as a
ratio of the loop's (the target is >= 0.9 at each concurrency). The time counted is from the command's
start to its end, after the process has imported what it needs (neither side pays for imports); Ray's
start-up is given apart from its overhead per row. Rows per concurrency default to min(1000, 50 x C), so
that concurrency 1 takes 20 s, not 400 s (`--rows 1000` runs 1,000 everywhere).

    python benchmarks/batch_throughput.py [--concurrency 1,8,32,128] [--rows N] [--repeat 1] [--ray]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LATENCY = 0.2
SCRIPT = ('agent writer:\n    """You write one line."""\ninput topic: str\n'
          'first = @writer Name a fact about {topic}.\nsecond = @writer Say more about: {first}\n'
          'output "{first} / {second}"\n')
MODEL = "gpt-4o-mini"


# ---- the server (a process of its own) --------------------------------------------------------------


def serve() -> None:
    """The fake server: every request answered after LATENCY; prints its base URL, then serves until stdin ends."""
    sys.path.insert(0, str(ROOT / "tests"))
    from fake_openai import FakeOpenAI, reply

    fake = FakeOpenAI()
    fake.handler = lambda body: reply("r-" + str(len(body["messages"][-1]["content"])), delay=LATENCY)
    print(fake.base_url, flush=True)
    sys.stdin.read()
    fake.close()


# ---- the two clients (each a process of its own) ------------------------------------------------------


def run_parley(folder: Path, base_url: str, concurrency: int, engine: str) -> float:
    from parley.cli import main

    args = ["batch", str(folder / "facts.agent"), str(folder / "rows.jsonl"), "--out", str(folder / "out.jsonl"),
            *([] if os.environ.get("BENCH_NO_STORE") else ["--store", str(folder / "runs.db")]), "--concurrency", str(concurrency), "--model", MODEL,
            "--base-url", base_url, "--quiet", "--engine", engine] + (["--no-store"] if os.environ.get("BENCH_NO_STORE") else [])
    start = time.perf_counter()
    try:
        main(args, standalone_mode=False)
    except SystemExit as stop:
        if stop.code:
            raise
    return time.perf_counter() - start


def run_loop(folder: Path, base_url: str, concurrency: int) -> float:
    from openai import AsyncOpenAI

    rows = [json.loads(line) for line in (folder / "rows.jsonl").read_text().splitlines()]

    async def main() -> None:
        client = AsyncOpenAI(base_url=base_url, api_key=os.environ["OPENAI_API_KEY"])
        gate = asyncio.Semaphore(concurrency)

        async def one(row: dict[str, Any]) -> dict[str, Any]:
            async with gate:
                messages = [{"role": "system", "content": "You write one line."},
                            {"role": "user", "content": f"Name a fact about {row['topic']}."}]
                first = (await client.chat.completions.create(model=MODEL, messages=messages)).choices[0]
                messages += [{"role": "assistant", "content": first.message.content},
                             {"role": "user", "content": f"Say more about: {first.message.content}"}]
                second = (await client.chat.completions.create(model=MODEL, messages=messages)).choices[0]
                return {"inputs": row, "output": f"{first.message.content} / {second.message.content}"}

        with open(folder / "loop.jsonl", "w") as out:
            for done in asyncio.as_completed([one(row) for row in rows]):
                out.write(json.dumps(await done) + "\n")
        await client.close()

    start = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - start


def child(kind: str, folder: Path, base_url: str, concurrency: int) -> None:
    """One measured client run: prints its wall time, CPU time and peak memory as JSON."""
    import openai  # noqa: F401  (both sides import before the clock starts)

    if kind != "loop":
        import parley.cli  # noqa: F401
        import parley.runtime.executor  # noqa: F401
    ray_start = 0.0
    if kind == "ray":
        import ray

        began = time.perf_counter()
        ray.init(include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        ray_start = time.perf_counter() - began
    cpu = time.process_time()
    wall = run_loop(folder, base_url, concurrency) if kind == "loop" else run_parley(
        folder, base_url, concurrency, "ray" if kind == "ray" else "local")
    print(json.dumps({"wall": wall, "cpu": time.process_time() - cpu, "ray_start": ray_start,
                      "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(kind: str, base_url: str, concurrency: int, rows: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "facts.agent").write_text(SCRIPT)
        (folder / "rows.jsonl").write_text("".join(json.dumps({"topic": f"topic {i}"}) + "\n" for i in range(rows)))
        found = subprocess.run([sys.executable, __file__, "--child", kind, "--folder", tmp, "--base-url", base_url,
                                "--concurrency", str(concurrency)], capture_output=True, text=True,
                               env={**os.environ, "OPENAI_API_KEY": "sk-bench", "NO_COLOR": "1"})
        if found.returncode != 0:
            raise SystemExit(f"{kind} at concurrency {concurrency} failed:\n{found.stderr}")
        figures = json.loads(found.stdout.strip().splitlines()[-1])
        out = folder / ("loop.jsonl" if kind == "loop" else "out.jsonl")
        lines = out.read_text().splitlines()
        assert len(lines) == rows, f"{kind}: {len(lines)} lines for {rows} rows"
        return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", default="1,8,32,128")
    parser.add_argument("--rows", type=int, default=None, help="rows at every concurrency (default min(1000, 50 C))")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side per concurrency (median shown)")
    parser.add_argument("--ray", action="store_true", help="also the Ray engine, at concurrency 32")
    parser.add_argument("--child", default=None)
    parser.add_argument("--folder", default=None)
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--serve", action="store_true")
    args = parser.parse_args()
    if args.serve:
        return serve()
    if args.child:
        return child(args.child, Path(args.folder), args.base_url, int(args.concurrency))

    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    assert server.stdout is not None
    base_url = server.stdout.readline().strip()
    print(f"two asks a row, {LATENCY * 1000:.0f} ms a reply (fake server in its own process); median of "
          f"{args.repeat}; CPU is the client process's\n")
    print(f"{'conc':>5} {'rows':>5} | {'parley rows/s':>13} {'loop rows/s':>11} {'ratio':>6} | "
          f"{'parley cpu ms/row':>17} {'loop cpu ms/row':>15} | {'parley MiB':>10} {'loop MiB':>8}")
    try:
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            rows = args.rows or min(1000, 50 * concurrency)
            runs: dict[str, list[dict[str, float]]] = {"parley": [], "loop": []}
            for _ in range(args.repeat):
                for kind in ("loop", "parley"):  # side by side, alternating
                    runs[kind].append(measure(kind, base_url, concurrency, rows))
            p = {k: statistics.median(r[k] for r in runs["parley"]) for k in ("wall", "cpu", "rss_mib")}
            loop = {k: statistics.median(r[k] for r in runs["loop"]) for k in ("wall", "cpu", "rss_mib")}
            print(f"{concurrency:>5} {rows:>5} | {rows / p['wall']:>13.1f} {rows / loop['wall']:>11.1f} "
                  f"{loop['wall'] / p['wall']:>5.2f}x | {p['cpu'] / rows * 1000:>17.2f} "
                  f"{loop['cpu'] / rows * 1000:>15.2f} | {p['rss_mib']:>10.0f} {loop['rss_mib']:>8.0f}", flush=True)
        if args.ray:
            concurrency, rows = 32, args.rows or 1000
            local = measure("parley", base_url, concurrency, rows)
            on_ray = measure("ray", base_url, concurrency, rows)
            print(f"\nRay engine (local Ray, {os.cpu_count()} CPUs), concurrency {concurrency}, {rows} rows: "
                  f"{rows / on_ray['wall']:.1f} rows/s against {rows / local['wall']:.1f} locally; overhead "
                  f"{(on_ray['wall'] - local['wall']) / rows * 1000:+.2f} ms a row (wall); Ray's start "
                  f"{on_ray['ray_start']:.1f} s apart; driver CPU {on_ray['cpu'] / rows * 1000:.2f} ms a row")
    finally:
        server.communicate("")


if __name__ == "__main__":
    main()
