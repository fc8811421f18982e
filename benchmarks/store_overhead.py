"""What the run store costs, and what its response cache saves, measured side by side in one run.

(a) Journal overhead: a 50-turn two-agent chat against the fake
    OpenAI-compatible server answering at once, run with a SQLite store (every
    event recorded, every model reply journaled and committed with
    `synchronous=FULL` before the run goes on) next to the same run with no
    store. Reported: milliseconds added per turn (target <= 2 ms) and the
    ratio of the two wall times.
(b) A fully cached re-run: a script of 20 asks at temperature 0, run once to
    fill the cache, then again: the server must see zero requests; wall time
    of the cached run next to the first.

    python benchmarks/store_overhead.py
"""

from __future__ import annotations

import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests"), str(ROOT)]

from fake_openai import FakeOpenAI, reply
from turn_overhead import agents, header, interleaved, start_server

import parley
from parley.runtime.store import Store

TURNS = 50
CHAT_RUNS = 9
ASKS = 20
CACHED_RUNS = 5


def journal_overhead(fake: FakeOpenAI, folder: Path) -> tuple[float, float, int]:
    counter = itertools.count(1)
    fake.handler = lambda body: reply(f"Reply {next(counter)}: a short message of a few words.")
    source = header(fake.base_url) + agents(["a", "b"]) + (
        f'chat a, b:\n    "Discuss how a parser recovers from errors."\n    until {TURNS} turns\n'
    )
    program = parley.compile(source, "chat.agent")
    store = Store(folder / "journal.db")
    medians = interleaved(CHAT_RUNS, stored=lambda: program.run(store=store, cache="off"), bare=program.run)
    journaled = store.db.execute("SELECT count(*) FROM journal").fetchone()[0]
    store.close()
    fake.check()
    return medians["stored"], medians["bare"], journaled


def cached_rerun(fake: FakeOpenAI, folder: Path) -> tuple[float, float, int]:
    counter = itertools.count(1)
    fake.handler = lambda body: reply(f"Fact {next(counter)}.")
    names = [f"a{i}" for i in range(4)]
    asks = "".join(f"x{i} = @a{i % 4} Name one fact about the number {i}.\nprint x{i}\n" for i in range(ASKS))
    settings = "".join(f"agent {n}:\n    temperature: 0\n" for n in names)
    program = parley.compile(header(fake.base_url) + settings + asks, "cached.agent")
    first_times, cached_times, requests = [], [], []
    for repetition in range(CACHED_RUNS):
        store = Store(folder / f"cache{repetition}.db")
        start = time.perf_counter()
        first = program.run(store=store)
        first_times.append(time.perf_counter() - start)
        before = len(fake.requests)
        start = time.perf_counter()
        again = program.run(store=store)
        cached_times.append(time.perf_counter() - start)
        requests.append(len(fake.requests) - before)
        assert again.printed == first.printed, "the cached run printed something else"
        store.close()
    fake.check()
    return statistics.median(first_times), statistics.median(cached_times), max(requests)


def main() -> None:
    fake = start_server()
    try:
        with tempfile.TemporaryDirectory(prefix="parley-bench-") as name:
            folder = Path(name)
            stored, bare, journaled = journal_overhead(fake, folder)
            first, cached, requests = cached_rerun(fake, folder)
    finally:
        fake.close()
    per_turn = (stored - bare) / TURNS * 1000
    print(f"(a) {TURNS}-turn chat, medians of {CHAT_RUNS}: with the store {stored * 1000:.1f} ms, "
          f"without {bare * 1000:.1f} ms")
    print(f"    journal overhead: {per_turn:+.2f} ms per turn (target <= 2 ms), ratio {stored / bare:.2f}x; "
          f"{journaled} replies journaled over all runs")
    print(f"(b) {ASKS}-ask script at temperature 0, medians of {CACHED_RUNS}: first run {first * 1000:.1f} ms, "
          f"cached re-run {cached * 1000:.1f} ms ({first / cached:.1f}x faster); requests in the re-run: {requests}")


if __name__ == "__main__":
    main()
