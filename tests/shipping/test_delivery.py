"""The Delivery façade: direct and spooled modes, and how every failure becomes a result, never a raise."""

from __future__ import annotations

import collections
import errno
import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from otel_honeyhive.core.encoded import EncodedEvents, EventShape
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.results import DELIVERED, Outcome, SendResult, Update
from otel_honeyhive.shipping.delivery import Delivery, DeliveryStats
from otel_honeyhive.shipping.records import SpoolRecord
from otel_honeyhive.shipping.retry import RetryPolicy
from otel_honeyhive.shipping.spool import SpoolError
from tests.support.spool_files import pending_files
from tests.support.waiting import wait_until

FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05, jitter=0.0)
Step = SendResult | BaseException


class ScriptedOutput:
    """An `Output` that plays scripted results (then `default`), records calls, and can hold a send open."""

    name = "scripted"

    def __init__(self, *script: Step, default: Step = DELIVERED) -> None:
        self.script: collections.deque[Step] = collections.deque(script)
        self.default = default
        self.sent: list[list[Event]] = []
        self.updates: list[Update] = []
        self.stops: list[threading.Event | None] = []
        self.gate: threading.Event | None = None
        self.close_calls = 0
        self._lock = threading.Lock()

    def _step(self, stop: threading.Event | None) -> SendResult:
        self.stops.append(stop)
        if self.gate is not None:
            self.gate.wait(5)
        with self._lock:
            step = self.script.popleft() if self.script else self.default
        if isinstance(step, BaseException):
            raise step
        return step

    def send(self, events: Sequence[Event], *, stop: threading.Event | None = None) -> SendResult:
        result = self._step(stop)
        if result.ok:
            self.sent.append(list(events))
        return result

    def update(self, update: Update, *, stop: threading.Event | None = None) -> SendResult:
        result = self._step(stop)
        if result.ok:
            self.updates.append(update)
        return result

    def close(self) -> None:
        self.close_calls += 1


EVENTS: list[Event] = [{"event_id": "e1", "event_type": "tool", "inputs": {"q": "hi"}}]


# -- direct -----------------------------------------------------------------------------------------------


def test_direct_returns_the_outputs_result() -> None:
    rejected = SendResult(Outcome.REJECTED, "400 bad")
    later = SendResult(Outcome.RETRY_LATER, "503", retry_after=2.0)
    output = ScriptedOutput(DELIVERED, rejected, later)
    delivery = Delivery.direct(output, FAST)
    assert delivery.submit_events(EVENTS) is DELIVERED
    assert delivery.submit_events(EVENTS) is rejected
    assert delivery.submit_events(EVENTS) is later
    assert output.sent == [EVENTS]
    assert delivery.stats == DeliveryStats(mode="direct", accepted=1, retry_later=1, rejected=1, accepted_events=1,
                                           failed_events=2, shipper=None)
    assert delivery.flush(1)
    delivery.close()
    assert output.close_calls == 1


def test_direct_update_and_caller_stop_event() -> None:
    output = ScriptedOutput()
    delivery = Delivery.direct(output)
    stop = threading.Event()
    update = Update("e1", {"metrics": {"score": 1}})
    assert delivery.submit_update(update, stop=stop).ok
    assert output.updates == [update]
    assert output.stops == [stop]  # the caller's shutdown signal reaches the output's backoff
    delivery.submit_events(EVENTS)
    assert output.stops[-1] is not None  # without one, the delivery's own (set by close) is used


def test_direct_output_exception_becomes_retry_later(caplog: pytest.LogCaptureFixture) -> None:
    output = ScriptedOutput(RuntimeError("boom"), RuntimeError("boom"))
    delivery = Delivery.direct(output)
    with caplog.at_level(logging.ERROR):
        first = delivery.submit_events(EVENTS)
        second = delivery.submit_events(EVENTS)
    assert first.outcome is second.outcome is Outcome.RETRY_LATER
    assert "boom" in first.detail
    assert len([r for r in caplog.records if "boom" in r.getMessage()]) == 1  # logged once


def test_empty_batches_are_trivially_delivered(tmp_path: Path) -> None:
    output = ScriptedOutput()
    delivery = Delivery.spooled(output, tmp_path / "spool", FAST)
    try:
        assert delivery.submit_events([]).ok
        assert delivery.spool is not None and delivery.spool.pending_count == 0
        assert output.stops == []
    finally:
        delivery.close()


