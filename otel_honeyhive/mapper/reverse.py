"""HoneyHive events → OpenTelemetry spans (the reverse direction), lossless on the way back.

Each event becomes one `ReadableSpan`:

- ids: `metadata.trace_id` / `metadata.span_id` / `metadata.parent_span_id` when present (events this bridge
  made), else derived from the UUIDs: a span id the low 64 bits of the event id, the trace that of the parent's
  span (a span is in its parent's trace), else the session id's 128 bits (so every process derives the same
  ids, and a child finds its parent's span id from `parent_id`, in the batch or in a `Lineage`);
- `event_name` → span name; ms times → ns (times below `SECONDS_BELOW` are seconds, unless the event was made from
  a span; an end before the start is the start); `error` → an ERROR status with the error as description;
- attributes that our own mapper reads back exactly (HoneyHive SDK attributes: `honeyhive_event_id`,
  `honeyhive_event_type`, one JSON attribute per bucket …, plus `honeyhive_event_origin` which tells the mapper the
  span *is* a HoneyHive event), and, for model events, GenAI semantic-convention attributes so Jaeger, Tempo or
  Phoenix users see the model, provider, tokens and messages.

`events_to_spans` then `spans_to_events` gives back every event unchanged (property-tested).

With `sessions="conversation"` (docs/identity-and-assembly.md#conversations) a multi-turn session becomes one
trace per turn: an event without a recorded trace id takes the trace of its turn (derived from the event id of
its ancestor directly under the session, which becomes a root span), and every span carries the session as
`gen_ai.conversation.id`, so mapping the spans forward (in that mode) puts the turns back in the same session.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from otel_honeyhive._version import VERSION
from otel_honeyhive.core.events import BUCKETS, SECONDS_BELOW
from otel_honeyhive.core.jsonable import dumps, jsonable
from otel_honeyhive.mapper.conversations import check_sessions_mode
from otel_honeyhive.mapper.identity import normalise_uuid
from otel_honeyhive.mapper.markers import EVENT_KEY, ORIGIN_KEY

SCOPE = InstrumentationScope("otel-honeyhive.reverse", VERSION)
_KINDS = {k.name.lower(): k for k in SpanKind}
_ATTRIBUTE_FIELDS = ("event_id", "session_id", "event_type")
"""Carried as span attributes (`honeyhive_event_id` …); every other non-bucket field travels in `EVENT_KEY`."""


def _mapping(container: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = container.get(key)
    return value if isinstance(value, Mapping) else {}


def _hex_id(value: Any, digits: int) -> int | None:
    if isinstance(value, str) and len(value) == digits:
        try:
            number = int(value, 16)
        except ValueError:
            return None
        return number or None
    return None


def _uuid_int(value: Any) -> int | None:
    """A canonical 8-4-4-4-12 UUID's 128 bits: the only form the forward mapping takes back as it is."""
    canonical = normalise_uuid(value)
    return None if canonical is None else uuid.UUID(canonical).int


def trace_id_for(event: Mapping[str, Any]) -> int:
    metadata = _mapping(event, "metadata")
    known = _hex_id(metadata.get("trace_id"), 32)
    if known:
        return known
    session_id = event.get("session_id")
    if session_id is not None and _uuid_int(session_id) is None:  # it would come back as a derived session
        raise ValueError(f"session_id {session_id!r} is not a UUID")
    derived = _uuid_int(session_id) or _uuid_int(event.get("event_id"))
    if not derived:
        raise ValueError(f"event {event.get('event_id')!r}: no session_id or event_id to derive a trace id from")
    return derived


def span_id_for_event_id(event_id: Any, field: str = "event_id") -> int:
    """The span id an event id becomes (its low 64 bits); ValueError naming `field` when it is not a UUID."""
    number = _uuid_int(event_id)
    if number is None:
        raise ValueError(f"{field} {event_id!r} is not a UUID")
    return (number & 0xFFFF_FFFF_FFFF_FFFF) or 1


_MAX_NS = 2**64 - 1
"""OTLP times are unsigned 64-bit nanoseconds (until the year 2554)."""




def _ns(ms: Any, seconds_too: bool = False) -> int | None:
    """A span time from an event's milliseconds (or, with `seconds_too`, seconds when below `SECONDS_BELOW`);
    None when OTLP cannot carry it (the event's own value still travels in `EVENT_KEY`, so nothing is lost)."""
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not math.isfinite(ms):
        return None
    # Seconds by way of microseconds, which a double holds exactly for such times.
    ns = round(ms * 1_000_000) * (1000 if seconds_too and abs(ms) < SECONDS_BELOW else 1)
    return ns if 0 <= ns <= _MAX_NS else None


