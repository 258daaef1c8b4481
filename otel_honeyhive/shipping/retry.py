"""The retry policy every network output shares (modelled on opentelemetry-python's OTLP exporters).

Transient failures (429, 502, 503, 504, connection errors, timeouts) are retried with exponential backoff and
jitter; `Retry-After` replaces the backoff; one deadline bounds every attempt and every wait; a stop event wakes
any wait at once so shutdown is never held up by a backoff.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from otel_honeyhive.core.results import DELIVERED, Outcome, SendResult

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    deadline: float = 10.0
    """Seconds that all attempts and waits of one delivery may take together."""
    initial_backoff: float = 1.0
    max_backoff: float = 16.0
    jitter: float = 0.2
    """Each wait is scaled by a random factor in [1 - jitter, 1 + jitter]."""
    max_attempts: int = 0
    """0 means: as many as the deadline allows."""

    def __post_init__(self) -> None:
        if self.deadline <= 0:
            raise ValueError(f"retry deadline must be > 0 seconds, got {self.deadline!r}")
        if self.initial_backoff < 0 or self.max_backoff < self.initial_backoff:
            raise ValueError("retry backoff must satisfy 0 <= initial_backoff <= max_backoff")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"retry jitter must be in [0, 1), got {self.jitter!r}")

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Wait before retry number `attempt` (1-based): 1, 2, 4, 8, 16, 16 … seconds, jittered."""
        base = min(self.initial_backoff * (2.0 ** min(attempt - 1, 32)), self.max_backoff)
        r = float((rng or random).uniform(1 - self.jitter, 1 + self.jitter))
        return base * r


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delay-seconds or HTTP-date); None when absent or malformed.

    A date in the past means "retry now" (0)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds == seconds and seconds != float("inf") else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    wall = time.time() if now is None else now
    return max(0.0, when.timestamp() - wall)


def classify_status(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status in RETRYABLE_STATUSES:
        return Outcome.RETRY_LATER
    return Outcome.REJECTED


Attempt = Callable[[float], SendResult]
"""One try at delivery, given the seconds left before the deadline (to use as its timeout)."""


def run_with_retry(
    attempt: Attempt,
    policy: RetryPolicy,
    stop: threading.Event | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> SendResult:
    """Call `attempt` until it delivers, is rejected, the deadline passes or `stop` is set (a set `stop` still
    allows one attempt: that is how shutdown ships what is left without waiting on a backoff). A RETRY_LATER
    given up on keeps the last answer's status and Retry-After: the spool shipper counts a 5xx that keeps coming
    back (a 500 "events partially created") by its status."""
    stop = stop or threading.Event()
    deadline = clock() + policy.deadline
    n = 0
    while True:
        n += 1
        remaining = deadline - clock()
        result = attempt(max(remaining, 0.001))
        if result.outcome is not Outcome.RETRY_LATER:
            return result
        if stop.is_set():
            # Shutdown still gets one attempt per batch, but never waits for another.
            return replace(result, detail=f"{result.detail} (stopping: not retried)")
        if policy.max_attempts and n >= policy.max_attempts:
            return replace(result, detail=f"{result.detail} (gave up after {n} attempts)")
        backoff = policy.backoff(n, rng)
        # Retry-After replaces the backoff, but a "0" (or a date in the past) must not become a busy loop.
        wait = backoff if result.retry_after is None else max(result.retry_after, backoff / 8)
        remaining = deadline - clock()
        if wait > remaining:
            # Do not start a sleep that would pass the deadline: the caller keeps the data (or counts it).
            return replace(
                result,
                detail=f"{result.detail} (next try in {wait:.1f}s would pass the {round(policy.deadline, 1):g}s "
                "deadline)",
            )
        if stop.wait(wait):
            return replace(result, detail=f"{result.detail} (stopped during backoff)")


__all__ = [
    "DELIVERED",
    "RETRYABLE_STATUSES",
    "RetryPolicy",
    "classify_status",
    "parse_retry_after",
    "run_with_retry",
]