def test_closed_delivery_refuses_without_raising(tmp_path: Path) -> None:
    for delivery in (Delivery.direct(ScriptedOutput()), Delivery.spooled(ScriptedOutput(), tmp_path / "s")):
        delivery.close()
        delivery.close()  # twice is fine
        result = delivery.submit_events(EVENTS)
        assert result.outcome is Outcome.RETRY_LATER and "closed" in result.detail


# -- spooled ----------------------------------------------------------------------------------------------


def test_spooled_acknowledges_once_on_disk_and_ships_in_the_background(tmp_path: Path) -> None:
    output = ScriptedOutput()
    output.gate = threading.Event()  # the receiver is slow
    delivery = Delivery.spooled(output, tmp_path / "spool", FAST)
    try:
        started = time.monotonic()
        result = delivery.submit_events(EVENTS)
        assert result is DELIVERED
        assert time.monotonic() - started < 1.0  # did not wait for the receiver
        assert delivery.spool is not None and delivery.spool.pending_count == 1
        (path,) = pending_files(tmp_path / "spool")
        assert SpoolRecord.decode(path.read_bytes()).events == EVENTS
        assert output.sent == []
        output.gate.set()
        assert delivery.flush(5)
        assert output.sent == [EVENTS]
        stats = delivery.stats
        assert stats.mode == "spooled" and stats.accepted == 1
        assert stats.shipper is not None and stats.shipper.delivered_events == 1
    finally:
        delivery.close()
    assert output.close_calls == 1


def test_events_are_handed_over_encoded_only_where_bytes_are_read(tmp_path: Path) -> None:
    class BytesReadingOutput(ScriptedOutput):
        reads_encoded = True

    assert Delivery.direct(ScriptedOutput()).takes_encoded is False  # it would only decode them again
    assert Delivery.direct(BytesReadingOutput()).takes_encoded is True
    output = ScriptedOutput()
    delivery = Delivery.spooled(output, tmp_path / "spool", FAST)
    try:
        assert delivery.takes_encoded is True  # the spool writes their bytes as they are
        encoded = EncodedEvents()
        encoded.add([{**EVENTS[0], "session_id": "s"}])
        assert delivery.submit_events(encoded) is DELIVERED
        assert delivery.flush(5)
        assert output.sent == [[{**EVENTS[0], "session_id": "s"}]]
    finally:
        delivery.close()


def test_an_output_shapes_events_before_encoding_only_when_delivered_directly(tmp_path: Path) -> None:
    """The spool keeps events as mapped: they may leave by another route, or be redriven elsewhere."""
    shape = EventShape("upper", lambda e: {**e, "event_name": str(e.get("event_name")).upper()})

    class ShapingOutput(ScriptedOutput):
        reads_encoded = True
        event_shape = shape

    assert Delivery.direct(ShapingOutput()).event_shape is shape
    assert Delivery.direct(ScriptedOutput()).event_shape is None
    spooled = Delivery.spooled(ShapingOutput(), tmp_path / "spool", FAST)
    try:
        assert spooled.event_shape is None
    finally:
        spooled.close()


def test_spooled_update(tmp_path: Path) -> None:
    output = ScriptedOutput()
    delivery = Delivery.spooled(output, tmp_path / "spool", FAST)
    try:
        update = Update("e1", {"outputs": {"a": 1}, "duration": 12})
        assert delivery.submit_events(EVENTS).ok
        assert delivery.submit_update(update).ok
        assert delivery.flush(5)
        assert output.sent == [EVENTS] and output.updates == [update]
    finally:
        delivery.close()


