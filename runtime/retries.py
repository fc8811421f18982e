"""Trying a model request again: how long to wait, how many times, and telling the run about each retry.

The rules are those of the official `openai` client (429, 408, 409, 5xx,
timeouts and connection errors are retried; a server's `retry-after-ms` or
`Retry-After` is honoured up to two minutes, else the wait doubles from 0.5 s
to at most 8 s, less up to a quarter at random), but the loop is Parley's:
each try passes the model's limits again (a retry is a request too, and the
wait does not hold a concurrency slot), and each retry is an event the
console, the trace and the store show. Which failures are worth another try
is the client's to say (`classify`); this module knows no HTTP library.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, TypeVar

import attrs

#: The first wait when the server names none, and the longest (seconds); as the `openai` client has them.
FIRST_WAIT = 0.5
LONGEST_WAIT = 8.0
#: The longest wait a server may ask for with `Retry-After` and still be retried.
LONGEST_RETRY_AFTER = 120.0
#: Retries when a model sets none, as the `openai` client does; and a request's seconds to answer.
DEFAULT_MAX_RETRIES = 2
DEFAULT_TIMEOUT = 60.0

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class Retry:
    """A failure worth another try: why (`reason`, e.g. "429 rate limit"), and the wait the server asked for."""

    reason: str
    after: float | None = None


class RetrySink(Protocol):
    """Told of each retry before its wait: the try that failed, the tries allowed, the wait and why."""

    def __call__(self, *, attempt: int, tries: int, wait: float, reason: str) -> None: ...


class GaveUp(Exception):
    """The last try failed (`error`, also the cause) after `tries` tries over `seconds`."""

    def __init__(self, error: BaseException, tries: int, seconds: float) -> None:
        super().__init__(str(error))
        self.error = error
        self.tries = tries
        self.seconds = seconds

    def summary(self) -> str:
        """How long it tried, for the end of the final error message."""
        if self.tries == 1:
            return "(1 try: retries are off, `max_retries` is 0)"
        return f"(after {self.tries} tries over {self.seconds:.1f} s)"


async def with_retries(attempt: Callable[[int], Awaitable[T]], *, max_retries: int,
                       classify: Callable[[BaseException], Retry | None],
                       on_retry: RetrySink | None = None) -> T:
    """`attempt(n)` for n = 1, 2, … until it succeeds, fails in a way `classify` does not retry (raised as
    it is), or has failed `max_retries` + 1 times (raised as `GaveUp`)."""
    started = time.monotonic()
    tries = max_retries + 1
    for number in range(1, tries + 1):
        try:
            return await attempt(number)
        except Exception as error:  # classified below; anything not retried is raised as it is
            verdict = classify(error)
            if verdict is None:
                raise
            if number == tries:
                raise GaveUp(error, number, time.monotonic() - started) from error
            wait = wait_before(number, verdict.after)
            if on_retry is not None:
                on_retry(attempt=number, tries=tries, wait=round(wait, 3), reason=verdict.reason)
            await asyncio.sleep(wait)
    raise AssertionError("unreachable: the last try returns or raises")  # pragma: no cover


def retry_hook(client: object, on_retry: RetrySink) -> dict[str, RetrySink]:
    """The keyword that tells `client.complete` where to report its retries, for a client that retries
    (`reports_retries`); none for the others, whose failures are final."""
    return {"on_retry": on_retry} if getattr(client, "reports_retries", False) else {}


def wait_before(failed: int, asked: float | None) -> float:
    """The wait after try number `failed`: the server's, when it asked for one in range, else backoff."""
    if asked is not None and math.isfinite(asked) and 0 < asked <= LONGEST_RETRY_AFTER:
        return asked
    backoff = min(FIRST_WAIT * 2.0 ** min(failed - 1, 64), LONGEST_WAIT)
    return backoff * (1 - 0.25 * random.random())


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """The wait a response asks for: `retry-after-ms`, else `Retry-After` in seconds or as an HTTP date."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return float(value) / scale
        except ValueError:
            continue
    value = headers.get("retry-after")
    if not value:
        return None
    import email.utils  # an HTTP date is rare, and the module costs a run's start-up 8 ms

    try:
        when = email.utils.parsedate_tz(value)
        return float(email.utils.mktime_tz(when) - time.time()) if when is not None else None
    except (TypeError, ValueError, OverflowError):
        return None


def worth_retrying(status: int, headers: Mapping[str, str]) -> bool:
    """Whether an HTTP error status is retried: the server's `x-should-retry` first, then 408, 409, 429, 5xx;
    never when the server asks for a wait longer than two minutes."""
    asked = retry_after(headers)
    if asked is not None and math.isfinite(asked) and asked > LONGEST_RETRY_AFTER:
        return False
    said = headers.get("x-should-retry")
    if said in ("true", "false"):
        return said == "true"
    return status in (408, 409, 429) or status >= 500
