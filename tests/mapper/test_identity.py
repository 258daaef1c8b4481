"""Event identity (docs/identity-and-assembly.md). Session and event ids are derived deterministically from
OpenTelemetry ids, explicit HoneyHive ids override them, and every derived id is a strict-valid version-5 UUID."""

from __future__ import annotations

import random
import uuid

from hypothesis import given
from hypothesis import strategies as st

from otel_honeyhive import spans_to_events
from otel_honeyhive.mapper.identity import (
    EVENT_NAMESPACE,
    SESSION_NAMESPACE,
    event_id_for_hex,
    event_id_for_span,
    normalise_uuid,
    session_id_for_trace,
    span_hex,
    trace_hex,
)
from tests.mapper.otel import (
    Otel,
    assert_derived_uuid,
    event_uuid,
    remote_context,
    session_uuid,
)

EXPLICIT_SESSION = "0f8b1a52-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
EXPLICIT_PARENT = "6b7c8d9e-0f1a-4b2c-9d3e-4f5a6b7c8d9e"
EXPLICIT_EVENT = "11112222-3333-4444-8555-666677778888"


def _three_levels(otel: Otel, root_attrs: dict[str, object] | None = None) -> tuple[int, int, int, int]:
    with (
        otel.span("root", root_attrs, root=True) as root,
        otel.span("child") as child,
        otel.span("grandchild") as grandchild,
    ):
        pass
    return (
        root.get_span_context().trace_id,
        root.get_span_context().span_id,
        child.get_span_context().span_id,
        grandchild.get_span_context().span_id,
    )


# -- the derivation itself ------------------------------------------------------------------------------------


def test_session_id_is_uuid5_of_the_trace_id_in_the_published_namespace() -> None:
    trace_id = 0x0AF7651916CD43DD8448EB211C80319C
    expected = str(uuid.uuid5(SESSION_NAMESPACE, "0af7651916cd43dd8448eb211c80319c"))
    assert session_id_for_trace(trace_id) == expected


def test_event_id_is_uuid5_of_trace_and_span_ids_in_the_published_namespace() -> None:
    trace_id, span_id = 0x0AF7651916CD43DD8448EB211C80319C, 0x00F067AA0BA902B7
    expected = str(uuid.uuid5(EVENT_NAMESPACE, "0af7651916cd43dd8448eb211c80319c00f067aa0ba902b7"))
    assert event_id_for_span(trace_id, span_id) == expected


@given(st.integers(1, 2**128 - 1), st.integers(1, 2**64 - 1))
def test_every_derived_id_is_exactly_what_the_standard_library_computes(trace_id: int, span_id: int) -> None:
    assert session_id_for_trace(trace_id) == str(uuid.uuid5(SESSION_NAMESPACE, f"{trace_id:032x}"))
    expected = str(uuid.uuid5(EVENT_NAMESPACE, f"{trace_id:032x}{span_id:016x}"))
    assert event_id_for_span(trace_id, span_id) == expected
    assert event_id_for_hex(trace_hex(trace_id), span_hex(span_id)) == expected


@given(st.integers(-(2**130), 2**130))
def test_ids_are_shown_in_hex_as_python_formats_them_even_out_of_range(value: int) -> None:
    assert trace_hex(value) == f"{value:032x}"
    assert span_hex(value) == f"{value:016x}"


def test_namespaces_never_change() -> None:
    # These two constants are a public contract: changing them breaks idempotency across versions.
    assert str(SESSION_NAMESPACE) == "5b0f7f3e-5f4c-4d33-9a4e-0c6f2a8e9d11"
    assert str(EVENT_NAMESPACE) == "a3c1e9d2-7b64-4f0e-8c2d-6e1f4b9a7c35"


def test_derived_ids_are_strict_version5_rfc_variant_lowercase() -> None:
    for trace_id, span_id in [(1, 1), (2**128 - 1, 2**64 - 1), (0xDEADBEEF << 64, 0xABCDEF)]:
        for value in (session_id_for_trace(trace_id), event_id_for_span(trace_id, span_id)):
            assert_derived_uuid(value)
            assert value == value.lower()
            parsed = uuid.UUID(value)
            assert parsed.version == 5
            assert parsed.variant == uuid.RFC_4122


