"""The spool shipper, driven through the `Output` interface by a scripted in-test output."""

from __future__ import annotations

import collections
import itertools
import logging
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.results import DELIVERED, Outcome, SendResult, Update
from otel_honeyhive.shipping import shipper as shipper_module
from otel_honeyhive.shipping.records import SpoolRecord
from otel_honeyhive.shipping.retry import RetryPolicy
from otel_honeyhive.shipping.shipper import SERVER_ERROR_ATTEMPTS, ShipperStats, SpoolShipper
from otel_honeyhive.shipping.spool import Spool, SpoolError
from tests.shipping.test_spool import leave_many, slow_renames
from tests.support.spool_files import flush_and_close, pending_files
from tests.support.waiting import wait_until

FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05, jitter=0.0)

Step = SendResult | BaseException | Callable[[], SendResult]


class ScriptedOutput:
    """An `Output` that plays a scripted sequence of results (then `default`) and records every call."""

    name = "scripted"

    def __init__(self, *script: Step, default: Step = DELIVERED) -> None:
        self.script: collections.deque[Step] = collections.deque(script)
        self.default = default
        self.calls: list[tuple[float, Any]] = []  # (monotonic time, event "n" or Update)
        self.received: list[Any] = []  # what reached the receiver (even if the answer was then lost)
        self.called = threading.Event()
        self.gate: threading.Event | None = None  # if given, send blocks until it opens or stop is set
        self.ignore_stop = False
        self.returned = threading.Event()
        self.closed = False
        self._lock = threading.Lock()

    def _step(self) -> SendResult:
        with self._lock:
            step = self.script.popleft() if self.script else self.default
        if isinstance(step, BaseException):
            raise step
        return step() if callable(step) else step

    def _call(self, what: Any, stop: threading.Event | None) -> SendResult:
        with self._lock:
            self.calls.append((time.monotonic(), what))
        self.called.set()
        self.returned.clear()
        try:
            if self.gate is not None:
                while not self.gate.wait(0.01):
                    if stop is not None and stop.is_set() and not self.ignore_stop:
                        return SendResult(Outcome.RETRY_LATER, "stopped")
            result = self._step()
            if result.outcome is Outcome.DELIVERED or "received" in result.detail:
                with self._lock:
                    self.received.append(what)
            return result
        finally:
            self.returned.set()

    def send(self, events: Sequence[Event], *, stop: threading.Event | None = None) -> SendResult:
        return self._call(events[0]["n"] if events else None, stop)

    def update(self, update: Update, *, stop: threading.Event | None = None) -> SendResult:
        return self._call(update, stop)

    def close(self) -> None:
        self.closed = True

    @property
    def called_with(self) -> list[Any]:
        with self._lock:
            return [what for _, what in self.calls]


def batch(n: int, size: int = 1) -> SpoolRecord:
    return SpoolRecord.of_events([{"event_id": f"e{n}-{i}", "n": n} for i in range(size)])


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    s = Spool(tmp_path / "spool")
    yield s
    s.close()


@pytest.fixture
def shippers() -> Iterator[list[SpoolShipper]]:
    made: list[SpoolShipper] = []
    yield made
    for shipper in made:
        shipper.close(timeout=2)


def ship(
    spool: Spool, output: ScriptedOutput, made: list[SpoolShipper], policy: RetryPolicy = FAST
) -> SpoolShipper:
    shipper = SpoolShipper(spool, output, policy, name="test-shipper")
    made.append(shipper)
    return shipper


def test_delivers_oldest_first_and_acks(spool: Spool, shippers: list[SpoolShipper]) -> None:
    for n in range(5):
        spool.put(batch(n, size=2))
    output = ScriptedOutput()
    shipper = ship(spool, output, shippers)
    assert shipper.flush(5)
    assert output.called_with == [0, 1, 2, 3, 4]
    assert spool.pending_count == 0
    assert pending_files(spool.directory) == []
    stats = shipper.stats
    assert isinstance(stats, ShipperStats)
    assert (stats.delivered_records, stats.delivered_events) == (5, 10)
    assert (stats.retried, stats.dead_lettered, stats.corrupt) == (0, 0, 0)
    assert (stats.pending_records, stats.pending_bytes) == (0, 0)


def test_retry_later_keeps_the_record_at_the_head_and_honours_retry_after(
    spool: Spool, shippers: list[SpoolShipper]
) -> None:
    output = ScriptedOutput(SendResult(Outcome.RETRY_LATER, "503", retry_after=0.2))
    spool.put(batch(0))
    spool.put(batch(1))
    shipper = ship(spool, output, shippers, RetryPolicy(initial_backoff=5.0, max_backoff=5.0))
    assert shipper.flush(5)
    assert output.called_with == [0, 0, 1]
    (t0, _), (t1, _), _ = output.calls
    assert 0.18 <= t1 - t0 < 1.0  # the receiver's hint, not the 5 s policy backoff
    assert shipper.stats.retried == 1
    assert shipper.stats.delivered_records == 2


