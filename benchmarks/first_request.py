"""How long a run takes to send its first model request, against a local OpenAI-compatible server.

The time from `program.run_async()` being called to the first request
arriving at the server (the fake server of the tests, on 127.0.0.1), for:

  cold      the first run of a fresh process (importing `openai` included);
  warm      a later run in the same process and event loop;
  parallel  8 runs started together in one event loop: the slowest one's delay.

Each figure is the median over several fresh processes.

    python benchmarks/first_request.py [--repeat 7]
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARALLEL = 8


def one_process() -> dict[str, float]:
    """Run the three cases in this process and return their delays in milliseconds."""
    sys.path.insert(0, str(ROOT / "tests"))
    from fake_openai import FakeOpenAI

    import parley

    fake = FakeOpenAI()
    arrived: list[float] = []

    def answer(body: dict) -> str:
        arrived.append(time.perf_counter())
        return "ok"

    fake.handler = answer
    program = parley.compile(f'model m = openai("gpt-4o-mini", base_url="{fake.base_url}")\n'
                             'default model m\nagent a:\n    """You answer."""\nprint(@a "hi")\n', "bench.agent")

    async def delays() -> dict[str, float]:
        figures = {}
        for case in ("cold", "warm"):
            arrived.clear()
            start = time.perf_counter()
            await program.run_async()
            figures[case] = (arrived[0] - start) * 1000
        arrived.clear()
        start = time.perf_counter()
        await asyncio.gather(*(program.run_async() for _ in range(PARALLEL)))
        figures["parallel"] = (max(arrived) - start) * 1000
        return figures

    try:
        return asyncio.run(delays())
    finally:
        fake.close()


def main() -> None:
    if "--child" in sys.argv:
        print(json.dumps(one_process()))
        return
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 7
    runs = [json.loads(subprocess.run([sys.executable, __file__, "--child"], capture_output=True, text=True,
                                      check=True).stdout) for _ in range(repeat)]
    for case in ("cold", "warm", "parallel"):
        print(f"{case:9} {statistics.median(r[case] for r in runs):7.1f} ms  (median of {repeat} processes)")


if __name__ == "__main__":
    main()
