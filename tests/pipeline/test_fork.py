"""A pipeline in a forked child (`os.fork`, real): its own empty hold buffer, fresh locks, running threads, a spool
segment of its own (or direct delivery when the spool cannot be used there); a closed pipeline stays closed.

Each test forks for real and runs the child's half in `in_child`, which reports back as JSON and fails the test if
the child hangs. Spans are real SDK spans."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from otel_honeyhive.core.counters import LOG_RECORDS_JOINED, LOG_RECORDS_RECEIVED
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.core.results import DELIVERED, Outcome, SendResult, Update
from otel_honeyhive.core.spans import SpanView, as_span_view
from otel_honeyhive.mapper.trace import TraceMapper
from otel_honeyhive.outputs.memory import MemoryOutput
from otel_honeyhive.pipeline.assembly import TraceAssembler
from otel_honeyhive.pipeline.pipeline import Pipeline
from otel_honeyhive.shipping.delivery import Delivery
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.support.forking import in_child
from tests.support.spans import one_trace
from tests.support.waiting import wait_until

FAST = RetryPolicy(deadline=2.0, initial_backoff=0.05, max_backoff=0.1)


def trace(name: str, children: int = 2) -> list[SpanView]:
    """Children first, the root last, as the SDK exports them."""
    return [as_span_view(span) for span in one_trace(name, children, child_name="{name}-step-{i}")]


def names(events: Sequence[Event]) -> list[str]:
    return sorted(str(event["event_name"]) for event in events)


class ParentDown:
    """Down in the process that made it (so its spooled records stay there), up in any forked child."""

    name = "parent-down"

    def __init__(self) -> None:
        self.parent = os.getpid()
        self.sent: list[Event] = []

    def send(self, events: Sequence[Event], *, stop: threading.Event | None = None) -> SendResult:
        if os.getpid() == self.parent:
            return SendResult(Outcome.RETRY_LATER, "down in the parent", 60.0)
        self.sent.extend(events)
        return DELIVERED

    def update(self, update: Update, *, stop: threading.Event | None = None) -> SendResult:
        return SendResult(Outcome.REJECTED, "no updates here")

    def close(self) -> None:
        pass


@pytest.fixture
def pipelines() -> Iterator[list[Pipeline]]:
    made: list[Pipeline] = []
    yield made
    for pipeline in made:
        pipeline.close(1.0, spool_seconds=0)


def make(pipelines: list[Pipeline], delivery: Delivery, *, hold: float = 60.0, start: bool = True) -> Pipeline:
    pipeline = Pipeline(delivery, TraceMapper(), TraceAssembler(hold_seconds=hold))
    pipelines.append(pipeline)
    if start:
        pipeline.start()
    return pipeline


def test_the_child_holds_none_of_the_parents_spans_and_counts_from_zero(pipelines: list[Pipeline]) -> None:
    output = MemoryOutput()
    pipeline = make(pipelines, Delivery.direct(output))
    waiting = trace("parent")[:-1]
    assert pipeline.accept_spans(waiting) is DELIVERED
    assert pipeline.held_spans == 2

    def child() -> dict[str, Any]:
        before = {"held": pipeline.held_spans, "received": pipeline.stats.spans_received}
        assert pipeline.accept_spans(trace("child")) is DELIVERED
        assert pipeline.flush(2.0)
        return {**before, "events": names(output.take())}

    seen = in_child(child)
    assert (seen["held"], seen["received"]) == (0, 0)
    assert seen["events"] == ["child", "child-step-0", "child-step-1"], "the parent's held spans stay the parent's"
    assert pipeline.held_spans == 2
    assert pipeline.flush(2.0)
    assert names(output.take()) == ["parent-step-0", "parent-step-1"]


def test_a_child_forked_while_other_threads_hold_the_locks_does_not_deadlock(pipelines: list[Pipeline]) -> None:
    output = MemoryOutput()
    pipeline = make(pipelines, Delivery.direct(output))
    locks = [pipeline.assembler._lock, pipeline._stats_lock, pipeline._map_lock, pipeline.delivery._lock]
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        for lock in locks:
            lock.acquire()
        holding.set()
        done.wait(10)
        for lock in locks:
            lock.release()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert holding.wait(5)
    try:
        def child() -> dict[str, Any]:
            result = pipeline.accept_spans(trace("child"))
            return {"ok": result.ok, "events": names(output.take()), "stats": pipeline.delivery.stats.accepted}

        seen = in_child(child, timeout=5.0)
    finally:
        done.set()
        holder.join(5)
    assert seen == {"ok": True, "events": ["child", "child-step-0", "child-step-1"], "stats": 1}


def user_message(span: SpanView) -> LogRecordView:
    """A GenAI log record naming `span`: it waits for the span, or joins its event."""
    return LogRecordView(span.trace_id, span.span_id, "gen_ai.user.message", span.start_ns,
                         {"content": "What is the capital of France?"}, {})


def test_the_childs_log_records_join_under_its_own_lock_and_none_of_the_parents_wait(
    pipelines: list[Pipeline],
) -> None:
    output = MemoryOutput()
    pipeline = make(pipelines, Delivery.direct(output))
    parents = trace("parent")
    assert pipeline.accept_records([user_message(parents[0])]) is DELIVERED
    assert pipeline.joining.records.waiting_records == 1
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with pipeline._map_lock:
            holding.set()
            done.wait(10)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert holding.wait(5)
    try:
        def child() -> dict[str, Any]:
            before = pipeline.joining.records.waiting_records
            spans = trace("child")
            assert pipeline.accept_records([user_message(spans[0])]) is DELIVERED
            assert pipeline.accept_spans(spans) is DELIVERED
            counted = pipeline.counters.total
            return {"before": before, "received": counted(LOG_RECORDS_RECEIVED), "joined": counted(LOG_RECORDS_JOINED),
                    "left": pipeline.joining.records.waiting_records}

        seen = in_child(child, timeout=5.0)
    finally:
        done.set()
        holder.join(5)
    assert seen == {"before": 0, "received": 1, "joined": 1, "left": 0}
    assert pipeline.joining.records.waiting_records == 1, "the parent's record waits in the parent"


def test_the_release_thread_runs_in_the_child(pipelines: list[Pipeline]) -> None:
    output = MemoryOutput()
    pipeline = make(pipelines, Delivery.direct(output), hold=0.2)

    def child() -> dict[str, Any]:
        assert pipeline.accept_spans(trace("rootless")[:-1]) is DELIVERED
        events = wait_until(output.take, 3.0, explain="the child's release thread to ship a trace past its hold")
        return {"events": names(events)}

    assert in_child(child) == {"events": ["rootless-step-0", "rootless-step-1"]}


def test_a_pipeline_closed_before_the_fork_stays_closed(pipelines: list[Pipeline]) -> None:
    pipeline = make(pipelines, Delivery.direct(MemoryOutput()))
    pipeline.close(1.0)

    def child() -> dict[str, Any]:
        result = pipeline.accept_spans(trace("late"))
        releaser = pipeline._releaser
        return {"outcome": result.outcome.name, "closed": pipeline.closed,
                "releasing": releaser is not None and releaser.is_alive()}

    assert in_child(child) == {"outcome": "RETRY_LATER", "closed": True, "releasing": False}


def test_a_spooled_child_ships_its_own_records_from_its_own_segment(
    pipelines: list[Pipeline], tmp_path: Path
) -> None:
    output = ParentDown()
    delivery = Delivery.spooled(output, tmp_path / "spool", FAST)
    pipeline = make(pipelines, delivery)
    assert pipeline.accept_spans(trace("parent")) is DELIVERED  # spooled: the parent's output is down
    spool = delivery.spool
    assert spool is not None and spool.pending_count == 1

    def child() -> dict[str, Any]:
        assert delivery.spool is not None
        pending_before = delivery.spool.pending_count
        assert pipeline.accept_spans(trace("child")) is DELIVERED
        flushed = pipeline.flush(3.0)
        stats = delivery.stats
        return {"pending_before": pending_before, "flushed": flushed, "sent": names(output.sent),
                "mode": stats.mode, "shipped": stats.shipper.delivered_events if stats.shipper else None}

    seen = in_child(child)
    assert seen == {"pending_before": 0, "flushed": True, "sent": ["child", "child-step-0", "child-step-1"],
                    "mode": "spooled", "shipped": 3}
    assert spool.pending_count == 1, "the parent's record is the parent's to ship"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[tuple[str, str, bool]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelname, record.getMessage(), bool(record.exc_info)))


def test_a_child_that_cannot_use_the_spool_delivers_directly_after_one_line(
    pipelines: list[Pipeline], tmp_path: Path
) -> None:
    output = MemoryOutput()
    directory = tmp_path / "spool"
    delivery = Delivery.spooled(output, directory, FAST, fallback_direct=True)
    pipeline = make(pipelines, delivery)
    shutil.rmtree(directory)
    directory.write_text("a file where the spool was")  # the child cannot make a segment of its own there
    lines = Lines()
    logger = logging.getLogger("otel_honeyhive")
    logger.addHandler(lines)
    try:
        def child() -> dict[str, Any]:
            result = pipeline.accept_spans(trace("child"))
            stats = delivery.stats
            return {"ok": result.ok, "events": names(output.take()), "mode": stats.mode,
                    "error": stats.spool_error, "lines": lines.lines}

        seen = in_child(child)
    finally:
        logger.removeHandler(lines)
    assert seen["ok"] and seen["events"] == ["child", "child-step-0", "child-step-1"]
    assert seen["mode"] == "direct" and str(directory) in seen["error"]
    ((level, message, traceback),) = seen["lines"]
    assert level == "ERROR" and not traceback
    assert str(directory) in message and "shipping directly" in message


def test_every_component_resets_what_it_counts_in_the_child(pipelines: list[Pipeline], tmp_path: Path) -> None:
    delivery = Delivery.spooled(MemoryOutput(), tmp_path / "spool", FAST)
    pipeline = make(pipelines, delivery)
    assert pipeline.accept_spans(trace("parent")) is DELIVERED
    assert pipeline.flush(3.0)
    assert delivery.stats.accepted == 1

    def child() -> dict[str, Any]:
        stats = delivery.stats
        shipper = stats.shipper
        return {"accepted": stats.accepted, "shipped": shipper.delivered_records if shipper else None,
                "mapped": pipeline.stats.events_mapped, "released": pipeline.assembler.stats.released_complete,
                "threads": sorted(t.name for t in threading.enumerate() if t.name.startswith("otel-honeyhive"))}

    seen = in_child(child)
    assert (seen["accepted"], seen["shipped"], seen["mapped"], seen["released"]) == (0, 0, 0, 0)
    assert seen["threads"] == ["otel-honeyhive-hold", "otel-honeyhive-memory-shipper"]