def test_normalise_uuid_accepts_any_version_in_canonical_form_only() -> None:
    assert normalise_uuid("0F8B1A52-3C4D-4E5F-8A9B-0C1D2E3F4A5B") == EXPLICIT_SESSION
    assert normalise_uuid("00000000-0000-0000-0000-000000000000") == "00000000-0000-0000-0000-000000000000"
    assert normalise_uuid(str(uuid.uuid1())) is not None
    for bad in ("", "not-a-uuid", "0f8b1a523c4d4e5f8a9b0c1d2e3f4a5b", "{" + EXPLICIT_SESSION + "}",
                EXPLICIT_SESSION + " ", 42, None, EXPLICIT_SESSION.encode()):
        assert normalise_uuid(bad) is None


# -- root, children, grandchildren ------------------------------------------------------------------------------


def test_root_becomes_the_session_with_event_id_equal_to_session_id(otel: Otel) -> None:
    trace_id, root_span, _, _ = _three_levels(otel)
    root = otel.by_name()["root"]
    assert root["event_type"] == "session"
    assert root["session_id"] == session_uuid(trace_id)
    assert root["event_id"] == root["session_id"]
    assert root["parent_id"] is None
    assert root["metadata"]["trace_id"] == f"{trace_id:032x}"
    assert root["metadata"]["span_id"] == f"{root_span:016x}"
    assert "parent_span_id" not in root["metadata"]


def test_child_of_root_points_at_session(otel: Otel) -> None:
    trace_id, root_span, child_span, _ = _three_levels(otel)
    child = otel.by_name()["child"]
    assert child["event_id"] == event_uuid(trace_id, child_span)
    assert child["parent_id"] == session_uuid(trace_id)
    assert child["session_id"] == session_uuid(trace_id)
    assert child["metadata"]["parent_span_id"] == f"{root_span:016x}"


def test_grandchild_points_at_the_childs_derived_id(otel: Otel) -> None:
    trace_id, _, child_span, grandchild_span = _three_levels(otel)
    grandchild = otel.by_name()["grandchild"]
    assert grandchild["event_id"] == event_uuid(trace_id, grandchild_span)
    assert grandchild["parent_id"] == event_uuid(trace_id, child_span)
    assert grandchild["session_id"] == session_uuid(trace_id)
    assert grandchild["metadata"]["parent_span_id"] == f"{child_span:016x}"
    assert grandchild["metadata"]["span_id"] == f"{grandchild_span:016x}"


def test_every_id_of_every_event_is_a_strict_uuid(otel: Otel) -> None:
    _three_levels(otel)
    for event in otel.events():
        assert_derived_uuid(event["session_id"])
        assert_derived_uuid(event["event_id"])
        if event["parent_id"] is not None:
            assert_derived_uuid(event["parent_id"])
        for child in event["children_ids"]:
            assert_derived_uuid(child)


def test_metadata_keeps_the_opentelemetry_ids_in_hex(otel: Otel) -> None:
    _three_levels(otel)
    for event in otel.events():
        meta = event["metadata"]
        assert len(meta["trace_id"]) == 32 and int(meta["trace_id"], 16)
        assert len(meta["span_id"]) == 16 and int(meta["span_id"], 16)
        if event["event_type"] != "session":
            assert len(meta["parent_span_id"]) == 16 and int(meta["parent_span_id"], 16)


def test_children_ids_list_every_child_and_nothing_else(otel: Otel) -> None:
    with otel.span("root", root=True) as root:
        with otel.span("a") as a, otel.span("a1"):
            pass
        with otel.span("b"):
            pass
        with otel.span("c"):
            pass
    trace_id = root.get_span_context().trace_id
    events = otel.by_name()
    assert sorted(events["root"]["children_ids"]) == sorted(
        [events["a"]["event_id"], events["b"]["event_id"], events["c"]["event_id"]]
    )
    assert events["a"]["children_ids"] == [events["a1"]["event_id"]]
    assert events["a1"]["children_ids"] == []
    assert events["a1"]["parent_id"] == event_uuid(trace_id, a.get_span_context().span_id)
    # Every parent_id is some event's id, and every event is listed by its parent.
    by_id = {e["event_id"]: e for e in events.values()}
    for event in events.values():
        if event["parent_id"] is not None:
            assert event["event_id"] in by_id[event["parent_id"]]["children_ids"]


