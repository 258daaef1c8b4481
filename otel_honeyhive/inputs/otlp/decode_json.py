"""OTLP/JSON → `SpanView`, done by hand rather than with protobuf's `json_format`.

`json_format.Parse` treats the `bytes` id fields as base64, so the hex ids OTLP/JSON mandates decode into wrong
bytes without any error. Walking the orjson document ourselves gets ids right and lets us be liberal in what we
accept, as the OTLP spec asks of receivers: lowerCamelCase and snake_case keys (and the legacy
`instrumentationLibrarySpans`), enums as integers or names, 64-bit integers as numbers or strings, unknown fields
ignored. Structural garbage is refused with the JSON path of the offending value; a span whose ids are unusable
is rejected on its own (counted for `partial_success`), exactly as in the protobuf decoder, whose output this one
matches field for field.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

from otel_honeyhive.core.spans import LinkView, SpanEventView, SpanView
from otel_honeyhive.inputs.otlp.decoded import EMPTY, KIND_NAMES, MAX_DEPTH, REMOTE_MASK, DecodeResult
from otel_honeyhive.inputs.otlp.errors import OtlpDecodeError

_UINT64_MAX = 2**64 - 1
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_UINT32_MAX = 2**32 - 1

_KINDS_BY_NAME = {
    "SPAN_KIND_UNSPECIFIED": 0,
    "SPAN_KIND_INTERNAL": 1,
    "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4,
    "SPAN_KIND_CONSUMER": 5,
}
_STATUS_BY_NAME = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_DOUBLE_WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

_hex16 = re.compile(r"[0-9a-fA-F]{16}").fullmatch
_hex32 = re.compile(r"[0-9a-fA-F]{32}").fullmatch
_decimal = re.compile(r"-?[0-9]{1,20}").fullmatch
_number = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?").fullmatch


class _Bad(Exception):
    """A structural error deep inside the document; each level on the way out prepends its path segment,
    so the happy path never builds path strings."""

    def __init__(self, message: str, segment: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.segments: list[str] = [segment] if segment else []

    def under(self, segment: str) -> _Bad:
        self.segments.append(segment)
        return self

    def path(self, prefix: str) -> str:
        parts = [prefix, *reversed(self.segments)] if prefix else list(reversed(self.segments))
        out = ""
        for part in parts:
            out += part if (not out or part.startswith("[")) else "." + part
        return out


def _get(obj: dict[str, Any], camel: str, snake: str) -> tuple[Any, str]:
    """A field under its lowerCamelCase or snake_case name, and the name it was found under (for messages)."""
    value = obj.get(camel)
    if value is None and snake in obj:
        return obj[snake], snake
    return value, camel


def _object(value: Any, where: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise _Bad("expected an object", where)
    return value


def _array(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if type(value) is not list:
        raise _Bad("expected an array", where)
    return value


def _string(value: Any, where: str) -> str:
    if value is None:
        return ""
    if type(value) is not str:
        raise _Bad("expected a string", where)
    return value


def _integer(value: Any, where: str, low: int, high: int) -> int:
    """A protobuf JSON integer: a number, or a decimal string (how 64-bit values usually travel)."""
    t = type(value)
    if t is int:
        n: int = value
    elif value is None:
        return 0
    elif (t is str and _decimal(value)) or (t is float and value.is_integer()):
        n = int(value)
    else:
        raise _Bad("expected an integer", where)
    if n < low or n > high:
        raise _Bad(f"integer out of range [{low}, {high}]", where)
    return n


def _u64(obj: dict[str, Any], camel: str, snake: str) -> int:
    """A uint64 field (camelCase or snake_case; number or decimal string; absent → 0)."""
    value = obj.get(camel)
    if value is None:
        value = obj.get(snake)
        if value is None:
            return 0
        camel = snake
    if type(value) is int:
        if 0 <= value <= _UINT64_MAX:
            return value
    elif type(value) is str and 0 < len(value) <= 20 and value.isdigit() and value.isascii():
        number = int(value)
        if number <= _UINT64_MAX:
            return number
    return _integer(value, camel, 0, _UINT64_MAX)


def _u32(obj: dict[str, Any], camel: str, snake: str) -> int:
    value = obj.get(camel)
    if value is None:
        value = obj.get(snake)
        if value is None:
            return 0
        camel = snake
    if type(value) is int and 0 <= value <= _UINT32_MAX:
        return value
    return _integer(value, camel, 0, _UINT32_MAX)


def _enum(value: Any, where: str, names: Mapping[str, int]) -> int:
    if type(value) is str:
        number = names.get(value)
        if number is None:
            raise _Bad(f"unknown enum value {value[:60]!r}", where)
        return number
    return _integer(value, where, -(2**31), 2**31 - 1)


def _double(value: Any, where: str) -> float:
    t = type(value)
    if type(value) is float:
        return value
    if t is int:
        try:
            return float(value)
        except OverflowError:
            raise _Bad("number out of range for a double", where) from None
    if t is str:
        word = _DOUBLE_WORDS.get(value)
        if word is not None:
            return word
        if len(value) < 400 and _number(value):
            number = float(value)
            if not math.isinf(number):
                return number
    raise _Bad('expected a number (or "NaN", "Infinity", "-Infinity")', where)


def _bytes(value: Any, where: str) -> bytes:
    """Base64, standard or URL-safe alphabet, padding optional (as protobuf's JSON mapping accepts)."""
    if type(value) is not str:
        raise _Bad("expected a base64 string", where)
    text = value.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _Bad("invalid base64", where) from None


def _hex_id(value: Any, size: int) -> int | None:
    """A hex trace/span id as an int (0 when all zeros), or None when it is not `size` bytes of hex."""
    if type(value) is str and (_hex32 if size == 16 else _hex16)(value):
        return int(value, 16)
    return None


def _id_problem(value: Any, name: str, size: int) -> str:
    if value is None or value == "":
        return f"{name} must be {size} bytes, got 0"
    if type(value) is str and (_hex32 if size == 16 else _hex16)(value):
        return f"{name} must not be all zeros"
    shown = value[:40] if type(value) is str else value
    return f"{name} must be {size * 2} hex digits, got {shown!r}"


# -- AnyValue ----------------------------------------------------------------------------------------------------


_VARIANTS = {
    "stringValue": 0,
    "string_value": 0,
    "boolValue": 1,
    "bool_value": 1,
    "intValue": 2,
    "int_value": 2,
    "doubleValue": 3,
    "double_value": 3,
    "arrayValue": 4,
    "array_value": 4,
    "kvlistValue": 5,
    "kvlist_value": 5,
    "bytesValue": 6,
    "bytes_value": 6,
}
"""AnyValue member → precedence when a (malformed) object sets several: the first in OTLP's declaration order."""


def _any_value(v: dict[str, Any], depth: int) -> Any:
    """One AnyValue object as the Python value the SDK holds (one pass over its keys: usually exactly one)."""
    code = 7
    key = ""
    x: Any = None
    for k, value in v.items():
        c = _VARIANTS.get(k)
        if c is not None and c < code and value is not None:
            code, key, x = c, k, value
    if code == 0:
        if type(x) is not str:
            raise _Bad("expected a string", key)
        return x
    if code == 2:
        if type(x) is int and _INT64_MIN <= x <= _INT64_MAX:
            return x
        if type(x) is bool:
            raise _Bad("expected an integer", key)
        return _integer(x, key, _INT64_MIN, _INT64_MAX)
    if code == 3:
        if type(x) is bool:
            raise _Bad("expected a number", key)
        return _double(x, key)
    if code == 1:
        if type(x) is not bool:
            raise _Bad("expected true or false", key)
        return x
    if code == 7:
        return None
    if code == 6:
        return _bytes(x, key)
    if depth >= MAX_DEPTH:
        raise _Bad(f"nested deeper than {MAX_DEPTH} levels", key)
    if code == 4:
        values = _array(_object(x, key).get("values"), "values")
        items: list[Any] = []
        for i, item in enumerate(values):
            try:
                items.append(_any_value(_object(item, ""), depth + 1) if item is not None else None)
            except _Bad as bad:
                raise bad.under(f"[{i}]").under("values").under(key) from None
        return tuple(items)
    try:  # code 5, kvlistValue
        return _attributes(_object(x, "").get("values"), depth + 1, "values") or {}
    except _Bad as bad:
        raise bad.under(key) from None


def _attributes(kvs: Any, depth: int = 0, where: str = "attributes") -> Mapping[str, Any]:
    """A JSON array of KeyValue objects → plain dict (later duplicates win, like the protobuf decoder)."""
    if not kvs:
        if kvs is None or type(kvs) is list:
            return EMPTY
        raise _Bad("expected an array", where)
    if type(kvs) is not list:
        raise _Bad("expected an array", where)
    out: dict[str, Any] = {}
    for i, kv in enumerate(kvs):
        if type(kv) is not dict:
            raise _Bad("expected an object", f"[{i}]").under(where)
        key = kv.get("key")
        v = kv.get("value")
        if type(key) is not str:
            if key is not None:
                raise _Bad("expected a string", "key").under(f"[{i}]").under(where)
            key = ""
        if type(v) is dict:
            s = v.get("stringValue")
            if type(s) is str:
                out[key] = s
                continue
            try:
                out[key] = _any_value(v, depth)
            except _Bad as bad:
                raise bad.under("value").under(f"[{i}]").under(where) from None
        elif v is None:
            out[key] = None
        else:
            raise _Bad("expected an object", "value").under(f"[{i}]").under(where)
    return out


# -- spans -------------------------------------------------------------------------------------------------------


def _status(value: Any) -> tuple[int, str | None]:
    if value is None:
        return 0, None
    status = _object(value, "status")
    try:
        code = _enum(status.get("code"), "code", _STATUS_BY_NAME)
        message = _string(status.get("message"), "message")
    except _Bad as bad:
        raise bad.under("status") from None
    return (code if 0 <= code <= 2 else 0), (message or None)


def _events(value: Any, where: str) -> tuple[SpanEventView, ...]:
    events = _array(value, where)
    out: list[SpanEventView] = []
    for i, e in enumerate(events):
        try:
            e = _object(e, "")
            name = e.get("name")
            if type(name) is not str:
                name = _string(name, "name")
            out.append(SpanEventView(name, _u64(e, "timeUnixNano", "time_unix_nano"), _attributes(e.get("attributes"))))
        except _Bad as bad:
            raise bad.under(f"[{i}]").under(where) from None
    return tuple(out)


def _links(value: Any, where: str) -> tuple[tuple[LinkView, ...], int]:
    """Links with well-formed ids, and how many were dropped for malformed ones (as in the protobuf decoder;
    all-zero ids are kept, since the SDK itself records such links when they carry attributes)."""
    links = _array(value, where)
    out: list[LinkView] = []
    bad_links = 0
    for i, link in enumerate(links):
        try:
            link = _object(link, "")
            tid = _hex_id(_get(link, "traceId", "trace_id")[0], 16)
            sid = _hex_id(_get(link, "spanId", "span_id")[0], 8)
            attributes = _attributes(link.get("attributes"))
        except _Bad as bad:
            raise bad.under(f"[{i}]").under(where) from None
        if tid is None or sid is None:
            bad_links += 1
        else:
            out.append(LinkView(tid, sid, attributes))
    return tuple(out), bad_links


def _span(
    sp: dict[str, Any],
    resource: Mapping[str, Any],
    scope_name: str | None,
    scope_version: str | None,
) -> SpanView | str:
    """One span object → SpanView, or a string saying why its ids make it unusable."""
    name = sp.get("name")
    if type(name) is not str:
        name = _string(name, "name")
    raw_tid = sp.get("traceId")
    if raw_tid is None:
        raw_tid = sp.get("trace_id")
    raw_sid = sp.get("spanId")
    if raw_sid is None:
        raw_sid = sp.get("span_id")
    raw_parent = sp.get("parentSpanId")
    if raw_parent is None:
        raw_parent = sp.get("parent_span_id")
    tid = _hex_id(raw_tid, 16)
    sid = _hex_id(raw_sid, 8)
    # Absent or 8 zero bytes both read as "no parent", as in the protobuf decoder.
    parent = 0 if raw_parent is None or raw_parent == "" else _hex_id(raw_parent, 8)
    if not tid or not sid or parent is None:
        if not tid:
            problem = _id_problem(raw_tid, "trace_id", 16)
        elif not sid:
            problem = _id_problem(raw_sid, "span_id", 8)
        else:
            problem = "parent_span_id must be empty or 16 hex digits, got " + repr(
                raw_parent[:40] if type(raw_parent) is str else raw_parent
            )
        return f"span {name[:100]!r}: {problem}"

    start = _u64(sp, "startTimeUnixNano", "start_time_unix_nano")
    end = _u64(sp, "endTimeUnixNano", "end_time_unix_nano")
    kind = sp.get("kind")
    if type(kind) is not int:
        kind = _enum(kind, "kind", _KINDS_BY_NAME) if kind is not None else 0
    flags = _u32(sp, "flags", "flags")
    status = sp.get("status")
    code, message = _status(status) if status is not None else (0, None)
    dropped_attributes = _u32(sp, "droppedAttributesCount", "dropped_attributes_count")
    dropped_events = _u32(sp, "droppedEventsCount", "dropped_events_count")
    dropped_links = _u32(sp, "droppedLinksCount", "dropped_links_count")
    events = sp.get("events")
    links = sp.get("links")
    link_views: tuple[LinkView, ...] = ()
    if links is not None:
        link_views, bad_links = _links(links, "links")
        dropped_links += bad_links
    return SpanView(
        trace_id=tid,
        span_id=sid,
        name=name,
        start_ns=start,
        end_ns=end or start,
        parent_span_id=parent,
        parent_is_remote=bool(parent) and (flags & REMOTE_MASK) == REMOTE_MASK,
        kind=KIND_NAMES[kind] if 0 <= kind < len(KIND_NAMES) else "internal",
        status_code=code,
        status_message=message,
        attributes=_attributes(sp.get("attributes")),
        events=_events(events, "events") if events is not None else (),
        links=link_views,
        resource=resource,
        scope_name=scope_name,
        scope_version=scope_version,
        dropped_attributes=dropped_attributes,
        dropped_events=dropped_events,
        dropped_links=dropped_links,
        extra=EMPTY,
    )


def _scope(ss: dict[str, Any]) -> tuple[str | None, str | None]:
    scope, key = _get(ss, "scope", "instrumentationLibrary")
    if scope is None:
        scope, key = _get(ss, "instrumentation_library", "instrumentation_library")
        if scope is None:
            return None, None
    try:
        scope = _object(scope, "")
        return (_string(scope.get("name"), "name") or None), (_string(scope.get("version"), "version") or None)
    except _Bad as bad:
        raise bad.under(key) from None


def _resource(rs: dict[str, Any]) -> Mapping[str, Any]:
    resource = rs.get("resource")
    if resource is None:
        return EMPTY
    try:
        return _attributes(_object(resource, "").get("attributes"))
    except _Bad as bad:
        raise bad.under("resource") from None


def _walk(doc: dict[str, Any], result: DecodeResult) -> None:
    resource_spans, rkey = _get(doc, "resourceSpans", "resource_spans")
    append = result.spans.append
    try:
        resource_spans = _array(resource_spans, rkey)
    except _Bad as bad:
        raise OtlpDecodeError(f"{bad.path('')}: {bad.message}") from None
    for i, rs in enumerate(resource_spans):
        rs_path = f"{rkey}[{i}]"
        try:
            resource = _resource(_object(rs, ""))
            groups = [
                _get(rs, "scopeSpans", "scope_spans"),
                _get(rs, "instrumentationLibrarySpans", "instrumentation_library_spans"),  # OTLP < 0.15
            ]
            for scope_spans, skey in groups:
                _array(scope_spans, skey)
        except _Bad as bad:
            raise OtlpDecodeError(f"{bad.path(rs_path)}: {bad.message}") from None
        for scope_spans, skey in groups:
            if not scope_spans:
                continue
            for j, ss in enumerate(scope_spans):
                ss_path = f"{rs_path}.{skey}[{j}]"
                try:
                    scope_name, scope_version = _scope(_object(ss, ""))
                    spans = _array(ss.get("spans"), "spans")
                except _Bad as bad:
                    raise OtlpDecodeError(f"{bad.path(ss_path)}: {bad.message}") from None
                for k, sp in enumerate(spans):
                    try:
                        view = _span(_object(sp, ""), resource, scope_name, scope_version)
                    except _Bad as bad:
                        raise OtlpDecodeError(f"{bad.path(f'{ss_path}.spans[{k}]')}: {bad.message}") from None
                    if isinstance(view, str):
                        result.rejected += 1
                        result.errors.append(view)
                    else:
                        append(view)


def decode_json(body: bytes) -> DecodeResult:
    """Decode an OTLP/JSON `ExportTraceServiceRequest` body (after decompression).

    Raises `OtlpDecodeError` for anything that is not such a request; spans with unusable ids are rejected
    individually (see `DecodeResult`)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpDecodeError(f"invalid JSON: {exc}") from None
    if type(doc) is not dict:
        raise OtlpDecodeError("expected a JSON object (an ExportTraceServiceRequest)")
    result = DecodeResult()
    try:
        _walk(doc, result)
    except RecursionError:  # pragma: no cover - depth is bounded by MAX_DEPTH and orjson's own limit
        raise OtlpDecodeError("JSON nested too deeply") from None
    return result


__all__ = ["DecodeResult", "OtlpDecodeError", "decode_json"]
