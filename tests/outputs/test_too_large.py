"""A receiver that refuses bodies as too large (413): the outputs split and send again, never drop.

Real servers on 127.0.0.1 with a body limit (`max_body_bytes` of the fakes): every event arrives once, in order,
each session event first; a single event too large alone has its longest strings cut; the size that passed is
kept, so later requests meet no 413; one event that cannot get small enough is a refusal of the data (413).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
import pytest

from otel_honeyhive.core.encoded import EncodedEvents
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.results import Outcome, Update
from otel_honeyhive.outputs.honeyhive.client import HoneyHiveOutput
from otel_honeyhive.outputs.honeyhive.payload import encode, resplit
from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
from otel_honeyhive.outputs.otlp import TRUNCATED_KEY, OtlpOutput, cut_request
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.support.fake_honeyhive import FakeHoneyHive, Reply
from tests.support.fake_otlp import attribute, fake_otlp_http, sample_session

LIMIT = 8 * 1024
NO_WAITING = RetryPolicy(deadline=2.0, initial_backoff=5.0, max_backoff=5.0)
"""One attempt per body unless a 413 splits it: the first backoff would pass the deadline."""


def sessions(n: int, children: int = 4, prompt: int = 600) -> list[Event]:
    """`n` sessions, each a session event then `children` model events with a `prompt`-character message."""
    out: list[Event] = []
    for s in range(n):
        sid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"session-{s}"))
        out.append({"event_id": sid, "session_id": sid, "parent_id": None, "event_type": "session",
                    "event_name": f"s{s}", "inputs": {}, "metadata": {}})
        for c in range(children):
            out.append({"event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{s}-{c}")), "session_id": sid,
                        "parent_id": sid, "event_type": "model", "event_name": f"call-{c}",
                        "inputs": {"chat_history": [{"role": "user", "content": f"{s}.{c} " + "x" * prompt}]},
                        "metadata": {}})
    return out


def encoded(events: list[Event]) -> EncodedEvents:
    """As the pipeline hands them over: one block per session."""
    batch = EncodedEvents()
    by_session: dict[str, list[Event]] = {}
    for event in events:
        by_session.setdefault(event["session_id"], []).append(event)
    for group in by_session.values():
        batch.add(group)
    return batch


def output(honeyhive: FakeHoneyHive, **settings: Any) -> HoneyHiveOutput:
    resolved = HoneyHiveSettings.resolve(api_key="k", server_url=honeyhive.url, environ={}, **settings)
    return HoneyHiveOutput(resolved, NO_WAITING)


def arrived(honeyhive: FakeHoneyHive) -> list[str]:
    return [e["event_id"] for e in honeyhive.events]


def sessions_first(honeyhive: FakeHoneyHive) -> bool:
    """Each session's session event arrived before any other event of it."""
    seen: set[str] = set()
    for event in honeyhive.events:
        if event["event_type"] == "session":
            seen.add(event["session_id"])
        elif event["session_id"] not in seen:
            return False
    return True


@pytest.mark.parametrize("form", ["plain", "encoded", "session mode"])
def test_a_batch_over_the_receivers_limit_is_split_and_arrives_whole_in_order(
    honeyhive: FakeHoneyHive, form: str
) -> None:
    honeyhive.max_body_bytes = LIMIT
    out = output(honeyhive, batch_mode="session" if form == "session mode" else "multi")
    batch = sessions(6, children=14)  # each session alone over the limit (session mode sends one per request)
    assert out.send(encoded(batch) if form == "encoded" else batch).ok
    if form == "session mode":  # session events travel as session_properties
        got = [e["event_id"] for e in honeyhive.events]
        props = [r.body["session_properties"] for r in honeyhive.batches if r.status == 200]
        assert sorted(got) == sorted(e["event_id"] for e in batch if e["event_type"] != "session")
        assert {p["session_id"] for p in props if "session_name" in p} == {e["session_id"] for e in batch}
    else:
        assert arrived(honeyhive) == [e["event_id"] for e in batch]  # each once, in order
        assert sessions_first(honeyhive)
    assert honeyhive.too_large >= 1 and out.too_large_refusals == honeyhive.too_large
    assert out.request_bytes_limit <= LIMIT
    out.close()