def test_spool_full_asks_the_caller_to_retry_later(tmp_path: Path) -> None:
    output = ScriptedOutput(default=SendResult(Outcome.RETRY_LATER, "503", retry_after=30.0))  # receiver down
    size = len(SpoolRecord.of_events(EVENTS).encode())
    delivery = Delivery.spooled(output, tmp_path / "spool", FAST, max_bytes=size * 2)
    try:
        assert delivery.submit_events(EVENTS).ok
        assert delivery.submit_events(EVENTS).ok
        result = delivery.submit_events(EVENTS)
        assert result.outcome is Outcome.RETRY_LATER
        assert result.retry_after is not None and result.retry_after > 0
        assert "full" in result.detail
        assert delivery.spool is not None and delivery.spool.pending_count == 2  # nothing lost or dropped
        assert delivery.stats.retry_later == 1
    finally:
        delivery.close(timeout=2)


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (errno.ENOSPC, Outcome.RETRY_LATER),  # a full disk: push back, the sender keeps the data
        (errno.EROFS, Outcome.REJECTED),  # an unusable spool: refuse, with the reason
    ],
)
def test_a_spool_write_error_is_a_clear_message_logged_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, error: int, outcome: Outcome
) -> None:
    output = ScriptedOutput()
    delivery = Delivery.spooled(output, tmp_path / "spool", FAST)
    try:

        def failing(fd: int, data: Any) -> int:
            raise OSError(error, os.strerror(error))

        monkeypatch.setattr(os, "write", failing)
        with caplog.at_level(logging.ERROR):
            results = [delivery.submit_events(EVENTS) for _ in range(3)]
        monkeypatch.undo()
        for result in results:
            assert result.outcome is outcome
            assert str(tmp_path / "spool") in result.detail and os.strerror(error) in result.detail
            if outcome is Outcome.RETRY_LATER:
                assert result.retry_after is not None and result.retry_after > 0
        logged = [r for r in caplog.records if os.strerror(error) in r.getMessage()]
        assert len(logged) == 1 and logged[0].levelno == logging.ERROR
        stats = delivery.stats
        assert (stats.retry_later, stats.rejected) == ((3, 0) if outcome is Outcome.RETRY_LATER else (0, 3))
        assert delivery.submit_events(EVENTS).ok  # recovers once the disk is usable again
    finally:
        delivery.close()


def test_unencodable_events_are_rejected_not_raised(tmp_path: Path) -> None:
    delivery = Delivery.spooled(ScriptedOutput(), tmp_path / "spool", FAST)
    try:
        result = delivery.submit_events([{"n": 2**80}])
        assert result.outcome is Outcome.REJECTED and "encode" in result.detail
    finally:
        delivery.close()


def test_spooled_on_an_unusable_directory_raises_at_construction(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(SpoolError, match="afile"):
        Delivery.spooled(ScriptedOutput(), afile / "spool", FAST)


def test_close_leaves_undelivered_records_for_the_next_start(tmp_path: Path) -> None:
    down = ScriptedOutput(default=SendResult(Outcome.RETRY_LATER, "503", retry_after=30.0))
    delivery = Delivery.spooled(down, tmp_path / "spool", FAST)
    for i in range(3):
        assert delivery.submit_events([{**EVENTS[0], "event_id": f"e{i}"}]).ok
    started = time.monotonic()
    delivery.close(timeout=5)
    assert time.monotonic() - started < 1.0
    assert down.close_calls == 1

    up = ScriptedOutput()
    again = Delivery.spooled(up, tmp_path / "spool", FAST)
    try:
        assert again.flush(5)
        assert [batch[0]["event_id"] for batch in up.sent] == ["e0", "e1", "e2"]
    finally:
        again.close()


def test_two_deliveries_share_a_spool_directory_and_both_deliver(tmp_path: Path) -> None:
    one, two = ScriptedOutput(), ScriptedOutput()
    first = Delivery.spooled(one, tmp_path / "spool", FAST)
    second = Delivery.spooled(two, tmp_path / "spool", FAST)
    try:
        assert first.submit_events([{"event_id": "a", "event_type": "tool"}]).ok
        assert second.submit_events([{"event_id": "b", "event_type": "tool"}]).ok
        assert first.flush(5) and second.flush(5)
        assert [e["event_id"] for batch in one.sent for e in batch] == ["a"]
        assert [e["event_id"] for batch in two.sent for e in batch] == ["b"]
    finally:
        first.close()
        second.close()


def test_rejected_spooled_batch_is_kept_as_a_dead_letter(tmp_path: Path) -> None:
    output = ScriptedOutput(SendResult(Outcome.REJECTED, "422 invalid event"))
    delivery = Delivery.spooled(output, tmp_path / "spool", FAST)
    try:
        assert delivery.submit_events(EVENTS).ok  # acknowledged: it is durable
        assert delivery.flush(5)
        stats = delivery.stats.shipper
        assert stats is not None and stats.dead_lettered == 1
        assert len(list((tmp_path / "spool" / "dead").glob("*.rec"))) == 1
    finally:
        delivery.close()


def test_concurrent_submitters(tmp_path: Path) -> None:
    output = ScriptedOutput()
    delivery = Delivery.spooled(output, tmp_path / "spool", FAST)
    try:

        def submit(t: int) -> None:
            for i in range(20):
                assert delivery.submit_events([{"event_id": f"{t}-{i}"}]).ok

        threads = [threading.Thread(target=submit, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert delivery.flush(10)
        ids = [batch[0]["event_id"] for batch in output.sent]
        assert sorted(ids) == sorted(f"{t}-{i}" for t in range(4) for i in range(20))
        assert delivery.stats.accepted == 80
    finally:
        delivery.close()


# -- fallback_direct (the exporter's choice) ----------------------------------------------------------------------


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS], ids=["disk-full", "read-only"])
def test_with_fallback_direct_what_the_spool_cannot_take_is_sent_directly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, error: int
) -> None:
    output = ScriptedOutput()
    delivery = Delivery.spooled(output, tmp_path / "spool", FAST, fallback_direct=True)
    try:
        def failing(fd: int, data: Any) -> int:
            raise OSError(error, os.strerror(error))

        monkeypatch.setattr(os, "write", failing)
        with caplog.at_level(logging.WARNING):
            results = [delivery.submit_events(EVENTS) for _ in range(3)]
        monkeypatch.undo()
        assert all(result is DELIVERED for result in results)
        assert output.sent == [EVENTS] * 3
        stats = delivery.stats
        assert (stats.mode, stats.accepted, stats.direct_fallbacks, stats.failed_events) == ("spooled", 3, 3, 0)
        logged = [r for r in caplog.records if "directly" in r.getMessage()]
        assert len(logged) == 1 and not logged[0].exc_info
        assert str(tmp_path / "spool") in logged[0].getMessage()
    finally:
        delivery.close()