def test_without_a_hint_the_backoff_grows_exponentially(spool: Spool, shippers: list[SpoolShipper]) -> None:
    later = SendResult(Outcome.RETRY_LATER, "connection refused")
    output = ScriptedOutput(later, later, later)
    spool.put(batch(0))
    shipper = ship(spool, output, shippers, RetryPolicy(initial_backoff=0.05, max_backoff=0.1, jitter=0.0))
    assert shipper.flush(5)
    times = [t for t, _ in output.calls]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 3
    assert gaps[0] >= 0.045 and gaps[1] >= 0.095 and gaps[2] >= 0.095  # 0.05, 0.1, then capped at 0.1
    assert gaps[2] < 0.5


def test_rejected_record_goes_to_dead_letters_and_shipping_continues(
    spool: Spool, shippers: list[SpoolShipper], caplog: pytest.LogCaptureFixture
) -> None:
    output = ScriptedOutput(SendResult(Outcome.REJECTED, "400 Bad Request: event_type missing"))
    spool.put(batch(0))
    spool.put(batch(1))
    with caplog.at_level(logging.ERROR):
        shipper = ship(spool, output, shippers)
        assert shipper.flush(5)
    assert output.called_with == [0, 1]
    assert output.received == [1]
    (dead,) = (spool.directory / "dead").glob("*.rec")
    assert SpoolRecord.decode(dead.read_bytes()) == batch(0)
    assert "event_type missing" in dead.with_suffix(".reason").read_text()
    assert shipper.stats.dead_lettered == 1
    assert any("rejected" in r.message and r.levelno == logging.ERROR for r in caplog.records)


def test_a_server_error_is_tried_again_before_the_record_is_dead_lettered(
    spool: Spool, shippers: list[SpoolShipper]
) -> None:
    """A 5xx says nothing about the data: the record is tried SERVER_ERROR_ATTEMPTS times in all (a transient
    HoneyHive bug must not send a batch to dead/), then dead-lettered (a poison record must not block forever)."""
    error = SendResult(Outcome.REJECTED, "HTTP 500 internal", status=500)
    output = ScriptedOutput(error, error, DELIVERED, *[error] * SERVER_ERROR_ATTEMPTS)
    spool.put(batch(0))
    spool.put(batch(1))
    shipper = ship(spool, output, shippers)
    assert shipper.flush(5)
    assert output.called_with == [0, 0, 0, *[1] * SERVER_ERROR_ATTEMPTS]
    assert output.received == [0]
    stats = shipper.stats
    assert (stats.delivered_records, stats.dead_lettered, stats.dead_lettered_events) == (1, 1, 1)
    assert stats.retried == 2 + SERVER_ERROR_ATTEMPTS - 1
    assert len(list((spool.directory / "dead").glob("*.rec"))) == 1


def test_a_500_the_output_asked_to_retry_is_counted_and_dead_lettered_after_the_last_try(
    spool: Spool, shippers: list[SpoolShipper]
) -> None:
    """A 500 "events partially created" comes back RETRY_LATER with status 500: still the receiver's fault, and a
    permanent one must not hold the queue forever."""
    partial = SendResult(Outcome.RETRY_LATER, "HTTP 500, events partially created", status=500)
    output = ScriptedOutput(*[partial] * SERVER_ERROR_ATTEMPTS)
    spool.put(batch(0))
    spool.put(batch(1))
    shipper = ship(spool, output, shippers)
    assert shipper.flush(5)
    assert output.called_with == [*[0] * SERVER_ERROR_ATTEMPTS, 1]
    (reason,) = (spool.directory / "dead").glob("*.reason")
    assert "partially created" in reason.read_text() and f"{SERVER_ERROR_ATTEMPTS} tries" in reason.read_text()
    assert (shipper.stats.dead_lettered, shipper.stats.retried) == (1, SERVER_ERROR_ATTEMPTS - 1)


@pytest.mark.parametrize("status", [502, 503, 504, 429, None])
def test_an_outage_never_dead_letters_however_long_it_lasts(
    spool: Spool, shippers: list[SpoolShipper], status: int | None
) -> None:
    """What an outage answers (a gateway's 502, 503, 504, a 429, a refused connection: no status) is retried
    with the backoff for as long as it lasts; only a 5xx that is the receiver's own is counted."""
    down = SendResult(Outcome.RETRY_LATER, "HoneyHive is down", status=status)
    tries = 4 * SERVER_ERROR_ATTEMPTS
    output = ScriptedOutput(*[down] * tries)
    spool.put(batch(0))
    shipper = ship(spool, output, shippers, RetryPolicy(initial_backoff=0.001, max_backoff=0.002, jitter=0.0))
    assert shipper.flush(10)
    assert output.called_with == [0] * (tries + 1) and output.received == [0]
    assert shipper.stats.dead_lettered == 0 and not (spool.directory / "dead").exists()


