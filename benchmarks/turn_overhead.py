"""Runtime overhead per turn, overlap of independent asks, and cold start, measured side by side in one run.

(a) A 50-turn two-agent chat against the fake OpenAI-compatible server
    (tests/fake_openai.py) answering at once: Parley's wall time per turn,
    next to bare `AsyncOpenAI.chat.completions.create` calls sending the very
    request bodies Parley sent, in order, to the same server (a fresh client
    and event loop per repetition on both sides). Target: <= 1.3x.
(b) Ten independent asks written one after another (ten agents, no
    `parallel:`) with the server taking 200 ms per answer: wall time next to
    one single ask's. Target: <= 1.3x (the asks overlap).
(c) Cold start in fresh processes: `parley --version`, and `parley run` of a
    one-ask script with `--model scripted:RULES.json`. Targets: 200 ms, 400 ms.

Each figure is a median over several repetitions, the two sides of a ratio
interleaved so that noise on a small machine hits both alike. The fake
server writes a response's headers and body in two sends; with Nagle's
algorithm on, the client's delayed ACK then adds ~40 ms to every request on
Linux loopback, which would swamp what is measured here, so the benchmark
sets TCP_NODELAY on the server's connections (and prints what a bare call
costs without it, for reference).

    python benchmarks/turn_overhead.py
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import fake_openai
import openai
from fake_openai import FakeOpenAI, reply

import parley

TURNS = 50
CHAT_RUNS = 9
ASKS = 10
LATENCY = 0.2
ASK_RUNS = 5
COLD_RUNS = 5
PARLEY = Path(sys.executable).parent / "parley"


class UnclosedClients(logging.Filter):
    """Counts, and keeps off stderr, asyncio's report of an `AsyncOpenAI` client closed by the garbage
    collector in a later event loop ("Task exception was never retrieved ... Event loop is closed"):
    the runtime does not close its clients at the end of a run."""

    count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        problem = record.exc_info[1] if record.exc_info else None
        if "aclose()" in record.getMessage() and "Event loop is closed" in str(problem):
            self.count += 1
            return False
        return True


class _NoDelayHandler(fake_openai._RequestHandler):
    disable_nagle_algorithm = True  # socketserver sets TCP_NODELAY on each accepted connection


def start_server(no_delay: bool = True) -> FakeOpenAI:
    fake = FakeOpenAI()
    if no_delay:
        fake._server.RequestHandlerClass = _NoDelayHandler  # read per request by serve_forever
    return fake


def header(base_url: str) -> str:
    return f'model smart = openai("gpt-4o-mini", base_url="{base_url}", max_retries=0)\ndefault model smart\n'


def agents(names: list[str]) -> str:
    return "".join(f'agent {name}:\n    """You are {name}, a concise assistant."""\n' for name in names)


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def interleaved(runs: int, **actions: Callable[[], Any]) -> dict[str, float]:
    """Median seconds of each action, run in turn `runs` times after one untimed warm-up each."""
    for action in actions.values():
        action()
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(runs):
        for name, action in actions.items():
            samples[name].append(timed(action))
    return {name: statistics.median(values) for name, values in samples.items()}


# ---- (a) turn overhead --------------------------------------------------------------------------


def bare_calls(base_url: str, bodies: list[dict[str, Any]]) -> None:
    async def calls() -> None:
        client = openai.AsyncOpenAI(api_key="no-key-needed", base_url=base_url, max_retries=0)
        try:
            for body in bodies:
                response = await client.chat.completions.create(**body)
                assert response.choices[0].message.content
        finally:
            await client.close()

    asyncio.run(calls())


def chat_overhead(fake: FakeOpenAI) -> tuple[float, float]:
    counter = itertools.count(1)
    fake.handler = lambda body: reply(f"Reply {next(counter)}: a short message of a few words.")
    source = header(fake.base_url) + agents(["a", "b"]) + (
        f'chat a, b:\n    "Discuss how a parser recovers from errors."\n    until {TURNS} turns\n'
    )
    program = parley.compile(source, "chat.agent")
    before = len(fake.requests)
    result = program.run()
    bodies = fake.requests[before:]
    assert result.usage["turns"] == TURNS and len(bodies) == TURNS, (result.usage, len(bodies))
    medians = interleaved(CHAT_RUNS, parley=program.run, bare=lambda: bare_calls(fake.base_url, bodies))
    fake.check()
    return medians["parley"] / TURNS, medians["bare"] / TURNS


def nagle_reference() -> float:
    """Seconds per bare call against the fake server as it ships (Nagle on)."""
    fake = start_server(no_delay=False)
    try:
        fake.handler = lambda body: reply("ok")
        bodies = [{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi."}]}] * 10
        bare_calls(fake.base_url, bodies[:1])
        return timed(lambda: bare_calls(fake.base_url, bodies)) / len(bodies)
    finally:
        fake.close()


# ---- (b) independent asks overlap ---------------------------------------------------------------


class SlowHandler:
    """Sleeps LATENCY in the request thread, then answers; records the most requests in flight at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0

    def __call__(self, body: dict[str, Any]) -> Any:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(LATENCY)
        finally:
            with self.lock:
                self.in_flight -= 1
        return reply(f"Answer to: {body['messages'][-1]['content'][:40]}")


