"""The embedded model's speed through Parley's client, next to llama.cpp called directly, in one run.

(a) Load time: importing `xllamacpp`, and loading the packaged GGUF file
    (SmolLM2-135M-Instruct, Q4_1) the way the client does (once per process).
(b) Generation speed, tokens per second, for the same messages and sampling
    settings (temperature 0, fixed seed, the same token limit), on the same
    loaded engine (an `xllamacpp.Server`):
      - streamed: `LocalModel.complete(request, on_token)` (a worker thread,
        pieces handed to the event loop) next to
        `Server.handle_chat_completions({..., "stream": True}, callback)`;
      - whole: `LocalModel.complete(request)` next to
        `Server.handle_chat_completions(...)` without streaming;
      - constrained: a typed reply (a JSON Schema) through the client next to
        `response_format={"type": "json_object", "schema": …}` directly.
    Target: the client at >= 0.95x llama.cpp's speed.

Figures are medians over several repetitions, the two sides interleaved so
that noise on a shared machine hits both alike.

    python benchmarks/local_model.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from parley.runtime.local_model import THREADS, LocalModel, engine_for
from parley.runtime.models import Message, ModelRequest

RUNS = 7
MAX_TOKENS = 160
SEED = 3
PROMPT = "Write a story about a lighthouse keeper and a storm, in three paragraphs."
SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}, "story": {"type": "string"},
                                           "stars": {"type": "integer"}},
          "required": ["title", "story", "stars"], "additionalProperties": False}


def main() -> None:
    started = time.perf_counter()
    import xllamacpp  # timed: what the first use of the local model pays

    imported = time.perf_counter() - started
    client = LocalModel()
    engine = engine_for(client.path, client.context)
    print(f"model: {client.path.name} ({client.path.stat().st_size / 1e6:.0f} MB), "
          f"xllamacpp {xllamacpp.__version__}, {THREADS} threads")
    print(f"(a) import xllamacpp: {imported * 1000:.0f} ms; load the model: {engine.load_seconds * 1000:.0f} ms")

    messages = [{"role": "user", "content": PROMPT}]
    request = ModelRequest(model="", messages=(Message(role="user", content=PROMPT),), temperature=0, seed=SEED,
                           max_tokens=MAX_TOKENS)
    typed = ModelRequest(model="", messages=request.messages, temperature=0, seed=SEED, max_tokens=MAX_TOKENS,
                         response_format={"type": "json_schema", "json_schema": {"name": "reply", "schema": SCHEMA}})
    settings = {"temperature": 0, "seed": SEED, "max_tokens": MAX_TOKENS}
    server = engine.server

    def direct_stream() -> tuple[str, int]:
        pieces: list[str] = []
        counted: list[int] = []

        def take(chunk: dict[str, Any]) -> bool:
            pieces.extend(c["delta"].get("content") or "" for c in chunk["choices"])
            counted.extend([chunk["usage"]["completion_tokens"]] if chunk.get("usage") else [])
            return False

        server.handle_chat_completions({"messages": messages, **settings, "stream": True,
                                        "stream_options": {"include_usage": True}}, take)
        assert "".join(pieces) == text, "streamed and whole replies differ"
        return text, counted[0]

    def direct_whole(**extra: Any) -> tuple[str, int]:
        reply = server.handle_chat_completions({"messages": messages, **settings, **extra})
        return reply["choices"][0]["message"]["content"], reply["usage"]["completion_tokens"]

    def client_call(req: ModelRequest, stream: bool) -> tuple[str, int]:
        pieces: list[str] = []
        reply = asyncio.run(client.complete(req, pieces.append if stream else None))
        assert not stream or "".join(pieces) == reply.text
        return reply.text, reply.usage.completion_tokens

    text, tokens = direct_whole()
    print(f"(b) the reply: {tokens} tokens, limit {MAX_TOKENS}")
    schema_format = {"type": "json_object", "schema": SCHEMA}
    cases: list[tuple[str, Callable[[], tuple[str, int]], Callable[[], tuple[str, int]]]] = [
        ("streamed", lambda: client_call(request, True), direct_stream),
        ("whole", lambda: client_call(request, False), direct_whole),
        ("constrained", lambda: client_call(typed, False), lambda: direct_whole(response_format=schema_format)),
    ]
    for name, ours, theirs in cases:
        ours_rates: list[float] = []
        theirs_rates: list[float] = []
        expected = None
        for _ in range(RUNS):
            for side, rates in ((ours, ours_rates), (theirs, theirs_rates)):
                began = time.perf_counter()
                said, count = side()
                elapsed = time.perf_counter() - began
                expected = said if expected is None else expected
                assert said == expected, f"{name}: the two sides wrote different replies"
                rates.append(count / elapsed)
        ratio = statistics.median(ours_rates) / statistics.median(theirs_rates)
        print(f"    {name:<12} Parley {statistics.median(ours_rates):6.1f} tok/s   "
              f"llama.cpp {statistics.median(theirs_rates):6.1f} tok/s   ratio {ratio:.3f}x  "
              f"(target >= 0.95x: {'met' if ratio >= 0.95 else 'NOT met'})")


if __name__ == "__main__":
    main()