def _json(value: Any) -> str:
    """As the forward mapping writes values (`jsonable`: NaN as "NaN", not orjson's null), so they come back."""
    return dumps(jsonable(value)).decode()


def _genai(event: Mapping[str, Any]) -> dict[str, Any]:
    """What OTel backends understand for a model event (the GenAI semantic conventions, current form)."""
    attrs: dict[str, Any] = {}
    config = _mapping(event, "config")
    metadata = _mapping(event, "metadata")
    inputs = _mapping(event, "inputs")
    outputs = _mapping(event, "outputs")
    attrs["gen_ai.operation.name"] = "chat"
    if isinstance(config.get("model"), str):
        attrs["gen_ai.request.model"] = config["model"]
    if isinstance(config.get("provider"), str):
        attrs["gen_ai.provider.name"] = config["provider"]
    for source, target in (("prompt_tokens", "gen_ai.usage.input_tokens"),
                           ("completion_tokens", "gen_ai.usage.output_tokens")):
        value = metadata.get(source)
        if isinstance(value, int) and not isinstance(value, bool):
            attrs[target] = value
    history = inputs.get("chat_history")
    if isinstance(history, list):
        attrs["gen_ai.input.messages"] = _json([_parts(m) for m in history if isinstance(m, Mapping)])
    if outputs.get("content") is not None or outputs.get("tool_calls"):
        attrs["gen_ai.output.messages"] = _json([_parts({"role": outputs.get("role", "assistant"), **outputs})])
    return attrs


def _parts(message: Mapping[str, Any]) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    content = message.get("content")
    if content is not None:
        parts.append({"type": "text", "content": content if isinstance(content, str) else _json(content)})
    for call in message.get("tool_calls") or ():
        if isinstance(call, Mapping):
            function = _mapping(call, "function")
            parts.append({"type": "tool_call", "id": call.get("id"), "name": function.get("name"),
                          "arguments": function.get("arguments")})
    out: dict[str, Any] = {"role": message.get("role"), "parts": parts}
    if message.get("finish_reason") is not None:
        out["finish_reason"] = message["finish_reason"]
    return out


def _made_from_span(metadata: Mapping[str, Any]) -> bool:
    """An event made from a span records its trace and span ids."""
    return _hex_id(metadata.get("span_id"), 16) is not None and _hex_id(metadata.get("trace_id"), 32) is not None


def _was_a_root_span(metadata: Mapping[str, Any]) -> bool:
    """An event made from a span records its trace and span ids, and its parent's span id when it had one: with
    the first two and not the third, the span was a root, whatever `parent_id` the event got (a root under an
    explicit session is a chain whose parent is the session)."""
    return _made_from_span(metadata) and "parent_span_id" not in metadata


CONVERSATION_ATTRIBUTE = "gen_ai.conversation.id"
"""Carries the session of a conversation's spans (`sessions="conversation"`)."""


def _turn_of(event: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The event's ancestor directly under its session (itself, for a turn's root), within the batch; None for
    the session event and for an event whose chain leaves the batch or loops."""
    session_id, current, seen = event.get("session_id"), event, 0
    while seen <= len(by_id):
        parent = current.get("parent_id")
        if current.get("event_id") == session_id or not isinstance(parent, str):
            return None
        if parent == session_id:
            return current
        found = by_id.get(parent)
        if found is None:
            return None
        current, seen = found, seen + 1
    return None


def _own_trace_id(event: Mapping[str, Any], turn: Mapping[str, Any] | None) -> int:
    """The trace of an event's span from the event alone: the recorded one, else its turn's (`turn`), else the
    session's."""
    metadata = _mapping(event, "metadata")
    per_turn = turn is not None and _hex_id(metadata.get("trace_id"), 32) is None
    return (_uuid_int(turn.get("event_id")) if turn is not None and per_turn else None) or trace_id_for(event)


def _linked_parent(event: Mapping[str, Any], turn: Mapping[str, Any] | None) -> str | None:
    """The `parent_id` whose span becomes the parent of the event's span when the event records neither a trace
    nor a parent span id: the parent's span is in the trace the event's span must join. None for the root of a
    span and for a turn's root (its session lives in another trace)."""
    metadata = _mapping(event, "metadata")
    parent_id = event.get("parent_id")
    if (not isinstance(parent_id, str) or _hex_id(metadata.get("trace_id"), 32) is not None
            or _hex_id(metadata.get("parent_span_id"), 16) is not None or _was_a_root_span(metadata)
            or turn is event):
        return None
    return parent_id


