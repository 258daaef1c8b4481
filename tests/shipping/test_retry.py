"""The shared retry policy: backoff, Retry-After parsing and the deadline-bounded retry loop."""

from __future__ import annotations

import email.utils
import random
import threading
import time

import pytest

from otel_honeyhive.core.results import DELIVERED, Outcome, SendResult
from otel_honeyhive.shipping.retry import RetryPolicy, classify_status, parse_retry_after, run_with_retry

LATER = SendResult(Outcome.RETRY_LATER, "503")
SLOW = RetryPolicy(deadline=60.0, initial_backoff=20.0, max_backoff=20.0)


class FakeTime:
    """A fake clock; `FakeStop.wait` advances it instead of sleeping, and records the wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now


class FakeStop(threading.Event):
    def __init__(self, time_: FakeTime) -> None:
        super().__init__()
        self.time = time_

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.time.waits.append(timeout)
        self.time.now += timeout
        return self.is_set()


class Script:
    """An attempt that plays `results` (the last one repeats) and records the timeouts it was given."""

    def __init__(self, *results: SendResult, time_: FakeTime | None = None, cost: float = 0.0) -> None:
        self.results = list(results)
        self.timeouts: list[float] = []
        self.started_at: list[float] = []
        self.time = time_
        self.cost = cost

    def __call__(self, timeout: float) -> SendResult:
        self.timeouts.append(timeout)
        if self.time is not None:
            self.started_at.append(self.time.now)
            self.time.now += self.cost
        return self.results.pop(0) if len(self.results) > 1 else self.results[0]


# -- backoff ----------------------------------------------------------------------------------------------


def test_backoff_doubles_from_one_second_and_caps_at_sixteen() -> None:
    policy = RetryPolicy(jitter=0.0)
    assert [policy.backoff(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 16, 16]


def test_backoff_jitter_stays_within_twenty_percent_and_varies() -> None:
    policy = RetryPolicy()
    rng = random.Random(7)
    for n, base in enumerate([1, 2, 4, 8, 16, 16], start=1):
        samples = [policy.backoff(n, rng) for _ in range(200)]
        assert all(base * 0.8 <= s <= base * 1.2 for s in samples)
        assert max(samples) - min(samples) > base * 0.2  # really jittered, not constant


@pytest.mark.parametrize(
    "kwargs",
    [
        {"deadline": 0},
        {"deadline": -1},
        {"initial_backoff": -1},
        {"initial_backoff": 5, "max_backoff": 1},
        {"jitter": 1.0},
        {"jitter": -0.1},
    ],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (429, Outcome.RETRY_LATER),
        (502, Outcome.RETRY_LATER),
        (503, Outcome.RETRY_LATER),
        (504, Outcome.RETRY_LATER),
        (400, Outcome.REJECTED),
        (401, Outcome.REJECTED),
        (413, Outcome.REJECTED),
        (500, Outcome.REJECTED),
    ],
)
def test_classify_status(status: int, outcome: Outcome) -> None:
    assert classify_status(status) is outcome


# -- Retry-After ------------------------------------------------------------------------------------------


def test_retry_after_seconds() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 3 ") == 3.0
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("1.5") == 1.5


def test_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30.0, abs=1.0)


def test_retry_after_http_date_against_the_wall_clock() -> None:
    header = email.utils.formatdate(time.time() + 60, usegmt=True)
    waited = parse_retry_after(header)
    assert waited is not None and 55 <= waited <= 61


def test_retry_after_past_date_means_now() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after(email.utils.formatdate(now - 3600, usegmt=True), now=now) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "-5", "nan", "inf", "12abc", "Wed, 99 Foo 2015"])
def test_retry_after_malformed_is_none(value: str | None) -> None:
    assert parse_retry_after(value) is None


# -- run_with_retry ---------------------------------------------------------------------------------------


def test_delivered_and_rejected_return_at_once() -> None:
    assert run_with_retry(Script(DELIVERED), RetryPolicy()) is DELIVERED
    rejected = SendResult(Outcome.REJECTED, "400 bad request")
    attempt = Script(rejected)
    assert run_with_retry(attempt, RetryPolicy()) is rejected
    assert len(attempt.timeouts) == 1


def test_retries_until_delivered_with_backoff() -> None:
    t = FakeTime()
    attempt = Script(LATER, LATER, DELIVERED)
    result = run_with_retry(attempt, RetryPolicy(jitter=0.0), FakeStop(t), clock=t.clock)
    assert result.ok
    assert t.waits == [1.0, 2.0]
    assert len(attempt.timeouts) == 3


def test_stops_at_the_deadline_without_starting_a_sleep_past_it() -> None:
    t = FakeTime()
    attempt = Script(LATER, time_=t, cost=0.5)
    policy = RetryPolicy(deadline=10.0, jitter=0.0)
    result = run_with_retry(attempt, policy, FakeStop(t), clock=t.clock)
    assert result.outcome is Outcome.RETRY_LATER
    assert "deadline" in result.detail
    # attempts at 0, 1.5, 4, 8.5; after that a 8 s wait (ending at 17) would pass the 10 s deadline.
    assert attempt.started_at == [0.0, 1.5, 4.0, 8.5]
    assert t.waits == [1.0, 2.0, 4.0]
    assert t.now <= policy.deadline
    # Each attempt is given the time left as its timeout.
    assert attempt.timeouts == pytest.approx([10.0, 8.5, 6.0, 1.5])


def test_retry_after_replaces_the_backoff() -> None:
    t = FakeTime()
    attempt = Script(SendResult(Outcome.RETRY_LATER, "429", retry_after=3.0), DELIVERED)
    assert run_with_retry(attempt, RetryPolicy(jitter=0.0), FakeStop(t), clock=t.clock).ok
    assert t.waits == [3.0]


def test_retry_after_beyond_the_deadline_fails_now_and_keeps_the_hint() -> None:
    t = FakeTime()
    attempt = Script(SendResult(Outcome.RETRY_LATER, "503", retry_after=60.0))
    result = run_with_retry(attempt, RetryPolicy(deadline=10.0), FakeStop(t), clock=t.clock)
    assert result.outcome is Outcome.RETRY_LATER
    assert result.retry_after == 60.0
    assert t.waits == []
    assert len(attempt.timeouts) == 1


def test_max_attempts() -> None:
    t = FakeTime()
    attempt = Script(LATER)
    result = run_with_retry(
        attempt, RetryPolicy(deadline=1000.0, jitter=0.0, max_attempts=3), FakeStop(t), clock=t.clock
    )
    assert result.outcome is Outcome.RETRY_LATER
    assert len(attempt.timeouts) == 3
    assert t.waits == [1.0, 2.0]


def test_stop_event_interrupts_a_backoff_quickly() -> None:
    stop = threading.Event()
    attempt = Script(LATER)
    timer = threading.Timer(0.1, stop.set)
    started = time.monotonic()
    timer.start()
    try:
        result = run_with_retry(attempt, SLOW, stop)
    finally:
        timer.cancel()
    elapsed = time.monotonic() - started
    assert result.outcome is Outcome.RETRY_LATER
    assert elapsed < 0.5
    assert len(attempt.timeouts) == 1


def test_a_set_stop_never_waits() -> None:
    stop = threading.Event()
    stop.set()
    attempt = Script(LATER)
    started = time.monotonic()
    result = run_with_retry(attempt, SLOW, stop)
    assert result.outcome is Outcome.RETRY_LATER
    assert time.monotonic() - started < 0.5
    assert len(attempt.timeouts) <= 1  # shutdown may still get its one last attempt, never a retry
