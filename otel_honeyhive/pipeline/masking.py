"""Masking: secrets and personal data replaced where data enters the pipeline, before anything is written.

The pipeline masks spans as they arrive (before the held-span journal, assembly and mapping), log records,
events posted to the HoneyHive-compatible API and updates, so the journal, the spool, dead letters, the local
store and every output only ever see the masked values (docs/privacy.md). Every string value is masked: span
names, status messages, attribute, span-event, link and resource values, log bodies; JSON that arrived as a
string is parsed and masked leaf by leaf (then written again, compactly), never as text that might break it.
Never masked: keys, and the values of keys that name ids, types, times or numbers (`NEVER_KEYS`, and keys
ending in `_id`, `.id`, `_type`, `.type`, `.kind`, `role` …), the attributes the mapper classifies spans by,
and anything that is not a string.

Replacements are counted per span (per event for posted events) and the count lands in the event's metadata
under `MASKED_KEY`. A `mask` that raises (or returns something other than a string) ships the value as
`MASK_FAILED` and is logged once per `Masker`, without the value.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.jsonable import MAX_NESTING, dumps, json_text
from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.core.redactors import Redactor
from otel_honeyhive.core.results import Update
from otel_honeyhive.core.spans import LinkView, SpanEventView, SpanView
from otel_honeyhive.mapper.conventions.honeyhive import IDENTITY_KEYS
from otel_honeyhive.mapper.identity import span_hex
from otel_honeyhive.mapper.markers import EVENT_KEY, ORIGIN_KEY
from otel_honeyhive.mapper.ruleset import Ruleset

logger = logging.getLogger("otel_honeyhive.masking")

MASKED_KEY = "otel_honeyhive_masked"
"""The event's metadata key holding how many replacements masking made in it (absent when none)."""
MASKED_EXTRA = "otel_honeyhive.masked"
"""Where a masked span carries its count (in `SpanView.extra`, which the journal keeps) until it is mapped."""
MASK_FAILED = "<mask failed>"
"""What a value becomes when the user's `mask` raised on it."""

Mask = Callable[[str], str]
"""The user's masking function: a string value in, the string to ship out."""

NEVER_KEYS: frozenset[str] = frozenset({
    *IDENTITY_KEYS, ORIGIN_KEY,
    # event fields that are ids, types, times, numbers, or route the event (project, source)
    "event_id", "session_id", "parent_id", "children_ids", "event_type", "start_time", "end_time", "duration",
    "project", "source", "honeyhive.project", "honeyhive_project", "honeyhive.source", "honeyhive_source",
    "trace_id", "span_id", "parent_span_id", "span_kind", "status_code", "scope_name", "scope_version",
    # chat structure and resource identity
    "id", "role", "type", "service.name", "event.name", "finish_reason", "finish_reasons",
})
"""Keys whose values are never masked, wherever they appear (attribute keys, JSON object keys, event fields)."""
NEVER_LAST_SEGMENTS = frozenset({"id", "ids", "type", "kind", "role", "timestamp", "time_unix_nano"})
"""A dotted key whose last segment is one of these (`gen_ai.prompt.0.role`, `gen_ai.response.id`) is never
masked."""
NEVER_SUFFIXES = ("_id", "_ids", "_type", "_kind", "_role", "_time", "_timestamp", "_at")
"""Nor is a key ending in one of these (`tool_call_id`, `honeyhive_event_type`, `created_at`)."""

EVENT_FIELDS_MASKED = ("event_name", "error", "inputs", "outputs", "config", "metadata", "feedback", "metrics",
                       "user_properties")
"""The fields of a posted event (or an update) that carry content; every other field is an id, type, time,
number or routing field, left as it is."""

_MAX_KEY_CACHE = 20_000


