"""The span journal codec must give back exactly what it was given: every field, every value type."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from otel_honeyhive import spans_to_events
from otel_honeyhive.core.spans import LinkView, SpanEventView, SpanView, from_readable_span
from otel_honeyhive.inputs.otlp.decode_proto import decode_request
from otel_honeyhive.shipping.span_codec import CodecError, decode_views, encode_views
from tests.inputs.otlp import make_sdk_spans
from tests.support.exact import exact


def _exact_view(view: SpanView) -> Any:
    return (
        exact(view.trace_id),
        exact(view.span_id),
        view.name,
        exact(view.start_ns),
        exact(view.end_ns),
        exact(view.parent_span_id),
        exact(view.parent_is_remote),
        view.kind,
        exact(view.status_code),
        exact(view.status_message),
        exact(dict(view.attributes)),
        type(view.events).__name__,
        [(e.name, exact(e.time_ns), exact(dict(e.attributes))) for e in view.events],
        type(view.links).__name__,
        [(exact(lk.trace_id), exact(lk.span_id), exact(dict(lk.attributes))) for lk in view.links],
        exact(dict(view.resource)),
        exact(view.scope_name),
        exact(view.scope_version),
        exact(view.dropped_attributes),
        exact(view.dropped_events),
        exact(view.dropped_links),
        exact(dict(view.extra)),
    )


def test_sdk_spans_round_trip_and_map_identically() -> None:
    sdk_spans = make_sdk_spans()
    views = [from_readable_span(s) for s in sdk_spans]
    back = decode_views(encode_views(views))
    assert back == views
    assert [_exact_view(v) for v in back] == [_exact_view(v) for v in views]
    assert spans_to_events(back) == spans_to_events(sdk_spans)


def test_decoded_otlp_spans_round_trip_with_shared_resources() -> None:
    views = decode_request(encode_spans(make_sdk_spans())).spans
    back = decode_views(encode_views(views))
    assert [_exact_view(v) for v in back] == [_exact_view(v) for v in views]
    assert len({id(v.resource) for v in back}) == len({id(v.resource) for v in views}) == 2


def test_awkward_values() -> None:
    attributes: dict[str, Any] = {
        "nan": math.nan,
        "inf": math.inf,
        "-inf": -math.inf,
        "-0.0": -0.0,
        "1.0": 1.0,
        "one": 1,
        "true": True,
        "u64max": 2**64 - 1,
        "i64min": -(2**63),
        "huge": 2**200,
        "very negative": -(2**100),
        "bytes": b"\x00\xff",
        "empty bytes": b"",
        "tuple": (1, "a", None),
        "list": [1, "a", None],
        "empty tuple": (),
        "empty list": [],
        "nested": {"t": ((1,), [2.5, math.nan]), "d": {"b": b"x"}, "empty": {}},
        "none": None,
        "looks tagged": ["t", [1]],
        "str": '["t", 1]',
    }
    view = SpanView(
        trace_id=2**128 - 1,
        span_id=2**64 - 1,
        name="odd ☃",
        start_ns=0,
        end_ns=2**64 - 1,
        parent_span_id=1,
        parent_is_remote=True,
        kind="consumer",
        status_code=2,
        status_message="",
        attributes=attributes,
        events=[SpanEventView("e", 2**70, {"x": (b"y",)})],
        links=(LinkView(1, 2, {}), LinkView(2**127, 0, {"f": math.inf})),
        resource={"service.name": "svc", "n": math.nan},
        scope_name="",
        scope_version=None,
        dropped_attributes=2**40,
        dropped_events=1,
        dropped_links=0,
        extra={"k": (1, 2)},
    )
    (back,) = decode_views(encode_views([view]))
    assert _exact_view(back) == _exact_view(view)
    assert type(back.events) is list and type(back.links) is tuple


def test_empty_batch() -> None:
    assert decode_views(encode_views([])) == []


def test_unencodable_value_is_a_type_error() -> None:
    view = SpanView(1, 1, "s", 0, 0, attributes={"obj": object()})
    with pytest.raises(TypeError):
        encode_views([view])


@pytest.mark.parametrize(
    "data",
    [b"", b"{}", b"[2, [], []]", b"[1, [], [[1]]]", b"[1, [], [1]]", b"[1, [], ", b'[1, [["T", {"a": ["?", 1]}]], []]'],
)
def test_foreign_bytes_are_a_codec_error(data: bytes) -> None:
    with pytest.raises(CodecError):
        decode_views(data)


# -- property: any SpanView round-trips exactly ------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(),
    st.text(),
    st.binary(max_size=16),
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=8,
)
_attributes = st.dictionaries(st.text(max_size=10), _values, max_size=4)
_u64 = st.integers(min_value=0, max_value=2**64 - 1)
_ids = st.integers(min_value=0, max_value=2**128 - 1)
_events = st.lists(st.builds(SpanEventView, st.text(max_size=8), _u64, _attributes), max_size=3)
_links = st.lists(st.builds(LinkView, _ids, _u64, _attributes), max_size=3)

_views = st.builds(
    SpanView,
    trace_id=_ids,
    span_id=_u64,
    name=st.text(max_size=20),
    start_ns=_u64,
    end_ns=_u64,
    parent_span_id=_u64,
    parent_is_remote=st.booleans(),
    kind=st.sampled_from(["internal", "server", "client", "producer", "consumer"]),
    status_code=st.integers(min_value=0, max_value=2),
    status_message=st.none() | st.text(max_size=10),
    attributes=_attributes,
    events=_events.map(tuple) | _events,
    links=_links.map(tuple) | _links,
    resource=_attributes,
    scope_name=st.none() | st.text(max_size=8),
    scope_version=st.none() | st.text(max_size=8),
    dropped_attributes=_u64,
    dropped_events=_u64,
    dropped_links=_u64,
    extra=_attributes,
)


@pytest.mark.slow
@given(st.lists(_views, max_size=3))
def test_round_trip_is_exact(views: list[SpanView]) -> None:
    back = decode_views(encode_views(views))
    assert [_exact_view(v) for v in back] == [_exact_view(v) for v in views]
