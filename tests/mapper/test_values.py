"""Nothing is silently dropped, and every event is representable as strict JSON."""

from __future__ import annotations

import json
import math

import orjson
import pytest
from opentelemetry.sdk.trace import SpanLimits

from otel_honeyhive.core.jsonable import jsonable
from otel_honeyhive.mapper.values import (
    as_bucket,
    maybe_json,
    nested_from_flat,
    parse_json,
    refusing,
    to_int,
    to_number,
)
from tests.mapper.otel import Otel, assert_serialisable, child_event

CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}


# -- through the mapper -----------------------------------------------------------------------------------------


def test_unknown_attributes_land_in_metadata_as_they_are() -> None:
    event = child_event(
        {
            "http.request.method": "POST",
            "http.response.status_code": 200,
            "app.retry": True,
            "app.ratio": 0.25,
            "app.tags": ("a", "b"),
            "app.flags": (True, False),
        }
    )
    meta = event["metadata"]
    assert meta["http.request.method"] == "POST"
    assert meta["http.response.status_code"] == 200
    assert meta["app.retry"] is True
    assert meta["app.ratio"] == 0.25
    assert meta["app.tags"] == ["a", "b"]
    assert meta["app.flags"] == [True, False]


def test_nan_and_infinities_become_strings() -> None:
    event = child_event(
        {"app.nan": math.nan, "app.inf": math.inf, "app.ninf": -math.inf, "app.list": (1.0, math.nan)}
    )
    meta = event["metadata"]
    assert meta["app.nan"] == "NaN"
    assert meta["app.inf"] == "Infinity"
    assert meta["app.ninf"] == "-Infinity"
    assert meta["app.list"] == [1.0, "NaN"]


def test_nan_in_a_routed_field_is_representable() -> None:
    event = child_event({**CHAT, "gen_ai.request.temperature": math.nan, "gen_ai.usage.cost": math.inf})
    assert event["config"]["hyperparameters"]["temperature"] == "NaN"
    assert "cost" not in event["metadata"]
    assert event["metadata"]["gen_ai.usage.cost"] == "Infinity"


def test_nan_token_count_is_kept_raw() -> None:
    event = child_event({**CHAT, "gen_ai.usage.input_tokens": math.nan})
    assert "prompt_tokens" not in event["metadata"]
    assert event["metadata"]["gen_ai.usage.input_tokens"] == "NaN"


def test_bytes_become_text_or_base64() -> None:
    event = child_event({"app.utf8": "héllo".encode(), "app.binary": b"\xff\x00\xfe"})
    assert event["metadata"]["app.utf8"] == "héllo"
    assert event["metadata"]["app.binary"] == "base64:/wD+"


def test_huge_integers_are_kept_as_text() -> None:
    event = child_event({"app.big": 2**80, "app.neg": -(2**70), "app.max": 2**64 - 1})
    assert event["metadata"]["app.big"] == str(2**80)
    assert event["metadata"]["app.neg"] == str(-(2**70))
    assert event["metadata"]["app.max"] == 2**64 - 1


def test_huge_token_count_is_kept_raw_rather_than_breaking_json() -> None:
    event = child_event({**CHAT, "gen_ai.usage.input_tokens": 2**80, "gen_ai.usage.output_tokens": 1})
    assert "prompt_tokens" not in event["metadata"]
    assert event["metadata"]["gen_ai.usage.input_tokens"] == str(2**80)


def test_empty_strings_and_empty_sequences_are_kept() -> None:
    event = child_event({"app.empty": "", "app.none": ()})
    assert event["metadata"]["app.empty"] == ""
    assert event["metadata"]["app.none"] == []


def test_mapping_and_none_attribute_values_from_the_sdk_are_kept() -> None:
    # Recent SDKs accept AnyValue: maps, nested sequences and None.
    event = child_event({"app.map": {"a": 1, "b": [1, 2]}, "app.nothing": None})
    assert event["metadata"]["app.map"] == {"a": 1, "b": [1, 2]}
    assert event["metadata"]["app.nothing"] is None


def test_dropped_attributes_are_recorded() -> None:
    event = child_event(
        {"a.one": 1, "a.two": 2, "a.three": 3, "a.four": 4}, span_limits=SpanLimits(max_attributes=2)
    )
    assert event["metadata"]["dropped_attributes"] == 2
    assert event["metadata"]["a.three"] == 3
    assert event["metadata"]["a.four"] == 4
    assert "a.one" not in event["metadata"]


def test_no_dropped_counter_when_nothing_was_dropped() -> None:
    event = child_event({"a.one": 1})
    assert "dropped_attributes" not in event["metadata"]
    assert "dropped_events" not in event["metadata"]
    assert "dropped_links" not in event["metadata"]