def asks_overlap(fake: FakeOpenAI) -> tuple[float, float, int]:
    handler = SlowHandler()
    fake.handler = handler
    names = [f"a{i}" for i in range(ASKS)]
    asks = "".join(f"x{i} = @a{i} Name one fact about the number {i}.\n" for i in range(ASKS))
    shown = " | ".join(f"{{x{i}}}" for i in range(ASKS))
    ten = parley.compile(header(fake.base_url) + agents(names) + asks + f'print "{shown}"\n', "ten.agent")
    one = parley.compile(header(fake.base_url) + agents(names[:1]) + "x0 = @a0 Name one fact about the number 0.\n"
                      'print "{x0}"\n', "one.agent")
    assert len(ten.run().printed[0].split(" | ")) == ASKS
    medians = interleaved(ASK_RUNS, ten=ten.run, one=one.run)
    fake.check()
    return medians["ten"], medians["one"], handler.peak


# ---- (c) cold start -----------------------------------------------------------------------------


def cold_start() -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="parley-bench-") as folder:
        script, rules = Path(folder) / "one.agent", Path(folder) / "one.rules.json"
        script.write_text(agents(["greeter"]) + "x = @greeter Say hello to Ada.\nprint x\n", encoding="utf-8")
        rules.write_text(json.dumps({"rules": [{"contains": "hello", "reply": "Hello, Ada!"}], "default": "Hi."}),
                         encoding="utf-8")
        version = [str(PARLEY), "--version"]
        run = [str(PARLEY), "run", str(script), "--model", f"scripted:{rules}", "--quiet"]
        out = subprocess.run(run, capture_output=True, text=True, cwd=folder, check=False)
        assert out.returncode == 0 and "Hello, Ada!" in out.stdout, (out.returncode, out.stdout, out.stderr)
        medians = interleaved(
            COLD_RUNS,
            version=lambda: subprocess.run(version, capture_output=True, check=True, cwd=folder),
            run=lambda: subprocess.run(run, capture_output=True, check=True, cwd=folder),
        )
    return medians["version"], medians["run"]


# ---- report -------------------------------------------------------------------------------------


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "NOT met"


def main() -> None:
    unclosed = UnclosedClients()
    logging.getLogger("asyncio").addFilter(unclosed)
    nagle = nagle_reference()
    fake = start_server()
    try:
        parley_turn, bare_turn = chat_overhead(fake)
        ten, one, peak = asks_overlap(fake)
    finally:
        fake.close()
    version, run = cold_start()

    chat_ratio, ask_ratio = parley_turn / bare_turn, ten / one
    rows = [
        ("(a) chat, Parley per turn", f"{parley_turn * 1000:.2f} ms", "", ""),
        ("    bare create() per call", f"{bare_turn * 1000:.2f} ms", "", ""),
        ("    Parley's own cost per turn", f"{(parley_turn - bare_turn) * 1000:+.2f} ms", "", ""),
        ("    ratio", f"{chat_ratio:.2f}x", "<= 1.3x", verdict(chat_ratio, 1.3)),
        (f"(b) {ASKS} independent asks, wall", f"{ten * 1000:.0f} ms", "", ""),
        ("    one ask, wall", f"{one * 1000:.0f} ms", "", ""),
        ("    ratio", f"{ask_ratio:.2f}x", "<= 1.3x", verdict(ask_ratio, 1.3)),
        ("(c) parley --version", f"{version * 1000:.0f} ms", "<= 200 ms", verdict(version, 0.2)),
        ("    parley run (one ask, scripted)", f"{run * 1000:.0f} ms", "<= 400 ms", verdict(run, 0.4)),
    ]
    print(f"(a) {TURNS}-turn `chat a, b:`, zero server latency, median of {CHAT_RUNS}; the bare calls send the "
          f"same {TURNS} request bodies")
    print(f"(b) server latency {LATENCY * 1000:.0f} ms per request (concurrent), median of {ASK_RUNS}; "
          f"most requests in flight at once: {peak} of {ASKS}")
    print(f"(c) fresh processes ({PARLEY}), median of {COLD_RUNS}")
    print(f"    for reference: a bare call against the fake server with Nagle on costs {nagle * 1000:.1f} ms "
          "(delayed ACK); TCP_NODELAY is set above")
    if unclosed.count:
        print(f"    note: {unclosed.count} AsyncOpenAI clients that runs left open failed when the garbage "
              "collector closed them in a later event loop ('Event loop is closed'; hidden here)")
    print()
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    titles = ("figure", "measured", "target", "")
    widths = [max(w, len(t)) for w, t in zip(widths, titles)]
    for row in (titles, *rows):
        print(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}".rstrip())


if __name__ == "__main__":
    main()