class Masker:
    """Masks spans, log records, events and updates; thread-safe (per call state lives in a `_Run`). Built once
    per pipeline by `build_pipeline` when `mask` or redactors are configured, else there is none at all."""

    def __init__(self, redactors: Sequence[Redactor] = (), mask: Mask | None = None,
                 ruleset: Ruleset | None = None, *, never_keys: Iterable[str] = ()) -> None:
        """`ruleset`: the attributes its type rules read are never masked (they decide the event type)."""
        self.redactors = tuple(redactors)
        self.mask = mask
        keys = set(NEVER_KEYS).union(never_keys)
        for rule in (ruleset or Ruleset.default()).type_rules:
            keys.update(rule.keys or ())
        self.never_keys = frozenset(keys)
        self._key_cache: dict[str, bool] = {}
        self._failure_logged = False
        self._lock = threading.Lock()
        self._resource: tuple[object, Mapping[str, Any], int] = (None, {}, 0)
        """The last resource seen and its masked copy and count: a provider's spans all share one."""

    def __repr__(self) -> str:
        names = sorted({redactor.name for redactor in self.redactors})
        return f"Masker(redactors={names}, mask={'set' if self.mask is not None else 'none'})"

    # -- keys -------------------------------------------------------------------------------------------------

    def never(self, key: str) -> bool:
        """Whether the value under `key` is left as it is (an id, a type, a time, a routing field)."""
        known = self._key_cache.get(key)
        if known is not None:
            return known
        last = key.rpartition(".")[2]
        answer = (key in self.never_keys or last in NEVER_LAST_SEGMENTS or key.endswith(NEVER_SUFFIXES)
                  or last.endswith(NEVER_SUFFIXES))
        if len(self._key_cache) >= _MAX_KEY_CACHE:
            self._key_cache.clear()
        self._key_cache[key] = answer
        return answer

    # -- spans ------------------------------------------------------------------------------------------------

    def spans(self, views: Sequence[SpanView]) -> list[SpanView]:
        """The spans with their string values masked; a span with nothing to mask is kept as it is."""
        return [self.span(view) for view in views]

    def span(self, view: SpanView) -> SpanView:
        """The span masked, its count in `extra` (the resource's counted on a local root only: only its event
        shows the whole resource). Its resource is masked on every span: the journal keeps each span's."""
        run = _Run(self)
        name = run.text(view.name) if view.name else view.name
        status_message = run.text(view.status_message) if view.status_message else view.status_message
        attributes = run.attributes(view.attributes)
        events = tuple(
            SpanEventView(event.name, event.time_ns, run.attributes(event.attributes)) for event in view.events
        ) if view.events else view.events
        links = tuple(
            LinkView(link.trace_id, link.span_id, run.attributes(link.attributes)) for link in view.links
        ) if view.links else view.links
        resource, resource_count = self.resource(view.resource) if view.resource else (view.resource, 0)
        count = run.count + (resource_count if view.is_local_root else 0)
        if not run.count and not resource_count:
            return view
        return SpanView(
            trace_id=view.trace_id, span_id=view.span_id, name=name, start_ns=view.start_ns, end_ns=view.end_ns,
            parent_span_id=view.parent_span_id, parent_is_remote=view.parent_is_remote, kind=view.kind,
            status_code=view.status_code, status_message=status_message, attributes=attributes,
            events=events, links=links, resource=resource, scope_name=view.scope_name,
            scope_version=view.scope_version, dropped_attributes=view.dropped_attributes,
            dropped_events=view.dropped_events, dropped_links=view.dropped_links,
            extra={**view.extra, MASKED_EXTRA: count} if count else view.extra,
        )

    def resource(self, resource: Mapping[str, Any]) -> tuple[Mapping[str, Any], int]:
        """The resource's attributes masked, and the count; the last one is remembered (spans share it)."""
        seen = self._resource
        if seen[0] is resource:
            return seen[1], seen[2]
        run = _Run(self)
        masked = run.attributes(resource)
        self._resource = (resource, masked, run.count)
        return masked, run.count

    # -- log records, events, updates ------------------------------------------------------------------------

    def records(self, records: Sequence[LogRecordView]) -> list[LogRecordView]:
        """The records masked (see `record`)."""
        return [self.record(record) for record in records]

    def record(self, record: LogRecordView) -> LogRecordView:
        """The record with its body and attribute values masked (its event name, ids and time kept)."""
        run = _Run(self)
        body = run.value(record.body)
        attributes = run.attributes(record.attributes)
        resource, resource_count = self.resource(record.resource) if record.resource else (record.resource, 0)
        if not run.count and not resource_count:
            return record
        return LogRecordView(
            trace_id=record.trace_id, span_id=record.span_id, event_name=record.event_name, time_ns=record.time_ns,
            body=body, attributes=attributes, severity_number=record.severity_number,
            severity_text=record.severity_text, resource=resource, scope_name=record.scope_name,
            sampled=record.sampled, masked=record.masked + run.count,
        )

    def events(self, events: Sequence[Event]) -> list[Event]:
        """The posted events masked (see `event`)."""
        return [self.event(event) for event in events]

    def event(self, event: Event) -> Event:
        """A posted event with its content fields masked and the count in `metadata[MASKED_KEY]`."""
        run = _Run(self)
        masked = dict(event)
        for name in EVENT_FIELDS_MASKED:
            if name in masked:
                masked[name] = run.value(masked[name])
        if not run.count:
            return event
        metadata = masked.get("metadata")
        metadata = dict(metadata) if isinstance(metadata, dict) else {}
        metadata[MASKED_KEY] = run.count
        masked["metadata"] = metadata
        return masked

    def update(self, update: Update) -> Update:
        """An update with its content fields masked. Not counted: an update merges metadata key by key, so a count
        in it would replace the event's own."""
        run = _Run(self)
        fields = {name: run.value(value) if name in EVENT_FIELDS_MASKED else value
                  for name, value in update.fields.items()}
        return Update(update.event_id, fields, update.project) if run.count else update

    # -- failures ---------------------------------------------------------------------------------------------

    def mask_failed(self, exc: BaseException | None) -> None:
        """Log the first failure of the user's `mask` (its type only: the message may quote the value)."""
        with self._lock:
            if self._failure_logged:
                return
            self._failure_logged = True
        why = f"raised {type(exc).__name__}" if exc is not None else "returned something other than a string"
        logger.error("otel-honeyhive: the mask function %s; such values are shipped as %r (logged once)",
                     why, MASK_FAILED)