def event_to_span(
    event: Mapping[str, Any],
    span_ids: Mapping[str, int],
    *,
    resource: Resource,
    turn: Mapping[str, Any] | None = None,
    conversation: bool = False,
    trace_id: int | None = None,
) -> ReadableSpan:
    """One event as a span. `span_ids` maps event ids to span ids for the events of the same batch. `turn`: the
    event's turn (`_turn_of`), whose event id gives its trace when none is recorded, the turn's root then being a
    root span; `conversation`: the session named as `gen_ai.conversation.id`; `trace_id`: the trace when known
    from the event's parent (`events_to_spans`), else the event's own."""
    event_id = event.get("event_id")
    session_id = event.get("session_id")
    if session_id is not None and _uuid_int(session_id) is None:  # it would come back as a derived session
        raise ValueError(f"session_id {session_id!r} is not a UUID")
    metadata = _mapping(event, "metadata")
    per_turn = turn is not None and _hex_id(metadata.get("trace_id"), 32) is None
    if trace_id is None:
        trace_id = _own_trace_id(event, turn)
    span_id = span_ids.get(event_id) if isinstance(event_id, str) else None
    if span_id is None:
        span_id = span_id_for_event_id(event_id)
    parent_span_id = _hex_id(metadata.get("parent_span_id"), 16)
    parent_id = event.get("parent_id")
    if (parent_span_id is None and isinstance(parent_id, str) and not _was_a_root_span(metadata)
            and not (per_turn and turn is event)):  # a turn's root: its session lives in another trace
        parent_span_id = span_ids.get(parent_id) or span_id_for_event_id(parent_id, "parent_id")

    # Events made from spans are in milliseconds whatever their value (a span from a test clock near zero).
    seconds_too = not _made_from_span(metadata)
    start = _ns(event.get("start_time"), seconds_too) or 0
    end = _ns(event.get("end_time"), seconds_too)
    if end is None:
        duration = event.get("duration")
        end = start + (_ns(duration) or 0)
    if not start <= end <= _MAX_NS:  # backends read `end - start` as unsigned: a negative one shows as centuries
        end = start

    attributes: dict[str, Any] = {
        ORIGIN_KEY: "event",
        "honeyhive_event_id": event_id,
        "honeyhive_event_type": event.get("event_type"),
        "honeyhive.session_id": event.get("session_id"),
    }
    if isinstance(parent_id, str):
        attributes["honeyhive.parent_id"] = parent_id
    # A null field cannot be an attribute: it travels in EVENT_KEY, so that it comes back as null, not absent.
    rest = {k: v for k, v in event.items() if k not in BUCKETS and (k not in _ATTRIBUTE_FIELDS or v is None)}
    attributes[EVENT_KEY] = _json(rest)
    for bucket in BUCKETS:
        if bucket in event:
            attributes[f"honeyhive_{bucket}"] = _json(event[bucket])
    if event.get("event_type") == "model":
        for key, value in _genai(event).items():
            attributes.setdefault(key, value)
    if conversation and isinstance(event.get("session_id"), str):
        attributes[CONVERSATION_ATTRIBUTE] = event["session_id"]
    attributes = {k: v for k, v in attributes.items() if v is not None}

    error = event.get("error")
    if error:
        status = Status(StatusCode.ERROR, error if isinstance(error, str) else _json(error))
    else:
        status = Status(StatusCode.OK) if metadata.get("status_code") == "OK" else Status()
    kind = _KINDS.get(str(metadata.get("span_kind", "internal")), SpanKind.INTERNAL)
    parent = (
        SpanContext(trace_id, parent_span_id, is_remote=False, trace_flags=TraceFlags(1))
        if parent_span_id
        else None
    )
    return ReadableSpan(
        name=str(event.get("event_name") or "unknown"),
        context=SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(1)),
        parent=parent,
        resource=resource,
        attributes=attributes,
        kind=kind,
        status=status,
        start_time=start,
        end_time=end,
        instrumentation_scope=SCOPE,
    )


