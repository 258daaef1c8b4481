"""GenAI log records with a journal (the server's `--spool-dir`): a record left waiting for its span is on disk
before the request is acknowledged, leaves the journal once it is durably handed on (joined into a delivered
event, or sent as an update), and after a crash is replayed into the joiner (docs/delivery.md#the-held-span-journal).

Real journals in a temporary directory; the output is a small in-test HoneyHive stand-in that keeps what it is
sent and applies updates as HoneyHive does. A "crash" is a pipeline whose journal is closed without the pipeline
being closed: its memory is gone, what it journaled is on disk, in a segment no live process holds."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from otel_honeyhive.core.counters import LOG_RECORDS_JOINED
from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.core.results import DELIVERED, Outcome
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.mapper.identity import event_id_for_span, session_id_for_trace
from otel_honeyhive.mapper.trace import TraceMapper
from otel_honeyhive.pipeline import pipeline as pipeline_module
from otel_honeyhive.pipeline.assembly import TraceAssembler
from otel_honeyhive.pipeline.joining import UNMATCHED_KEY
from otel_honeyhive.pipeline.pipeline import Pipeline
from otel_honeyhive.shipping.delivery import Delivery
from otel_honeyhive.shipping.journal import Journal
from otel_honeyhive.shipping.records import SpoolRecord
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.support.recording import Clock, Recording
from tests.support.spool_files import pending_files
from tests.support.waiting import wait_until

TRACE = 0x0AF7651916CD43DD8448EB211C80319C
ROOT, CHAT = 0xB7AD6B7169203331, 0x00F067AA0BA902B7
MS = 1_000_000
SESSION = session_id_for_trace(TRACE)
CHAT_EVENT = event_id_for_span(TRACE, CHAT)
INPUT = [{"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]}]
OUTPUT = [{"role": "assistant", "parts": [{"type": "text", "content": "Paris."}], "finish_reason": "stop"}]
HOLD = 30.0


class Server:
    """A pipeline as `serve --spool-dir` builds it with the local store: direct delivery, a journal."""

    def __init__(self, root: Path, output: Recording, *, journal_bytes: int = 1 << 30) -> None:
        self.clock = Clock()
        self.journal = Journal(root / "held", journal_bytes)
        self.pipeline = Pipeline(Delivery.direct(output, RetryPolicy(deadline=0.2)), TraceMapper(),
                                 TraceAssembler(hold_seconds=HOLD, clock=self.clock), journal=self.journal)
        self.pipeline.expect_records()

    def crash(self) -> None:
        """What `kill -9` leaves: the journal's files, nothing of the memory."""
        self.journal.close()

    @property
    def journaled(self) -> int:
        return self.journal.stored_records


def root() -> SpanView:
    return SpanView(TRACE, ROOT, "answer-question", 0, 100 * MS)


