"""From stored events to what the templates show: the session's tree with its waterfall geometry, an event's
conversation, and JSON as readable, escaped HTML with long values collapsed.

Event content is untrusted (prompts, tool output): every piece of it that becomes HTML here goes through
`markupsafe.escape`, and the templates autoescape the rest.
"""

from __future__ import annotations

import datetime
import itertools
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from markupsafe import Markup, escape

from otel_honeyhive.core import durations
from otel_honeyhive.core.durations import number as number
from otel_honeyhive.core.events import Event, epoch_seconds
from otel_honeyhive.server.viewer.queries import OutlineEvent

LONG_TEXT = 1500
"""Characters of a string shown before it is collapsed behind a "show all" link (fetched when asked for)."""
LONG_LIST = 100
"""Items of an array, or keys of an object, shown before the rest is collapsed the same way."""
MAX_DEPTH = 32
"""Levels of nesting shown before the rest is collapsed the same way. Stored values are shallower than this in
practice, but tool-call arguments are JSON strings, parsed for display, of any depth orjson reads (1,024):
rendering them whole would overflow Python's recursion limit."""
EVENT_TYPES = ("session", "model", "tool", "chain")


def format_duration(ms: Any) -> str:
    """As the terminal shows it, with an en dash for none."""
    return durations.format_duration(ms, missing="–")


_SPANS = ((86_400, "day"), (3_600, "hour"), (60, "minute"), (1, "second"))


def format_span(seconds: float) -> str:
    """A setting's length in words, in the largest unit it is a whole number of: 7 days, 36 hours, 90 minutes."""
    for size, unit in _SPANS:
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"


def to_seconds(timestamp: Any) -> float | None:
    """HoneyHive documents milliseconds, but its own examples also use seconds; below 1e11 is read as seconds
    (as the terminal does)."""
    value = number(timestamp)
    if value is None:
        return None
    return epoch_seconds(value)


def format_start(timestamp: Any) -> str:
    """UTC, said so: the server's local zone is not necessarily the reader's."""
    seconds = to_seconds(timestamp)
    if seconds is None:
        return "–"
    try:
        moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return "–"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_start(timestamp: Any) -> str:
    """The machine-readable form for `<time datetime=…>`."""
    seconds = to_seconds(timestamp)
    if seconds is None:
        return ""
    try:
        return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc).isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):
        return ""


def type_class(event_type: Any) -> str:
    """A CSS class for the event's type; unknown types share one, so no stored text reaches a class name."""
    return f"t-{event_type}" if event_type in EVENT_TYPES else "t-other"


# -- the session: tree and waterfall -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the session view: the event, its depth in the tree, and its bar in the waterfall (percent of
    the session's span of time)."""

    event: OutlineEvent
    depth: int
    left: float
    width: float
    has_children: bool


def session_rows(session_id: str, events: Sequence[OutlineEvent]) -> list[Row]:
    """Depth-first, children in start order under their parent, the session event first. Events whose parent is
    not stored (or caught in a cycle) hang under the session rather than being hidden (as `show` does)."""
    root = next((e for e in events if e.event_id == session_id), None)
    others = [e for e in events if e is not root]
    known = {e.event_id for e in others} | {session_id}
    children: dict[str, list[OutlineEvent]] = {}
    for event in others:
        parent = event.parent_id
        key = parent if parent is not None and parent in known and parent != event.event_id else session_id
        children.setdefault(key, []).append(event)
    for group in children.values():  # stable: ties keep the store's order, the order spans started
        group.sort(key=lambda e: (number(e.start_time) is None, number(e.start_time) or 0.0))

    starts = [s for e in events if (s := number(e.start_time)) is not None]
    ends = [end for e in events if (end := _end(e)) is not None]
    begin = min(starts) if starts else 0.0
    span = max((max(ends) if ends else begin) - begin, 1e-9)

    def bar(event: OutlineEvent) -> tuple[float, float]:
        start = number(event.start_time)
        if start is None:
            return 0.0, 0.0
        end = _end(event) or start
        return (start - begin) / span * 100, max(end - start, 0.0) / span * 100

    rows: list[Row] = []
    seen: set[str] = set()

    def walk(event: OutlineEvent, depth: int) -> None:
        stack = [(event, depth)]
        while stack:
            current, level = stack.pop()
            if current.event_id in seen:
                continue
            seen.add(current.event_id)
            kids = children.get(current.event_id, [])
            left, width = bar(current)
            rows.append(Row(current, level, round(left, 3), round(width, 3), bool(kids)))
            stack.extend((kid, level + 1) for kid in reversed(kids))

    if root is not None:
        walk(root, 0)
    base = 1 if root is not None else 0
    for event in children.get(session_id, []):
        walk(event, base)
    for event in others:  # anything a cycle kept out of reach
        walk(event, base)
    return rows