def test_span_kind_scope_and_service_are_recorded(otel: Otel) -> None:
    from opentelemetry.trace import SpanKind

    with otel.span("root", root=True), otel.span("call", kind=SpanKind.CLIENT):
        pass
    events = otel.by_name()
    assert events["call"]["metadata"]["span_kind"] == "client"
    assert events["call"]["metadata"]["scope_name"] == "tests.mapper"
    assert events["call"]["metadata"]["scope_version"] == "1.2.3"
    assert events["call"]["metadata"]["service.name"] == "mapper-tests"
    assert events["root"]["metadata"]["resource"]["service.name"] == "mapper-tests"


def test_times_are_milliseconds_and_duration_is_float_milliseconds(otel: Otel) -> None:
    span = otel.tracer.start_span("root", start_time=1_700_000_000_000_000_000)
    span.end(end_time=1_700_000_000_250_500_000)
    (event,) = otel.events()
    assert event["start_time"] == 1_700_000_000_000
    assert event["end_time"] == 1_700_000_000_250
    assert event["duration"] == 250.5


def test_every_event_has_the_full_shape() -> None:
    event = child_event()
    for key in ("config", "inputs", "outputs", "metadata", "metrics", "feedback", "user_properties"):
        assert isinstance(event[key], dict)
    assert event["source"] == "dev"
    assert event["children_ids"] == []
    assert_serialisable(event)


# -- the converters ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (math.nan, "NaN"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (b"abc", "abc"),
        (b"\x80", "base64:gA=="),
        (bytearray(b"x"), "x"),
        ((1, (2, 3)), [1, [2, 3]]),
        ({1: b"x"}, {"1": "x"}),
        (frozenset({7}), [7]),
        (2**63 - 1, 2**63 - 1),
        (-(2**63), -(2**63)),
        (-(2**63) - 1, str(-(2**63) - 1)),
        (2**64, str(2**64)),
        (None, None),
        (True, True),
        (object, str(object)),
    ],
)
def test_jsonable(value: object, expected: object) -> None:
    result = jsonable(value)
    assert result == expected
    orjson.dumps(result)
    json.dumps(result, allow_nan=False)


def test_parse_json_rejects_truncated_and_non_strings() -> None:
    assert parse_json(' {"a": 1} ') == {"a": 1}
    assert parse_json('"text"') == "text"
    for bad in ('{"a": ', "", "   ", 5, None, "NaN"):
        with pytest.raises(ValueError):
            parse_json(bad)


def test_maybe_json_parses_objects_and_arrays_only() -> None:
    assert maybe_json('{"a": [1]}') == {"a": [1]}
    assert maybe_json("[1, 2]") == [1, 2]
    assert maybe_json("42") == "42"
    assert maybe_json('"quoted"') == '"quoted"'
    assert maybe_json('{"cut": "in ha') == '{"cut": "in ha'
    assert maybe_json(math.nan) == "NaN"


@pytest.mark.parametrize(("value", "expected"), [(5, 5), ("7", 7), (" 8 ", 8), ("9.0", 9), (3.0, 3)])
def test_to_int_accepts(value: object, expected: int) -> None:
    assert to_int(value) == expected


@pytest.mark.parametrize("value", [True, "x", 1.5, math.nan, math.inf, None, "", 2**64, -(2**64), str(2**70)])
def test_to_int_refuses(value: object) -> None:
    with pytest.raises(ValueError):
        to_int(value)


@pytest.mark.parametrize(("value", "expected"), [(5, 5), ("0.5", 0.5), (1.25, 1.25), ("3", 3)])
def test_to_number_accepts(value: object, expected: float) -> None:
    assert to_number(value) == expected


@pytest.mark.parametrize("value", [False, "abc", math.nan, "inf", None, 2**80])
def test_to_number_refuses(value: object) -> None:
    with pytest.raises(ValueError):
        to_number(value)


def test_as_bucket_keeps_objects_and_wraps_the_rest() -> None:
    convert = as_bucket("value")
    assert convert('{"a": 1}') == {"a": 1}
    assert convert("text") == {"value": "text"}
    assert convert(3) == {"value": 3}
    assert convert("[1]") == {"value": [1]}


def test_nested_from_flat_rebuilds_objects_and_lists() -> None:
    pairs = [("a.b", 1), ("a.c.0", "x"), ("a.c.1", "y"), ("a.c.10", "z"), ("a.c.2", "w"), ("d", '{"e": 2}')]
    assert nested_from_flat(pairs) == {"a": {"b": 1, "c": ["x", "y", "w", "z"]}, "d": {"e": 2}}


def test_nested_from_flat_keeps_a_value_and_its_children() -> None:
    assert nested_from_flat([("a", "top"), ("a.b", "child")]) == {"a": {"": "top", "b": "child"}}
    assert nested_from_flat([("a.b", "child"), ("a", "top")]) == {"a": {"b": "child", "": "top"}}


def test_a_placeholder_is_refused_and_anything_else_taken_as_it_is() -> None:
    convert = refusing("unknown")
    with pytest.raises(ValueError, match="placeholder"):
        convert("unknown")
    assert (convert("gpt-4o"), convert("Unknown"), convert(("a", "b"))) == ("gpt-4o", "Unknown", ["a", "b"])