@pytest.mark.parametrize("fallback_direct", [True, False], ids=["fallback", "no-fallback"])
def test_an_unexpected_error_from_the_spool_is_one_line_and_falls_back_like_any_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fallback_direct: bool
) -> None:
    """A bug, not the disk: its traceback is logged once; with `fallback_direct` the batch still goes out."""
    output = ScriptedOutput()
    delivery = Delivery.spooled(output, tmp_path / "spool", FAST, fallback_direct=fallback_direct)
    try:
        def broken() -> Any:
            raise RuntimeError("no entropy")

        monkeypatch.setattr(uuid, "uuid4", broken)  # what `put` names its temporary file with
        with caplog.at_level(logging.WARNING):
            results = [delivery.submit_events(EVENTS) for _ in range(3)]
        monkeypatch.undo()
        if fallback_direct:
            assert all(result is DELIVERED for result in results) and output.sent == [EVENTS] * 3
            assert delivery.stats.direct_fallbacks == 3
        else:
            assert all(result.outcome is Outcome.REJECTED for result in results) and output.sent == []
        (line,) = [r for r in caplog.records if "no entropy" in r.getMessage()]
        assert line.exc_info and "RuntimeError" in line.getMessage() and str(tmp_path / "spool") in line.getMessage()
    finally:
        delivery.close()


def test_with_fallback_direct_a_full_spool_sends_directly(tmp_path: Path) -> None:
    output = ScriptedOutput(SendResult(Outcome.RETRY_LATER, "503", retry_after=30.0))  # the shipper backs off
    size = len(SpoolRecord.of_events(EVENTS).encode())
    delivery = Delivery.spooled(output, tmp_path / "spool", FAST, max_bytes=size * 2, fallback_direct=True)
    try:
        assert delivery.submit_events(EVENTS) is DELIVERED
        wait_until(lambda: output.stops, 5.0, explain="the shipper's first send, answered 503")
        assert delivery.submit_events(EVENTS) is DELIVERED  # spooled: room for two
        assert delivery.submit_events(EVENTS) is DELIVERED  # full: sent directly
        assert output.sent == [EVENTS]
        assert delivery.spool is not None and delivery.spool.pending_count == 2
        assert delivery.stats.direct_fallbacks == 1
    finally:
        delivery.close(timeout=2)


def test_without_fallback_direct_nothing_bypasses_the_spool(tmp_path: Path) -> None:
    """The server's choice: it pushes back (503) and its client keeps the data."""
    output = ScriptedOutput(default=SendResult(Outcome.RETRY_LATER, "503", retry_after=30.0))
    size = len(SpoolRecord.of_events(EVENTS).encode())
    delivery = Delivery.spooled(output, tmp_path / "spool", FAST, max_bytes=size)
    try:
        assert delivery.submit_events(EVENTS) is DELIVERED
        assert delivery.submit_events(EVENTS).outcome is Outcome.RETRY_LATER
        assert output.sent == [] and delivery.stats.direct_fallbacks == 0
    finally:
        delivery.close(timeout=2)
