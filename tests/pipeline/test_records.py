"""What the pipeline remembers of shipped spans, for log records that come after their span's event
(`pipeline/records.py`): the first event of each span, addressed by (trace id, span id), with what content it had;
the oldest forgotten past the bound. The joining itself, end to end, is in test_log_records.py."""

from __future__ import annotations

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.pipeline.records import RecordJoiner, Shipped, content_size, shipped_of, span_events

TRACE = 0x0AF7651916CD43DD8448EB211C80319C


def event(span_hex: str | None, event_id: str, event_type: str = "model", **fields: object) -> Event:
    metadata = {} if span_hex is None else {"span_id": span_hex}
    return {"event_id": event_id, "event_type": event_type, "metadata": metadata, **fields}


def test_each_span_is_remembered_by_its_first_event_with_what_content_it_had() -> None:
    events = [
        event("00000000000000aa", "e-root", "chain"),
        event("00000000000000bb", "e-chat", inputs={"chat_history": [{"role": "user", "content": "hi"}]},
              outputs={"content": "hello"}),
        event("00000000000000aa", "e-stand-in", "chain"),  # a late root's stand-in, after the real event
        event("00000000000000cc", "e-tool", "tool", inputs={"chat_history": []}, outputs={}),
    ]
    assert shipped_of(TRACE, events) == [
        ((TRACE, 0xAA), ("e-root", "chain", False, False, (), ())),
        ((TRACE, 0xBB), ("e-chat", "model", True, True, (), ())),
        ((TRACE, 0xCC), ("e-tool", "tool", False, False, (), ())),
    ]


def test_events_that_stand_for_no_span_are_not_remembered() -> None:
    events = [
        event(None, "e-session", "session"),
        event("not-hex", "e-odd"),
        {"event_id": "e-no-metadata", "event_type": "model", "metadata": "span 1"},
        {"event_id": 7, "event_type": "model", "metadata": {"span_id": "00000000000000dd"}},
    ]
    assert [span_id for span_id, _ in span_events(events)] == [0xDD]
    assert shipped_of(TRACE, events) == []


def test_the_newest_half_of_the_bound_is_remembered_at_least_and_the_bound_at_most() -> None:
    joiner = RecordJoiner(max_shipped=10)
    for n in range(1, 101):  # one trace of one span per hand-off
        joiner.remember(shipped_of(n, [event(f"{n:016x}", f"e-{n}")]))
        remembered = [t for t in range(1, n + 1) if joiner.shipped(t, t) is not None]
        assert remembered == list(range(n - len(remembered) + 1, n + 1))  # the newest, none missing
        assert min(n, 5) <= len(remembered) <= 10
    assert joiner.shipped(100, 100) == Shipped("e-100", "model", False, False)


def record(span_id: int, content: str, time_ns: int = 1) -> LogRecordView:
    return LogRecordView(TRACE, span_id, "gen_ai.user.message", time_ns, {"content": content})


def test_a_record_sent_twice_is_recognised_as_waiting() -> None:
    joiner = RecordJoiner()
    joiner.wait(record(1, "hi"))
    assert joiner.is_waiting(record(1, "hi"))
    assert not joiner.is_waiting(record(1, "hi", time_ns=2))
    assert not joiner.is_waiting(record(2, "hi"))


def test_the_byte_budget_gives_up_the_oldest_spans_records_never_the_newest() -> None:
    joiner = RecordJoiner(max_bytes=25_000)
    assert joiner.wait(record(1, "a" * 10_000)) == []
    assert joiner.wait(record(2, "b" * 10_000)) == []
    given_up = joiner.wait(record(3, "c" * 10_000))
    assert [r.span_id for r in given_up] == [1]
    assert joiner.waiting_records == 2
    assert [r.span_id for r in joiner.wait(record(4, "d" * 100_000))] == [2, 3]  # alone, however large
    assert joiner.waiting_records == 1


def test_the_content_size_counts_text_bytes_and_items() -> None:
    small = LogRecordView(TRACE, 1, "gen_ai.choice", 1, {"message": {"content": "x" * 100}}, {"k": "v"})
    assert 100 < content_size(small) < 200


def test_late_records_accumulate_per_span_each_once() -> None:
    joiner = RecordJoiner()
    every, new = joiner.add_late((TRACE, 1), [record(1, "one")])
    assert (len(every), new) == (1, 1)
    every, new = joiner.add_late((TRACE, 1), [record(1, "one"), record(1, "two", time_ns=2)])
    assert [r.body["content"] for r in every] == ["one", "two"]
    assert new == 1
    assert joiner.add_late((TRACE, 2), [record(2, "other")])[1] == 1


def test_sessions_seen_are_remembered_and_forgotten_like_spans() -> None:
    joiner = RecordJoiner(max_shipped=4)
    joiner.remember_sessions({(None, "s1")})
    assert joiner.session_seen((None, "s1")) and not joiner.session_seen((None, "s2"))
    assert not joiner.session_seen(("acme", "s1")), "a session is known per project it was routed to"
    for n in range(10):
        joiner.remember_sessions({(None, f"x{n}")})
    assert not joiner.session_seen((None, "s1"))
