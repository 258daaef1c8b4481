"""Checking and completing what clients send to the HoneyHive-compatible API (pure functions, no I/O).

Each request body is checked whole before anything is written, so a bad event in a batch refuses the batch
and changes nothing. Every field has one rule in a table (`EVENT_FIELDS`, `SESSION_FIELDS`, `UPDATE_FIELDS`);
a broken rule raises `ValidationError` whose message names the field by its path in the body
(`events[3].inputs: must be an object, got a list`), which the route answers with 400.

Decisions (from HoneyHive's create-event and create-event-batch API pages, and its SDK):

- `event_type` (session, model, tool, chain) and `inputs` (an object) are required on every event given in
  full, session events included, as the create-event page says. A session *described by properties*
  (`POST /session/start`, a batch's `session_properties`) gets `inputs: {}` when it has none: a session is
  often started before it has any input, and HoneyHive's SDK starts sessions that way.
- `null` on an optional field means "not given" (the field's default applies); `error` keeps its null.
- Defaults: `event_name` "unknown", `source` the server's `--source` or "dev" (as for spans), `project` the server's
  `--project` when set, `event_id`/`session_id` fresh uuid4s, `parent_id` the session (none for a session
  event), `duration` = `end_time - start_time` when both are known, in milliseconds whichever unit the times were
  sent in (`core/events.duration_ms`).
- A session event is its session's root: its `event_id` is its `session_id` (either one fills the other)
  and it has no parent; a contradiction is refused rather than silently repaired.
- Every id the server stores — `event_id`, `session_id`, `parent_id` and each of `children_ids`, on every route,
  a session's own `event_id` included — must be a UUID in canonical 8-4-4-4-12 form and is lowercased, so one
  event has one spelling. A missing (or null) id is generated, as the pages say HoneyHive does ("if not set, it
  will be auto-generated": https://docs.honeyhive.ai/v2/api-reference-autogen/events/create-a-batch-of-events-deprecated);
  an invalid one is refused with 400 rather than replaced, because a replaced id would silently detach the
  client's later updates and children from the event it meant. Nothing the store would refuse gets past here:
  such an event was once answered 500, blaming the server for the client's input.
- Times (`start_time`, `end_time`, `duration`) are numbers of milliseconds within ±(2^53 - 1), the integers
  every JSON reader keeps exact (RFC 8259, section 6: https://www.rfc-editor.org/rfc/rfc8259#section-6); beyond
  it a computed duration could exceed the 64-bit integers the store writes.
- A field's value nests at most `MAX_NESTING` (128) levels: events are written as JSON by orjson, which stops at
  255 levels counting the event and what wraps it (a spool record, a batch), while the parser takes 1,024.
- Fields the pages do not document are kept as sent, on every route but `POST /v1/events/batch`.
- `POST /v1/events/batch` (https://docs.honeyhive.ai/v2/api-reference-autogen/events/create-a-batch-of-events)
  is checked as HoneyHive documents it: unknown top-level and per-event fields are refused, the legacy aliases
  (`is_single_session`, `session`, a per-event `project`) included, all named in one 400. An event's project
  comes from the server's `--project` (HoneyHive takes it from the API key), else from `metadata.project`, where
  this bridge's exporter moves the legacy `project` on that route (docs/honeyhive-api.md); it is moved back, so
  an event stores the same by either route.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from otel_honeyhive.core.events import DEFAULT_SOURCE, EVENT_TYPES, Event, duration_ms
from otel_honeyhive.core.results import Update


class ValidationError(ValueError):
    """A request the API refuses; the message names the offending field by its path in the body."""


@dataclass(frozen=True, slots=True)
class Kind:
    """What a field must hold, and how the error message says so."""

    expected: str
    check: Callable[[Any], bool]
    limit: Callable[[Any], str | None] | None = None
    """For a value of the right type: what is wrong with it beyond its type, or None."""


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

STRING = Kind("a string", lambda v: isinstance(v, str))
OBJECT = Kind("an object", lambda v: isinstance(v, dict))
BOOLEAN = Kind("true or false", lambda v: isinstance(v, bool))
NUMBER = Kind("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool))
UUID = Kind("a UUID string (8-4-4-4-12 hex digits)",
            lambda v: isinstance(v, str) and bool(_UUID.fullmatch(v)))
UUID_LIST = Kind("a list of UUID strings", lambda v: isinstance(v, list), lambda v: _first_non_uuid(v))
MAX_SAFE_MS = 2**53 - 1
"""The largest time (milliseconds) accepted: every JSON reader keeps integers up to it exact (RFC 8259 §6)."""
MILLISECONDS = Kind(
    "a number", NUMBER.check,
    lambda v: None if -MAX_SAFE_MS <= v <= MAX_SAFE_MS else f"must be within ±{MAX_SAFE_MS} milliseconds "
    f"(2^53 - 1, the integers every JSON reader keeps exact), got {_describe(v)}",
)
MAX_NESTING = 128
"""Levels a field's value may nest (`{}` is one): well within the 255 orjson writes, with room for the event
and what wraps it on the way out."""
STRING_OR_NULL = Kind("a string or null", lambda v: v is None or isinstance(v, str))
_ANYTHING = Kind("an object or a JSON-encoded object", lambda v: True)
EVENT_TYPE = Kind(f"one of {', '.join(EVENT_TYPES)}", lambda v: v in EVENT_TYPES)
LIST = Kind("a list", lambda v: isinstance(v, list))

_BUCKETS: dict[str, Kind] = {
    "config": OBJECT,
    "inputs": OBJECT,
    "outputs": OBJECT,
    "metadata": OBJECT,
    "metrics": OBJECT,
    "feedback": OBJECT,
    "user_properties": OBJECT,
}
_TIMES: dict[str, Kind] = {"start_time": MILLISECONDS, "end_time": MILLISECONDS, "duration": MILLISECONDS}

EVENT_FIELDS: dict[str, Kind] = {
    "event_type": EVENT_TYPE,
    "event_name": STRING,
    "project": STRING,
    "source": STRING,
    "event_id": UUID,
    "session_id": UUID,
    "parent_id": UUID,
    "children_ids": UUID_LIST,
    **_BUCKETS,
    "error": STRING_OR_NULL,
    **_TIMES,
}
EVENT_REQUIRED = ("event_type", "inputs")

SESSION_EVENT_TYPE = Kind("session", lambda v: v == "session")

SESSION_FIELDS: dict[str, Kind] = {
    "session_name": STRING,
    "event_name": STRING,
    "event_type": SESSION_EVENT_TYPE,
    "project": STRING,
    "source": STRING,
    "session_id": UUID,
    "event_id": UUID,
    "children_ids": UUID_LIST,
    **_BUCKETS,
    "error": STRING_OR_NULL,
    **_TIMES,
}
"""`POST /session/start`'s `session` and a batch's `session_properties`. They describe a session event, so its
event fields are ruled too (`event_id` equal to `session_id`, `event_type` "session"): kept as sent, they once
reached the store unchecked."""

UPDATE_FIELDS: dict[str, Kind] = {
    "event_id": UUID,
    "metadata": OBJECT,
    "feedback": OBJECT,
    "metrics": OBJECT,
    "config": OBJECT,
    "user_properties": OBJECT,
    "outputs": OBJECT,
    "duration": MILLISECONDS,
    "end_time": MILLISECONDS,
    "children_ids": UUID_LIST,
}
"""`PUT /events`: exactly these fields; anything else is refused (it would otherwise be silently lost)."""

BATCH_FIELDS: dict[str, Kind] = {"events": LIST, "is_single_session": BOOLEAN, "session_properties": OBJECT}

V1_BATCH_FIELDS: dict[str, Kind] = {"events": LIST, "single_session": BOOLEAN, "session_properties": OBJECT}
V1_EVENT_FIELDS: dict[str, Kind] = {
    **{name: kind for name, kind in EVENT_FIELDS.items() if name != "project"},
    "project_id": STRING,
}
"""The per-event fields of `POST /v1/events/batch`; nothing else is accepted."""
V1_SESSION_BATCH_FIELDS: dict[str, Kind] = {"events": LIST}
"""`POST /v1/sessions/{session_id}/events/batch`: the events alone (the path names their session)."""
V1_SESSION_PROPERTIES: dict[str, Kind] = {
    "session_name": STRING, "start_time": MILLISECONDS, "user_properties": OBJECT, "metadata": OBJECT,
}
V1_LEGACY_ALIASES = {"is_single_session": "single_session", "session": "session_properties",
                     "project": "the API key's project (or project_id)"}
"""Names the legacy route takes and the v1 route refuses, with what replaces each."""
MAX_NAMED_FIELDS = 20
"""Unknown fields named in one refusal (the rest are counted)."""


@dataclass(frozen=True, slots=True)
class EventDefaults:
    """What the server fills in when a client leaves it out (`--source`, `--project`)."""

    source: str = DEFAULT_SOURCE
    project: str | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """A checked `POST /events/batch`: `events` to store (a described session's event first), the ids of the
    events the client sent (in its order) and, for a single-session batch, the session id."""

    events: list[Event]
    event_ids: list[str]
    session_id: str | None


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, list):
        return "a list"
    return "an object"


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_]+")


def _at(path: str, name: str) -> str:
    """The path of field `name`; an unknown field's name is the client's: quoted unless plain (so an empty one
    shows), and kept short."""
    shown = name if _PLAIN_NAME.fullmatch(name) else repr(name if len(name) <= 60 else name[:57] + "...")
    return f"{path}.{shown}" if path else shown


def _first_non_uuid(ids: list[Any]) -> str | None:
    """The error for the first item of `ids` that is not a UUID string (its index named), or None."""
    for i, item in enumerate(ids):
        if not UUID.check(item):
            return f"[{i}]: must be {UUID.expected}, got {_describe(item)}"
    return None


def _depth(value: Any, stop_past: int | None = None) -> int:
    """How many levels of lists and objects `value` nests (a scalar: 0); iterative, since the parser lets 1,024
    levels through and Python's recursion stops at 1,000. Stops counting once past `stop_past`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if stop_past is not None and deepest > stop_past:
            break
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def check_fields(
    body: Any, path: str, rules: Mapping[str, Kind], required: tuple[str, ...] = (), *, closed: bool = False,
    nested_freely: bool = False,
) -> dict[str, Any]:
    """A copy of `body` with every ruled field checked, nulls of optional fields dropped and ids lowercased.

    `closed=True` refuses fields that have no rule. Every field's value nests at most `MAX_NESTING` levels, unless
    `nested_freely` (a wrapper whose values are checked as fields of their own: a batch's `events`)."""
    if not isinstance(body, dict):
        raise ValidationError(f"{path or 'body'}: must be an object, got {_describe(body)}")
    checked: dict[str, Any] = {}
    for name, value in body.items():
        kind = rules.get(name)
        if kind is None:
            if closed:
                raise ValidationError(
                    f"{_at(path, name)}: unknown field; allowed: {', '.join(sorted(rules))}"
                )
            checked[name] = value
        elif value is None and not kind.check(None):
            continue  # an optional field sent as null: not given
        elif not kind.check(value):
            raise ValidationError(f"{_at(path, name)}: must be {kind.expected}, got {_describe(value)}")
        elif kind.limit is not None and (wrong := kind.limit(value)) is not None:
            raise ValidationError(f"{_at(path, name)}{'' if wrong.startswith('[') else ': '}{wrong}")
        elif kind is UUID:
            checked[name] = value.lower()
        elif kind is UUID_LIST:
            checked[name] = [item.lower() for item in value]
        else:
            checked[name] = value
        if isinstance(value, dict | list) and not nested_freely and _depth(value, MAX_NESTING) > MAX_NESTING:
            raise ValidationError(f"{_at(path, name)}: nested {_depth(value)} levels deep; at most {MAX_NESTING} "
                                  "(events are stored as JSON, which has a depth limit)")
    for name in required:
        if name not in checked:
            raise ValidationError(f"{_at(path, name)}: required; must be {rules[name].expected}")
    return checked


def _new_id() -> str:
    return str(uuid.uuid4())


def _complete(event: dict[str, Any], path: str, defaults: EventDefaults) -> Event:
    """Fill in names, ids, parent and duration on a checked event, enforcing the session-root rules."""
    event.setdefault("event_name", "unknown")
    event.setdefault("source", defaults.source)
    if defaults.project is not None:
        event.setdefault("project", defaults.project)
    if event["event_type"] == "session":
        event_id, session_id = event.get("event_id"), event.get("session_id")
        if event_id and session_id and event_id != session_id:
            raise ValidationError(
                f"{_at(path, 'event_id')}: a session event's event_id must equal its session_id "
                f"({event_id} != {session_id})"
            )
        if event.get("parent_id") is not None:
            raise ValidationError(f"{_at(path, 'parent_id')}: a session event is a root and has no parent")
        event["event_id"] = event["session_id"] = event_id or session_id or _new_id()
        event["parent_id"] = None
    else:
        event.setdefault("event_id", _new_id())
        event.setdefault("session_id", _new_id())
        event.setdefault("parent_id", event["session_id"])
    if "duration" not in event and "start_time" in event and "end_time" in event:
        event["duration"] = duration_ms(event["start_time"], event["end_time"])
    return event


def normalize_event(raw: Any, path: str, defaults: EventDefaults) -> Event:
    """One event given in full (`POST /events`, an item of a batch)."""
    return _complete(check_fields(raw, path, EVENT_FIELDS, EVENT_REQUIRED), path, defaults)


def session_from_properties(
    raw: Any, path: str, defaults: EventDefaults, *, start_now_ms: float | None = None
) -> Event:
    """The session event a `/session/start` body or a batch's `session_properties` describe.

    `start_now_ms` is the start time to use when none is given (`/session/start` starts a session now)."""
    props = check_fields(raw, path, SESSION_FIELDS)
    name = props.pop("session_name", None)
    event: dict[str, Any] = {"event_type": "session", **props}
    if name is not None:
        event["event_name"] = name
    event.setdefault("inputs", {})
    if start_now_ms is not None:
        event.setdefault("start_time", start_now_ms)
    return _complete(event, path, defaults)


def parse_create(body: Any, defaults: EventDefaults) -> Event:
    """`POST /events`: `{"event": {...}}`, the event as an object or as a JSON-encoded string (the API page
    says string; HoneyHive's SDK sends an object)."""
    top = check_fields(body, "", {"event": _ANYTHING}, ("event",), nested_freely=True)
    raw = top["event"]
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValidationError(f"event: the string is not valid JSON: {exc}") from None
    return normalize_event(raw, "event", defaults)


def parse_session_start(body: Any, defaults: EventDefaults, now_ms: float | None = None) -> Event:
    """`POST /session/start`: `{"session": {...}}`."""
    top = check_fields(body, "", {"session": OBJECT}, ("session",), nested_freely=True)
    start = time.time() * 1000 if now_ms is None else now_ms
    return session_from_properties(top["session"], "session", defaults, start_now_ms=start)


def parse_batch(body: Any, defaults: EventDefaults) -> Batch:
    """`POST /events/batch`: `{"events": [...], "is_single_session": bool, "session_properties": {...}}`.

    Single-session batches put every event in one session (the `session_properties.session_id`, or a new
    one); events without a parent hang under it. The session event is written from `session_properties`
    (completed with the events' earliest start, latest end, top-level children and, when they agree on
    one, their project) unless the properties
    only name an existing session (`{"session_id": ...}`), whose session event is then left as it is. Session
    events inside `events` are refused in that mode: the properties describe the session."""
    top = check_fields(body, "", BATCH_FIELDS, ("events",), nested_freely=True)
    raw_events: list[Any] = top["events"]
    if not top.get("is_single_session", False):
        events = [normalize_event(raw, f"events[{i}]", defaults) for i, raw in enumerate(raw_events)]
        return Batch(events, [e["event_id"] for e in events], None)

    props_raw = top.get("session_properties") or {}
    props = check_fields(props_raw, "session_properties", SESSION_FIELDS)
    session_id: str = props.get("session_id") or _new_id()
    events = []
    for i, raw in enumerate(raw_events):
        path = f"events[{i}]"
        checked = check_fields(raw, path, EVENT_FIELDS, EVENT_REQUIRED)
        if checked["event_type"] == "session":
            raise ValidationError(
                f"{path}.event_type: a single-session batch describes its session in session_properties; "
                "send model, tool or chain events"
            )
        checked["session_id"] = session_id  # "all events will be associated with the same session"
        events.append(_complete(checked, path, defaults))

    event_ids = [e["event_id"] for e in events]
    describes_session = "session_id" not in props or any(k != "session_id" for k in props)
    if describes_session:
        projects = {e["project"] for e in events if "project" in e}
        if "project" not in props and len(projects) == 1:
            props["project"] = projects.pop()  # the page's session_properties have no project: its events say
        session = session_from_properties({**props, "session_id": session_id}, "session_properties", defaults)
        _summarise_children(session, events)
        events.insert(0, session)
    return Batch(events, event_ids, session_id)


def _named_on_v1(path: str, name: str) -> str:
    """A field a v1 route does not take, by its path, a legacy alias said so."""
    alias = V1_LEGACY_ALIASES.get(name)
    return f"{_at(path, name)} (legacy alias; use {alias})" if alias else _at(path, name)


def _unknown_on_v1(body: dict[str, Any], top_fields: Mapping[str, Kind] = V1_BATCH_FIELDS) -> list[str]:
    """Every field of a v1 batch body that the route does not take, by its path, a legacy alias said so."""
    named = _named_on_v1
    unknown = [named("", name) for name in body if name not in top_fields]
    props = body.get("session_properties")
    if isinstance(props, dict):
        unknown += [named("session_properties", k) for k in props if k not in V1_SESSION_PROPERTIES]
    events = body.get("events")
    for i, raw in enumerate(events if isinstance(events, list) else []):
        if isinstance(raw, dict):
            unknown += [named(f"events[{i}]", k) for k in raw if k not in V1_EVENT_FIELDS]
    return unknown


def parse_batch_v1(body: Any, defaults: EventDefaults) -> Batch:
    """`POST /v1/events/batch`: `{"events": [...], "single_session": bool, "session_properties": {...}}`.

    Unknown fields anywhere are refused, all named at once. With `single_session`, every event joins one session:
    the one the events name when they all name the same, else a new one; a session event is written from
    `session_properties` when the batch has none of its own (an exporter sends the session event itself)."""
    _refuse_unknown_on_v1(body, "/v1/events/batch", V1_BATCH_FIELDS)
    top = check_fields(body, "", V1_BATCH_FIELDS, ("events",), nested_freely=True, closed=True)
    props = check_fields(top.get("session_properties") or {}, "session_properties", V1_SESSION_PROPERTIES,
                         closed=True)
    checked = [check_fields(raw, f"events[{i}]", V1_EVENT_FIELDS, EVENT_REQUIRED, closed=True)
               for i, raw in enumerate(top["events"])]
    for event in checked:
        _project_from_metadata(event)
    session_id: str | None = None
    if top.get("single_session", False):
        named = {e["session_id"] for e in checked if "session_id" in e}
        session_id = named.pop() if len(named) == 1 else _new_id()
        for event in checked:
            event["session_id"] = session_id
    events = [_complete(event, f"events[{i}]", defaults) for i, event in enumerate(checked)]
    event_ids = [e["event_id"] for e in events]
    if session_id is not None and props and not any(
            e["event_type"] == "session" and e["event_id"] == session_id for e in events):
        session = session_from_properties({**props, "session_id": session_id}, "session_properties", defaults)
        _summarise_children(session, events)
        events.insert(0, session)
    if session_id is None:
        sessions = {e["session_id"] for e in events}
        session_id = sessions.pop() if len(sessions) == 1 else None
    return Batch(events, event_ids, session_id)


def _refuse_unknown_on_v1(body: Any, route: str, top_fields: Mapping[str, Kind], *, bare_event: bool = False) -> None:
    """One 400 naming every field a v1 route does not take (a body that is not an object is `check_fields`'s);
    `bare_event`: the body is one event, not a batch."""
    if isinstance(body, dict):
        unknown = ([_named_on_v1("", name) for name in body if name not in top_fields] if bare_event
                   else _unknown_on_v1(body, top_fields))
        if unknown:
            more = f" and {len(unknown) - MAX_NAMED_FIELDS} more" if len(unknown) > MAX_NAMED_FIELDS else ""
            raise ValidationError(f"unknown field(s), not accepted on {route}: "
                                  f"{', '.join(unknown[:MAX_NAMED_FIELDS])}{more}")


def parse_create_v1(body: Any, defaults: EventDefaults) -> Event:
    """`POST /v1/events`: one event, bare (no `event` wrapper), checked as an event of `/v1/events/batch`."""
    _refuse_unknown_on_v1(body, "/v1/events", V1_EVENT_FIELDS, bare_event=True)
    event = check_fields(body, "", V1_EVENT_FIELDS, EVENT_REQUIRED, closed=True)
    _project_from_metadata(event)
    return _complete(event, "", defaults)


def parse_session_batch_v1(body: Any, session_id: str, defaults: EventDefaults) -> Batch:
    """`POST /v1/sessions/{session_id}/events/batch`: `{"events": [...]}`, each event checked as on
    `/v1/events/batch`, every one put in the path's session whatever its own `session_id` says (as HoneyHive
    documents). The session event itself is not written: the route adds to a session that exists."""
    if not UUID.check(session_id):
        raise ValidationError(f"session_id (in the path): must be {UUID.expected}, got {_describe(session_id)}")
    _refuse_unknown_on_v1(body, "/v1/sessions/{session_id}/events/batch", V1_SESSION_BATCH_FIELDS)
    top = check_fields(body, "", V1_SESSION_BATCH_FIELDS, ("events",), nested_freely=True, closed=True)
    checked = [check_fields(raw, f"events[{i}]", V1_EVENT_FIELDS, EVENT_REQUIRED, closed=True)
               for i, raw in enumerate(top["events"])]
    session_id = session_id.lower()
    for event in checked:
        _project_from_metadata(event)
        event["session_id"] = session_id
    events = [_complete(event, f"events[{i}]", defaults) for i, event in enumerate(checked)]
    return Batch(events, [e["event_id"] for e in events], session_id)


def _project_from_metadata(event: dict[str, Any]) -> None:
    """The event's project on the v1 route: `metadata.project` (moved back out), else the server's
    (`_complete`)."""
    metadata = event.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("project"), str):
        metadata = dict(metadata)
        event["project"] = metadata.pop("project")
        event["metadata"] = metadata


