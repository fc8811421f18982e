"""Runtime cost per turn, overlap of independent asks and fan-out, measured side by side in one run.

(a) Two-agent chats of 20, 100 and 400 turns against the fake
    OpenAI-compatible server (tests/fake_openai.py) answering at once: the CPU
    time Parley spends per turn over each chat's last 10 turns (from the
    `turn` event before them to the last), next to bare
    `AsyncOpenAI.chat.completions.create` calls sending the very request
    bodies of those turns to the same server, on a client whose connection
    is open. CPU time, because the machine may be busy; it includes the fake
    server's thread, which does the same work for both sides.
    Target: <= 1.0x at each length.
(b) Ten independent asks written one after another (ten agents, no
    `parallel:`) with the server taking 200 ms per answer: wall time next to
    one single ask's. Target: <= 1.3x (the asks overlap).
(d) A hundred such asks, next to a bare `asyncio.gather` of `create` calls
    sending the same bodies (a fresh client and event loop per repetition on
    both sides). Target: <= 1.05x. Also shown: the script with
    `max_concurrency=100`, and the bare gather held to the server's default
    cap of requests in flight, which is what the script as written gets.
(Cold start, `parley --version`, `check` and a scripted `run`: benchmarks/startup.py.)

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
import logging
import statistics
import sys
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
from parley.runtime.limits import DEFAULT_SERVER_CONCURRENCY

import parley

HISTORY = (20, 100, 400)  # chat lengths: the turns measured are the last ones, with that much history
MEASURED = 10  # turns timed at the end of each chat
HISTORY_RUNS = 3
ASKS = 10
LATENCY = 0.2
ASK_RUNS = 5
FAN_OUT = 100
FAN_RUNS = 7


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


def header(base_url: str, options: str = "") -> str:
    return (f'model smart = openai("gpt-4o-mini", base_url="{base_url}", max_retries=0{options})\n'
            'default model smart\n')


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


def chat_program(base_url: str, turns: int) -> parley.Program:
    source = header(base_url) + agents(["a", "b"]) + (
        f'chat a, b:\n    "Discuss how a parser recovers from errors."\n    until {turns} turns\n'
    )
    return parley.compile(source, "chat.agent")


def parley_turns(program: parley.Program) -> float:
    """CPU seconds per turn over the chat's last MEASURED turns: from the `turn` event before them to the
    last one, so each covers everything Parley does for a turn (view, request, reply, events, `until`)."""
    marks: list[float] = []
    program.run(on_event=lambda event: marks.append(time.process_time()) if event.kind == "turn" else None)
    return (marks[-1] - marks[-1 - MEASURED]) / MEASURED


def bare_turns(base_url: str, bodies: list[dict[str, Any]]) -> float:
    """CPU seconds per bare `create` call sending `bodies[1:]`, after an untimed first call that opens the
    connection (Parley's measured turns reuse one, too)."""
    async def calls() -> float:
        client = openai.AsyncOpenAI(api_key="no-key-needed", base_url=base_url, max_retries=0)
        try:
            await client.chat.completions.create(**bodies[0])
            start = time.process_time()
            for body in bodies[1:]:
                response = await client.chat.completions.create(**body)
                assert response.choices[0].message.content
            return (time.process_time() - start) / (len(bodies) - 1)
        finally:
            await client.close()

    return asyncio.run(calls())


def history_series(fake: FakeOpenAI) -> list[tuple[int, float, float]]:
    """(turns, Parley's CPU per turn, a bare call's) at the end of a chat of each length in HISTORY."""
    counter = itertools.count(1)
    fake.handler = lambda body: reply(f"Reply {next(counter)}: a short message of a few words.")
    series = []
    for turns in HISTORY:
        program = chat_program(fake.base_url, turns)
        before = len(fake.requests)
        result = program.run()
        bodies = fake.requests[before:]
        assert result.usage["turns"] == turns and len(bodies) == turns, (result.usage, len(bodies))
        last = bodies[-1 - MEASURED:]  # the bodies of the measured turns, after one to warm the connection
        samples: dict[str, list[float]] = {"parley": [], "bare": []}
        for _ in range(HISTORY_RUNS):
            samples["parley"].append(parley_turns(program))
            samples["bare"].append(bare_turns(fake.base_url, last))
        series.append((turns, statistics.median(samples["parley"]), statistics.median(samples["bare"])))
    fake.check()
    return series


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


# ---- (d) fan-out --------------------------------------------------------------------------------


def fan_out_script(base_url: str, options: str = "") -> parley.Program:
    names = [f"a{i}" for i in range(FAN_OUT)]
    asks = "".join(f"x{i} = @a{i} Name one fact about the number {i}.\n" for i in range(FAN_OUT))
    shown = " | ".join(f"{{x{i}}}" for i in range(FAN_OUT))
    return parley.compile(header(base_url, options) + agents(names) + asks + f'print "{shown}"\n', "fan.agent")


def bare_gather(base_url: str, bodies: list[dict[str, Any]], cap: int | None = None) -> None:
    """All of `bodies` sent at once with `asyncio.gather` (at most `cap` in flight, when given)."""
    async def calls() -> None:
        client = openai.AsyncOpenAI(api_key="no-key-needed", base_url=base_url, max_retries=0)
        slots = asyncio.Semaphore(cap or len(bodies))

        async def call(body: dict[str, Any]) -> Any:
            async with slots:
                return await client.chat.completions.create(**body)

        try:
            responses = await asyncio.gather(*(call(body) for body in bodies))
            assert all(response.choices[0].message.content for response in responses)
        finally:
            await client.close()

    asyncio.run(calls())


def fan_out(fake: FakeOpenAI) -> tuple[dict[str, float], int, int]:
    """Wall time of FAN_OUT independent asks (as written, and with `max_concurrency` = FAN_OUT), next to a
    bare `asyncio.gather` of `create` calls sending the same bodies, all at once and at most the server's
    default cap at once; the most requests in flight of each script."""
    handler = SlowHandler()
    fake.handler = handler
    written, widened = fan_out_script(fake.base_url), fan_out_script(fake.base_url, f", max_concurrency={FAN_OUT}")
    before = len(fake.requests)
    assert len(written.run().printed[0].split(" | ")) == FAN_OUT
    written_peak, handler.peak = handler.peak, 0
    bodies = fake.requests[before:]
    medians = interleaved(FAN_RUNS, written=written.run, widened=widened.run,
                          bare=lambda: bare_gather(fake.base_url, bodies),
                          capped=lambda: bare_gather(fake.base_url, bodies, DEFAULT_SERVER_CONCURRENCY))
    fake.check()
    return medians, written_peak, handler.peak


# ---- report -------------------------------------------------------------------------------------


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "NOT met"


def main() -> None:
    unclosed = UnclosedClients()
    logging.getLogger("asyncio").addFilter(unclosed)
    nagle = nagle_reference()
    fake = start_server()
    try:
        series = history_series(fake)
        ten, one, peak = asks_overlap(fake)
        fanned, written_peak, widened_peak = fan_out(fake)
    finally:
        fake.close()

    rows = []
    for turns, parley_turn, bare_turn in series:
        ratio = parley_turn / bare_turn
        rows += [
            (f"(a) {turns}-turn chat, Parley per turn", f"{parley_turn * 1000:.2f} ms", "", ""),
            ("    bare create() per call", f"{bare_turn * 1000:.2f} ms", "", ""),
            ("    ratio", f"{ratio:.2f}x", "<= 1.0x", verdict(ratio, 1.0)),
        ]
    written, widened, gathered, capped = (fanned[name] for name in ("written", "widened", "bare", "capped"))
    ask_ratio, fan_ratio, widened_ratio = ten / one, written / gathered, widened / gathered
    rows += [
        (f"(b) {ASKS} independent asks, wall", f"{ten * 1000:.0f} ms", "", ""),
        ("    one ask, wall", f"{one * 1000:.0f} ms", "", ""),
        ("    ratio", f"{ask_ratio:.2f}x", "<= 1.3x", verdict(ask_ratio, 1.3)),
        (f"(d) {FAN_OUT} independent asks, wall", f"{written * 1000:.0f} ms", "", ""),
        ("    bare asyncio.gather, wall", f"{gathered * 1000:.0f} ms", "", ""),
        ("    ratio", f"{fan_ratio:.2f}x", "<= 1.05x", verdict(fan_ratio, 1.05)),
        (f"    with max_concurrency={FAN_OUT}, wall", f"{widened * 1000:.0f} ms", "", ""),
        ("    ratio", f"{widened_ratio:.2f}x", "<= 1.05x", verdict(widened_ratio, 1.05)),
        (f"    bare gather, {DEFAULT_SERVER_CONCURRENCY} at once, wall", f"{capped * 1000:.0f} ms", "", ""),
        ("    as written / this", f"{written / capped:.2f}x", "", ""),
    ]
    print(f"(a) `chat a, b:` of {', '.join(map(str, HISTORY))} turns, zero server latency: CPU time (this "
          f"process, the fake server's thread included) per turn over the last {MEASURED} turns, median of "
          f"{HISTORY_RUNS}; the bare calls send those turns' request bodies")
    print(f"(b) server latency {LATENCY * 1000:.0f} ms per request (concurrent), median of {ASK_RUNS}; "
          f"most requests in flight at once: {peak} of {ASKS}")
    print(f"(d) the same latency, median of {FAN_RUNS}; most requests in flight at once: {written_peak} of "
          f"{FAN_OUT} as written (each server's default cap), {widened_peak} with max_concurrency={FAN_OUT}")
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