def test_session_event_comes_first_and_parents_before_children(otel: Otel) -> None:
    _three_levels(otel)
    events = otel.events()
    assert [e["event_name"] for e in events] == ["root", "child", "grandchild"]


# -- determinism ----------------------------------------------------------------------------------------------


def test_same_spans_give_identical_events_on_every_call(otel: Otel) -> None:
    _three_levels(otel)
    assert otel.events() == otel.events()


def test_span_input_order_does_not_matter(otel: Otel) -> None:
    with otel.span("root", root=True):
        for i in range(6):
            with otel.span(f"step{i}"), otel.span(f"inner{i}"):
                pass
    spans = otel.spans()
    expected = spans_to_events(spans)
    rng = random.Random(1234)
    for _ in range(5):
        shuffled = list(spans)
        rng.shuffle(shuffled)
        assert spans_to_events(shuffled) == expected


def test_spans_of_several_traces_map_to_separate_sessions(otel: Otel) -> None:
    with otel.span("first", root=True), otel.span("first.child"):
        pass
    with otel.span("second", root=True), otel.span("second.child"):
        pass
    events = otel.by_name()
    assert events["first"]["session_id"] != events["second"]["session_id"]
    assert events["first.child"]["session_id"] == events["first"]["event_id"]
    assert events["second.child"]["session_id"] == events["second"]["event_id"]


# -- explicit HoneyHive session -------------------------------------------------------------------------------


def test_explicit_session_on_every_span_applies_and_root_becomes_an_ordinary_event(otel: Otel) -> None:
    with (
        otel.span("root", {"honeyhive.session_id": EXPLICIT_SESSION}, root=True) as root,
        otel.span("child", {"honeyhive.session_id": EXPLICIT_SESSION}) as child,
    ):
        pass
    trace_id = root.get_span_context().trace_id
    events = otel.by_name()
    root_event, child_event = events["root"], events["child"]
    assert root_event["session_id"] == EXPLICIT_SESSION
    assert root_event["event_type"] == "chain"  # it has a child; it is not the session
    assert root_event["event_id"] == event_uuid(trace_id, root.get_span_context().span_id)
    assert root_event["parent_id"] == EXPLICIT_SESSION
    assert child_event["session_id"] == EXPLICIT_SESSION
    assert child_event["parent_id"] == root_event["event_id"]
    assert child_event["event_id"] == event_uuid(trace_id, child.get_span_context().span_id)
    assert all(e["event_type"] != "session" for e in events.values())
    # The identity attribute is consumed, not copied into metadata.
    assert "honeyhive.session_id" not in root_event["metadata"]


def test_explicit_session_on_one_child_only_applies_to_the_whole_trace(otel: Otel) -> None:
    with (
        otel.span("root", root=True),
        otel.span("child"),
        otel.span("grandchild", {"honeyhive_session_id": EXPLICIT_SESSION}),
    ):
        pass
    events = otel.by_name()
    assert {e["session_id"] for e in events.values()} == {EXPLICIT_SESSION}
    assert events["root"]["event_type"] == "chain"
    assert events["root"]["parent_id"] == EXPLICIT_SESSION
    assert events["child"]["parent_id"] == events["root"]["event_id"]


def test_explicit_session_given_in_uppercase_is_normalised_to_lowercase(otel: Otel) -> None:
    with otel.span("root", {"honeyhive_session_id": EXPLICIT_SESSION.upper()}, root=True):
        pass
    (event,) = otel.events()
    assert event["session_id"] == EXPLICIT_SESSION
    assert event["parent_id"] == EXPLICIT_SESSION


def test_invalid_explicit_session_is_ignored_for_identity_but_kept_in_metadata(otel: Otel) -> None:
    with otel.span("root", {"honeyhive_session_id": "session-42"}, root=True) as root, otel.span("child"):
        pass
    trace_id = root.get_span_context().trace_id
    events = otel.by_name()
    assert events["root"]["event_type"] == "session"
    assert events["root"]["event_id"] == session_uuid(trace_id)
    assert events["child"]["parent_id"] == session_uuid(trace_id)
    assert events["root"]["metadata"]["honeyhive_session_id"] == "session-42"