def chat() -> SpanView:
    return SpanView(TRACE, CHAT, "chat gpt-4o-mini", 10 * MS, 90 * MS, parent_span_id=ROOT, kind="client",
                    attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"})


def record(event_name: str, body: Any = None, span_id: int = CHAT,
           attributes: Mapping[str, Any] | None = None) -> LogRecordView:
    return LogRecordView(TRACE, span_id, event_name, 50 * MS, body, dict(attributes or {}))


def details() -> LogRecordView:
    return record("gen_ai.client.inference.operation.details", attributes={
        "gen_ai.input.messages": INPUT, "gen_ai.output.messages": OUTPUT})


def joined(output: Recording) -> bool:
    event = output.events.get(CHAT_EVENT)
    return event is not None and event["outputs"].get("content") == "Paris."


@pytest.fixture
def output() -> Recording:
    return Recording()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    made: list[Server] = []
    yield made
    for server in made:
        server.pipeline.close(1)


def start(servers: list[Server], root_dir: Path, output: Recording, **caps: int) -> Server:
    server = Server(root_dir, output, **caps)
    server.pipeline.start(release_expired=False)
    servers.append(server)
    return server


# -- on disk before acknowledged, gone once handed on ---------------------------------------------------------------

def test_a_record_waiting_for_its_span_is_journaled_before_it_is_acknowledged(
    tmp_path: Path, output: Recording, servers: list[Server]
) -> None:
    server = start(servers, tmp_path, output)
    waiting = details()
    assert server.pipeline.accept_records([waiting]) is DELIVERED
    (path,) = pending_files(tmp_path / "held")
    on_disk = SpoolRecord.decode(path.read_bytes())
    assert on_disk.kind == "records" and on_disk.records == [waiting]


def test_a_journaled_record_leaves_the_journal_once_joined_into_a_delivered_event(
    tmp_path: Path, output: Recording, servers: list[Server]
) -> None:
    server = start(servers, tmp_path, output)
    assert server.pipeline.accept_records([details()]) is DELIVERED
    assert server.pipeline.accept_spans([chat(), root()]) is DELIVERED
    assert joined(output)
    assert server.journaled == 0 and not pending_files(tmp_path / "held")


def test_a_record_joined_into_a_hand_off_that_failed_stays_journaled_until_one_succeeds(
    tmp_path: Path, output: Recording, servers: list[Server]
) -> None:
    server = start(servers, tmp_path, output)
    assert server.pipeline.accept_records([details()]) is DELIVERED
    assert server.pipeline.accept_spans([chat()]) is DELIVERED  # held, journaled
    output.down = True
    server.clock.now += HOLD + 1
    server.pipeline._release(server.pipeline.assembler.expired())  # the releaser's round: the output is down
    assert server.journaled == 2, "the spans and the record they were to carry stay on disk"
    output.down = False
    server.clock.now += HOLD + 1
    server.pipeline._release(server.pipeline.assembler.expired())
    assert joined(output)
    assert server.journaled == 0


def test_a_record_coming_after_its_span_is_an_update_and_never_journaled(
    tmp_path: Path, output: Recording, servers: list[Server]
) -> None:
    server = start(servers, tmp_path, output)
    assert server.pipeline.accept_spans([chat(), root()]) is DELIVERED
    assert server.pipeline.accept_records([details()]) is DELIVERED
    (update,) = output.updates
    assert update.event_id == CHAT_EVENT
    assert not pending_files(tmp_path / "held")


def test_journaled_records_given_up_onto_their_session_leave_the_journal_with_the_update(
    tmp_path: Path, output: Recording, servers: list[Server]
) -> None:
    server = start(servers, tmp_path, output)
    assert server.pipeline.accept_spans([root()]) is DELIVERED  # the session exists
    stray = record("gen_ai.user.message", {"content": "lost?"}, span_id=0x1234)
    assert server.pipeline.accept_records([stray]) is DELIVERED
    assert server.journaled == 1
    server.clock.now += 10 * HOLD + 1
    server.pipeline.joining.expire()
    (update,) = output.updates
    assert update.event_id == SESSION
    assert [kept["body"] for kept in update.fields["metadata"][UNMATCHED_KEY]] == [{"content": "lost?"}]
    assert server.journaled == 0


def test_an_unmatched_record_waiting_for_its_session_leaves_the_journal_in_the_session_event(
    tmp_path: Path, output: Recording, servers: list[Server]
) -> None:
    server = start(servers, tmp_path, output)
    stray = record("gen_ai.user.message", {"content": "early"}, span_id=0x1234)
    assert server.pipeline.accept_records([stray]) is DELIVERED
    server.clock.now += 10 * HOLD + 1
    server.pipeline.joining.expire()  # given up; no event of its session shipped yet: it waits for one
    assert not output.updates and server.journaled == 1
    assert server.pipeline.accept_spans([root()]) is DELIVERED
    assert [kept["body"] for kept in output.events[SESSION]["metadata"][UNMATCHED_KEY]] == [{"content": "early"}]
    assert server.journaled == 0


def test_a_sent_twice_record_is_journaled_once(tmp_path: Path, output: Recording, servers: list[Server]) -> None:
    server = start(servers, tmp_path, output)
    assert server.pipeline.accept_records([details()]) is DELIVERED
    assert server.pipeline.accept_records([details()]) is DELIVERED  # a client's retry
    assert server.journaled == 1
    assert server.pipeline.accept_spans([chat(), root()]) is DELIVERED
    assert server.journaled == 0


# -- a full journal -------------------------------------------------------------------------------------------------

def test_a_full_journal_refuses_the_records_before_taking_any(
    tmp_path: Path, output: Recording, servers: list[Server]
) -> None:
    size = len(SpoolRecord.of_records([details()]).encode())
    server = start(servers, tmp_path, output, journal_bytes=size + size // 2)
    assert server.pipeline.accept_records([details()]) is DELIVERED
    another = record("gen_ai.client.inference.operation.details", span_id=0x99, attributes=details().attributes)
    result = server.pipeline.accept_records([another])
    assert result.outcome is Outcome.RETRY_LATER and "full" in result.detail
    assert result.retry_after is not None and result.retry_after > 0
    assert server.pipeline.joining.records.waiting_records == 1, "the refused record was not taken"
    assert server.journaled == 1


# -- after a crash --------------------------------------------------------------------------------------------------

def test_a_record_acknowledged_before_a_crash_joins_its_span_after_the_restart(
    tmp_path: Path, output: Recording, servers: list[Server]
) -> None:
    crashed = Server(tmp_path, output)
    crashed.pipeline.start(release_expired=False)
    assert crashed.pipeline.accept_records([details()]) is DELIVERED
    crashed.crash()
    restarted = start(servers, tmp_path, output)
    assert restarted.pipeline.joining.records.waiting_records == 1, "replayed before any request"
    assert restarted.pipeline.accept_spans([chat(), root()]) is DELIVERED
    assert joined(output)
    assert restarted.pipeline.counters.total(LOG_RECORDS_JOINED) == 1
    assert restarted.journaled == 0 and not pending_files(tmp_path / "held")


def test_a_record_and_the_held_span_it_waits_for_are_both_replayed_and_join(
    tmp_path: Path, output: Recording, servers: list[Server]
) -> None:
    crashed = Server(tmp_path, output)
    assert crashed.pipeline.accept_spans([chat()]) is DELIVERED  # held for its root, journaled
    assert crashed.pipeline.accept_records([details()]) is DELIVERED  # its trace is held: it waits, journaled
    crashed.crash()
    restarted = start(servers, tmp_path, output)
    assert restarted.pipeline.accept_spans([root()]) is DELIVERED
    assert joined(output)
    assert restarted.journaled == 0


def test_a_replayed_record_whose_span_never_comes_ends_on_its_session_as_without_the_crash(
    tmp_path: Path, output: Recording, servers: list[Server]
) -> None:
    crashed = Server(tmp_path, output)
    stray = record("gen_ai.user.message", {"content": "lost?"}, span_id=0x1234)
    assert crashed.pipeline.accept_records([stray]) is DELIVERED
    crashed.crash()
    restarted = start(servers, tmp_path, output)
    assert restarted.pipeline.accept_spans([root()]) is DELIVERED
    restarted.clock.now += 10 * HOLD + 1
    restarted.pipeline.joining.expire()
    (update,) = output.updates
    assert update.event_id == SESSION
    assert [kept["body"] for kept in output.events[SESSION]["metadata"][UNMATCHED_KEY]] == [{"content": "lost?"}]
    assert restarted.journaled == 0


def test_a_graceful_close_keeps_records_waiting_for_their_span_journaled(
    tmp_path: Path, output: Recording, servers: list[Server]
) -> None:
    first = Server(tmp_path, output)
    assert first.pipeline.accept_records([details()]) is DELIVERED
    first.pipeline.close(1)
    assert not output.updates, "not given up at close: the span may still come, to the next process"
    assert len(pending_files(tmp_path / "held")) == 1
    restarted = start(servers, tmp_path, output)
    assert restarted.pipeline.accept_spans([chat(), root()]) is DELIVERED
    assert joined(output)


def test_a_graceful_close_keeps_records_waiting_for_a_session_not_yet_seen_journaled(
    tmp_path: Path, output: Recording, servers: list[Server]
) -> None:
    """Given up on their span, the records wait for their session's event to carry them; a close before it comes
    must not send them to a session that does not exist (refused for good: lost) but leave them for the next
    start, as records still waiting for their span are left."""
    first = Server(tmp_path, output)
    stray = record("gen_ai.user.message", {"content": "early"}, span_id=0x1234)
    assert first.pipeline.accept_records([stray]) is DELIVERED
    first.clock.now += 10 * HOLD + 1
    first.pipeline.joining.expire()  # given up on its span; its session has no event yet
    first.pipeline.close(1)
    assert not output.updates, "no update of a session that does not exist"
    assert len(pending_files(tmp_path / "held")) == 1
    restarted = start(servers, tmp_path, output)
    assert restarted.pipeline.accept_spans([root()]) is DELIVERED
    restarted.clock.now += 10 * HOLD + 1
    restarted.pipeline.joining.expire()
    assert [kept["body"] for kept in output.events[SESSION]["metadata"][UNMATCHED_KEY]] == [{"content": "early"}]
    assert restarted.journaled == 0


def test_the_records_of_a_process_that_is_gone_are_taken_over_by_a_live_one(
    tmp_path: Path, output: Recording, servers: list[Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_module, "ADOPT_JOURNAL_SECONDS", 0.1)
    live = Server(tmp_path, output)
    live.pipeline.start()
    servers.append(live)
    gone = Journal(tmp_path / "held")
    assert gone.write_records([details()]) is DELIVERED
    gone.close()  # its record stays on disk, in a segment no live process holds
    wait_until(lambda: live.pipeline.joining.records.waiting_records == 1, 5.0,
               explain="the gone process's waiting record taken over by the live one")
    assert live.pipeline.accept_spans([chat(), root()]) is DELIVERED
    assert joined(output)
    assert not pending_files(tmp_path / "held")