def _end(event: OutlineEvent) -> float | None:
    end = number(event.end_time)
    if end is not None:
        return end
    start, duration = number(event.start_time), number(event.duration)
    return start + duration if start is not None and duration is not None else None


# -- JSON as HTML ------------------------------------------------------------------------------------------


def pointer(*parts: str | int) -> str:
    """A JSON Pointer (RFC 6901) to a value inside the event."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def resolve(event: Any, at: str) -> Any:
    """The value `at` (a JSON Pointer) points to; KeyError when there is none. An array index is ASCII digits
    (RFC 6901): `str.isdigit` alone also takes `²`, which `int` refuses."""
    if at == "":
        return event
    if not at.startswith("/"):
        raise KeyError(at)
    value = event
    for raw in at[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, str):  # tool-call arguments: JSON in a string, shown parsed
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise KeyError(at) from None
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isascii() and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(at)
    return value


class JsonHtml:
    """Renders values of one event; `value_url` is where a collapsed value is fetched whole."""

    def __init__(self, value_url: str) -> None:
        self.value_url = value_url

    def more(self, at: str, label: str) -> Markup:
        href = self.value_url + "?" + urllib.parse.urlencode({"at": at})
        return Markup('<a class="more" href="{}" data-more>{}</a>').format(href, label)

    def text(self, value: str, at: str) -> Markup:
        """A string as text (messages): the first `LONG_TEXT` characters, then a link to the rest."""
        if len(value) <= LONG_TEXT:
            return escape(value)
        rest = len(value) - LONG_TEXT
        return Markup('<span class="collapsed">{}<span class="ellipsis">… </span>{}</span>').format(
            value[:LONG_TEXT], self.more(at, f"show all ({rest:,} more characters)")
        )

    def json(self, value: Any, at: str) -> Markup:
        """A value as indented JSON: keys, strings, numbers styled; long strings and lists collapsed."""
        return Markup('<div class="json">{}</div>').format(self._value(value, at, 0))

    def _container(self, opening: str, closing: str, items: list[Markup], size: int, at: str, noun: str) -> Markup:
        """An object's or array's first `LONG_LIST` entries (`items`, rendered) between its brackets, with a link
        to the whole when it has more (`size`)."""
        shown = Markup('<span class="j-punct">{}</span><div class="j-body">{}</div><span class="j-punct">{}</span>'
                       ).format(opening, Markup("").join(items), closing)
        if size <= LONG_LIST:
            return shown
        return Markup('<span class="collapsed">{} {}</span>').format(shown, self.more(at, f"show all {size:,} {noun}"))

    def _value(self, value: Any, at: str, depth: int) -> Markup:
        if isinstance(value, dict | list) and value and depth >= MAX_DEPTH:
            return Markup('<span class="collapsed">{}</span>').format(
                self.more(at, f"show the rest (nested past {MAX_DEPTH} levels)"))
        if isinstance(value, dict):
            if not value:
                return Markup('<span class="j-punct">{}</span>')
            return self._container("{", "}", [
                Markup('<div class="j-item"><span class="j-key">{}</span>: {}</div>').format(
                    _json_text(str(key)), self._value(item, at + pointer(str(key)), depth + 1)
                )
                for key, item in itertools.islice(value.items(), LONG_LIST)
            ], len(value), at, "keys")
        if isinstance(value, list):
            if not value:
                return Markup('<span class="j-punct">[]</span>')
            return self._container("[", "]", [
                Markup('<div class="j-item">{}</div>').format(self._value(item, at + pointer(i), depth + 1))
                for i, item in enumerate(value[:LONG_LIST])
            ], len(value), at, "items")
        if isinstance(value, str):
            if len(value) <= LONG_TEXT:
                return Markup('<span class="j-str">{}</span>').format(_json_text(value))
            rest = len(value) - LONG_TEXT
            return Markup('<span class="collapsed"><span class="j-str">{}…</span> {}</span>').format(
                _json_text(value[:LONG_TEXT])[:-1], self.more(at, f"show all ({rest:,} more characters)")
            )
        if value is None or isinstance(value, bool):
            return Markup('<span class="j-lit">{}</span>').format("null" if value is None else str(value).lower())
        return Markup('<span class="j-num">{}</span>').format(_json_text(value))


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


# -- the conversation of a model event ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str | None
    name: str
    arguments: Any
    """Parsed JSON when the arguments are a JSON string, else as given."""
    at: str
    """The arguments' pointer in the event (`resolve` reads into a JSON string)."""


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a message whose content is a list of parts (multimodal content)."""

    kind: str
    """"text", "reasoning" (shown as the model's thinking), or "media" (`text` is then a label, never the data)."""
    text: str
    at: str
    """The text's pointer in the event (for collapsed text); the part's own for media."""


_TEXT_KEYS = {"text": ("text", "content"), "input_text": ("text",), "output_text": ("text",)}
"""Text parts by `type`, and where their text is: the GenAI conventions' `{type: text, content}`, OpenAI's and
Anthropic's `{type: text, text}`, OpenAI Responses' input and output text."""
_REASONING_KEYS = {"reasoning": ("content", "text"), "thinking": ("thinking", "content", "text")}
"""The model's reasoning: the GenAI conventions' `reasoning` part, Anthropic's `thinking` block."""
_MEDIA_MODALITY = {"image_url": "image", "input_image": "image", "image": "image", "input_audio": "audio",
                   "audio": "audio", "document": "document", "file": "file", "input_file": "file", "blob": "media",
                   "uri": "media"}
"""Media parts by `type`, and what they are when the part does not say (`modality`)."""


def _text_of(part: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    return next((k for k in keys if isinstance(part.get(k), str)), None)


def _media_label(part: dict[str, Any]) -> str:
    """What a media part is, where it is, or how large its inline data is: the data itself is never shown, and
    a location is text, never a link or an image the page would load."""
    kind = str(part.get("type"))
    found = part.get("source")
    source: dict[str, Any] = found if isinstance(found, dict) else {}
    image_url = part.get("image_url")
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    location = next((v for v in (url, part.get("uri"), part.get("url"), source.get("url"), part.get("file_id"))
                     if isinstance(v, str) and v), None)
    mime = next((v for v in (part.get("mime_type"), part.get("media_type"), source.get("media_type"))
                 if isinstance(v, str) and v), None)
    inline = next((v for v in (part.get("content"), part.get("data"), source.get("data"))
                   if isinstance(v, str) and v), None)
    if location is not None and location.startswith("data:"):  # a data: URL is inline data
        header, _, inline = location.partition(",")
        mime, location = mime or header[5:].split(";")[0] or None, None
    audio = part.get("input_audio")
    if isinstance(audio, dict) and isinstance(audio.get("data"), str):
        inline, mime = audio["data"], mime or (f"audio/{audio['format']}" if isinstance(audio.get("format"), str)
                                               else None)
    modality = part.get("modality") if isinstance(part.get("modality"), str) else _MEDIA_MODALITY[kind]
    shown = [str(modality), *([mime] if mime else [])]
    if location is not None:
        shown.append(location)
    elif inline is not None:
        shown.append(f"{len(inline) * 3 // 4 - inline.count('=', -2):,} bytes inline, not shown")
    return " · ".join(shown)


def _parts(content: list[Any], at: str) -> tuple[list[Part], list[Any]]:
    """The parts the page can show as text, reasoning or a media label, and the others (shown as JSON)."""
    parts: list[Part] = []
    rest: list[Any] = []
    for i, part in enumerate(content):
        if isinstance(part, str):
            parts.append(Part("text", part, at + pointer(i)))
            continue
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(kind, str):
            rest.append(part)
        elif kind in _TEXT_KEYS and (key := _text_of(part, _TEXT_KEYS[kind])) is not None:
            parts.append(Part("text", part[key], at + pointer(i, key)))
        elif kind in _REASONING_KEYS and (key := _text_of(part, _REASONING_KEYS[kind])) is not None:
            parts.append(Part("reasoning", part[key], at + pointer(i, key)))
        elif kind in _MEDIA_MODALITY:
            parts.append(Part("media", _media_label(part), at + pointer(i)))
        else:
            rest.append(part)
    return parts, rest


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    content: str | None
    """Text content; None when the content is not a string (see `parts` and `other`)."""
    at: str
    """The message's pointer in the event, for collapsed content."""
    tool_calls: list[ToolCall]
    tool_call_id: str | None
    name: str | None
    other: dict[str, Any]
    """Whatever else the message carries (content parts no rule reads, finish reason…), shown as JSON."""
    parts: list[Part]
    """A list content's parts the page reads (text, reasoning, media labels), in order."""

    @property
    def role_class(self) -> str:
        role = self.role if self.role in ("system", "user", "assistant", "tool", "developer") else "other"
        return f"m-{role}"


_MESSAGE_KEYS = {"role", "content", "tool_calls", "tool_call_id", "name"}


def _arguments(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _tool_calls(value: Any, at: str) -> list[ToolCall]:
    calls = []
    for i, call in enumerate(value if isinstance(value, list) else []):
        if not isinstance(call, dict):
            continue
        nested = isinstance(call.get("function"), dict)
        function = call["function"] if nested else call
        name = function.get("name")
        where = at + (pointer(i, "function", "arguments") if nested else pointer(i, "arguments"))
        calls.append(ToolCall(
            call.get("id") if isinstance(call.get("id"), str) else None,
            name if isinstance(name, str) else "(unnamed)",
            _arguments(function.get("arguments")),
            where,
        ))
    return calls


def message(value: Any, at: str) -> Message | None:
    """A message in HoneyHive's shape (`{role, content, tool_calls?, tool_call_id?, name?}`), or None."""
    if not isinstance(value, dict) or not isinstance(value.get("role"), str):
        return None
    content = value.get("content")
    other = {k: v for k, v in value.items() if k not in _MESSAGE_KEYS and v not in (None, "", [], {})}
    parts: list[Part] = []
    if isinstance(content, list):
        parts, rest = _parts(content, at + pointer("content"))
        if rest:
            other["content"] = rest
    elif content is not None and not isinstance(content, str):
        other["content"] = content
    return Message(
        role=value["role"],
        content=content if isinstance(content, str) else None,
        at=at,
        tool_calls=_tool_calls(value.get("tool_calls"), at + pointer("tool_calls")),
        tool_call_id=value.get("tool_call_id") if isinstance(value.get("tool_call_id"), str) else None,
        name=value.get("name") if isinstance(value.get("name"), str) else None,
        other=other,
        parts=parts,
    )


def conversation(event: Event) -> list[Message]:
    """The model event's input messages (`inputs.chat_history`)."""
    inputs = event.get("inputs")
    history = inputs.get("chat_history") if isinstance(inputs, dict) else None
    if not isinstance(history, list):
        return []
    found = (message(m, pointer("inputs", "chat_history", i)) for i, m in enumerate(history))
    return [m for m in found if m is not None]


def answers(event: Event) -> list[Message]:
    """The model's output as messages: `outputs` itself, or each of `outputs.choices`."""
    outputs = event.get("outputs")
    if not isinstance(outputs, dict):
        return []
    choices = outputs.get("choices")
    if isinstance(choices, list):
        found = [message(c, pointer("outputs", "choices", i)) for i, c in enumerate(choices)]
        return [m for m in found if m is not None]
    single = message(outputs, pointer("outputs"))
    return [single] if single is not None else []


MAX_TIMELINE_ROWS = 1_000
"""Rows of a session's timeline on one page: a trace of 20,000 spans is 20 pages of about half a megabyte, not
one of eleven."""
MAX_TRANSCRIPT_TURNS = 100
"""Turns shown in a session's conversation (each reads two event bodies); past it, the page says how many more."""


@dataclass(frozen=True, slots=True)
class TurnModels:
    """A turn of the session (an event directly under it) and the model calls that open and close it."""

    turn: OutlineEvent
    first_model: str
    last_model: str


def turns_with_models(session_id: str, rows: Sequence[Row]) -> list[TurnModels]:
    """The session's turns that made a model call, in order, each with its first and last model event (in the
    tree's order): what the session's conversation is read from."""
    base = 1 if rows and rows[0].event.event_id == session_id else 0
    found: list[TurnModels] = []
    turn: OutlineEvent | None = None
    models: list[str] = []

    def close() -> None:
        if turn is not None and models:
            found.append(TurnModels(turn, models[0], models[-1]))

    for row in rows[base:]:
        if row.depth <= base:
            close()
            turn, models = row.event, []
        if row.event.event_type == "model":
            models.append(row.event.event_id)
    close()
    return found


@dataclass(frozen=True, slots=True)
class Exchange:
    """One turn of a conversation as the session page shows it: what the user asked (the last user message the
    turn's first model call was given) and what was answered (the first answer of its last model call), each
    with the event it is read from, so a long text opens whole from there."""

    turn: OutlineEvent
    asked: Message | None
    asked_in: str
    answered: Message | None
    answered_in: str


def exchange(turn: TurnModels, first: Event | None, last: Event | None) -> Exchange:
    asked = next((m for m in reversed(conversation(first)) if m.role == "user"), None) if first else None
    answered = next(iter(answers(last)), None) if last else None
    return Exchange(turn.turn, asked, turn.first_model, answered, turn.last_model)


@dataclass(frozen=True, slots=True)
class Usage:
    prompt: float | None
    completion: float | None
    total: float | None


def usage(event: Event) -> Usage | None:
    metadata = event.get("metadata")
    if not isinstance(metadata, dict):
        return None
    prompt, completion = number(metadata.get("prompt_tokens")), number(metadata.get("completion_tokens"))
    total = number(metadata.get("total_tokens"))
    if total is None and (prompt is not None or completion is not None):
        total = (prompt or 0) + (completion or 0)
    if prompt is None and completion is None and total is None:
        return None
    return Usage(prompt, completion, total)


def filled(value: Any) -> bool:
    return value not in (None, "", [], {})


__all__ = [
    "LONG_LIST", "LONG_TEXT", "MAX_DEPTH", "JsonHtml", "Message", "Row", "ToolCall", "Usage", "answers", "conversation",
    "filled", "format_duration", "format_span", "format_start", "iso_start", "message", "pointer", "resolve",
    "session_rows", "type_class", "usage",
]