class _Run:
    """One span's (record's, event's) masking: counts its replacements."""

    __slots__ = ("count", "masker", "never", "redactors", "user_mask")

    def __init__(self, masker: Masker) -> None:
        self.masker = masker
        self.redactors = masker.redactors
        self.user_mask = masker.mask
        self.never = masker.never
        self.count = 0

    def attributes(self, attributes: Mapping[str, Any]) -> Mapping[str, Any]:
        """Attribute values masked, the flat values of `never` keys kept; the same mapping when nothing was
        replaced."""
        if not attributes:
            return attributes
        before = self.count
        masked: dict[str, Any] = {}
        never = self.never
        for key, value in attributes.items():
            if key == EVENT_KEY and isinstance(value, str):
                masked[key] = self.origin_event(value)
            elif type(value) in _UNTOUCHED or (never(key) and _flat(value)):
                masked[key] = value
            else:
                masked[key] = self.value(value)
        return masked if self.count != before else attributes

    def origin_event(self, text: str) -> str:
        """A HoneyHive event carried as a span (`mapper/reverse.py`): its JSON fields masked as an event's."""
        try:
            event = orjson.loads(text)
        except orjson.JSONDecodeError:
            return self.text(text)
        if not isinstance(event, dict):
            return self.text(text)
        before = self.count
        masked = {name: self.value(value) if name in EVENT_FIELDS_MASKED else value for name, value in event.items()}
        return dumps(masked).decode() if self.count != before else text

    def value(self, value: Any, depth: int = 0) -> Any:
        """Strings (and UTF-8 bytes, which ship as text) masked; containers masked inside, their keys kept and
        the flat values of `never` keys too (a container under one is content: `{"type": {"text": …}}`); the
        rest kept. `depth`: how deep `value` sits; a container `MAX_NESTING` levels down is masked as the JSON
        text it is written as (`jsonable`), so no nesting runs out of recursion."""
        kind = type(value)
        if kind is str:
            return self.text(value, depth) if value else value
        if kind in _UNTOUCHED:
            return value
        if kind is bytes or kind is bytearray:
            return self.raw(value)
        if isinstance(value, Mapping | list | tuple) and depth >= MAX_NESTING:
            before = self.count
            text = self.plain(json_text(value))
            return text if self.count != before else value
        if isinstance(value, Mapping):
            before = self.count
            never = self.never
            masked = {key: item if isinstance(key, str) and never(key) and key not in _TOP_LEVEL_ONLY
                      and _flat(item) else self.value(item, depth + 1)
                      for key, item in value.items()}
            return masked if self.count != before else value
        if isinstance(value, list | tuple):
            before = self.count
            items = [self.value(item, depth + 1) for item in value]
            if self.count == before:
                return value
            return items if isinstance(value, list) else tuple(items)
        return value

    def raw(self, value: bytes | bytearray) -> Any:
        """Bytes that are UTF-8 ship as that text: masked as text (then a string); others ship as base64 and
        are kept."""
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return value
        before = self.count
        masked = self.text(text) if text else text
        return masked if self.count != before else value

    def text(self, text: str, depth: int = 0) -> str:
        """A non-empty string: JSON masked leaf by leaf (above `MAX_NESTING`), anything else as `plain` text."""
        first = text[0]
        if depth < MAX_NESTING and (first in "{[" or (first in " \t\r\n" and text.lstrip()[:1] in ("{", "["))):
            parsed = _json(text)
            if parsed is not _NOT_JSON:
                before = self.count
                masked = self.value(parsed, depth + 1)
                return dumps(masked).decode() if self.count != before else text
        return self.plain(text)

    def plain(self, text: str) -> str:
        """Text through the redactors, then `mask`."""
        result = text
        for redactor in self.redactors:
            result, replaced = redactor.redact(result)
            self.count += replaced
        if self.user_mask is not None:
            try:
                shipped = self.user_mask(result)
            except Exception as exc:
                self.masker.mask_failed(exc)
                shipped = MASK_FAILED
            else:
                if type(shipped) is not str:
                    self.masker.mask_failed(None)
                    shipped = MASK_FAILED
            if shipped != result:
                self.count += 1
                result = shipped
        return result


