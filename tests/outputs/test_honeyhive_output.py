"""`HoneyHiveOutput` against a real (fake) HoneyHive over HTTP: a batch sent again skips the bodies HoneyHive
already acknowledged, so a partial send neither duplicates events nor starts over."""

from __future__ import annotations

import pytest

from otel_honeyhive.core.encoded import EncodedEvents
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.results import Outcome
from otel_honeyhive.outputs.honeyhive import client
from otel_honeyhive.outputs.honeyhive.client import HoneyHiveOutput
from otel_honeyhive.outputs.honeyhive.payload import encode
from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.support.fake_honeyhive import FakeHoneyHive, Reply

NO_WAITING = RetryPolicy(deadline=0.5, initial_backoff=5.0, max_backoff=5.0)
"""One attempt per body: the first backoff would pass the deadline."""


def events(n: int, tag: str = "e") -> list[Event]:
    session = "1b4e28ba-2d11-4ad0-8b43-2c0f1b5e5d0b"
    return [{"event_id": f"{tag}{i}", "session_id": session, "event_type": "tool", "inputs": {}} for i in range(n)]


def output(honeyhive: FakeHoneyHive) -> HoneyHiveOutput:
    settings = HoneyHiveSettings.resolve(api_key="k", server_url=honeyhive.url, max_events_per_request=2,
                                         environ={})
    return HoneyHiveOutput(settings, NO_WAITING)


def test_a_batch_sent_again_skips_the_bodies_already_acknowledged(honeyhive: FakeHoneyHive) -> None:
    out = output(honeyhive)
    batch = events(6)  # three bodies of two events
    honeyhive.then(Reply(200), Reply(503))
    assert out.send(batch).outcome is Outcome.RETRY_LATER  # the first body went through, the second did not
    assert out.send(batch).ok  # the retry sends the second and third bodies only
    assert [e["event_id"] for e in honeyhive.events] == [e["event_id"] for e in batch]  # each once, in order
    assert len(honeyhive.batches) == 4 and out.bodies_skipped == 1
    out.close()


def test_a_send_that_fails_after_some_bodies_says_how_many_events_they_carried(honeyhive: FakeHoneyHive) -> None:
    """Counted once: the bodies skipped when the batch is sent again were counted by the send that got them
    through."""
    out = output(honeyhive)
    batch = events(7)  # bodies of 2, 2, 2 and 1 events
    honeyhive.then(Reply(200), Reply(200), Reply(500))
    first = out.send(batch)
    assert first.outcome is Outcome.REJECTED and first.acknowledged == 4
    honeyhive.then(Reply(200), Reply(503))
    assert out.send(batch).acknowledged == 2, "the third body, newly through; the first two skipped"
    honeyhive.then(Reply(503))
    assert out.send(batch).acknowledged == 0, "no progress"
    assert out.send(batch).ok
    assert [e["event_id"] for e in honeyhive.events] == [e["event_id"] for e in batch]
    out.close()


def test_a_body_whose_answer_was_lost_is_sent_again(honeyhive: FakeHoneyHive) -> None:
    out = output(honeyhive)
    batch = events(2)
    honeyhive.then(Reply(200, delay=1.0))  # HoneyHive took it, the client timed out waiting
    assert out.send(batch).outcome is Outcome.RETRY_LATER
    assert out.send(batch).ok
    assert len(honeyhive.events) == 4, "not known to be acknowledged, so sent again (a harmless duplicate)"
    out.close()


def test_only_the_latest_acknowledged_bodies_are_remembered(
    honeyhive: FakeHoneyHive, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client, "REMEMBERED_BODIES", 2)
    out = output(honeyhive)
    first, second, third = events(4, "a"), events(4, "b"), events(4, "c")  # two bodies each
    for batch in (first, second, third):
        honeyhive.then(Reply(200), Reply(503))
        assert out.send(batch).outcome is Outcome.RETRY_LATER  # each leaves its first body acknowledged
    assert out.send(third).ok and out.send(second).ok and out.bodies_skipped == 2
    assert out.send(first).ok and out.bodies_skipped == 2  # forgotten: memory stays bounded
    assert len(honeyhive.batches) == 3 + 2 + 2 + 3
    out.close()


def test_a_batch_that_went_through_leaves_nothing_remembered(honeyhive: FakeHoneyHive) -> None:
    out = output(honeyhive)
    batch = events(4)
    honeyhive.then(Reply(200), Reply(503))
    assert out.send(batch).outcome is Outcome.RETRY_LATER
    assert out.send(batch).ok and out.bodies_skipped == 1
    assert out.send(batch).ok and out.bodies_skipped == 1, "once through, sent again whole (harmless duplicate)"
    assert out.send(events(4, "other")).ok
    assert len(honeyhive.batches) == 2 + 1 + 2 + 2
    out.close()


def test_a_large_body_is_streamed_in_chunks_under_a_content_length_and_arrives_whole(
    honeyhive: FakeHoneyHive,
) -> None:
    settings = HoneyHiveSettings.resolve(api_key="k", server_url=honeyhive.url, environ={})
    out = HoneyHiveOutput(settings, NO_WAITING)
    encoded = EncodedEvents()
    for t in range(40):  # 40 traces of ~25 KB: a 1 MB body made of many chunks
        encoded.add([{**e, "inputs": {"text": f"{t}" * 5000}} for e in events(5, tag=f"t{t}-")])
    (body,) = encode(encoded, "multi", 500, 5 * 1024 * 1024)
    assert len(body.chunks) > 1
    assert out.send(encoded).ok
    (received,) = honeyhive.batches
    assert "Transfer-Encoding" not in received.headers
    assert int(received.headers["Content-Length"]) == len(received.raw) == len(body)
    assert received.raw == body.data
    assert [e["event_id"] for e in received.body["events"]] == [e["event_id"] for e in encoded]
    out.close()


def test_encoded_events_are_taken_where_bodies_are_joined_from_them() -> None:
    multi = HoneyHiveSettings.resolve(api_key="k", server_url="http://127.0.0.1:9", environ={})
    per_session = HoneyHiveSettings.resolve(api_key="k", server_url="http://127.0.0.1:9", batch_mode="session",
                                            environ={})
    assert HoneyHiveOutput(multi).reads_encoded is True
    assert HoneyHiveOutput(per_session).reads_encoded is False  # it needs each session event as an object
