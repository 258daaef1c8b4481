"""Span filtering and GenAI log records in the pipeline: a record addressed to a dropped span goes with it, whether
it came before the span (joined, then dropped with it) or after (ignored, `reason="span_filtered"`); its content
reaches no event, not even the session's list of unmatched records."""

from __future__ import annotations

import json

from otel_honeyhive.core.counters import LOG_RECORDS_IGNORED, LOG_RECORDS_JOINED, LOG_RECORDS_UNMATCHED, SPANS_FILTERED
from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.mapper.filtering import SpanFilter
from otel_honeyhive.mapper.trace import TraceMapper
from otel_honeyhive.pipeline.assembly import TraceAssembler
from otel_honeyhive.pipeline.pipeline import Pipeline
from otel_honeyhive.shipping.delivery import Delivery
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.support.recording import Recording

TRACE = 0x0AF7651916CD43DD8448EB211C80319C
ROOT, NOISE, CHAT = 1, 2, 3
MS = 1_000_000
SECRET_PROMPT = "the prompt of a span the user filtered out"


def filtering_pipeline(output: Recording) -> Pipeline:
    mapper = TraceMapper(span_filter=SpanFilter(drop_spans=["noisy chat"]))
    return Pipeline(Delivery.direct(output, RetryPolicy(deadline=1)), mapper, TraceAssembler(hold_seconds=30))


def spans() -> list[SpanView]:
    return [
        SpanView(TRACE, NOISE, "noisy chat", 10 * MS, 20 * MS, parent_span_id=ROOT,
                 attributes={"gen_ai.operation.name": "chat"}),
        SpanView(TRACE, CHAT, "chat", 30 * MS, 40 * MS, parent_span_id=ROOT,
                 attributes={"gen_ai.operation.name": "chat"}),
        SpanView(TRACE, ROOT, "root", 0, 100 * MS),
    ]


def prompt_record(span_id: int) -> LogRecordView:
    return LogRecordView(TRACE, span_id, "gen_ai.user.message", 15 * MS, {"content": SECRET_PROMPT}, {})


def shipped_text(output: Recording) -> str:
    return json.dumps([list(output.events.values()), [u.fields for u in output.updates]])


def test_a_record_after_its_span_was_dropped_is_ignored_and_kept_nowhere() -> None:
    output = Recording()
    pipeline = filtering_pipeline(output)
    assert pipeline.accept_spans(spans()).ok
    assert pipeline.accept_records([prompt_record(NOISE)]).ok
    pipeline.close(1)
    assert sorted(e["event_name"] for e in output.events.values()) == ["chat", "root"]
    assert pipeline.counters.value(LOG_RECORDS_IGNORED, reason="span_filtered") == 1
    assert pipeline.counters.total(LOG_RECORDS_UNMATCHED) == 0
    assert pipeline.counters.value(SPANS_FILTERED, reason="span_name") == 1
    assert SECRET_PROMPT not in shipped_text(output)


def test_a_record_before_its_span_goes_with_it_when_the_span_is_dropped() -> None:
    output = Recording()
    pipeline = filtering_pipeline(output)
    assert pipeline.accept_records([prompt_record(NOISE)]).ok
    assert pipeline.accept_spans(spans()).ok
    pipeline.close(1)
    assert sorted(e["event_name"] for e in output.events.values()) == ["chat", "root"]
    assert pipeline.counters.total(LOG_RECORDS_UNMATCHED) == 0
    assert SECRET_PROMPT not in shipped_text(output)
    assert pipeline.counters.value(LOG_RECORDS_IGNORED, reason="span_filtered") == 1  # not counted as joined
    assert pipeline.counters.total(LOG_RECORDS_JOINED) == 0


def test_a_record_of_a_kept_span_still_joins_it() -> None:
    output = Recording()
    pipeline = filtering_pipeline(output)
    assert pipeline.accept_spans(spans()).ok
    assert pipeline.accept_records([prompt_record(CHAT)]).ok  # late: an update of the kept span's event
    pipeline.close(1)
    assert SECRET_PROMPT in shipped_text(output)
    assert pipeline.counters.value(LOG_RECORDS_IGNORED, reason="span_filtered") == 0
