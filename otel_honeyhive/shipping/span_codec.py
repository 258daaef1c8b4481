"""A lossless, compact byte encoding of `SpanView`s (orjson), for journaling held spans to disk.

JSON alone loses exactly the things span attributes can hold: bytes, tuple-vs-list, NaN/±inf (orjson writes
null), integers outside [-2**63, 2**64-1] (orjson refuses them; trace ids are 128-bit). Such values are written
as a tagged JSON array `[tag, payload]`: since a plain attribute value is never an array, the tag is unambiguous
and the common case (str/int/float/bool/None values) is passed to orjson untouched. An attribute map that needed
no tags is written as a JSON object; one that did is written as `["T", {...}]`, so the decoder only walks maps
that need it. Resources, usually shared by every span of a batch, are written once and shared again on decode.

Layout: `[1, [resource, ...], [span, ...]]`; each span is a positional array (see `_encode_span`). Events and
links come back as the list or tuple they were (other sequence types as tuples); attribute maps come back as
dicts (so a `MappingProxyType` compares equal but is not the same type). Strings must be valid Unicode: orjson
refuses lone surrogates (TypeError), which cannot occur in anything decoded from OTLP.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from otel_honeyhive.core.spans import LinkView, SpanEventView, SpanView

FORMAT_VERSION = 1

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
_EVENTS_LIST = 1
_LINKS_LIST = 2

_TAG_TUPLE = "t"
_TAG_LIST = "l"
_TAG_BYTES = "b"
_TAG_DICT = "d"
_TAG_FLOAT = "f"
_TAG_INT = "i"
_TAGGED_MAP = "T"

_FLOAT_WORDS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class CodecError(ValueError):
    """The bytes are not a span journal this version can read."""


# -- values ------------------------------------------------------------------------------------------------------


def _encode_value(v: Any) -> Any:
    t = type(v)
    if t is str or t is bool or v is None:
        return v
    if t is int:
        return v if _INT_MIN <= v <= _INT_MAX else [_TAG_INT, format(v, "x")]
    if t is float:
        return v if math.isfinite(v) else [_TAG_FLOAT, repr(v)]
    if t is tuple:
        return [_TAG_TUPLE, [_encode_value(x) for x in v]]
    if t is list:
        return [_TAG_LIST, [_encode_value(x) for x in v]]
    if t is bytes:
        return [_TAG_BYTES, base64.b64encode(v).decode("ascii")]
    if isinstance(v, Mapping):
        return [_TAG_DICT, _encode_map_items(v)]
    # Subclasses (IntEnum, str enums, bytearray, …) are stored as their base type.
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, str):
        return str(v)
    if isinstance(v, int):
        return _encode_value(int(v))
    if isinstance(v, float):
        return _encode_value(float(v))
    if isinstance(v, bytes | bytearray | memoryview):
        return _encode_value(bytes(v))
    if isinstance(v, tuple):
        return _encode_value(tuple(v))
    if isinstance(v, list):
        return _encode_value(list(v))
    raise TypeError(f"cannot encode a span attribute value of type {t.__name__}")


def _encode_map_items(m: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in m.items():
        if type(k) is not str:
            raise TypeError(f"attribute keys must be str, got {type(k).__name__}")
        out[k] = _encode_value(v)
    return out


def _encode_attributes(m: Mapping[str, Any]) -> Any:
    """A plain dict when every value is JSON-native (no copy for a dict), else `["T", {tagged}]`."""
    for v in m.values():
        t = type(v)
        if t is str or t is bool or v is None:
            continue
        if t is int:
            if _INT_MIN <= v <= _INT_MAX:
                continue
        elif t is float and v - v == 0.0:  # finite (inf - inf and nan - nan are nan)
            continue
        return [_TAGGED_MAP, _encode_map_items(m)]
    # orjson itself refuses non-str keys (TypeError), so a dict goes as is.
    return m if type(m) is dict else _encode_map_items(m)


def _decode_value(v: Any) -> Any:
    if type(v) is not list:
        return v
    tag, payload = v
    if tag == _TAG_TUPLE:
        return tuple([_decode_value(x) for x in payload])
    if tag == _TAG_LIST:
        return [_decode_value(x) for x in payload]
    if tag == _TAG_BYTES:
        return base64.b64decode(payload)
    if tag == _TAG_DICT:
        return {k: _decode_value(x) for k, x in payload.items()}
    if tag == _TAG_FLOAT:
        return _FLOAT_WORDS[payload]
    if tag == _TAG_INT:
        return int(payload, 16)
    raise CodecError(f"unknown value tag {tag!r}")


def _decode_attributes(a: Any) -> dict[str, Any]:
    if type(a) is dict:
        return a
    return {k: _decode_value(x) for k, x in a[1].items()}


def _int(v: int) -> Any:
    return v if type(v) is int and 0 <= v <= _INT_MAX else format(v, "x")


def _unint(v: Any) -> int:
    return v if type(v) is int else int(v, 16)


# -- spans -------------------------------------------------------------------------------------------------------


def _encode_span(s: SpanView, resource_index: int) -> list[Any]:
    flags = 0
    events = s.events
    links = s.links
    if type(events) is list:
        flags |= _EVENTS_LIST
    if type(links) is list:
        flags |= _LINKS_LIST
    return [
        format(s.trace_id, "x"),
        _int(s.span_id),
        s.name,
        _int(s.start_ns),
        _int(s.end_ns),
        _int(s.parent_span_id),
        s.parent_is_remote,
        s.kind,
        s.status_code,
        s.status_message,
        _encode_attributes(s.attributes),
        [[e.name, _int(e.time_ns), _encode_attributes(e.attributes)] for e in events] if events else 0,
        [[format(lk.trace_id, "x"), _int(lk.span_id), _encode_attributes(lk.attributes)] for lk in links]
        if links
        else 0,
        resource_index,
        s.scope_name,
        s.scope_version,
        _int(s.dropped_attributes),
        _int(s.dropped_events),
        _int(s.dropped_links),
        _encode_attributes(s.extra) if s.extra else 0,
        flags,
    ]


def encode_views(views: Sequence[SpanView]) -> bytes:
    """Encode spans losslessly (see the module docstring). Raises TypeError for values no span can hold."""
    resources: list[Any] = []
    index_of: dict[int, int] = {}
    keep_alive: list[Mapping[str, Any]] = []  # so id() keys cannot be reused during this call
    spans: list[list[Any]] = []
    for s in views:
        resource = s.resource
        ri = index_of.get(id(resource))
        if ri is None:
            ri = index_of[id(resource)] = len(resources)
            resources.append(_encode_attributes(resource))
            keep_alive.append(resource)
        spans.append(_encode_span(s, ri))
    return orjson.dumps([FORMAT_VERSION, resources, spans])


def decode_views(data: bytes) -> list[SpanView]:
    """The inverse of `encode_views`. Raises `CodecError` for bytes it did not produce."""
    try:
        doc = orjson.loads(data)
        version, raw_resources, raw_spans = doc
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise CodecError(f"not a span journal record: {exc}") from None
    if version != FORMAT_VERSION:
        raise CodecError(f"unsupported span journal format {version!r}")
    try:
        resources = [_decode_attributes(r) for r in raw_resources]
        return [_decode_span(rec, resources) for rec in raw_spans]
    except CodecError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise CodecError(f"corrupt span journal record: {exc!r}") from None


def _decode_span(rec: list[Any], resources: list[dict[str, Any]]) -> SpanView:
    (
        tid,
        sid,
        name,
        start,
        end,
        parent,
        remote,
        kind,
        code,
        message,
        attributes,
        events,
        links,
        ri,
        scope_name,
        scope_version,
        dropped_attributes,
        dropped_events,
        dropped_links,
        extra,
        flags,
    ) = rec
    event_views: Sequence[SpanEventView] = (
        [SpanEventView(e[0], _unint(e[1]), _decode_attributes(e[2])) for e in events] if events else []
    )
    link_views: Sequence[LinkView] = (
        [LinkView(int(lk[0], 16), _unint(lk[1]), _decode_attributes(lk[2])) for lk in links] if links else []
    )
    return SpanView(
        trace_id=int(tid, 16),
        span_id=_unint(sid),
        name=name,
        start_ns=_unint(start),
        end_ns=_unint(end),
        parent_span_id=_unint(parent),
        parent_is_remote=remote,
        kind=kind,
        status_code=code,
        status_message=message,
        attributes=_decode_attributes(attributes),
        events=event_views if flags & _EVENTS_LIST else tuple(event_views),
        links=link_views if flags & _LINKS_LIST else tuple(link_views),
        resource=resources[ri],
        scope_name=scope_name,
        scope_version=scope_version,
        dropped_attributes=_unint(dropped_attributes),
        dropped_events=_unint(dropped_events),
        dropped_links=_unint(dropped_links),
        extra=_decode_attributes(extra) if extra else {},
    )


# -- shared with the journal's log records (shipping/log_codec.py) ---------------------------------------------


def encode_value(v: Any) -> Any:
    """One value, losslessly (a log record's body is a value as a span attribute is)."""
    return _encode_value(v)


def decode_value(v: Any) -> Any:
    return _decode_value(v)


def encode_attributes(m: Mapping[str, Any]) -> Any:
    return _encode_attributes(m)


def decode_attributes(a: Any) -> dict[str, Any]:
    return _decode_attributes(a)


def encode_int(v: int) -> Any:
    """An integer JSON cannot hold (a 128-bit id, a negative) as hex text, any other as it is."""
    return _int(v)


def decode_int(v: Any) -> int:
    return _unint(v)


__all__ = ["FORMAT_VERSION", "CodecError", "decode_attributes", "decode_int", "decode_value", "decode_views",
           "encode_attributes", "encode_int", "encode_value", "encode_views"]
