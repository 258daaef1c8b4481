"""Pipeline with a journal (`--spool-dir`): a request is acknowledged once each of its spans is on disk, and each
is written once — the traces it completes as events in the delivery spool, the spans still waiting for their
root in the journal.

Real spools in a temporary directory, real SDK spans; the output is a small in-test HoneyHive stand-in that
refuses everything for now (503-like), so what was spooled stays on disk to be looked at."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from otel_honeyhive.core.encoded import batch_of
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.results import DELIVERED, Outcome, SendResult, Update
from otel_honeyhive.core.spans import SpanView, as_span_view
from otel_honeyhive.mapper.trace import TraceMapper
from otel_honeyhive.pipeline import pipeline as pipeline_module
from otel_honeyhive.pipeline.assembly import TraceAssembler
from otel_honeyhive.pipeline.pipeline import Pipeline
from otel_honeyhive.shipping.delivery import Delivery
from otel_honeyhive.shipping.journal import Journal
from otel_honeyhive.shipping.records import SpoolRecord
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.support.spans import one_trace
from tests.support.spool_files import pending_files
from tests.support.waiting import wait_until


class Unavailable:
    """An output that is down: every send is to be retried later, so spooled records stay."""

    name = "unavailable"

    def send(self, events: Sequence[Event], *, stop: threading.Event | None = None) -> SendResult:
        return SendResult(Outcome.RETRY_LATER, "down for the test", 60.0)

    def update(self, update: Update, *, stop: threading.Event | None = None) -> SendResult:
        return self.send([], stop=stop)

    def close(self) -> None:
        pass


def trace(name: str, children: int = 3) -> list[SpanView]:
    """One trace of real SDK spans (model calls under a root), as exported: children first, the root last."""
    return [as_span_view(span) for span in one_trace(name, children, child_name="{name}-step-{i}")]


def spooled_size(*traces: list[SpanView]) -> int:
    """The bytes a delivery record of these traces' events takes (the mapper is deterministic)."""
    mapper = TraceMapper()
    return len(SpoolRecord.of_events(batch_of((mapper.map_trace(t) for t in traces), encode=True)).encode())


def journaled_size(spans: list[SpanView]) -> int:
    return len(SpoolRecord.of_spans(spans).encode())


class Bridge:
    def __init__(self, root: Path, *, outbox_bytes: int = 1 << 30, journal_bytes: int = 1 << 30) -> None:
        self.delivery = Delivery.spooled(Unavailable(), root / "outbox", RetryPolicy(), max_bytes=outbox_bytes)
        self.journal = Journal(root / "held", journal_bytes)
        self.assembler = TraceAssembler(hold_seconds=60)
        self.intake = Pipeline(self.delivery, TraceMapper(), self.assembler, journal=self.journal)

    @property
    def outbox_records(self) -> int:
        spool = self.delivery.spool
        assert spool is not None
        return spool.pending_count

    def close(self) -> None:
        self.delivery.close(5)
        self.journal.close()


@pytest.fixture
def bridges(tmp_path: Path) -> Iterator[list[Bridge]]:
    made: list[Bridge] = []
    yield made
    for bridge in made:
        bridge.close()


def open_bridge(bridges: list[Bridge], root: Path, **caps: int) -> Bridge:
    bridge = Bridge(root, **caps)
    bridges.append(bridge)
    return bridge


def test_a_request_that_completes_its_traces_goes_to_disk_once_as_events(tmp_path: Path, bridges: list[Bridge]) -> None:
    bridge = open_bridge(bridges, tmp_path, journal_bytes=1)  # a journal with room for nothing
    assert bridge.intake.accept_spans(trace("whole")) is DELIVERED
    assert bridge.outbox_records == 1
    assert bridge.journal.stored_records == 0, "nothing waits, so nothing is journaled"


