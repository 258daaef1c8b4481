"""Hypothesis strategies for the structural fuzz of the HoneyHive-compatible API: every route's body with every
documented field filled in, then fields given any JSON value (every type: null, booleans, integers up to far
past 64 bits, floats, odd and empty and very long strings, lists, objects, nesting past every limit), removed,
or joined by unknown ones.

Shared by the in-process check of the validation (tests/inputs/test_event_validation.py) and the fuzz of a real
server (tests/reliability/test_api_fuzz.py), so both try the same bodies.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from hypothesis import strategies as st

SESSION_ID = "1b4e28ba-2d11-4ad0-8b43-2c0f1b5e5d0b"
EVENT_ID = "6f9619ff-8b86-4011-b42d-00c04fc964ff"
CHILD_ID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
UPDATED_ID = "3d8c6a8e-9b3f-4c1e-a0d2-5f7e8b9c0a1d"
"""The event `PUT /events` updates: the fuzz creates it first, so valid updates find it."""

EVENT: dict[str, Any] = {
    "project": "p", "source": "s", "event_name": "chat", "event_type": "model", "event_id": EVENT_ID,
    "session_id": SESSION_ID, "parent_id": SESSION_ID, "children_ids": [CHILD_ID],
    "config": {"model": "gpt-4o"}, "inputs": {"chat_history": [{"role": "user", "content": "hi"}]},
    "outputs": {"content": "hello"}, "error": None, "start_time": 1714978764301, "end_time": 1714978765301,
    "duration": 1000, "metadata": {"k": "v"}, "feedback": {"f": True}, "metrics": {"m": 1},
    "user_properties": {"user": "u"},
}
CHILD: dict[str, Any] = {**EVENT, "event_type": "tool", "event_id": CHILD_ID, "parent_id": EVENT_ID,
                         "children_ids": []}
SESSION: dict[str, Any] = {
    "session_name": "s", "event_name": "s", "event_type": "session", "project": "p", "source": "s",
    "session_id": SESSION_ID, "event_id": SESSION_ID, "children_ids": [EVENT_ID], "config": {}, "inputs": {"q": 1},
    "outputs": {}, "error": None, "user_properties": {}, "metrics": {}, "feedback": {}, "metadata": {},
    "start_time": 1714978764301, "end_time": 1714978765301, "duration": 1000,
}
V1_EVENT: dict[str, Any] = {k: v for k, v in EVENT.items() if k != "project"}
"""An event as `POST /v1/events/batch` documents it: the legacy per-event `project` is not a field there."""
V1_CHILD: dict[str, Any] = {**V1_EVENT, "event_type": "tool", "event_id": CHILD_ID, "parent_id": EVENT_ID,
                            "children_ids": []}
V1_SESSION_PROPERTIES: dict[str, Any] = {"session_name": "s", "start_time": 1714978764301, "metadata": {"k": 1},
                                         "user_properties": {"u": 1}}
UPDATE: dict[str, Any] = {
    "event_id": UPDATED_ID, "metadata": {"k": 1}, "feedback": {}, "metrics": {}, "config": {}, "outputs": {},
    "user_properties": {}, "duration": 5, "end_time": 1714978765301, "children_ids": [CHILD_ID],
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    valid: dict[str, Any]
    """A body the route accepts, every documented field given."""

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


ROUTES = [
    Route("POST", "/events", {"event": EVENT}),
    Route("POST", "/events/batch", {"events": [EVENT, CHILD], "is_single_session": False}),
    Route("POST", "/events/batch", {"events": [{k: v for k, v in EVENT.items() if k != "session_id"}, CHILD],
                                    "is_single_session": True, "session_properties": SESSION}),
    Route("POST", "/v1/events/batch", {"events": [V1_EVENT, V1_CHILD], "single_session": False}),
    Route("POST", "/v1/events/batch", {"events": [V1_EVENT], "single_session": True,
                                       "session_properties": V1_SESSION_PROPERTIES}),
    Route("POST", "/session/start", {"session": SESSION}),
    Route("PUT", "/events", UPDATE),
]

# -- values ----------------------------------------------------------------------------------------------------------

HUGE_INTEGERS = st.sampled_from([2**53, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**40,
                                 -(10**40)])
ODD_STRINGS = st.sampled_from([
    "", " ", "\x00", "\u202e", "\ufeff", "😀", "null", "NaN", "true", "[]", "{}", EVENT_ID.upper(),
    "{" + EVENT_ID + "}", EVENT_ID.replace("-", ""), EVENT_ID + "\n", " " + EVENT_ID, EVENT_ID[:-1] + "g",
    "urn:uuid:" + EVENT_ID, "00000000-0000-0000-0000-000000000000", "model", "session", "x" * 1000,
])
SURROGATES: tuple[Literal["Cs"]] = ("Cs",)  # lone surrogates are not UTF-8
LONG_STRINGS = st.tuples(st.characters(exclude_categories=SURROGATES), st.integers(1_000, 100_000)).map(
    lambda t: t[0] * t[1])
SCALARS = (st.none() | st.booleans() | st.integers() | HUGE_INTEGERS
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30) | ODD_STRINGS | LONG_STRINGS
           | st.uuids().map(str))
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


@dataclass(frozen=True)
class Deep:
    """A list or object nested `depth` levels: written by `dumps` as text, since `json.dumps` would recurse
    past Python's limit for the deepest."""

    depth: int
    kind: str


