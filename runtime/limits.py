"""How many requests a model server gets at once and per minute, whoever in the process sends them.

One gate per (server, model id), shared by every step, branch and run of
the process that runs on the same event loop (asyncio's locks and timers
belong to one loop, so a host running programs on several loops gets a set
of gates per loop). A gate holds a model's `max_concurrency` (requests in
flight), `rpm` (requests started per minute) and `tpm` (tokens per minute);
a model that sets no `max_concurrency` shares its server's default cap,
`DEFAULT_SERVER_CONCURRENCY` requests in flight. Every try counts, retries
included, and a retry's wait holds no slot.

`rpm` is spread over the minute: `rpm=120` lets 2 requests start in any one
second (at least one; `rpm=30`, one every 2 s), since servers enforce their
per-minute limits over shorter periods too and a burst would be refused.
`tpm` is charged before a request with an estimate (a token per 4
characters of what is sent, plus its `max_tokens`), and what the server then
counts beyond the estimate is charged afterwards, delaying later requests.
Where two declarations give different limits for the same server and model,
the tighter of each applies.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import attrs

#: Requests in flight to one server from the models on it that set no `max_concurrency`: as many as the
#: openai client keeps connections alive (100), so that a script's independent asks all go out at once, as
#: written, while a runaway fan-out (a `parallel for` over thousands) still queues.
DEFAULT_SERVER_CONCURRENCY = 100


def _tighter(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


@attrs.frozen(kw_only=True)
class Limits:
    """A model's request limits (None: not limited by the model)."""

    max_concurrency: int | None = None
    rpm: float | None = None
    tpm: int | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Limits:
        """The limits a model's options set (`max_concurrency`, `rpm`, `tpm`)."""
        number = {name: options.get(name) for name in ("max_concurrency", "rpm", "tpm")}
        return cls(max_concurrency=int(number["max_concurrency"]) if number["max_concurrency"] is not None else None,
                   rpm=float(number["rpm"]) if number["rpm"] is not None else None,
                   tpm=int(number["tpm"]) if number["tpm"] is not None else None)

    def __and__(self, other: Limits) -> Limits:
        """The tighter of each limit."""
        return Limits(max_concurrency=_tighter(self.max_concurrency, other.max_concurrency),
                      rpm=_tighter(self.rpm, other.rpm), tpm=_tighter(self.tpm, other.tpm))


NO_LIMITS = Limits()


class Gate:
    """The limits of one server and model on one event loop: a try passes it with `slot()`."""

    def __init__(self, limits: Limits, server_slots: asyncio.Semaphore) -> None:
        self.limits = limits
        self._slots = asyncio.Semaphore(limits.max_concurrency) if limits.max_concurrency else server_slots
        self._requests = self._tokens = None
        if limits.rpm or limits.tpm:
            from aiolimiter import AsyncLimiter  # imported only for a model that sets a rate (it is slow to import)
        if limits.rpm:
            per_second = max(1.0, limits.rpm / 60)  # rpm / 60 per second, or one request per 60 / rpm seconds
            self._requests = AsyncLimiter(per_second, per_second * 60 / limits.rpm)
        if limits.tpm:
            self._tokens = AsyncLimiter(limits.tpm, 60)
        self._settling: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def slot(self, tokens: int = 0) -> AsyncIterator[None]:
        """Wait for the rate limits (`tokens`: the estimate of what the request uses), then for a slot,
        held while the request is in flight."""
        if self._requests is not None:
            await self._requests.acquire()
        if self._tokens is not None:
            await self._tokens.acquire(min(max(tokens, 0), self._tokens.max_rate))
        async with self._slots:
            yield

    def settle(self, estimated: int, used: int) -> None:
        """Charge the tokens a request used beyond its estimate to the later requests (in the background:
        the request itself is done)."""
        if self._tokens is None or used <= estimated:
            return
        task = asyncio.get_running_loop().create_task(
            self._tokens.acquire(min(used - estimated, self._tokens.max_rate)))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)


# The gates of each event loop by (server, model), and each server's default cap; gone with their loop.
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], Gate]] = (
    weakref.WeakKeyDictionary())
_servers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary())
_default_caps: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()


def widen_default_cap(requests: int) -> None:
    """Let each server take at least `requests` at once from this loop's models that set no
    `max_concurrency` (a batch asked for that many rows in flight); for servers not yet used."""
    loop = asyncio.get_running_loop()
    _default_caps[loop] = max(_default_caps.get(loop, DEFAULT_SERVER_CONCURRENCY), requests)


def gate(server: str, model: str, limits: Limits) -> Gate:
    """The gate of `model` on `server` for the running loop, made (or tightened) to hold `limits`."""
    loop = asyncio.get_running_loop()
    gates = _gates.setdefault(loop, {})
    found = gates.get((server, model))
    wanted = limits if found is None else found.limits & limits
    if found is None or found.limits != wanted:  # a tighter limit applies to the requests that start after it
        servers = _servers.setdefault(loop, {})
        slots = servers.setdefault(server, asyncio.Semaphore(_default_caps.get(loop, DEFAULT_SERVER_CONCURRENCY)))
        found = gates[(server, model)] = Gate(wanted, slots)
    return found


def estimate_tokens(sent: str, max_tokens: int | None) -> int:
    """A request's tokens before the server counts them: one per 4 characters sent, plus its `max_tokens`."""
    return (len(sent) + 3) // 4 + (max_tokens or 0)