def test_explicit_parent_id_on_root_with_explicit_session(otel: Otel) -> None:
    attrs = {"honeyhive.session_id": EXPLICIT_SESSION, "honeyhive.parent_id": EXPLICIT_PARENT.upper()}
    with otel.span("root", attrs, root=True), otel.span("child"):
        pass
    events = otel.by_name()
    assert events["root"]["parent_id"] == EXPLICIT_PARENT
    assert events["child"]["parent_id"] == events["root"]["event_id"]


def test_underscore_parent_id_is_understood_too(otel: Otel) -> None:
    attrs = {"honeyhive_session_id": EXPLICIT_SESSION, "honeyhive_parent_id": EXPLICIT_PARENT}
    with otel.span("root", attrs, root=True):
        pass
    (event,) = otel.events()
    assert event["parent_id"] == EXPLICIT_PARENT
    assert "honeyhive_parent_id" not in event["metadata"]


def test_explicit_event_id_replaces_the_derived_id_and_children_point_at_it(otel: Otel) -> None:
    with (
        otel.span("root", root=True) as root,
        otel.span("step", {"honeyhive_event_id": EXPLICIT_EVENT}),
        otel.span("inner"),
    ):
        pass
    trace_id = root.get_span_context().trace_id
    events = otel.by_name()
    assert events["step"]["event_id"] == EXPLICIT_EVENT
    assert events["step"]["parent_id"] == session_uuid(trace_id)
    assert events["inner"]["parent_id"] == EXPLICIT_EVENT
    assert events["step"]["children_ids"] == [events["inner"]["event_id"]]
    assert EXPLICIT_EVENT in events["root"]["children_ids"]
    assert "honeyhive_event_id" not in events["step"]["metadata"]


def test_invalid_explicit_event_id_keeps_the_derived_id_and_the_value_in_metadata(otel: Otel) -> None:
    with otel.span("root", root=True) as root, otel.span("step", {"honeyhive_event_id": "evt-1"}) as step:
        pass
    step_event = otel.by_name()["step"]
    assert step_event["event_id"] == event_uuid(root.get_span_context().trace_id, step.get_span_context().span_id)
    assert step_event["metadata"]["honeyhive_event_id"] == "evt-1"


# -- distributed traces -----------------------------------------------------------------------------------------


def test_remote_parent_is_pointed_at_by_the_id_the_other_process_derives() -> None:
    # Process A: a root and a child that calls out to process B.
    process_a = Otel()
    with process_a.span("frontend", root=True), process_a.span("call-backend") as caller:
        pass
    caller_ctx = caller.get_span_context()
    events_a = process_a.by_name()

    # Process B: its local root has the caller as a remote parent.
    process_b = Otel()
    remote = remote_context(caller_ctx.trace_id, caller_ctx.span_id)
    with process_b.span("backend", context=remote) as backend, process_b.span("db"):
        pass
    events_b = process_b.by_name()

    assert backend.parent is not None and backend.parent.is_remote
    assert events_b["backend"]["event_type"] != "session"
    assert events_b["backend"]["parent_id"] == events_a["call-backend"]["event_id"]
    assert events_b["backend"]["parent_id"] == event_uuid(caller_ctx.trace_id, caller_ctx.span_id)
    assert events_b["backend"]["session_id"] == events_a["frontend"]["session_id"]
    assert events_b["backend"]["metadata"]["parent_span_id"] == f"{caller_ctx.span_id:016x}"
    assert events_b["db"]["parent_id"] == events_b["backend"]["event_id"]
    # A separate, independent call computes exactly the same ids.
    assert spans_to_events(process_b.spans()) == list(events_b.values())


def test_remote_parent_with_explicit_session_keeps_the_explicit_session() -> None:
    otel = Otel()
    ctx = remote_context(0x1234567890ABCDEF1234567890ABCDEF, 0x1122334455667788)
    with otel.span("backend", {"honeyhive.session_id": EXPLICIT_SESSION}, context=ctx):
        pass
    (event,) = otel.events()
    assert event["session_id"] == EXPLICIT_SESSION
    assert event["parent_id"] == event_uuid(0x1234567890ABCDEF1234567890ABCDEF, 0x1122334455667788)
