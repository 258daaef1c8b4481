"""GenAI log records joining their spans in the pipeline (docs/mapping.md#genai-content-in-log-records): a record
that comes before its span, or while its trace is held, joins it before mapping; one that comes after its event
was shipped becomes an update of that event (applied by the real SQLite store); one whose span never comes is
kept in its session's metadata; ordinary logs are counted and nothing else."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from otel_honeyhive.core.counters import (
    LOG_RECORDS_IGNORED,
    LOG_RECORDS_JOINED,
    LOG_RECORDS_LATE,
    LOG_RECORDS_RECEIVED,
    LOG_RECORDS_UNMATCHED,
)
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.core.results import SendResult, Update
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.mapper.identity import event_id_for_span, session_id_for_trace
from otel_honeyhive.mapper.trace import TraceMapper
from otel_honeyhive.outputs.store import SQLiteStore
from otel_honeyhive.pipeline.assembly import TraceAssembler
from otel_honeyhive.pipeline.joining import UNMATCHED_KEY
from otel_honeyhive.pipeline.pipeline import Pipeline
from otel_honeyhive.shipping.delivery import Delivery
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.support.recording import Clock, Recording

TRACE = 0x0AF7651916CD43DD8448EB211C80319C
ROOT, CHAT = 0xB7AD6B7169203331, 0x00F067AA0BA902B7
MS = 1_000_000
SESSION = session_id_for_trace(TRACE)
CHAT_EVENT = event_id_for_span(TRACE, CHAT)

INPUT = [{"role": "user", "parts": [{"type": "text", "content": "What is the capital of France?"}]}]
OUTPUT = [{"role": "assistant", "parts": [{"type": "text", "content": "Paris."}], "finish_reason": "stop"}]
HISTORY = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the capital of France?"}]


def pipeline_to(output: Any, clock: Clock | None = None, hold: float = 30.0) -> Pipeline:
    assembler = TraceAssembler(hold_seconds=hold, clock=clock or Clock())
    return Pipeline(Delivery.direct(output, RetryPolicy(deadline=1)), TraceMapper(), assembler)


def root() -> SpanView:
    return SpanView(TRACE, ROOT, "answer-question", 0, 100 * MS)


def chat(**attributes: Any) -> SpanView:
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
             "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 3, **attributes}
    return SpanView(TRACE, CHAT, "chat gpt-4o-mini", 10 * MS, 90 * MS, parent_span_id=ROOT, kind="client",
                    attributes=attrs)


def record(event_name: str | None, body: Any = None, span_id: int = CHAT, trace_id: int = TRACE,
           attributes: Mapping[str, Any] | None = None) -> LogRecordView:
    return LogRecordView(trace_id, span_id, event_name, 50 * MS, body, dict(attributes or {}))


def details() -> LogRecordView:
    return record("gen_ai.client.inference.operation.details", None, attributes={
        "gen_ai.input.messages": INPUT, "gen_ai.output.messages": OUTPUT,
        "gen_ai.system_instructions": [{"type": "text", "content": "Be brief."}],
        "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 12,
    })


def per_message() -> list[LogRecordView]:
    return [
        record("gen_ai.system.message", {"content": "Be brief."}),
        record("gen_ai.user.message", {"content": "What is the capital of France?"}),
        record("gen_ai.choice", {"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "Paris."}}),
    ]


def evaluation(name: str = "relevance", changes: Mapping[str, Any] | None = None) -> LogRecordView:
    return record("gen_ai.evaluation.result", None, attributes={
        "gen_ai.evaluation.name": name, "gen_ai.evaluation.score.value": 0.9,
        "gen_ai.evaluation.score.label": "relevant", "gen_ai.evaluation.explanation": "answers the question",
        **(changes or {}),
    })


@pytest.fixture
def output() -> Iterator[Recording]:
    yield Recording()


# -- before the span ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("records", [[details()], per_message()], ids=["details", "per-message"])
def test_a_record_before_its_span_joins_it(output: Recording, records: list[LogRecordView]) -> None:
    pipeline = pipeline_to(output)
    assert pipeline.accept_records(records).ok
    assert pipeline.accept_spans([chat(), root()]).ok
    event = output.events[CHAT_EVENT]
    assert event["inputs"]["chat_history"] == HISTORY
    assert event["outputs"]["content"] == "Paris."
    assert event["outputs"]["role"] == "assistant"
    assert event["event_type"] == "model"
    assert pipeline.counters.total(LOG_RECORDS_JOINED) == len(records)
    assert not output.updates
    assert pipeline.joining.records.waiting_records == 0


def test_a_record_while_its_trace_is_held_joins_it(output: Recording) -> None:
    pipeline = pipeline_to(output)
    assert pipeline.accept_spans([chat()]).ok  # the root is still to come: the trace is held
    assert pipeline.accept_records([details()]).ok
    assert pipeline.accept_spans([root()]).ok
    assert output.events[CHAT_EVENT]["inputs"]["chat_history"] == HISTORY
    assert not output.updates


def test_the_spans_own_content_wins_and_nothing_is_duplicated(output: Recording) -> None:
    """SPAN_AND_EVENT: the span carries the messages and the record does too; the event has them once."""
    own = [{"role": "user", "parts": [{"type": "text", "content": "the span's own"}]}]
    pipeline = pipeline_to(output)
    pipeline.accept_records([details(), *per_message()])
    pipeline.accept_spans([chat(**{"gen_ai.input.messages": json.dumps(own),
                                   "gen_ai.output.messages": json.dumps(OUTPUT)}), root()])
    event = output.events[CHAT_EVENT]
    assert event["inputs"]["chat_history"] == [{"role": "user", "content": "the span's own"}]
    assert event["outputs"]["content"] == "Paris."
    text = json.dumps(event)
    assert text.count("Be brief.") == 0  # the record's system instructions do not shadow the span's messages
    assert "event:" not in text  # no shadowed copy of the records' messages in metadata
    assert "events" not in event["metadata"]


def test_evaluation_records_land_in_metrics_and_feedback(output: Recording) -> None:
    pipeline = pipeline_to(output)
    pipeline.accept_records([evaluation(), evaluation("toxicity", {"gen_ai.evaluation.score.value": 0.01,
                                                                   "gen_ai.evaluation.score.label": "clean"})])
    pipeline.accept_spans([chat(), root()])
    event = output.events[CHAT_EVENT]
    assert event["metrics"] == {"relevance": 0.9, "toxicity": 0.01}
    assert event["feedback"] == {"relevance": {"label": "relevant", "explanation": "answers the question"},
                                 "toxicity": {"label": "clean", "explanation": "answers the question"}}


def test_a_score_that_is_not_a_number_is_kept_as_feedback_and_a_numeric_text_is_a_metric(output: Recording) -> None:
    pipeline = pipeline_to(output)
    pipeline.accept_records([
        evaluation("tone", {"gen_ai.evaluation.score.value": "high", "gen_ai.evaluation.score.label": "warm"}),
        evaluation("recall", {"gen_ai.evaluation.score.value": "0.75"}),
        evaluation("safe", {"gen_ai.evaluation.score.value": True}),
    ])
    pipeline.accept_spans([chat(), root()])
    event = output.events[CHAT_EVENT]
    assert event["metrics"] == {"recall": 0.75, "safe": True}  # metrics hold numbers HoneyHive can chart
    assert event["feedback"]["tone"] == {"score": "high", "label": "warm", "explanation": "answers the question"}


# -- after the span ----------------------------------------------------------------------------------------------

def test_a_record_after_its_event_was_shipped_is_an_update(output: Recording) -> None:
    pipeline = pipeline_to(output)
    pipeline.expect_records()
    pipeline.accept_spans([chat(), root()])
    assert output.events[CHAT_EVENT]["outputs"] == {}
    assert pipeline.accept_records([details(), evaluation()]).ok
    (update,) = output.updates
    assert update.event_id == CHAT_EVENT
    assert set(update.fields) <= {"outputs", "metrics", "feedback", "metadata"}  # what PUT /events takes
    event = output.events[CHAT_EVENT]
    assert event["outputs"]["content"] == "Paris."
    assert event["metadata"]["log_record_inputs"] == {"chat_history": HISTORY}
    assert event["metrics"] == {"relevance": 0.9}
    assert event["feedback"] == {"relevance": {"label": "relevant", "explanation": "answers the question"}}
    assert event["metadata"]["trace_id"] == f"{TRACE:032x}"  # merged, not replaced
    assert pipeline.counters.total(LOG_RECORDS_LATE) == 2


def test_a_late_record_does_not_replace_the_spans_own_outputs(output: Recording) -> None:
    pipeline = pipeline_to(output)
    pipeline.expect_records()
    own = [{"role": "assistant", "parts": [{"type": "text", "content": "own"}], "finish_reason": "stop"}]
    pipeline.accept_spans([chat(**{"gen_ai.output.messages": json.dumps(own)}), root()])
    pipeline.accept_records([details()])
    assert output.events[CHAT_EVENT]["outputs"]["content"] == "own"


def test_the_first_record_starts_remembering_shipped_spans(output: Recording) -> None:
    """Without a logs input nothing is remembered (the exporter's cost is unchanged); the first record, or
    `expect_records`, starts it."""
    pipeline = pipeline_to(output)
    pipeline.accept_spans([chat(), root()])
    assert pipeline.joining.records.shipped(TRACE, CHAT) is None
    pipeline.accept_records([record("app.log", "hello")])
    trace2 = TRACE + 1
    pipeline.accept_spans([SpanView(trace2, 7, "root", 0, MS)])
    assert pipeline.joining.records.shipped(trace2, 7) is not None


def test_late_records_reach_the_sqlite_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "events.db")
    pipeline = pipeline_to(store)
    pipeline.expect_records()
    pipeline.accept_spans([chat(), root()])
    pipeline.accept_records(per_message())
    pipeline.accept_records([evaluation()])
    event = store.get_event(CHAT_EVENT)
    assert event is not None
    assert event["outputs"]["content"] == "Paris."
    assert event["metadata"]["log_record_inputs"]["chat_history"] == HISTORY
    assert event["metrics"] == {"relevance": 0.9}
    assert event["feedback"]["relevance"]["label"] == "relevant"
    pipeline.close(1)


def test_show_displays_the_updated_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`otel-honeyhive show` reads the store: the event as the late records updated it, in full and as JSON."""
    from otel_honeyhive.cli.main import main

    db = tmp_path / "events.db"
    pipeline = pipeline_to(SQLiteStore(db))
    pipeline.expect_records()
    pipeline.accept_spans([chat(), root()])
    pipeline.accept_records([details(), evaluation()])
    pipeline.close(1)
    assert main(["show", CHAT_EVENT, "--db", str(db), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["outputs"]["content"] == "Paris."
    assert shown["metrics"] == {"relevance": 0.9}
    assert main(["show", SESSION, "--db", str(db), "--full"]) == 0
    text = capsys.readouterr().out
    assert "Paris." in text and "relevance" in text and "log_record_inputs" in text


# -- never -------------------------------------------------------------------------------------------------------

def test_a_record_whose_span_never_comes_is_kept_on_the_session(output: Recording) -> None:
    clock = Clock()
    pipeline = pipeline_to(output, clock, hold=30)
    pipeline.expect_records()
    pipeline.accept_spans([root()])  # the session exists; the record names a span that never comes
    stray = record("gen_ai.user.message", {"content": "lost?"}, span_id=0x1234)
    pipeline.accept_records([stray])
    clock.now += 31
    pipeline.joining.expire()
    assert not output.updates  # not yet: a record waits ten times the hold time (a model call may be long)
    clock.now += 270
    pipeline.joining.expire()
    (update,) = output.updates
    assert update.event_id == SESSION
    (kept,) = output.events[SESSION]["metadata"][UNMATCHED_KEY]
    assert kept["event_name"] == "gen_ai.user.message"
    assert kept["span_id"] == "0000000000001234"
    assert kept["body"] == {"content": "lost?"}
    assert pipeline.counters.total(LOG_RECORDS_UNMATCHED) == 1


def test_records_of_a_held_trace_wait_past_the_hold_time_with_it(output: Recording) -> None:
    clock = Clock()
    pipeline = pipeline_to(output, clock, hold=30)
    pipeline.accept_spans([chat()])
    pipeline.accept_records([details()])
    clock.now += 31
    pipeline.joining.expire()  # the trace is still held: the record waits with it
    assert not output.updates
    pipeline.flush(1)  # released in part: joined
    assert output.events[CHAT_EVENT]["inputs"]["chat_history"] == HISTORY


def test_flush_keeps_waiting_records_on_their_session(output: Recording) -> None:
    pipeline = pipeline_to(output)
    pipeline.expect_records()
    pipeline.accept_spans([root()])
    pipeline.accept_records([record("gen_ai.choice", {"message": {"content": "x"}}, span_id=0x99)])
    pipeline.flush(1)
    assert UNMATCHED_KEY in output.events[SESSION]["metadata"]


def test_the_memory_cap_gives_up_the_oldest_records_onto_their_session(output: Recording) -> None:
    pipeline = pipeline_to(output)
    pipeline.expect_records()
    pipeline.joining.records.max_records = 2
    pipeline.accept_spans([root()])
    pipeline.accept_records([record("gen_ai.user.message", {"content": str(i)}, span_id=0x10 + i)
                             for i in range(3)])
    (update,) = output.updates
    assert [r["body"]["content"] for r in update.fields["metadata"][UNMATCHED_KEY]] == ["0"]
    assert pipeline.joining.records.waiting_records == 2


# -- not GenAI ---------------------------------------------------------------------------------------------------

def test_ordinary_logs_are_counted_and_ignored(output: Recording) -> None:
    pipeline = pipeline_to(output)
    result = pipeline.accept_records([
        record(None, "GET /health 200"),
        record("app.started", {"pid": 1}),
        record("gen_ai.user.message", {"content": "outside any span"}, span_id=0, trace_id=0),
        LogRecordView(TRACE, CHAT, "gen_ai.choice", 0, {"message": {"content": "x"}}, sampled=False),
    ])
    assert result.ok
    assert pipeline.counters.total(LOG_RECORDS_RECEIVED) == 4
    assert pipeline.counters.value(LOG_RECORDS_IGNORED, reason="unsampled") == 1  # its span is never exported
    assert pipeline.counters.value(LOG_RECORDS_IGNORED, reason="not_genai") == 2
    assert pipeline.counters.value(LOG_RECORDS_IGNORED, reason="no_span") == 1
    assert pipeline.joining.records.waiting_records == 0
    assert not output.events and not output.updates


def test_the_event_name_attribute_names_the_kind(output: Recording) -> None:
    """Older SDKs put the event name in the `event.name` attribute; the inputs resolve it (`event_name_of`)."""
    from otel_honeyhive.core.log_records import event_name_of

    attributes = {"event.name": "gen_ai.user.message"}
    view = LogRecordView(TRACE, CHAT, event_name_of(None, attributes), 0, {"content": "hi"}, attributes)
    pipeline = pipeline_to(output)
    pipeline.accept_records([view])
    pipeline.accept_spans([chat(), root()])
    assert output.events[CHAT_EVENT]["inputs"]["chat_history"] == [{"role": "user", "content": "hi"}]


def test_a_closed_pipeline_asks_for_the_records_again(output: Recording) -> None:
    pipeline = pipeline_to(output)
    pipeline.close(1)
    assert not pipeline.accept_records([details()]).ok


# -- hand-offs ---------------------------------------------------------------------------------------------------

class Down(Recording):
    """Refuses every batch for now (to be retried later)."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False

    def send(self, events: Sequence[Event], *, stop: threading.Event | None = None) -> SendResult:
        if not self.up:
            from otel_honeyhive.core.results import Outcome

            return SendResult(Outcome.RETRY_LATER, "down for the test")
        return super().send(events, stop=stop)


def test_a_failed_hand_off_puts_the_records_back_and_remembers_nothing() -> None:
    output = Down()
    pipeline = Pipeline(Delivery.direct(output, RetryPolicy(deadline=0.05, initial_backoff=0.01)), TraceMapper(),
                        TraceAssembler(hold_seconds=30, clock=Clock()))
    pipeline.accept_records([details()])
    assert not pipeline.accept_spans([chat(), root()]).ok  # the caller keeps the spans and sends them again
    assert pipeline.joining.records.waiting_records == 1
    assert pipeline.joining.records.shipped(TRACE, CHAT) is None
    output.up = True
    assert pipeline.accept_spans([chat(), root()]).ok
    assert output.events[CHAT_EVENT]["inputs"]["chat_history"] == HISTORY
    assert pipeline.counters.total(LOG_RECORDS_JOINED) == 1


def test_joining_leaves_the_journaled_spans_as_they_are(tmp_path: Path) -> None:
    """The journal (and the acknowledgement) count spans by identity: joining maps copies, the journal still
    forgets the spans once their events are handed on."""
    from otel_honeyhive.shipping.journal import Journal

    output = Recording()
    journal = Journal(tmp_path / "held", 1 << 20)
    pipeline = Pipeline(Delivery.direct(output, RetryPolicy(deadline=1)), TraceMapper(),
                        TraceAssembler(hold_seconds=30, clock=Clock()), journal=journal)
    pipeline.accept_spans([chat()])  # journaled: its root is not in the request
    assert journal.pending_records == 1
    pipeline.accept_records([details()])
    pipeline.accept_spans([root()])
    assert output.events[CHAT_EVENT]["inputs"]["chat_history"] == HISTORY
    assert journal.pending_records == 0
    pipeline.close(1)


def test_a_record_that_comes_while_its_span_is_handed_on_becomes_an_update() -> None:
    """Taken, mapped, not yet remembered as shipped: a record arriving then waits, and the hand-off's settling
    finds it (it would otherwise be kept on the session when its hold time passed)."""
    gate = threading.Event()
    arrived = threading.Event()

    class Slow(Recording):
        def send(self, events: Sequence[Event], *, stop: threading.Event | None = None) -> SendResult:
            arrived.set()
            gate.wait(5)
            return super().send(events, stop=stop)

    output = Slow()
    pipeline = pipeline_to(output)
    pipeline.expect_records()
    shipping = threading.Thread(target=pipeline.accept_spans, args=([chat(), root()],))
    shipping.start()
    assert arrived.wait(5)
    pipeline.accept_records([details()])  # the span is being handed on: not yet known as shipped
    gate.set()
    shipping.join(5)
    (update,) = output.updates
    assert update.event_id == CHAT_EVENT
    assert output.events[CHAT_EVENT]["outputs"]["content"] == "Paris."
    assert pipeline.joining.records.waiting_records == 0
    assert pipeline.counters.total(LOG_RECORDS_LATE) == 1


# -- late, in several parts -------------------------------------------------------------------------------------

def test_late_records_in_several_batches_all_reach_the_event(output: Recording) -> None:
    """An update replaces `outputs` and merges the other buckets one level deep: each update carries every late
    record of the span so far, so the second message, the second choice and the second half of an evaluation
    are not lost to the first."""
    pipeline = pipeline_to(output)
    pipeline.expect_records()
    pipeline.accept_spans([chat(), root()])
    batches = [
        [record("gen_ai.system.message", {"content": "Be brief."})],
        [record("gen_ai.user.message", {"content": "What is the capital of France?"})],
        [record("gen_ai.choice", {"index": 0, "message": {"role": "assistant", "content": "Paris."}})],
        [record("gen_ai.choice", {"index": 1, "message": {"role": "assistant", "content": "Paris, France."}})],
        [record("gen_ai.evaluation.result", None, attributes={  # the first half: no explanation yet
            "gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.9,
            "gen_ai.evaluation.score.label": "relevant"})],
        [record("gen_ai.evaluation.result", None, attributes={"gen_ai.evaluation.name": "relevance",
                                                              "gen_ai.evaluation.explanation": "on topic"})],
    ]
    for batch in batches:
        assert pipeline.accept_records(batch).ok
    event = output.events[CHAT_EVENT]
    assert event["metadata"]["log_record_inputs"]["chat_history"] == HISTORY
    assert [c["content"] for c in event["outputs"]["choices"]] == ["Paris.", "Paris, France."]
    assert event["feedback"]["relevance"] == {"label": "relevant", "explanation": "on topic"}
    assert event["metrics"] == {"relevance": 0.9}
    assert pipeline.counters.total(LOG_RECORDS_LATE) == 6


def test_a_late_update_that_failed_is_made_again_when_its_records_are_sent_again() -> None:
    """The client of a refused call sends the same records again: the update is made again, whole (nothing was
    marked as sent before it was), and the records count once."""

    class Flaky(Recording):
        def __init__(self) -> None:
            super().__init__()
            self.refuse = True

        def update(self, update: Update, *, stop: threading.Event | None = None) -> SendResult:
            if self.refuse:
                from otel_honeyhive.core.results import Outcome

                return SendResult(Outcome.RETRY_LATER, "down for the test")
            return super().update(update, stop=stop)

    output = Flaky()
    pipeline = Pipeline(Delivery.direct(output, RetryPolicy(deadline=0.05, initial_backoff=0.01)), TraceMapper(),
                        TraceAssembler(hold_seconds=30, clock=Clock()))
    pipeline.expect_records()
    pipeline.accept_spans([chat(), root()])
    assert not pipeline.accept_records(per_message()).ok  # every record late: the caller retries
    output.refuse = False
    assert pipeline.accept_records(per_message()).ok
    event = output.events[CHAT_EVENT]
    assert event["outputs"]["content"] == "Paris."
    assert event["metadata"]["log_record_inputs"]["chat_history"] == HISTORY
    assert pipeline.counters.total(LOG_RECORDS_LATE) == 3
    assert pipeline.counters.value(LOG_RECORDS_IGNORED, reason="duplicate") == 3


def test_a_late_evaluation_does_not_replace_the_spans_own_metric_or_feedback(output: Recording) -> None:
    pipeline = pipeline_to(output)
    pipeline.expect_records()
    pipeline.accept_spans([chat(**{"honeyhive_metrics.relevance": 1.0,
                                   "honeyhive_feedback.relevance": "the span's own"}), root()])
    pipeline.accept_records([evaluation(), evaluation("fluency")])
    event = output.events[CHAT_EVENT]
    assert event["metrics"]["relevance"] == 1.0
    assert event["feedback"]["relevance"] == "the span's own"
    assert event["metrics"]["fluency"] == 0.9  # another name is the evaluation's


def test_a_record_sent_twice_before_its_span_joins_once(output: Recording) -> None:
    pipeline = pipeline_to(output)
    pipeline.accept_records(per_message())
    pipeline.accept_records(per_message())
    pipeline.accept_spans([chat(), root()])
    assert output.events[CHAT_EVENT]["inputs"]["chat_history"] == HISTORY
    assert pipeline.counters.value(LOG_RECORDS_IGNORED, reason="duplicate") == 3
    assert pipeline.counters.total(LOG_RECORDS_JOINED) == 3


def test_a_choice_whose_body_is_text_is_the_answer(output: Recording) -> None:
    pipeline = pipeline_to(output)
    pipeline.accept_records([record("gen_ai.choice", "Paris.")])
    pipeline.accept_spans([chat(), root()])
    assert output.events[CHAT_EVENT]["outputs"]["content"] == "Paris."


# -- unmatched, before the session exists --------------------------------------------------------------------------

def test_a_record_given_up_before_its_session_ships_goes_into_the_session_event(output: Recording) -> None:
    """A long call: the record waited for its span longer than it may; the trace has not shipped anything, so an
    update of its session would be refused (an unknown event). The record waits for the session instead and
    goes into the session event itself."""
    clock = Clock()
    pipeline = pipeline_to(output, clock, hold=1)
    pipeline.expect_records()
    pipeline.accept_records([record("gen_ai.user.message", {"content": "asked at the start"})])
    clock.now += 11
    pipeline.joining.expire()
    assert not output.updates
    assert pipeline.counters.total(LOG_RECORDS_UNMATCHED) == 1
    pipeline.accept_spans([chat(), root()])
    (kept,) = output.events[SESSION]["metadata"][UNMATCHED_KEY]
    assert kept["body"] == {"content": "asked at the start"}
    assert not output.updates
    pipeline.accept_records([record("gen_ai.user.message", {"content": "and later"}, span_id=0x77)])
    clock.now += 11
    pipeline.joining.expire()  # the session has shipped now: an update, with both
    (update,) = output.updates
    assert [r["body"]["content"] for r in update.fields["metadata"][UNMATCHED_KEY]] == [
        "asked at the start", "and later"]


def test_records_still_waiting_for_their_session_at_close_are_sent_to_it(output: Recording) -> None:
    pipeline = pipeline_to(output)
    pipeline.expect_records()
    pipeline.accept_records([record("gen_ai.user.message", {"content": "x"})])
    pipeline.flush(1)  # given up, but the session has not shipped: kept for it
    assert not output.updates
    pipeline.close(1)
    (update,) = output.updates
    assert update.event_id == SESSION