_UNTOUCHED = frozenset({int, float, bool, type(None)})
_TOP_LEVEL_ONLY = frozenset({"project", "source"})
"""`NEVER_KEYS` that route an event only as its own fields or a span's attributes: inside content (a document's
`metadata.source`, a path) they are masked like any key."""


def _flat(value: Any) -> bool:
    """A value a `never` key keeps: a scalar, or a list of scalars (`children_ids`, `finish_reasons`); never a
    container of containers, nor a string holding JSON, which are content."""
    kind = type(value)
    if kind is str:
        return value[:1] not in _JSON_START
    if kind in _UNTOUCHED or kind is bytes:
        return True
    if kind is list or kind is tuple:
        return all(_flat(item) and type(item) not in (list, tuple) for item in value)
    return False


_NOT_JSON = object()
_JSON_START = frozenset("{[")


def _json(text: str) -> Any:
    """The JSON object or array `text` holds, or `_NOT_JSON`."""
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _NOT_JSON
    return parsed if isinstance(parsed, dict | list) else _NOT_JSON


def with_record_counts(span: SpanView, records: Sequence[LogRecordView]) -> SpanView:
    """`span` (a joined one) with the replacements made in the records joined to it added to its count."""
    added = sum(record.masked for record in records)
    if not added:
        return span
    extra = dict(span.extra)
    extra[MASKED_EXTRA] = extra.get(MASKED_EXTRA, 0) + added
    return SpanView(
        trace_id=span.trace_id, span_id=span.span_id, name=span.name, start_ns=span.start_ns, end_ns=span.end_ns,
        parent_span_id=span.parent_span_id, parent_is_remote=span.parent_is_remote, kind=span.kind,
        status_code=span.status_code, status_message=span.status_message, attributes=span.attributes,
        events=span.events, links=span.links, resource=span.resource, scope_name=span.scope_name,
        scope_version=span.scope_version, dropped_attributes=span.dropped_attributes,
        dropped_events=span.dropped_events, dropped_links=span.dropped_links, extra=extra,
    )


def note_masked(spans: Sequence[SpanView], events: list[Event]) -> None:
    """Put each masked span's count in the metadata of the events made from it (matched by span id, so a late
    root's stand-in gets it too)."""
    counts: dict[str, Any] = {}
    for span in spans:
        if span.extra:
            count = span.extra.get(MASKED_EXTRA)
            if count:
                counts[span_hex(span.span_id)] = count
    if not counts:
        return
    for event in events:
        metadata = event.get("metadata")
        if isinstance(metadata, dict):
            count = counts.get(metadata.get("span_id"))  # type: ignore[arg-type]
            if count:
                metadata[MASKED_KEY] = count


__all__ = ["MASKED_EXTRA", "MASKED_KEY", "MASK_FAILED", "NEVER_KEYS", "Mask", "Masker", "note_masked",
           "with_record_counts"]