def test_the_size_that_passed_is_kept_so_later_requests_meet_no_413(
    honeyhive: FakeHoneyHive, caplog: pytest.LogCaptureFixture
) -> None:
    honeyhive.max_body_bytes = LIMIT
    out = output(honeyhive)
    with caplog.at_level(logging.WARNING, "otel_honeyhive.outputs.honeyhive"):
        assert out.send(encoded(sessions(6))).ok
        refusals = honeyhive.too_large
        for n in range(5):
            batch = sessions(6, prompt=700 + n)  # other events, same shape
            assert out.send(encoded(batch)).ok
    assert honeyhive.too_large == refusals, "later requests are built under the kept size"
    assert all(len(r.raw) <= LIMIT for r in honeyhive.batches if r.status == 200)
    warnings = [r.getMessage() for r in caplog.records if "413" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert f"requests are now built under {out.request_bytes_limit} bytes" in warnings[0]
    assert f"HH_MAX_REQUEST_BYTES={out.request_bytes_limit}" in warnings[0]
    out.close()


def test_a_single_event_too_large_alone_is_cut_to_fit_and_marked(honeyhive: FakeHoneyHive) -> None:
    honeyhive.max_body_bytes = LIMIT
    out = output(honeyhive)
    batch = sessions(1, children=2)
    batch[1]["inputs"]["chat_history"][0]["content"] = "y" * 50_000  # alone, far over the limit
    assert out.send(batch).ok
    assert arrived(honeyhive) == [e["event_id"] for e in batch] and sessions_first(honeyhive)
    cut = honeyhive.events[1]
    assert cut["metadata"]["otel_honeyhive_truncated"] == ["inputs.chat_history.0.content"]
    assert "…[truncated " in cut["inputs"]["chat_history"][0]["content"]
    assert honeyhive.events[2]["inputs"] == batch[2]["inputs"], "its neighbours are not cut"
    out.close()


@pytest.mark.parametrize("char", ["y", "é", "日", "🙂"])
def test_a_cut_counts_bytes_so_text_in_any_script_keeps_all_it_can_and_never_its_type(
    honeyhive: FakeHoneyHive, char: str
) -> None:
    honeyhive.max_body_bytes = LIMIT
    out = output(honeyhive)
    batch = sessions(1, children=2)
    batch[1]["inputs"]["chat_history"][0]["content"] = char * 50_000  # 50 to 200 KB, far over the limit
    assert out.send(batch).ok
    cut = honeyhive.events[1]
    assert (cut["event_type"], cut["event_name"], cut.get("source")) == (
        batch[1]["event_type"], batch[1]["event_name"], batch[1].get("source")), "only content is cut"
    assert cut["metadata"]["otel_honeyhive_truncated"] == ["inputs.chat_history.0.content"]
    kept = cut["inputs"]["chat_history"][0]["content"].split("…[truncated ")[0]
    assert set(kept) == {char} and len(kept.encode()) > LIMIT // 4, "most of the (learned) budget is kept"
    out.close()


def test_an_event_that_cannot_get_small_enough_is_refused_as_the_datas_fault(honeyhive: FakeHoneyHive) -> None:
    honeyhive.max_body_bytes = 4096
    out = output(honeyhive)
    batch = sessions(1, children=2)
    batch[2]["metrics"] = {f"m{i}": i for i in range(2000)}  # no string to cut
    result = out.send(batch)
    assert result.outcome is Outcome.REJECTED and result.status == 413
    assert batch[2]["event_id"] in result.detail and "too large" in result.detail
    assert arrived(honeyhive) == [e["event_id"] for e in batch[:2]], "what fits went through, in order"
    result = out.send(batch)  # sent again: what was acknowledged is not sent twice
    assert result.status == 413 and arrived(honeyhive) == [e["event_id"] for e in batch[:2]]
    out.close()


def test_pieces_acknowledged_before_a_failure_are_not_sent_again(honeyhive: FakeHoneyHive) -> None:
    honeyhive.max_body_bytes = LIMIT
    out = output(honeyhive)
    batch = encoded(sessions(6))
    # The whole batch is refused (413), the first half passes, then HoneyHive is unavailable.
    honeyhive.then(Reply(200), Reply(503))
    assert out.send(batch).outcome is Outcome.RETRY_LATER
    delivered = len(honeyhive.events)
    assert delivered > 0
    assert out.send(batch).ok
    assert sorted(arrived(honeyhive)) == sorted(e["event_id"] for e in batch), "each once"
    assert out.bodies_skipped >= 1
    out.close()


def test_a_session_event_stays_first_when_its_session_is_split() -> None:
    session = sessions(1, children=10)
    (body,) = encode(encoded(session), "multi", 1000, 1 << 20)
    pieces = resplit(body, 1000, 3000)
    assert len(pieces) > 2 and all(len(p) <= 3000 for p in pieces)
    import orjson

    ids = [e["event_id"] for p in pieces for e in orjson.loads(p.data)["events"]]
    assert ids == [e["event_id"] for e in session] and ids[0] == session[0]["session_id"]


def test_a_body_made_again_under_a_limit_is_what_the_batch_encodes_to_under_it() -> None:
    """Why the digest memory still recognises split bodies when the batch is sent again."""
    batch = encoded(sessions(6))
    (body,) = encode(batch, "multi", 1000, 1 << 20)
    again = [p.data for p in resplit(body, 1000, 4000)]
    assert again == [b.data for b in encode(batch, "multi", 1000, 4000)]


def test_the_otlp_output_splits_by_spans_and_cuts_a_span_too_large_alone() -> None:
    with fake_otlp_http(max_body_bytes=LIMIT) as fake:
        out = OtlpOutput(fake.url, policy=NO_WAITING, remember_events=0)
        batch = [e for _ in range(8) for e in sample_session("limit")]
        for event in batch:
            event.setdefault("metadata", {})["padding"] = "p" * 900
        batch[5]["outputs"] = {"answer": "z" * 40_000}
        assert out.send(batch).ok
        assert [s.name for s in fake.spans()] == [e["event_name"] for e in batch]
        assert fake.too_large >= 1 and out.too_large_refusals == fake.too_large
        assert out.request_bytes_limit <= LIMIT
        cut = fake.spans()[5]
        assert "honeyhive_outputs" in list(attribute(cut, TRUNCATED_KEY).values[0].string_value for _ in [0])
        refused = fake.too_large
        assert out.send([e for _ in range(4) for e in sample_session("later")]).ok
        assert fake.too_large == refused, "later requests are built under the kept size"
        assert out.request_bytes_limit > LIMIT // 4, "learned from requests that tested it, not from small ones"
        out.close()


def test_a_request_of_one_span_with_nothing_to_cut_is_not_cut() -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from otel_honeyhive.mapper.reverse import events_to_spans

    event = {"event_id": str(uuid.uuid4()), "session_id": str(uuid.uuid4()), "event_type": "tool",
             "event_name": "t", "inputs": {}}
    request = encode_spans(events_to_spans([event]))
    assert cut_request(request, 100) is None


# -- the bounds on a receiver's limit --------------------------------------------------------------------------

GATEWAY = 64 * 1024


def model_event(session: Event, n: int, text: str) -> Event:
    sid = session["session_id"]
    return {"event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{sid}-{n}")), "session_id": sid, "parent_id": sid,
            "event_type": "model", "event_name": f"call-{n}", "inputs": {"chat_history": [
                {"role": "user", "content": text}]}, "metadata": {}}


