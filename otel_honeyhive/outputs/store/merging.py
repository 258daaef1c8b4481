"""A session event the store already holds, written again: merged into the stored one, never replaced.

Why: HoneyHive treats a repeated `session_id` as the same session — "posting twice with the same session_id
merges metadata/user_properties into the existing session and returns the existing event"
(https://docs.honeyhive.ai/v2/api-reference-autogen/sessions/start-a-new-session) — so a client that starts its
session again (a reconnect, HoneyHive's SDK) must not lose what the first start carried. The same rules extend a
conversation's session event sent by another process (docs/identity-and-assembly.md#conversations), and leave a
session event sent again unchanged (a retried hand-off maps the same spans to the same events): merging an event
with itself gives it back.

Each field has a rule (`FIELD_RULES`); the times go together (`_times`): the session starts at the earlier start
(with that start's name) and ends at the later end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from otel_honeyhive.core.events import Event, duration_ms
from otel_honeyhive.core.jsonable import number
from otel_honeyhive.core.results import MERGED_ON_UPDATE
from otel_honeyhive.outputs.store.rows import in_ms

Rule = Callable[[Any, Any], Any]
"""(the stored value, the later value) -> the value kept; called only when both events have the field."""


def _filled(value: Any) -> bool:
    return value is not None and value != "" and value != {} and value != []


def _merged_by_key(stored: Any, later: Any) -> Any:
    """A bucket merged key by key, the later's keys winning: as `PUT /events` merges it."""
    if isinstance(stored, dict) and isinstance(later, dict):
        return {**stored, **later}
    return later if _filled(later) else stored


def _later_unless_empty(stored: Any, later: Any) -> Any:
    return later if _filled(later) else stored


def _stored_unless_empty(stored: Any, later: Any) -> Any:
    return stored if _filled(stored) else later


def _both_lists(stored: Any, later: Any) -> Any:
    """Children: the stored ones, then the later's not among them."""
    ids = [*(stored if isinstance(stored, list) else []), *(later if isinstance(later, list) else [])]
    return list(dict.fromkeys(i for i in ids if isinstance(i, str)))


FIELD_RULES: dict[str, Rule] = {
    **dict.fromkeys(MERGED_ON_UPDATE, _merged_by_key),  # metadata, feedback, metrics, config, user_properties
    "outputs": _later_unless_empty,  # replaced, as an update replaces them; an empty one replaces nothing
    "children_ids": _both_lists,
}
"""How each field is merged; any field not named keeps the stored value unless it is empty (inputs, source,
project, error…): the session is what it was started as."""
DEFAULT_RULE: Rule = _stored_unless_empty
_TIMES = ("start_time", "end_time", "duration", "event_name")
"""Merged together by `_times`."""


def merged_session(stored: Event, later: Event) -> Event:
    """`later`, a session event the store holds as `stored`, merged into it by `FIELD_RULES`."""
    merged: Event = {}
    for name in dict.fromkeys([*stored, *later]):
        if name in _TIMES:
            continue
        if name not in later:
            merged[name] = stored[name]
        elif name not in stored:
            merged[name] = later[name]
        else:
            merged[name] = FIELD_RULES.get(name, DEFAULT_RULE)(stored[name], later[name])
    _times(stored, later, merged)
    return merged


def _times(stored: Event, later: Event, merged: Event) -> None:
    """The earlier start (with the name it came with), the later end (compared in milliseconds, whichever unit
    each was sent in), and the duration: the one sent with both when one event gave both, else the end less the
    start (as `Update.apply_to` recomputes it)."""
    stored_start, later_start = in_ms(number(stored.get("start_time"))), in_ms(number(later.get("start_time")))
    stored_end, later_end = in_ms(number(stored.get("end_time"))), in_ms(number(later.get("end_time")))
    first = later if stored_start is None or (later_start is not None and later_start < stored_start) else stored
    last = later if stored_end is None or (later_end is not None and later_end > stored_end) else stored
    other = stored if first is later else later
    for name, source in (("start_time", first), ("end_time", last)):
        if name in source:
            merged[name] = source[name]
        elif name in (stored if source is later else later):
            merged[name] = (stored if source is later else later)[name]
    if "event_name" in stored or "event_name" in later:
        merged["event_name"] = _preferring(first, other, "event_name")
    start, end = number(merged.get("start_time")), number(merged.get("end_time"))
    if first is not last and start is not None and end is not None:  # as an update recomputes it
        merged["duration"] = duration_ms(start, end)
    elif "duration" in stored or "duration" in later:
        merged["duration"] = _preferring(first, other, "duration")


def _preferring(preferred: Event, other: Event, name: str) -> Any:
    """`name` of `preferred` unless it lacks the field or it is empty, then `other`'s (one of them has it)."""
    if name not in preferred:
        return other[name]
    if name not in other:
        return preferred[name]
    return _stored_unless_empty(preferred[name], other[name])


__all__ = ["DEFAULT_RULE", "FIELD_RULES", "merged_session"]