DEEP = st.builds(Deep, st.sampled_from([127, 128, 129, 200, 254, 255, 256, 1023, 1024, 1025, 5000]),
                 st.sampled_from(["list", "object"]))
ANY_VALUE = JSON_VALUES | SCALARS | DEEP | st.lists(st.uuids().map(str) | SCALARS, max_size=3)
"""Any JSON value: what a fuzzed field is given."""

_DEEP_TOKEN = re.compile(r'"\\u0000deep:(\d+):(list|object)\\u0000"')


def dumps(body: Any) -> bytes:
    """The JSON bytes of a body (integers past 64 bits included, which orjson would refuse; `Deep` written out)."""

    def deep_token(value: Any) -> str:
        if isinstance(value, Deep):
            return f"\x00deep:{value.depth}:{value.kind}\x00"
        raise TypeError(f"cannot write {type(value).__name__}")

    text = json.dumps(body, default=deep_token, ensure_ascii=False)

    def written(match: re.Match[str]) -> str:
        depth = int(match[1])
        return "[" * depth + "]" * depth if match[2] == "list" else '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)

    return _DEEP_TOKEN.sub(written, text).encode("utf-8", "surrogatepass")


# -- mutations -------------------------------------------------------------------------------------------------------


def paths(node: Any, path: tuple[Any, ...] = (), max_len: int = 3) -> Iterator[tuple[Any, ...]]:
    """Every path into `node` (the empty path, the node itself, first), down to `max_len` steps."""
    yield path
    if len(path) >= max_len:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*path, key), max_len)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from paths(value, (*path, i), max_len)


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        doc = doc[step]
    return doc


FIELD_NAMES = sorted({*EVENT, *SESSION, *UPDATE, "events", "is_single_session", "session_properties", "event",
                      "session", "project_id", "single_session", "org_id"})


@st.composite
def mutated(draw: st.DrawFn, route: Route) -> Any:
    """`route.valid` with one field (or the whole body) given any JSON value, then 0 to 3 more edits: a field
    given a value, removed, or an unknown or misplaced field added. `POST /events` sometimes gets its event as a
    JSON-encoded string, as HoneyHive's page documents it."""
    doc: Any = copy.deepcopy(route.valid)
    doc = _apply(draw, doc, "set", draw(st.sampled_from(list(paths(doc)))))
    for _ in range(draw(st.integers(0, 3))):
        doc = _apply(draw, doc, draw(st.sampled_from(["set", "delete", "add"])),
                     draw(st.sampled_from(list(paths(doc)))))
    if route.path == "/events" and route.method == "POST" and isinstance(doc, dict) and "event" in doc \
            and draw(st.booleans()):
        doc["event"] = dumps(doc["event"]).decode("utf-8", "surrogatepass")
    return doc


def _apply(draw: st.DrawFn, doc: Any, edit: str, path: tuple[Any, ...]) -> Any:
    if not path:
        return draw(ANY_VALUE) if edit == "set" else doc
    try:
        parent = _parent(doc, path)
        parent[path[-1]]  # the path may no longer exist after an earlier edit
    except (KeyError, IndexError, TypeError):
        return doc
    if edit == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif edit == "add" and isinstance(parent, dict):
        parent[draw(st.sampled_from(FIELD_NAMES) | st.text(max_size=20))] = draw(ANY_VALUE)
    else:
        parent[path[-1]] = draw(ANY_VALUE)
    return doc


__all__ = ["ANY_VALUE", "EVENT", "ROUTES", "SESSION", "UPDATE", "UPDATED_ID", "V1_CHILD", "V1_EVENT", "Deep", "Route",
           "dumps", "mutated"]