class Lineage:
    """The trace and span ids of the spans made lately (the newest `max_events`), for `events_to_spans` to
    consult: an event whose parent was converted in an earlier batch (sent before it, or in an earlier request
    of a file) joins the parent's trace, under the parent's span, as it would in the same batch. Thread-safe."""

    def __init__(self, max_events: int = 10_000) -> None:
        self._max = max_events
        self._ids: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, event_id: str) -> tuple[int, int] | None:
        """(trace id, span id) of the event's span, or None when not remembered."""
        with self._lock:
            return self._ids.get(event_id)

    def add(self, spans: Iterable[tuple[str, int, int]]) -> None:
        with self._lock:
            for event_id, trace_id, span_id in spans:
                self._ids.pop(event_id, None)
                self._ids[event_id] = (trace_id, span_id)
            while len(self._ids) > self._max:
                self._ids.popitem(last=False)


def _trace_ids(batch: list[Mapping[str, Any]], by_id: Mapping[str, Mapping[str, Any]],
               turns: Mapping[str, Mapping[str, Any] | None], lineage: Lineage | None) -> dict[str, int]:
    """The trace of each event's span by event id: a span is in its parent's trace, so an event that records no
    trace takes that of its parent's span (in the batch, else in `lineage`), and so on up; the top of such a
    chain its own (`_own_trace_id`)."""
    traces: dict[str, int] = {}
    for event in batch:
        chain: list[str] = []
        current = event
        while True:
            event_id = current.get("event_id")
            if isinstance(event_id, str) and event_id in traces:
                found = traces[event_id]
                break
            turn = turns.get(event_id) if isinstance(event_id, str) else None
            parent_id = _linked_parent(current, turn)
            parent = by_id.get(parent_id) if parent_id is not None else None
            remembered = (lineage.get(parent_id) if lineage is not None and parent_id is not None
                          and parent is None else None)
            if isinstance(event_id, str):
                chain.append(event_id)
            if remembered is not None:
                found = remembered[0]
                break
            if parent is None or parent_id in chain or len(chain) > len(by_id):  # the top, or a loop
                found = _own_trace_id(current, turn)
                break
            current = parent
        for event_id in chain:
            traces[event_id] = found
    return traces


def events_to_spans(events: Iterable[Mapping[str, Any]], *, resource: Resource | None = None,
                    sessions: str = "trace", lineage: Lineage | None = None) -> list[ReadableSpan]:
    """HoneyHive event dicts → `ReadableSpan`s, ready for any SpanExporter (OTLP, console, in-memory).
    `sessions`: "trace" (a session is one trace) or "conversation" (one trace per turn, see above). `lineage`:
    the ids of spans made earlier, where an event whose parent is not in `events` finds it; the spans made are
    added to it.

    Raises ValueError naming the event when one has no usable id."""
    check_sessions_mode(sessions)
    batch: list[Mapping[str, Any]] = list(events)
    span_ids: dict[str, int] = {}
    for event in batch:
        event_id = event.get("event_id")
        metadata = _mapping(event, "metadata")
        known = _hex_id(metadata.get("span_id"), 16)
        if isinstance(event_id, str):
            span_ids[event_id] = known or span_id_for_event_id(event_id)
    if lineage is not None:
        for event in batch:
            parent_id = event.get("parent_id")
            if isinstance(parent_id, str) and parent_id not in span_ids:
                remembered = lineage.get(parent_id)
                if remembered is not None:
                    span_ids[parent_id] = remembered[1]
    res = resource or Resource.create({"service.name": "honeyhive"})
    conversation = sessions == "conversation"
    by_id = {e["event_id"]: e for e in batch if isinstance(e.get("event_id"), str)}
    turns = {event_id: _turn_of(event, by_id) for event_id, event in by_id.items()} if conversation else {}
    traces = _trace_ids(batch, by_id, turns, lineage)
    spans: list[ReadableSpan] = []
    made: list[tuple[str, int, int]] = []
    for event in batch:
        event_id = event.get("event_id")
        if not isinstance(event_id, str):
            spans.append(event_to_span(event, span_ids, resource=res, conversation=conversation))
            continue
        span = event_to_span(event, span_ids, resource=res, turn=turns.get(event_id), conversation=conversation,
                             trace_id=traces.get(event_id))
        spans.append(span)
        made.append((event_id, span.context.trace_id, span.context.span_id))
    if lineage is not None:
        lineage.add(made)
    return spans


__all__ = ["EVENT_KEY", "ORIGIN_KEY", "Lineage", "event_to_span", "events_to_spans", "span_id_for_event_id",
           "trace_id_for"]