@pytest.mark.slow
def test_server_errors_are_counted_again_from_the_last_try_that_made_progress(
    spool: Spool, shippers: list[SpoolShipper]
) -> None:
    """A large record on a flaky receiver: each try gets a few more bodies through before a 500. More 500s in all
    than `server_error_attempts`, but never that many in a row without progress: delivered, not dead-lettered.
    The same number without progress is dead-lettered."""
    progress = SendResult(Outcome.REJECTED, "HTTP 500 flap", status=500, acknowledged=2)
    stuck = SendResult(Outcome.REJECTED, "HTTP 500 flap", status=500)
    output = ScriptedOutput(stuck, *[progress] * (2 * SERVER_ERROR_ATTEMPTS),
                            *[stuck] * (SERVER_ERROR_ATTEMPTS - 1), DELIVERED,
                            *[stuck] * SERVER_ERROR_ATTEMPTS)
    spool.put(batch(0, size=40))
    spool.put(batch(1))
    shipper = ship(spool, output, shippers)
    assert shipper.flush(5)
    assert output.called_with == [0] * (3 * SERVER_ERROR_ATTEMPTS + 1) + [1] * SERVER_ERROR_ATTEMPTS
    assert output.received == [0]
    assert (shipper.stats.delivered_records, shipper.stats.dead_lettered) == (1, 1)


def test_a_dead_lettered_update_is_named_an_update_record_without_an_event_count(
    spool: Spool, shippers: list[SpoolShipper], caplog: pytest.LogCaptureFixture
) -> None:
    output = ScriptedOutput(SendResult(Outcome.REJECTED, "HTTP 404 unknown event", status=404),
                            SendResult(Outcome.REJECTED, "HTTP 400 bad", status=400))
    spool.put(SpoolRecord.of_update(Update("e-unknown", {"metadata": {"a": 1}})))
    spool.put(batch(1, size=3))
    with caplog.at_level(logging.ERROR):
        shipper = ship(spool, output, shippers)
        assert shipper.flush(5)
        wait_until(lambda: len(caplog.records) == 2, 5.0, explain="the second line, logged after the record left")
    update_line, events_line = [r.getMessage() for r in caplog.records]
    assert "rejected an update record: HTTP 404" in update_line and "events" not in update_line
    assert "rejected a record of 3 events: HTTP 400" in events_line


def test_a_client_error_is_dead_lettered_at_once(spool: Spool, shippers: list[SpoolShipper]) -> None:
    output = ScriptedOutput(SendResult(Outcome.REJECTED, "HTTP 422", status=422))
    spool.put(batch(0, size=3))
    shipper = ship(spool, output, shippers)
    assert shipper.flush(5)
    assert output.called_with == [0]
    assert (shipper.stats.dead_lettered, shipper.stats.dead_lettered_events) == (1, 3)


def test_an_output_that_raises_does_not_kill_the_thread(spool: Spool, shippers: list[SpoolShipper]) -> None:
    output = ScriptedOutput(RuntimeError("boom"), ValueError("bad"))
    spool.put(batch(0))
    shipper = ship(spool, output, shippers)
    assert shipper.flush(5)
    assert shipper.running
    assert output.called_with == [0, 0, 0]
    assert shipper.stats.retried == 2
    assert shipper.stats.delivered_records == 1


def test_corrupt_record_is_set_aside_and_shipping_continues(
    spool: Spool, shippers: list[SpoolShipper], caplog: pytest.LogCaptureFixture
) -> None:
    spool.put(batch(0))
    bad = spool.put(batch(1))
    spool.put(batch(2))
    path = spool.pending_path(bad)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    output = ScriptedOutput()
    with caplog.at_level(logging.ERROR):
        shipper = ship(spool, output, shippers)
        assert shipper.flush(5)
    assert output.called_with == [0, 2]
    assert shipper.stats.corrupt == 1
    assert (spool.directory / "corrupt" / f"{path.parent.name}-{path.name}").exists()
    assert shipper.running


def test_update_records_go_to_update(spool: Spool, shippers: list[SpoolShipper]) -> None:
    update = Update("0b3f1a5e-0000-4000-8000-000000000000", {"feedback": {"rating": 5}})
    spool.put(batch(0))
    spool.put(SpoolRecord.of_update(update))
    output = ScriptedOutput()
    shipper = ship(spool, output, shippers)
    assert shipper.flush(5)
    assert output.called_with == [0, update]
    assert shipper.stats.delivered_records == 2 and shipper.stats.delivered_events == 1


def test_wakes_within_50ms_of_a_put(spool: Spool, shippers: list[SpoolShipper]) -> None:
    output = ScriptedOutput()
    shipper = ship(spool, output, shippers)
    latencies = []
    for n in range(5):
        time.sleep(0.05)  # let it go idle
        output.called.clear()
        spool.put(batch(n))
        acknowledged = time.monotonic()
        assert output.called.wait(2)
        latencies.append(output.calls[-1][0] - acknowledged)
        assert shipper.flush(2)
    assert statistics.median(latencies) < 0.05
    assert max(latencies) < 0.5