def _summarise_children(session: Event, children: list[Event]) -> None:
    """Complete a session event from the batch's events: times span them, top-level ones are its children."""
    starts = [e["start_time"] for e in children if "start_time" in e]
    ends = [e["end_time"] for e in children if "end_time" in e]
    if "start_time" not in session and starts:
        session["start_time"] = min(starts)
    if "end_time" not in session and ends:
        session["end_time"] = max(ends)
    if "duration" not in session and "start_time" in session and "end_time" in session:
        session["duration"] = duration_ms(session["start_time"], session["end_time"])
    if "children_ids" not in session:
        session["children_ids"] = [e["event_id"] for e in children if e["parent_id"] == session["event_id"]]


def parse_update(body: Any) -> Update:
    """`PUT /events`: `{event_id, metadata?, feedback?, metrics?, outputs?, config?, user_properties?,
    duration?, end_time?, children_ids?}`."""
    fields = check_fields(body, "", UPDATE_FIELDS, ("event_id",), closed=True)
    event_id = fields.pop("event_id")
    return Update(event_id, fields)


def parse_update_v1(body: Any, event_id: str) -> Update:
    """`PUT /v1/events/{event_id}`: the fields of `PUT /events`, the event named by the path. A body that names
    the event too must name the same one (either spelling)."""
    if not UUID.check(event_id):
        raise ValidationError(f"event_id (in the path): must be {UUID.expected}, got {_describe(event_id)}")
    fields = check_fields(body, "", UPDATE_FIELDS, closed=True)
    event_id = event_id.lower()
    named = fields.pop("event_id", event_id)
    if named != event_id:
        raise ValidationError(f"event_id: the body names {named}, the path {event_id}; send one")
    return Update(event_id, fields)


__all__ = [
    "EVENT_FIELDS",
    "MAX_NESTING",
    "MAX_SAFE_MS",
    "SESSION_FIELDS",
    "UPDATE_FIELDS",
    "V1_EVENT_FIELDS",
    "Batch",
    "EventDefaults",
    "Kind",
    "ValidationError",
    "check_fields",
    "normalize_event",
    "parse_batch",
    "parse_batch_v1",
    "parse_create",
    "parse_create_v1",
    "parse_session_batch_v1",
    "parse_session_start",
    "parse_update",
    "parse_update_v1",
    "session_from_properties",
]