def trace_of(name: str, *texts: str) -> list[Event]:
    """A session event and one model event per text."""
    sid = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
    session: Event = {"event_id": sid, "session_id": sid, "parent_id": None, "event_type": "session",
                      "event_name": name, "inputs": {}, "metadata": {}}
    return [session, *(model_event(session, n, text) for n, text in enumerate(texts))]


def uncuttable(session: Event, n: int, ids: int) -> Event:
    """An event nothing can make smaller: its size is in `children_ids`, which is never cut."""
    event = model_event(session, n, "short")
    event["children_ids"] = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"{n}-{i}")) for i in range(ids)]
    return event


def test_a_small_piece_accepted_before_a_failure_does_not_drag_the_limit_down(
    honeyhive: FakeHoneyHive, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused body is split into a small session event (accepted) and a large event (then 503): the small
    piece says nothing of the limit, so later requests are not built under it and nothing later is cut."""
    honeyhive.max_body_bytes = GATEWAY
    out = output(honeyhive)
    honeyhive.then(Reply(200), Reply(503, headers={"Retry-After": "30"}))
    with caplog.at_level(logging.WARNING, "otel_honeyhive.outputs.honeyhive"):
        assert out.send(trace_of("first", "x" * 100_000)).outcome is Outcome.RETRY_LATER
    assert out.request_bytes_limit > GATEWAY // 4, "built under half the refused size, not the small piece's"
    (warning,) = [r.getMessage() for r in caplog.records if "413" in r.getMessage()]
    assert "HH_MAX_REQUEST_BYTES" not in warning, "no size is suggested before one is known to pass"
    later = trace_of("later", "y" * 30_000)
    assert out.send(later).ok
    arrived_later = [e for e in honeyhive.events if e["session_id"] == later[0]["session_id"]]
    assert [e["inputs"] for e in arrived_later] == [e["inputs"] for e in later], "nothing later is cut"
    out.close()


def test_an_event_between_the_largest_accepted_and_the_smallest_refused_is_sent_whole_first(
    honeyhive: FakeHoneyHive, caplog: pytest.LogCaptureFixture
) -> None:
    honeyhive.max_body_bytes = GATEWAY
    out = output(honeyhive)
    with caplog.at_level(logging.WARNING, "otel_honeyhive.outputs.honeyhive"):
        assert out.send([e for n in range(10) for e in trace_of(f"t{n}", "x" * 20_000)]).ok
    learned, refused = out.request_bytes_limit, out.refused_bytes
    assert refused is not None and learned < 55_000 < refused
    (warning,) = [r.getMessage() for r in caplog.records if "413" in r.getMessage()]
    assert f"HH_MAX_REQUEST_BYTES={out.accepted_bytes}" in warning and "at least that" in warning
    refusals = honeyhive.too_large
    fits = trace_of("fits", "z" * 55_000)  # over the learned size, under the gateway's
    assert out.send(fits).ok
    assert honeyhive.events[-1]["inputs"] == fits[1]["inputs"], "sent whole: it would pass, and did"
    assert honeyhive.too_large == refusals
    assert out.request_bytes_limit == out.accepted_bytes > learned, "the lower bound rose to it"
    too_big = trace_of("too-big", "w" * 70_000)  # under the smallest refused, over the gateway's limit
    assert len(orjson.dumps({"events": too_big[1:], "is_single_session": False})) < refused
    assert out.send(too_big).ok
    assert honeyhive.too_large == refusals + 1, "tried whole once, then cut"
    assert out.refused_bytes is not None and out.refused_bytes < refused, "the bounds narrow"
    assert honeyhive.events[-1]["metadata"]["otel_honeyhive_truncated"] == ["inputs.chat_history.0.content"]
    out.close()


@pytest.mark.parametrize("gateway", [3000, 4096, 8192])
def test_in_session_mode_every_event_arrives_and_no_body_of_several_passes_the_limit(
    honeyhive: FakeHoneyHive, gateway: int
) -> None:
    """The session event's properties are large (a long question), and so are its children: the first body must
    leave them room, or carry the properties alone, and later bodies are packed as what they are."""
    honeyhive.max_body_bytes = gateway
    out = output(honeyhive, batch_mode="session", api_version="legacy")
    batch = []
    for n in range(3):
        session, *children = trace_of(f"s{n}", *["m" * 1500] * 4)
        session["inputs"] = {"question": "Q" * 20_000}
        batch += [session, *children]
    assert out.send(batch).ok
    got = sorted(e["event_id"] for e in honeyhive.events)
    assert got == sorted(e["event_id"] for e in batch if e["event_type"] != "session")
    props = [r.body["session_properties"] for r in honeyhive.batches if r.status == 200]
    assert {p["session_id"] for p in props if "session_name" in p} == {e["session_id"] for e in batch[::5]}
    refusals = honeyhive.too_large
    limit = out.request_bytes_limit
    sent = len(honeyhive.requests)
    assert out.send(batch).ok  # again, under what was learned
    assert honeyhive.too_large == refusals, "later requests fit"
    for request in honeyhive.requests[sent:]:
        several = len(request.body["events"]) + ("session_name" in request.body["session_properties"]) > 1
        assert not several or len(request.raw) <= limit, "a body of several events within the learned limit"
    out.close()


def test_one_event_too_large_even_cut_is_refused_alone_and_the_rest_is_sent(honeyhive: FakeHoneyHive) -> None:
    honeyhive.max_body_bytes = 4096
    out = output(honeyhive)
    first, middle, last = trace_of("a", "x" * 500), trace_of("b", "y" * 500), trace_of("c", "z" * 500)
    middle.append(too_big := uncuttable(middle[0], 9, 150))
    batch = first + middle + last
    result = out.send(batch)
    assert result.outcome is Outcome.REJECTED and result.status == 413
    assert result.refused == (too_big["event_id"],)
    assert arrived(honeyhive) == [e["event_id"] for e in batch if e is not too_big], "the rest, after it too"
    assert "nothing in it can be cut" in result.detail and "cut to fit" not in result.detail
    out.close()


def test_an_event_under_the_floor_is_refused_saying_so_not_that_it_was_cut(honeyhive: FakeHoneyHive) -> None:
    honeyhive.max_body_bytes = 900
    out = output(honeyhive)
    batch = trace_of("floor", "x" * 700)  # its model event's body: about 930 bytes
    result = out.send(batch)
    assert result.outcome is Outcome.REJECTED and result.refused == (batch[1]["event_id"],)
    assert "no request is made smaller than 1,024 bytes" in result.detail
    assert "cut" not in result.detail.split("no request")[0], result.detail
    out.close()


def test_an_update_too_large_for_the_receiver_is_cut_and_sent_again_at_once(honeyhive: FakeHoneyHive) -> None:
    honeyhive.max_body_bytes = GATEWAY
    out = output(honeyhive)
    event_id = str(uuid.uuid4())
    result = out.update(Update(event_id, {"outputs": {"content": "o" * 100_000}, "metadata": None}))
    assert result.ok
    puts = [r for r in honeyhive.requests if r.method == "PUT"]
    assert [r.status for r in puts] == [413, 200] and len(puts[1].raw) <= GATEWAY
    sent = puts[1].body
    assert sent["event_id"] == event_id and sent["metadata"] == {"otel_honeyhive_truncated": ["outputs.content"]}
    assert sent["outputs"]["content"].startswith("o" * 1000) and "…[truncated " in sent["outputs"]["content"]
    assert out.too_large_refusals == 1
    result = out.update(Update(event_id, {"outputs": {"content": "p" * 120_000}}))
    assert result.ok and honeyhive.too_large == 1, "built under the learned size from then on"
    out.close()


def test_an_update_that_cannot_get_small_enough_is_refused_as_the_datas_fault(honeyhive: FakeHoneyHive) -> None:
    honeyhive.max_body_bytes = 4096
    out = output(honeyhive)
    result = out.update(Update(str(uuid.uuid4()), {"children_ids": [str(uuid.uuid4()) for _ in range(200)]}))
    assert result.outcome is Outcome.REJECTED and result.status == 413 and not result.refused
    assert "too large" in result.detail
    out.close()
