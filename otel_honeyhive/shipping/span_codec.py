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
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

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


def encode_value(v: Any) -> Any:
    t = type(v)
    if t is str or t is bool or v is None:
        return v
    if t is int:
        return v if _INT_MIN <= v <= _INT_MAX else [_TAG_INT, format(v, "x")]
    if t is float:
        return v if math.isfinite(v) else [_TAG_FLOAT, repr(v)]
    if t is tuple:
        return [_TAG_TUPLE, [encode_value(x) for x in v]]
    if t is list:
        return [_TAG_LIST, [encode_value(x) for x in v]]
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
        return encode_value(int(v))
    if isinstance(v, float):
        return encode_value(float(v))
    if isinstance(v, bytes | bytearray | memoryview):
        return encode_value(bytes(v))
    if isinstance(v, tuple):
        return encode_value(tuple(v))
    if isinstance(v, list):
        return encode_value(list(v))
    raise TypeError(f"cannot encode a span attribute value of type {t.__name__}")


def _encode_map_items(m: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in m.items():
        if type(k) is not str:
            raise TypeError(f"attribute keys must be str, got {type(k).__name__}")
        out[k] = encode_value(v)
    return out


def encode_attributes(m: Mapping[str, Any]) -> Any:
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


def decode_value(v: Any) -> Any:
    if type(v) is not list:
        return v
    tag, payload = v
    if tag == _TAG_TUPLE:
        return tuple([decode_value(x) for x in payload])
    if tag == _TAG_LIST:
        return [decode_value(x) for x in payload]
    if tag == _TAG_BYTES:
        return base64.b64decode(payload)
    if tag == _TAG_DICT:
        return {k: decode_value(x) for k, x in payload.items()}
    if tag == _TAG_FLOAT:
        return _FLOAT_WORDS[payload]
    if tag == _TAG_INT:
        return int(payload, 16)
    raise CodecError(f"unknown value tag {tag!r}")


def decode_attributes(a: Any) -> dict[str, Any]:
    if type(a) is dict:
        return a
    return {k: decode_value(x) for k, x in a[1].items()}


def encode_int(v: int) -> Any:
    return v if type(v) is int and 0 <= v <= _INT_MAX else format(v, "x")


def decode_int(v: Any) -> int:
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
        encode_int(s.span_id),
        s.name,
        encode_int(s.start_ns),
        encode_int(s.end_ns),
        encode_int(s.parent_span_id),
        s.parent_is_remote,
        s.kind,
        s.status_code,
        s.status_message,
        encode_attributes(s.attributes),
        [[e.name, encode_int(e.time_ns), encode_attributes(e.attributes)] for e in events] if events else 0,
        [[format(lk.trace_id, "x"), encode_int(lk.span_id), encode_attributes(lk.attributes)] for lk in links]
        if links
        else 0,
        resource_index,
        s.scope_name,
        s.scope_version,
        encode_int(s.dropped_attributes),
        encode_int(s.dropped_events),
        encode_int(s.dropped_links),
        encode_attributes(s.extra) if s.extra else 0,
        flags,
    ]


def encode_views(views: Sequence[SpanView]) -> bytes:
    """Encode spans losslessly (see the module docstring). Raises TypeError for values no span can hold."""
    return encode_table(views, _encode_span, FORMAT_VERSION)


def decode_views(data: bytes) -> list[SpanView]:
    """The inverse of `encode_views`. Raises `CodecError` for bytes it did not produce."""
    return decode_table(data, "span", _decode_span, FORMAT_VERSION)


class _WithResource(Protocol):
    @property
    def resource(self) -> Mapping[str, Any]: ...


T = TypeVar("T", bound=_WithResource)
D = TypeVar("D")


def encode_table(items: Sequence[T], encode_item: Callable[[T, int], list[Any]], version: int) -> bytes:
    """`[version, [resource, ...], [item, ...]]`: each resource (shared by identity, as a request's items
    share theirs) written once, each item encoded by `encode_item(item, resource index)`."""
    resources: list[Any] = []
    index_of: dict[int, int] = {}
    keep_alive: list[Mapping[str, Any]] = []  # so id() keys cannot be reused during this call
    encoded: list[list[Any]] = []
    for item in items:
        resource = item.resource
        ri = index_of.get(id(resource))
        if ri is None:
            ri = index_of[id(resource)] = len(resources)
            resources.append(encode_attributes(resource))
            keep_alive.append(resource)
        encoded.append(encode_item(item, ri))
    return orjson.dumps([version, resources, encoded])


def decode_table(data: bytes, what: str, decode_item: Callable[[list[Any], list[dict[str, Any]]], D],
                 version: int) -> list[D]:
    """The inverse of `encode_table`, each item decoded by `decode_item(item, resources)`. Raises `CodecError`
    (naming `what` the journal record holds) for bytes it did not produce, or of another `version`."""
    try:
        found, raw_resources, raw_items = orjson.loads(data)
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise CodecError(f"not a {what} journal record: {exc}") from None
    if found != version:
        raise CodecError(f"unsupported {what} journal format {found!r}")
    try:
        resources = [decode_attributes(r) for r in raw_resources]
        return [decode_item(rec, resources) for rec in raw_items]
    except CodecError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise CodecError(f"corrupt {what} journal record: {exc!r}") from None


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
        [SpanEventView(e[0], decode_int(e[1]), decode_attributes(e[2])) for e in events] if events else []
    )
    link_views: Sequence[LinkView] = (
        [LinkView(int(lk[0], 16), decode_int(lk[1]), decode_attributes(lk[2])) for lk in links] if links else []
    )
    return SpanView(
        trace_id=int(tid, 16),
        span_id=decode_int(sid),
        name=name,
        start_ns=decode_int(start),
        end_ns=decode_int(end),
        parent_span_id=decode_int(parent),
        parent_is_remote=remote,
        kind=kind,
        status_code=code,
        status_message=message,
        attributes=decode_attributes(attributes),
        events=event_views if flags & _EVENTS_LIST else tuple(event_views),
        links=link_views if flags & _LINKS_LIST else tuple(link_views),
        resource=resources[ri],
        scope_name=scope_name,
        scope_version=scope_version,
        dropped_attributes=decode_int(dropped_attributes),
        dropped_events=decode_int(dropped_events),
        dropped_links=decode_int(dropped_links),
        extra=decode_attributes(extra) if extra else {},
    )


__all__ = ["FORMAT_VERSION", "CodecError", "decode_attributes", "decode_int", "decode_table", "decode_value",
           "decode_views", "encode_attributes", "encode_int", "encode_table", "encode_value", "encode_views"]