def test_flush_returns_false_when_records_are_stuck(spool: Spool, shippers: list[SpoolShipper]) -> None:
    output = ScriptedOutput(default=SendResult(Outcome.RETRY_LATER, "503", retry_after=0.01))
    shipper = ship(spool, output, shippers)
    assert shipper.flush(1)  # nothing to do yet
    spool.put(batch(0))
    started = time.monotonic()
    assert not shipper.flush(0.2)
    assert 0.15 <= time.monotonic() - started < 1.0
    assert spool.pending_count == 1


def test_close_interrupts_the_backoff_and_leaves_records_on_disk(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    for n in range(3):
        spool.put(batch(n))
    output = ScriptedOutput(default=SendResult(Outcome.RETRY_LATER, "503", retry_after=30.0))
    shipper = SpoolShipper(spool, output, FAST)
    assert output.called.wait(2)
    time.sleep(0.05)  # now inside the 30 s wait
    started = time.monotonic()
    assert shipper.close(timeout=5)
    assert time.monotonic() - started < 0.5
    assert not shipper.running
    spool.close()
    assert not output.closed  # the shipper does not own the output
    with Spool(tmp_path / "spool") as reopened:
        assert [r.events[0]["n"] for _, r in reopened] == [0, 1, 2]


def test_close_waits_for_the_in_flight_send(spool: Spool) -> None:
    output = ScriptedOutput()
    output.gate = threading.Event()  # held until stop is set, then RETRY_LATER, as a real output does
    spool.put(batch(0))
    shipper = SpoolShipper(spool, output, FAST)
    assert output.called.wait(2)
    assert shipper.close(timeout=5)
    assert output.returned.is_set()
    assert spool.pending_count == 1


def test_close_is_bounded_when_an_output_hangs(spool: Spool) -> None:
    output = ScriptedOutput()
    output.gate = threading.Event()
    output.ignore_stop = True
    spool.put(batch(0))
    shipper = SpoolShipper(spool, output, FAST)
    assert output.called.wait(2)
    started = time.monotonic()
    assert not shipper.close(timeout=0.2)
    assert time.monotonic() - started < 0.6
    output.gate.set()  # let the thread finish
    assert output.returned.wait(2)


def test_records_left_by_a_previous_run_are_delivered(tmp_path: Path) -> None:
    with Spool(tmp_path / "spool") as first:
        for n in range(3):
            first.put(batch(n))
    with Spool(tmp_path / "spool") as spool:
        output = ScriptedOutput()
        shipper = SpoolShipper(spool, output, FAST)
        try:
            assert shipper.flush(5)
        finally:
            shipper.close()
        assert output.called_with == [0, 1, 2]


def _produce_concurrently(spool: Spool, threads: int, per_thread: int) -> list[int]:
    def produce(t: int) -> None:
        for i in range(per_thread):
            spool.put(batch(t * 1000 + i))

    workers = [threading.Thread(target=produce, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return [t * 1000 + i for t in range(threads) for i in range(per_thread)]


def _per_producer(ns: Sequence[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = collections.defaultdict(list)
    for n in ns:
        groups[n // 1000].append(n)
    return groups


def test_concurrent_producers_every_record_delivered_exactly_once(
    spool: Spool, shippers: list[SpoolShipper]
) -> None:
    output = ScriptedOutput()
    shipper = ship(spool, output, shippers)
    expected = _produce_concurrently(spool, threads=4, per_thread=40)
    assert shipper.flush(10)
    assert collections.Counter(output.received) == collections.Counter(expected)
    for ns in _per_producer(output.received).values():
        assert ns == sorted(ns)  # a producer's records arrive in the order it put them
    assert shipper.stats.delivered_records == len(expected)


def test_concurrent_producers_with_faults_every_record_delivered_at_least_once(
    spool: Spool, shippers: list[SpoolShipper]
) -> None:
    rng = random.Random(1234)
    lock = threading.Lock()

    def flaky() -> SendResult:
        with lock:
            roll = rng.random()
        if roll < 0.15:  # the receiver got it, but the answer was lost: the record is sent again
            return SendResult(Outcome.RETRY_LATER, "received, then timed out", retry_after=0.0)
        if roll < 0.3:
            return SendResult(Outcome.RETRY_LATER, "503", retry_after=0.0)
        return DELIVERED

    output = ScriptedOutput(default=flaky)
    shipper = ship(spool, output, shippers)
    expected = _produce_concurrently(spool, threads=4, per_thread=30)
    assert shipper.flush(10)
    assert set(output.received) == set(expected)
    assert len(output.received) >= len(expected)
    assert shipper.stats.retried > 0
    assert shipper.stats.delivered_records == len(expected)
    for ns in _per_producer(output.called_with).values():
        assert ns == sorted(ns)  # retries repeat a record but never reorder


# -- records left by other processes -----------------------------------------------------------------------------


def leave_records_and_die(directory: Path, numbers: Sequence[int]) -> None:
    """Another process puts records in `directory` and dies without shipping them (`os._exit`)."""
    code = (
        "import os, sys\n"
        "from otel_honeyhive.shipping.records import SpoolRecord\n"
        "from otel_honeyhive.shipping.spool import Spool\n"
        f"spool = Spool({str(directory)!r})\n"
        f"for n in {list(numbers)!r}:\n"
        "    spool.put(SpoolRecord.of_events([{'event_id': f'e{n}-0', 'n': n}]))\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_an_idle_shipper_adopts_what_a_dead_process_left(
    spool: Spool, shippers: list[SpoolShipper], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shipper_module, "ADOPT_INTERVAL", 0.1)
    output = ScriptedOutput()
    shipper = ship(spool, output, shippers)
    spool.put(batch(0))
    assert shipper.flush(5)
    leave_records_and_die(spool.directory, [1, 2])  # after this spool opened: only the shipper can find them
    wait_until(lambda: output.called_with == [0, 1, 2], 5.0, explain="the dead process's records, in order",
               diagnose=lambda: f"sent {output.called_with}")
    assert shipper.flush(5)
    assert shipper.stats.delivered_records == 3


@pytest.mark.slow  # a backlog shipped slowly for about three seconds
def test_a_busy_shipper_adopts_what_a_dead_process_left_without_waiting_for_its_own_backlog(
    spool: Spool, shippers: list[SpoolShipper], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receiver that answers slowly keeps this process's backlog from ever emptying: the dead process's records
    are adopted all the same (queued behind what is pending then), not once the backlog is gone."""
    monkeypatch.setattr(shipper_module, "ADOPT_INTERVAL", 0.1)

    def slowly() -> SendResult:
        time.sleep(0.05)
        return DELIVERED

    output = ScriptedOutput(default=slowly)
    shipper = ship(spool, output, shippers)
    for n in range(20):
        spool.put(batch(n))
    leave_records_and_die(spool.directory, [1000])
    for n in range(20, 60):  # the backlog keeps coming, a little faster than it is shipped
        spool.put(batch(n))
        time.sleep(0.04)
    assert shipper.flush(20)
    sent = output.called_with
    assert sorted(sent) == [*range(60), 1000]
    assert sent.index(1000) < sent.index(40), f"adopted only once the backlog was gone: {sent}"


class CountingSpool(Spool):
    """A spool that counts the shipper's looks for orphans, and fails the first `failures` of them."""

    def __init__(self, directory: Path, failures: int = 0) -> None:
        self.counting = False  # not the spool's own look when it opens
        super().__init__(directory)
        self.looks: list[float] = []
        self.failures = failures
        self.counting = True

    def adopt_orphans(self) -> int:
        if not self.counting:
            return super().adopt_orphans()
        self.looks.append(time.monotonic())
        if len(self.looks) <= self.failures:
            raise SpoolError(f"spool {self.directory}: cannot look for orphans (for the test)")
        return super().adopt_orphans()


def test_orphans_are_looked_for_at_start_then_at_most_every_interval(
    tmp_path: Path, shippers: list[SpoolShipper], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shipper_module, "ADOPT_INTERVAL", 0.1)
    spool = CountingSpool(tmp_path / "spool")
    try:
        shipper = ship(spool, ScriptedOutput(), shippers)
        started = time.monotonic()
        for n in range(16):  # puts wake the idle shipper often: they must not make it look more often
            spool.put(batch(n))
            time.sleep(0.03)
        assert shipper.flush(5)
        elapsed = time.monotonic() - started
        looks = list(spool.looks)
        assert looks and looks[0] - started < 0.1, "one look when the thread starts"
        assert 2 <= len(looks) <= elapsed / 0.1 + 2
        assert all(b - a >= 0.099 for a, b in itertools.pairwise(looks))
    finally:
        shipper.close(2)
        spool.close()


def test_closing_during_an_adoption_says_an_adoption_was_under_way(
    spool: Spool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Not "an in-flight send … did not return": nothing was being sent."""
    leave_many(tmp_path / "spool", 300)
    started = threading.Event()
    slow_renames(monkeypatch, started)
    shipper = SpoolShipper(spool, ScriptedOutput(), FAST, name="test-shipper")  # adopts when it starts
    assert started.wait(10)
    with caplog.at_level(logging.WARNING):
        assert shipper.close(timeout=0.05) is False
    spool.close()  # stops the adoption: what it did not move stays where it was
    monkeypatch.undo()
    (line,) = [r.getMessage() for r in caplog.records if r.name == "otel_honeyhive.shipping.shipper"]
    assert "still adopting the records other processes left in" in line and "in-flight send" not in line
    assert len(pending_files(tmp_path / "spool")) == 300


def test_a_failing_look_for_orphans_is_logged_once_and_does_not_stop_shipping(
    tmp_path: Path, shippers: list[SpoolShipper], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(shipper_module, "ADOPT_INTERVAL", 0.05)
    spool = CountingSpool(tmp_path / "spool", failures=3)
    try:
        output = ScriptedOutput()
        with caplog.at_level(logging.ERROR):
            shipper = ship(spool, output, shippers)
            wait_until(lambda: len(spool.looks) >= 4, 5.0, explain="the shipper to look again after failures")
            spool.put(batch(7))
            assert shipper.flush(5)
        assert shipper.running and output.called_with == [7]
        failures = [r for r in caplog.records if "cannot look for orphans" in r.getMessage()]
        assert len(failures) == 1 and not failures[0].exc_info, "one line for three failed rounds, no traceback"
    finally:
        shipper.close(2)
        spool.close()


# -- refusals by cause: the configuration's (401, 403, 404/405) keep the data --------------------------------------


@pytest.mark.parametrize("status", [401, 403, 404, 405])
def test_a_configuration_refusal_keeps_the_record_and_tries_it_again_after_the_long_wait(
    spool: Spool, shippers: list[SpoolShipper], caplog: pytest.LogCaptureFixture, status: int
) -> None:
    """A wrong key or URL is not the data's fault: never dead-lettered, tried again every `configuration_retry`
    seconds (not the policy's short backoff), one error line per try naming the status and what to check."""
    refused = SendResult(Outcome.REJECTED, f"HTTP {status} no", status=status)
    output = ScriptedOutput(refused, refused)
    spool.put(batch(0))
    spool.put(batch(1))
    with caplog.at_level(logging.ERROR):
        shipper = SpoolShipper(spool, output, FAST, name="test-shipper", configuration_retry=0.3)
        shippers.append(shipper)
        assert shipper.flush(5)
    assert output.called_with == [0, 0, 0, 1]
    (t0, _), (t1, _), (t2, _), _ = output.calls
    assert 0.3 * 0.99 <= t1 - t0 < 1.5 and 0.3 * 0.99 <= t2 - t1 < 1.5  # FAST's jitter is 0
    assert not (spool.directory / "dead").exists()
    stats = shipper.stats
    assert (stats.config_refusals, stats.dead_lettered, stats.retried, stats.delivered_records) == (2, 0, 0, 2)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(lines) == 2
    check = "credentials" if status in (401, 403) else "endpoint URL"  # the scripted output is not HoneyHive's
    assert all(f"HTTP {status}" in line and check in line and "never dead-lettered" in line for line in lines)


def test_a_configuration_refusal_waits_while_a_put_arrives(spool: Spool, shippers: list[SpoolShipper]) -> None:
    """A put wakes an idle shipper, never one waiting out a configuration refusal: records queue behind it."""
    refused = SendResult(Outcome.REJECTED, "HTTP 401", status=401)
    output = ScriptedOutput(refused)
    spool.put(batch(0))
    shipper = SpoolShipper(spool, output, FAST, name="test-shipper", configuration_retry=0.5)
    shippers.append(shipper)
    wait_until(lambda: len(output.calls) == 1, 5.0, explain="the first try")
    spool.put(batch(1))
    time.sleep(0.2)
    assert output.called_with == [0]
    assert shipper.flush(5)
    assert output.called_with == [0, 0, 1]


def test_a_404_to_an_update_is_the_datas_an_unknown_event(spool: Spool, shippers: list[SpoolShipper]) -> None:
    output = ScriptedOutput(SendResult(Outcome.REJECTED, "HTTP 404 unknown event", status=404),
                            SendResult(Outcome.REJECTED, "HTTP 405", status=405))
    spool.put(SpoolRecord.of_update(Update("e-unknown", {"metadata": {"a": 1}})))
    spool.put(SpoolRecord.of_update(Update("e-known", {"metadata": {"a": 1}})))
    shipper = SpoolShipper(spool, output, FAST, name="test-shipper", configuration_retry=0.05)
    shippers.append(shipper)
    assert shipper.flush(5)
    assert [u.event_id for u in output.called_with] == ["e-unknown", "e-known", "e-known"]
    assert len(list((spool.directory / "dead").glob("*.rec"))) == 1
    assert (shipper.stats.dead_lettered, shipper.stats.config_refusals) == (1, 1)


@pytest.mark.slow
def test_a_configuration_refusal_waits_a_longer_retry_after_the_receiver_gave(
    spool: Spool, shippers: list[SpoolShipper], caplog: pytest.LogCaptureFixture
) -> None:
    """HoneyHive's real client against a real server: a 403 with `Retry-After: 1` while the configuration retry
    is 0.2 s: the next try waits the receiver's second, and the log line says so."""
    from otel_honeyhive.outputs.honeyhive import HoneyHiveOutput
    from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
    from tests.support.fake_honeyhive import Reply, fake_honeyhive

    with fake_honeyhive() as honeyhive, caplog.at_level(logging.ERROR):
        honeyhive.then(Reply(403, headers={"Retry-After": "1"}, body=b'{"error": "forbidden"}'))
        out = HoneyHiveOutput(HoneyHiveSettings.resolve(api_key="k", server_url=honeyhive.url, api_version="legacy",
                                                        environ={}), FAST)
        spool.put(batch(0))
        shipper = SpoolShipper(spool, out, FAST, name="test-shipper", configuration_retry=0.2)
        shippers.append(shipper)
        try:
            assert shipper.flush(5)
        finally:
            out.close()
    first, second = honeyhive.batches
    assert (first.status, second.status) == (403, 200)
    assert 0.99 <= second.at - first.at < 1.8
    (line,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "HTTP 403" in line and "tried again in 1s" in line


def test_a_permanent_partial_500_from_honeyhive_is_dead_lettered_and_the_queue_moves_on(tmp_path: Path) -> None:
    """The legacy route answering 500 "events partially created" to every try of one batch: tried
    SERVER_ERROR_ATTEMPTS times, then set aside in dead/, and the batch behind it delivered."""
    from otel_honeyhive.outputs.honeyhive import HoneyHiveOutput
    from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
    from tests.support.fake_honeyhive import Reply, fake_honeyhive

    partial = Reply(500, body=b'{"errors": ["event 11111111-1111-4111-8111-111111111111 failed: bad"]}')
    one_try = RetryPolicy(deadline=0.5, initial_backoff=5.0, max_backoff=5.0)  # one request per send
    with fake_honeyhive() as honeyhive:
        honeyhive.then(*[partial] * SERVER_ERROR_ATTEMPTS)
        out = HoneyHiveOutput(HoneyHiveSettings.resolve(api_key="k", server_url=honeyhive.url, api_version="legacy",
                                                        environ={}), one_try)
        spool = Spool(tmp_path / "spool")
        spool.put(batch(0, size=2))
        spool.put(batch(1, size=2))
        flush_and_close(spool, out, FAST, name="partial")
    assert [r.status for r in honeyhive.batches] == [500] * SERVER_ERROR_ATTEMPTS + [200]
    assert [e["n"] for e in honeyhive.events] == [1, 1]
    assert len(list((tmp_path / "spool" / "dead").glob("*.rec"))) == 1


def test_a_large_record_on_a_flaky_honeyhive_is_delivered_while_each_try_makes_progress(tmp_path: Path) -> None:
    """Five bodies; a 500 before the first and after each body that goes through but the last: as many 500s as
    SERVER_ERROR_ATTEMPTS in all, yet every try but the first gets a body further, so the record is delivered,
    each event once."""
    from otel_honeyhive.outputs.honeyhive import HoneyHiveOutput
    from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
    from tests.support.fake_honeyhive import Reply, fake_honeyhive

    with fake_honeyhive() as honeyhive:
        honeyhive.then(Reply(500), *[r for _ in range(SERVER_ERROR_ATTEMPTS - 1) for r in (Reply(200), Reply(500))])
        out = HoneyHiveOutput(HoneyHiveSettings.resolve(api_key="k", server_url=honeyhive.url, api_version="legacy",
                                                        max_events_per_request=2, environ={}), FAST)
        spool = Spool(tmp_path / "spool")
        spool.put(batch(0, size=2 * SERVER_ERROR_ATTEMPTS))
        flush_and_close(spool, out, FAST, name="flaky")
    assert sum(r.status == 500 for r in honeyhive.batches) == SERVER_ERROR_ATTEMPTS
    assert sorted(e["event_id"] for e in honeyhive.events) == sorted(f"e0-{i}" for i in range(10))
    assert not (tmp_path / "spool" / "dead").exists()


def test_a_proxy_refusing_both_routes_then_repaired_delivers_at_the_next_try(tmp_path: Path) -> None:
    """`api_version` auto behind a proxy that answers 404 on both batch routes: kept, never dead-lettered, and no
    route is pinned; once the proxy serves v1 (no restart), the next configuration retry delivers."""
    from otel_honeyhive.outputs.honeyhive import HoneyHiveOutput
    from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
    from tests.support.fake_honeyhive import fake_honeyhive

    with fake_honeyhive(routes="none") as honeyhive:
        out = HoneyHiveOutput(HoneyHiveSettings.resolve(api_key="k", server_url=honeyhive.url, environ={}), FAST)
        spool = Spool(tmp_path / "spool")
        spool.put(SpoolRecord.of_events([{"event_id": f"e0-{i}", "event_type": "tool", "inputs": {}}
                                         for i in range(2)]))
        shipper = SpoolShipper(spool, out, FAST, name="proxy", configuration_retry=0.3)
        try:
            wait_until(lambda: len(honeyhive.refused) >= 2, 5.0, explain="a first try on both routes")
            assert not shipper.flush(0.1)
            honeyhive.routes = "v1"
            assert shipper.flush(5)
        finally:
            shipper.close(2)
            spool.close()
            out.close()
    assert [(r.path, r.status) for r in honeyhive.requests] == [("/v1/events/batch", 200)]
    assert {e["event_id"] for e in honeyhive.events} == {"e0-0", "e0-1"}
    assert not (tmp_path / "spool" / "dead").exists()


def test_configuration_retry_must_be_positive(spool: Spool) -> None:
    with pytest.raises(ValueError, match="configuration_retry"):
        SpoolShipper(spool, ScriptedOutput(), FAST, start=False, configuration_retry=0)


def test_a_wrong_key_keeps_every_batch_until_a_restart_with_the_right_one(tmp_path: Path) -> None:
    """The shipper and HoneyHive's real client against a real server: 401 for as long as the key is wrong,
    nothing dead-lettered; a new process (here: a new spool and shipper) with the right key delivers it all."""
    from otel_honeyhive.outputs.honeyhive import HoneyHiveOutput
    from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
    from tests.support.fake_honeyhive import Reply, fake_honeyhive

    directory = tmp_path / "spool"
    with fake_honeyhive() as honeyhive:
        honeyhive.default = Reply(401, body=b'{"error": "invalid api key"}')
        wrong = HoneyHiveOutput(HoneyHiveSettings.resolve(api_key="wrong", server_url=honeyhive.url, environ={}))
        spool = Spool(directory)
        for n in range(4):
            spool.put(batch(n, size=3))
        shipper = SpoolShipper(spool, wrong, FAST, name="wrong-key")
        wait_until(lambda: len(honeyhive.requests) >= 1, 5.0, explain="a first try")
        time.sleep(0.3)
        assert len(honeyhive.requests) == 1, "one try per minute, not the policy's backoff"
        assert shipper.stats.config_refusals == 1
        shipper.close(2)
        spool.close()
        wrong.close()
        assert not (directory / "dead").exists()
        assert len(pending_files(directory)) == 4

        honeyhive.default = Reply(200)
        right = HoneyHiveOutput(HoneyHiveSettings.resolve(api_key="right", server_url=honeyhive.url, environ={}))
        spool = Spool(directory)  # adopts what the last process left
        flush_and_close(spool, right, FAST, name="right-key")
    assert sorted(e["n"] for e in honeyhive.events) == sorted([0, 1, 2, 3] * 3)
    accepted = [r for r in honeyhive.requests if r.status == 200]
    assert {r.headers.get("Authorization") for r in accepted} == {"Bearer right"}
    assert pending_files(directory) == [] and not (directory / "dead").exists()


@pytest.mark.slow
def test_the_exporter_with_a_spool_keeps_what_a_wrong_key_was_refused(tmp_path: Path) -> None:
    """The issue's scenario: `spool_dir` and a wrong key; every batch answered 401, none reaches `dead/`; after a
    restart with the right key, every event arrives."""
    from otel_honeyhive import HoneyHiveSpanExporter
    from tests.support.fake_honeyhive import Reply, fake_honeyhive
    from tests.support.spans import batches, event_ids, llm_traces

    spans = llm_traces(12)
    directory = tmp_path / "spool"
    policy = RetryPolicy(deadline=2.0, initial_backoff=0.05, max_backoff=0.1)
    with fake_honeyhive() as honeyhive:
        honeyhive.default = Reply(401, body=b'{"error": "invalid api key"}')
        exporter = HoneyHiveSpanExporter(api_key="wrong", server_url=honeyhive.url, spool_dir=directory,
                                         retry_policy=policy)
        for part in batches(spans, 10):
            assert exporter.export(part).name == "SUCCESS"
        exporter.force_flush(timeout_millis=100)  # hands on what it holds; the spool cannot drain
        wait_until(lambda: len(honeyhive.requests) >= 1, 5.0, explain="a first try with the wrong key")
        exporter.shutdown()
        assert honeyhive.events == []
        assert not (directory / "outbox" / "dead").exists()
        assert pending_files(directory / "outbox")

        honeyhive.default = Reply(200)
        exporter = HoneyHiveSpanExporter(api_key="right", server_url=honeyhive.url, spool_dir=directory,
                                         retry_policy=policy)
        try:
            assert exporter.force_flush(timeout_millis=10_000)
        finally:
            exporter.shutdown()
    assert {e["event_id"] for e in honeyhive.events} == event_ids(spans)
    assert {r.headers.get("Authorization") for r in honeyhive.requests if r.status == 200} == {"Bearer right"}
    assert pending_files(directory / "outbox") == [] and not (directory / "outbox" / "dead").exists()


def test_without_a_spool_a_wrong_key_fails_the_export_and_the_log_says_what_to_fix(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from otel_honeyhive import HoneyHiveSpanExporter
    from tests.support.fake_honeyhive import Reply, fake_honeyhive
    from tests.support.spans import llm_traces

    with fake_honeyhive() as honeyhive, caplog.at_level(logging.WARNING, logger="otel_honeyhive"):
        honeyhive.default = Reply(401, body=b'{"error": "invalid api key"}')
        exporter = HoneyHiveSpanExporter(api_key="wrong", server_url=honeyhive.url)
        try:
            assert exporter.export(llm_traces(1)).name == "FAILURE"
        finally:
            exporter.shutdown()
    assert any("HTTP 401" in r.getMessage() and "check HH_API_KEY" in r.getMessage() for r in caplog.records)
