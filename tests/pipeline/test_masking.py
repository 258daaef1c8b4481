"""Masking in the pipeline (docs/privacy.md): every string value a span, log record, posted event or update
carries is masked as it enters, before the journal, the mapper or delivery see it; ids, types, times, numbers
and routing fields never are; the count of replacements lands in the event's metadata; a `mask` that raises
ships a marker, once logged, never the value and never a dropped event."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.core.redactors import redactors_named
from otel_honeyhive.core.results import Update
from otel_honeyhive.core.spans import STATUS_ERROR, LinkView, SpanEventView, SpanView
from otel_honeyhive.outputs.memory import MemoryOutput
from otel_honeyhive.pipeline import PipelineSettings, build_pipeline
from otel_honeyhive.pipeline.masking import MASK_FAILED, MASKED_EXTRA, MASKED_KEY, Masker
from otel_honeyhive.pipeline.pipeline import Pipeline

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
KEY = "sk-proj-Zx8kQ2mN4pR6tV8wY0aC2eG4iK6mO8qS"
IP = "203.0.113.42"
SECRETS = (EMAIL, CARD, KEY, IP)
SESSION = "0f9a7c2e-5b1d-4e3f-8a6b-9c0d1e2f3a4b"
EVERY = redactors_named(["all"])
TRACE, ROOT, CHILD = 0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, 0x00F067AA0BA902B8


def seeded_spans() -> list[SpanView]:
    """A root and a model call carrying every secret in every kind of field, beside ids and numbers."""
    resource = {"service.name": "checkout", "deployment.owner": EMAIL, "host.ip": IP}
    root = SpanView(
        TRACE, ROOT, f"checkout for {EMAIL}", 1_700_000_000_000_000_000, 1_700_000_001_000_000_000,
        status_code=STATUS_ERROR, status_message=f"card {CARD} declined",
        attributes={
            "honeyhive.session_id": SESSION,
            "input.value": orjson.dumps({"customer": EMAIL, "card": CARD, "attempt": 4111111111111111,
                                         "note": f"\n{EMAIL}"}).decode(),
            "input.mime_type": "application/json",
            "user.id": "user-4111111111111111",
            "tags": ("vip", f"from {IP}"),
        },
        resource=resource,
    )
    child = SpanView(
        TRACE, CHILD, "chat", 1_700_000_000_100_000_000, 1_700_000_000_900_000_000, parent_span_id=ROOT,
        kind="client",
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.input.messages": orjson.dumps([
                {"role": "system", "parts": [{"type": "text", "content": f"api key {KEY}"}]},
                {"role": "user", "parts": [{"type": "text", "content": f"mail me at {EMAIL}"}]},
            ]).decode(),
            "gen_ai.response.id": "chatcmpl-4111111111111111",
            "gen_ai.usage.input_tokens": 4111111111111111,
        },
        events=(SpanEventView("log", 1_700_000_000_500_000_000, {"message": f"Authorization: Bearer {KEY}"}),),
        links=(LinkView(TRACE, ROOT, {"why": f"retry from {IP}"}),),
        resource=resource,
    )
    return [child, root]


def memory_pipeline(tmp_path: Path | None = None, **settings: Any) -> tuple[Pipeline, MemoryOutput]:
    output = MemoryOutput()
    pipeline = build_pipeline(output, PipelineSettings(
        hold_seconds=60, journal_dir=tmp_path / "held" if tmp_path is not None else None, **settings))
    pipeline.start(release_expired=False)
    return pipeline, output


def assert_clean(what: str, data: bytes) -> None:
    for secret in SECRETS:
        assert secret.encode() not in data, f"{secret!r} in {what}"


# -- spans -------------------------------------------------------------------------------------------------------


def test_every_secret_in_every_field_kind_is_replaced_and_every_id_and_number_kept() -> None:
    pipeline, output = memory_pipeline(redactors=EVERY)
    assert pipeline.accept_spans(seeded_spans()).ok
    events = output.take()
    pipeline.close(1)

    assert_clean("the events", orjson.dumps(events))
    session, chat = events  # the root, in the session its `honeyhive.session_id` names
    assert session["session_id"] == chat["session_id"] == SESSION
    assert session["event_name"] == "checkout for <email>"
    assert session["error"] == "card <credit_card> declined"
    assert session["inputs"]["customer"] == "<email>" and session["inputs"]["card"] == "<credit_card>"
    assert session["inputs"]["attempt"] == 4111111111111111, "numbers are never masked"
    assert session["user_properties"]["user_id"] == "user-4111111111111111", "ids are never masked"
    assert session["metadata"]["resource"]["deployment.owner"] == "<email>"
    assert session["metadata"]["resource"]["service.name"] == "checkout"
    assert session["metadata"]["trace_id"] == f"{TRACE:032x}" and session["start_time"] == 1_700_000_000_000
    assert chat["event_type"] == "model" and chat["parent_id"] == session["event_id"]
    assert chat["metadata"]["prompt_tokens"] == 4111111111111111
    assert chat["metadata"]["gen_ai.response.id"] == "chatcmpl-4111111111111111"
    history = chat["inputs"]["chat_history"]
    assert [m["role"] for m in history] == ["system", "user"]
    assert [m["content"] for m in history] == ["api key <api_key>", "mail me at <email>"]
    # root: name, status, customer, card, note (inside JSON), tags' IP, resource owner and host: 8
    assert session["metadata"][MASKED_KEY] == 8
    # chat: two messages, the span event's bearer token, the link's IP (the resource is counted on the root)
    assert chat["metadata"][MASKED_KEY] == 4


def test_json_that_arrived_as_a_string_is_masked_inside_and_stays_valid_json() -> None:
    masker = Masker(EVERY)
    text = orjson.dumps({"a": f"\n{EMAIL}", "b": [f"{IP}", {"c": f'"{CARD}"'}], "id": EMAIL}).decode()
    masked = masker.span(SpanView(1, 2, "s", 0, 0, attributes={"payload": text})).attributes["payload"]
    assert orjson.loads(masked) == {"a": "\n<email>", "b": ["<ip>", {"c": '"<credit_card>"'}], "id": EMAIL}


json_strings = st.one_of(st.text(max_size=20), st.sampled_from(SECRETS),
                        st.builds(lambda a, secret, b: f"{a}\n{secret}\\{b}", st.text(max_size=8),
                                  st.sampled_from(SECRETS), st.text(max_size=8)))
KEYS_OF = Masker(EVERY)
content_keys = st.text(max_size=8).filter(lambda key: not KEYS_OF.never(key))
"""Object keys whose values are masked (`source`, `type`, `*_id` … never are, by design)."""
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | json_strings,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(content_keys, inner, max_size=4),
    max_leaves=20,
)


def leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item)]
    return [value]


@given(st.lists(json_values, max_size=4) | st.dictionaries(content_keys, json_values, max_size=4))
def test_masked_json_strings_stay_valid_json_with_every_non_string_leaf_kept(document: Any) -> None:
    text = orjson.dumps(document).decode()
    masked = Masker(EVERY).span(SpanView(1, 2, "s", 0, 0, attributes={"payload": text})).attributes["payload"]
    parsed = orjson.loads(masked)
    assert [leaf for leaf in leaves(parsed) if not isinstance(leaf, str)] == [
        leaf for leaf in leaves(document) if not isinstance(leaf, str)]
    assert_clean("the masked JSON", masked.encode())


def test_a_span_with_nothing_to_mask_is_handed_on_as_it_is() -> None:
    span = SpanView(1, 2, "plain", 0, 0, attributes={"input.value": '{"q": "hello"}', "n": 3},
                    resource={"service.name": "svc"})
    assert Masker(EVERY).span(span) is span


def test_ids_types_roles_and_the_attributes_that_decide_the_event_type_are_never_masked() -> None:
    shouting = Masker(mask=str.upper)
    span = SpanView(1, 2, "tool call", 0, 0, attributes={
        "honeyhive_event_type": "tool", "openinference.span.kind": "LLM", "honeyhive.session_id": SESSION,
        "honeyhive_parent_id": SESSION, "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "hi",
        "tool_call_id": "call_abc", "honeyhive.project": "proj", "created_at": "2024-01-01",
    })
    masked = shouting.span(span).attributes
    assert masked["gen_ai.prompt.0.content"] == "HI"
    for key in ("honeyhive_event_type", "openinference.span.kind", "honeyhive.session_id", "honeyhive_parent_id",
                "gen_ai.prompt.0.role", "tool_call_id", "honeyhive.project", "created_at"):
        assert masked[key] == span.attributes[key], key


def test_a_container_under_an_id_or_type_key_is_content_and_masked() -> None:
    masker = Masker(EVERY)
    messages = orjson.dumps([{"role": "user", "content": [  # an Anthropic document block
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": f"DOC {EMAIL} {CARD}"}},
    ]}]).decode()
    documents = orjson.dumps([{"page_content": "notes", "metadata": {"source": f"/home/{EMAIL}/notes.txt"}}]).decode()
    span = SpanView(1, 2, "s", 0, 0, attributes={
        "gen_ai.input.messages": messages, "retrieval.documents": documents,
        "output.value": orjson.dumps({"type": {"text": EMAIL}, "id": [{"note": IP}]}).decode(),
        "honeyhive.source": "production", "gen_ai.response.finish_reasons": ("stop",),
    })
    masked = masker.span(span).attributes
    assert_clean("the attributes", orjson.dumps(dict(masked)))
    (block,) = orjson.loads(masked["gen_ai.input.messages"])[0]["content"]
    assert block["type"] == "document" and block["source"]["type"] == "text"  # flat types stay
    assert block["source"]["data"] == "DOC <email> <credit_card>"
    assert orjson.loads(masked["retrieval.documents"])[0]["metadata"]["source"] == "/home/<email>/notes.txt"
    assert orjson.loads(masked["output.value"]) == {"type": {"text": "<email>"}, "id": [{"note": "<ip>"}]}
    assert masked["honeyhive.source"] == "production", "a span's routing attributes are never masked"
    assert masked["gen_ai.response.finish_reasons"] == ("stop",)


NEVER_SAMPLE = ["id", "type", "role", "source", "project", "tool_call_id", "finish_reasons"]
any_keys = st.sampled_from(NEVER_SAMPLE) | content_keys
any_documents = st.recursive(
    st.none() | st.integers(-(2**63), 2**63 - 1) | json_strings,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_keys, inner, max_size=4),
    max_leaves=20,
)


def unmasked_secrets(value: Any, kept_here: bool = False) -> list[str]:
    """Secret-bearing strings of `value` that masking was not allowed to keep: a string is kept only as the
    flat value (or in a flat list) of an id or type key other than `project` and `source`."""
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            keeps = KEYS_OF.never(key) and key not in ("project", "source") and (
                not isinstance(item, dict | list) or all(not isinstance(i, dict | list) for i in item))
            found += unmasked_secrets(item, keeps)
        return found
    if isinstance(value, list):
        return [leaf for item in value for leaf in unmasked_secrets(item, kept_here)]
    if isinstance(value, str) and not kept_here and any(secret in value for secret in SECRETS):
        return [value]
    return []


@given(st.lists(any_documents, max_size=4) | st.dictionaries(any_keys, any_documents, max_size=4))
def test_only_flat_values_of_id_and_type_keys_escape_masking(document: Any) -> None:
    text = orjson.dumps(document).decode()
    masked = Masker(EVERY).span(SpanView(1, 2, "s", 0, 0, attributes={"payload": text})).attributes["payload"]
    assert unmasked_secrets(orjson.loads(masked)) == []


def test_bytes_that_ship_as_text_are_masked_and_binary_is_kept() -> None:
    span = SpanView(1, 2, "S", 0, 0, attributes={"note": f"BYTES {EMAIL}".encode(),
                                                 "blob": b"\xff\x00" + EMAIL.encode()})
    masked = Masker(EVERY, mask=str.upper).span(span)
    assert masked.attributes["note"] == "BYTES <EMAIL>"
    assert masked.attributes["blob"] == span.attributes["blob"], "not UTF-8: shipped as base64, never as text"
    assert masked.extra[MASKED_EXTRA] == 2  # the note: redacted, then upper-cased


def test_json_nested_deeper_than_python_recurses_is_masked_and_ships() -> None:
    levels = 1_000  # orjson parses up to 1,024
    pipeline, output = memory_pipeline(redactors=EVERY)
    text = "[" * levels + orjson.dumps(f"write to {EMAIL}").decode() + "]" * levels
    assert pipeline.accept_spans([
        SpanView(TRACE, ROOT, "deep", 0, 1_000_000, attributes={"input.value": text}),
        SpanView(TRACE + 1, ROOT, "beside it", 0, 1_000_000, attributes={"input.value": f"from {IP}"}),
    ]).ok
    events = output.take()
    pipeline.close(1)
    assert [e["event_name"] for e in events] == ["deep", "beside it"]
    assert_clean("the events", orjson.dumps(events))
    assert "write to <email>" in orjson.dumps(events).decode()


def test_a_user_mask_runs_after_the_redactors_and_each_value_it_changes_counts_once() -> None:
    masker = Masker(EVERY, mask=lambda value: value.replace("Acme", "<org>"))
    span = masker.span(SpanView(1, 2, "s", 0, 0, attributes={"x": f"Acme: {EMAIL}", "y": "Acme", "z": "ok"}))
    assert span.attributes == {"x": "<org>: <email>", "y": "<org>", "z": "ok"}
    assert span.extra[MASKED_EXTRA] == 3


def test_a_mask_that_raises_ships_a_marker_logs_once_without_the_value_and_drops_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(value: str) -> str:
        raise RuntimeError(f"cannot mask {value}")

    caplog.set_level(logging.DEBUG)
    pipeline, output = memory_pipeline(mask=broken)
    assert pipeline.accept_spans(seeded_spans()).ok
    assert pipeline.accept_spans(seeded_spans()).ok  # again: still one log line
    events = output.take()
    pipeline.close(1)
    assert len(events) == 4, "every event shipped"
    assert events[0]["event_name"] == MASK_FAILED and events[0]["session_id"] == SESSION
    assert_clean("the events", orjson.dumps(events))
    failures = [r for r in caplog.records if "mask function" in r.getMessage()]
    assert len(failures) == 1 and "RuntimeError" in failures[0].getMessage()
    assert_clean("the log", "\n".join(r.getMessage() for r in caplog.records).encode())


def test_a_mask_that_returns_something_else_than_a_string_ships_the_marker() -> None:
    masker = Masker(mask=lambda value: None)  # type: ignore[arg-type,return-value]
    assert masker.span(SpanView(1, 2, "s", 0, 0, attributes={"x": EMAIL})).attributes == {"x": MASK_FAILED}


# -- the journal, log records, posted events, updates ------------------------------------------------------------


def test_held_spans_are_journaled_masked(tmp_path: Path) -> None:
    pipeline, output = memory_pipeline(tmp_path, redactors=EVERY)
    child, root = seeded_spans()
    assert pipeline.accept_spans([child]).ok  # its root has not come: journaled, held
    journal = [p for p in (tmp_path / "held").rglob("*") if p.is_file()]
    assert journal and any(p.stat().st_size for p in journal)
    for path in journal:
        assert_clean(str(path), path.read_bytes())
    assert pipeline.accept_spans([root]).ok
    events = output.take()
    pipeline.close(1)
    assert {e["metadata"][MASKED_KEY] for e in events} == {8, 4}, "the count travels through the journal"


def test_log_records_are_masked_before_they_join_their_spans() -> None:
    masker = Masker(EVERY)
    record = LogRecordView(TRACE, CHILD, "gen_ai.user.message", 5, {"content": f"to {EMAIL}", "role": "user"},
                           {"gen_ai.system": "openai", "note": KEY}, resource={"owner": EMAIL})
    masked = masker.record(record)
    assert masked.body == {"content": "to <email>", "role": "user"}
    assert masked.attributes == {"gen_ai.system": "openai", "note": "<api_key>"}
    assert masked.resource == {"owner": "<email>"}
    assert (masked.trace_id, masked.span_id, masked.event_name, masked.time_ns) == (TRACE, CHILD,
                                                                                    "gen_ai.user.message", 5)
    assert masker.record(masked) is masked


def test_a_joined_log_records_replacements_count_on_its_spans_event() -> None:
    pipeline, output = memory_pipeline(redactors=EVERY)
    child, root = seeded_spans()
    record = LogRecordView(TRACE, CHILD, "gen_ai.client.inference.operation.details", 5, None, {
        "gen_ai.output.messages": orjson.dumps([{"role": "assistant", "parts": [
            {"type": "text", "content": f"sent to {EMAIL} from {IP}"}]}]).decode(),
    })
    assert pipeline.accept_records([record]).ok  # waits for its span
    assert pipeline.accept_spans([child, root]).ok
    events = output.take()
    pipeline.close(1)
    chat = next(e for e in events if e["event_type"] == "model")
    assert chat["outputs"]["content"] == "sent to <email> from <ip>"
    assert chat["metadata"][MASKED_KEY] == 4 + 2


def test_posted_events_are_masked_in_their_content_fields_and_counted() -> None:
    event: dict[str, Any] = {
        "event_id": SESSION, "session_id": SESSION, "parent_id": None, "event_type": "tool",
        "event_name": f"lookup {EMAIL}", "project": "p", "source": "s", "start_time": 4111111111111,
        "duration": 12.5, "inputs": {"query": f"card {CARD}"}, "outputs": {"ip": IP},
        "metadata": {"span_id": "4111111111111111"}, "error": None, "children_ids": [],
    }
    masked = Masker(EVERY).event(event)
    assert masked["event_name"] == "lookup <email>" and masked["inputs"] == {"query": "card <credit_card>"}
    assert masked["outputs"] == {"ip": "<ip>"}
    assert masked["metadata"] == {"span_id": "4111111111111111", MASKED_KEY: 3}
    for field in ("event_id", "session_id", "parent_id", "event_type", "project", "source", "start_time",
                  "duration", "error", "children_ids"):
        assert masked[field] == event[field]
    assert event["metadata"] == {"span_id": "4111111111111111"}, "the caller's event is left alone"


def test_updates_are_masked_and_their_ids_and_times_kept() -> None:
    update = Update(SESSION, {"outputs": {"answer": f"write to {EMAIL}"}, "metadata": {"from": IP},
                              "end_time": 4111111111111, "children_ids": ["x"]})
    masked = Masker(EVERY).update(update)
    assert masked == Update(SESSION, {"outputs": {"answer": "write to <email>"}, "metadata": {"from": "<ip>"},
                                      "end_time": 4111111111111, "children_ids": ["x"]})


def test_posted_events_and_updates_go_through_the_masker_in_the_pipeline() -> None:
    pipeline, output = memory_pipeline(redactors=EVERY)
    assert pipeline.accept_events([{"event_id": SESSION, "session_id": SESSION, "event_type": "session",
                                    "inputs": {"q": EMAIL}}]).ok
    assert output.take()[0]["inputs"] == {"q": "<email>"}
    pipeline.close(1)


# -- off ---------------------------------------------------------------------------------------------------------


def test_without_mask_or_redactors_there_is_no_masker_and_spans_pass_untouched() -> None:
    pipeline, output = memory_pipeline()
    assert pipeline.masker is None
    pipeline.accept_spans(seeded_spans())
    events = output.take()
    pipeline.close(1)
    assert EMAIL in events[0]["event_name"] and MASKED_KEY not in events[0]["metadata"]