def test_spans_waiting_for_their_root_are_journaled_until_their_events_are_spooled(
    tmp_path: Path, bridges: list[Bridge]
) -> None:
    bridge = open_bridge(bridges, tmp_path)
    spans = trace("open")
    children, root = spans[:-1], spans[-1:]
    assert bridge.intake.accept_spans(children) is DELIVERED
    assert (bridge.journal.stored_records, bridge.outbox_records) == (1, 0)
    assert bridge.intake.accept_spans(root) is DELIVERED
    assert (bridge.journal.stored_records, bridge.outbox_records) == (0, 1)


def test_a_request_mixing_both_journals_only_the_waiting_spans(tmp_path: Path, bridges: list[Bridge]) -> None:
    bridge = open_bridge(bridges, tmp_path)
    whole, open_ = trace("whole"), trace("open")
    waiting = open_[:-1]
    assert bridge.intake.accept_spans([*whole, *waiting]) is DELIVERED
    (path,) = pending_files(tmp_path / "held")
    assert [s.span_id for s in SpoolRecord.decode(path.read_bytes()).spans] == [s.span_id for s in waiting]
    assert bridge.outbox_records == 1


def test_when_the_outbox_is_full_the_completed_spans_are_journaled_and_still_acknowledged(
    tmp_path: Path, bridges: list[Bridge]
) -> None:
    first, second = trace("first"), trace("second")
    bridge = open_bridge(bridges, tmp_path, outbox_bytes=spooled_size(first) + spooled_size(second) // 2)
    assert bridge.intake.accept_spans(first) is DELIVERED  # fills the outbox (its output is down)
    assert bridge.intake.accept_spans(second) is DELIVERED
    assert bridge.outbox_records == 1
    assert bridge.journal.stored_records == 1, "on disk in the journal instead"
    assert bridge.assembler.held_spans == len(second), "held to be handed on once there is room"


def test_when_neither_outbox_nor_journal_has_room_the_request_is_refused_and_earlier_spans_kept(
    tmp_path: Path, bridges: list[Bridge]
) -> None:
    filler, open_ = trace("filler"), trace("open")
    waiting, root = open_[:-1], open_[-1:]
    bridge = open_bridge(bridges, tmp_path, outbox_bytes=spooled_size(filler) + spooled_size(open_) // 2,
                         journal_bytes=journaled_size(waiting) + journaled_size(root) // 2)
    assert bridge.intake.accept_spans(filler) is DELIVERED
    assert bridge.intake.accept_spans(waiting) is DELIVERED  # journaled: acknowledged
    result = bridge.intake.accept_spans(root)  # completes the trace, but there is room nowhere
    assert result.outcome is Outcome.RETRY_LATER and "full" in result.detail
    assert bridge.assembler.held_spans == len(waiting), "the acknowledged spans stay, the refused root does not"
    assert bridge.journal.stored_records == 1


@pytest.mark.slow
def test_the_held_spans_of_a_process_that_is_gone_are_taken_over_by_a_live_one(
    tmp_path: Path, bridges: list[Bridge], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two servers on one spool directory; one goes (here: exits with spans journaled, its segment unlocked, as a
    `kill -9` leaves it) while the other runs. The live one holds the spans as its own, and the trace completes
    there when its root comes, as after a restart, rather than waiting for a process to start."""
    monkeypatch.setattr(pipeline_module, "ADOPT_JOURNAL_SECONDS", 0.1)
    bridge = open_bridge(bridges, tmp_path)
    bridge.intake.start()
    spans = trace("orphaned")
    children, root = spans[:-1], spans[-1:]
    gone = Journal(tmp_path / "held")
    assert gone.write(children) is DELIVERED
    gone.close()  # its record stays on disk, in a segment no live process holds
    wait_until(lambda: bridge.assembler.held_spans == len(children), 5.0,
               explain="the gone process's held spans taken over by the live one")
    assert bridge.journal.stored_records == 1, "journaled in the live process's own segment now"
    assert bridge.intake.accept_spans(root) is DELIVERED
    assert (bridge.journal.stored_records, bridge.outbox_records) == (0, 1), "the whole trace, spooled as events"
    assert not pending_files(tmp_path / "held")
    bridge.intake.close(1)
