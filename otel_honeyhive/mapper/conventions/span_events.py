"""Span events: GenAI message events, OpenLLMetry's content events, and exceptions.

Message events become `inputs.chat_history` / `outputs` (span attributes win over them); an exception gives the
event its `error`; every event not turned into a message is kept in `metadata.events`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from otel_honeyhive.core.jsonable import jsonable
from otel_honeyhive.core.spans import STATUS_ERROR, STATUS_OK, SpanEventView, SpanView
from otel_honeyhive.mapper.messages import json_messages, output_from_messages, system_instructions
from otel_honeyhive.mapper.rules import Candidate, Convention, Extract, SpanFacts
from otel_honeyhive.mapper.values import maybe_json

_ROLE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_DETAILS = "gen_ai.client.inference.operation.details"


def _role_message(event: SpanEventView, role: str) -> dict[str, Any]:
    attrs = event.attributes
    message: dict[str, Any] = {"role": jsonable(attrs.get("role", role))}
    if "content" in attrs:
        message["content"] = maybe_json(attrs["content"])
    for key in ("id", "tool_call_id", "name"):
        if key in attrs:
            message["tool_call_id" if key == "id" and role == "tool" else key] = jsonable(attrs[key])
    if "tool_calls" in attrs:
        message["tool_calls"] = maybe_json(attrs["tool_calls"])
    return message


def _choice(event: SpanEventView) -> tuple[int, dict[str, Any]]:
    """The choice's place among the others, and its message (the `index` gives the order of `choices`; it is not
    part of the output)."""
    attrs = event.attributes
    message = maybe_json(attrs.get("message", {}))
    out: dict[str, Any] = dict(message) if isinstance(message, dict) else {"content": message}
    out.setdefault("role", "assistant")
    if "finish_reason" in attrs:
        out["finish_reason"] = jsonable(attrs["finish_reason"])
    index = attrs.get("index", 0)
    return (index if isinstance(index, int) else 0), out


def _event_record(event: SpanEventView, start_ns: int) -> dict[str, Any]:
    record: dict[str, Any] = {"name": event.name, "time_ms": event.time_ns // 1_000_000}
    if event.attributes:
        record["attributes"] = {k: jsonable(v) for k, v in event.attributes.items()}
    return record


# Ranks, in the routing table's order. Span attributes rank 1-3 for `inputs.chat_history`; for `outputs` the
# non-model sources (`traceloop.entity.output` …) rank 1-4 and message sources 11-13, so events come after both.
_PROMPT_EVENT, _ROLE_MESSAGES, _DETAILS_INPUT = 5, 6, 7
_COMPLETION_EVENT, _CHOICES, _DETAILS_OUTPUT = 15, 16, 17


def message_events(facts: SpanFacts) -> Iterable[Candidate]:
    """(Most spans have no events: they cost no generator.)"""
    return _message_events(facts.span) if facts.span.events else ()


_CHOICE_COUNT = "gen_ai.request.choice.count"
"""Read with every output here as with `gen_ai.output.messages` (genai.py): several messages are alternative choices
only when the span asked for several, else they may be the parallel tool calls of one answer."""


def _message_events(span: SpanView) -> Iterator[Candidate]:
    choice_count = span.attributes.get(_CHOICE_COUNT)
    history: list[dict[str, Any]] = []
    choices: list[tuple[int, dict[str, Any]]] = []
    kept: list[dict[str, Any]] = []
    for event in span.events:
        name = event.name
        attrs = event.attributes
        try:
            if name in _ROLE_EVENTS:
                history.append(_role_message(event, _ROLE_EVENTS[name]))
                continue
            if name == "gen_ai.choice":
                choices.append(_choice(event))
                continue
            if name == "gen_ai.content.prompt" and "gen_ai.prompt" in attrs:
                yield Candidate("inputs.chat_history", json_messages(attrs["gen_ai.prompt"]), _PROMPT_EVENT,
                                "event:gen_ai.content.prompt")
                continue
            if name == "gen_ai.content.completion" and "gen_ai.completion" in attrs:
                yield Candidate("outputs",
                                output_from_messages(json_messages(attrs["gen_ai.completion"]), choice_count),
                                _COMPLETION_EVENT, "event:gen_ai.content.completion")
                continue
            if name == _DETAILS and ("gen_ai.input.messages" in attrs or "gen_ai.output.messages" in attrs):
                consumed: set[str] = set()
                yield from _details(attrs, consumed, choice_count)
                rest = {k: v for k, v in attrs.items() if k not in consumed}
                if rest:  # the event's other attributes (and any content that did not parse) stay visible
                    kept.append(_event_record(SpanEventView(name, event.time_ns, rest), span.start_ns))
                continue
        except (ValueError, TypeError, KeyError, AttributeError):
            pass  # malformed content: keep the raw event below
        kept.append(_event_record(event, span.start_ns))
    if history:
        yield Candidate("inputs.chat_history", history, _ROLE_MESSAGES, "event:gen_ai.*.message")
    if choices:
        choices.sort(key=lambda c: c[0])
        if choice_count is None and choices[0][0] != choices[-1][0]:
            choice_count = len({index for index, _ in choices})  # the events' indexes say they are choices
        yield Candidate("outputs", output_from_messages([c for _, c in choices], choice_count), _CHOICES,
                        "event:gen_ai.choice")
    if kept:
        yield Candidate("metadata.events", kept, 0, "span.events")


def _details(attrs: Mapping[str, Any], consumed: set[str], choice_count: Any) -> Iterator[Candidate]:
    """`gen_ai.client.inference.operation.details`: input and output parsed independently (one may be cut); the
    output with the span's choice count, or the event's own (it repeats the span's attributes)."""
    source = f"event:{_DETAILS}"
    if choice_count is None:
        choice_count = attrs.get(_CHOICE_COUNT)
    if "gen_ai.input.messages" in attrs:
        try:
            msgs = json_messages(attrs["gen_ai.input.messages"])
            consumed.add("gen_ai.input.messages")
            if "gen_ai.system_instructions" in attrs:
                msgs.insert(0, system_instructions(attrs["gen_ai.system_instructions"]))
                consumed.add("gen_ai.system_instructions")
        except (ValueError, TypeError, KeyError, AttributeError):
            pass
        else:
            yield Candidate("inputs.chat_history", msgs, _DETAILS_INPUT, source)
    if "gen_ai.output.messages" in attrs:
        try:
            output = output_from_messages(json_messages(attrs["gen_ai.output.messages"]), choice_count)
            consumed.add("gen_ai.output.messages")
        except (ValueError, TypeError, KeyError, AttributeError):
            pass
        else:
            yield Candidate("outputs", output, _DETAILS_OUTPUT, source)


def _exception_text(attrs: Mapping[str, Any]) -> str:
    kind = attrs.get("exception.type")
    message = attrs.get("exception.message")
    if kind and message:
        return f"{kind}: {message}"
    return str(kind or message or "exception")


_TRACEBACK = "Traceback (most recent call last)"
_HTTP_STATUS_KEYS = ("http.response.status_code", "http.status_code")


def error(facts: SpanFacts) -> Iterable[Candidate]:
    """Status ERROR description → first exception event → (honeyhive_error, in the honeyhive convention) →
    `error.type` with the HTTP status → the word "error"."""
    span = facts.span
    if span.status_code == STATUS_OK or (span.status_code != STATUS_ERROR and not span.events):
        return ()
    return _error(span)


def _first_exception(span: SpanView) -> SpanEventView | None:
    for event in span.events:
        if event.name == "exception":
            return event
    return None


def _error(span: SpanView) -> Iterator[Candidate]:
    exception = _first_exception(span) if span.status_code != STATUS_OK else None
    if span.status_code == STATUS_ERROR and span.status_message:
        description = span.status_message
        if exception is not None and _TRACEBACK in description:
            # A description that is a whole traceback (OpenInference's LangChain instrumentation: the exception's
            # repr, then the traceback) comes after the exception it repeats; kept in metadata unless the
            # exception event carries the traceback itself (it stays in metadata.events).
            yield Candidate("error", description, 25, "status.description",
                            keep_if_shadowed="exception.stacktrace" not in exception.attributes)
        else:
            yield Candidate("error", description, 10, "status.description")
    if exception is not None:
        yield Candidate("error", _exception_text(exception.attributes), 20, "event:exception", keep_if_shadowed=False)
    if span.status_code == STATUS_ERROR:
        described = error_type(span.attributes)
        if described:
            yield Candidate("error", described, 40, "error.type", keep_if_shadowed=False)
        yield Candidate("error", "error", 90, "status.code", keep_if_shadowed=False)


def error_type(attrs: Mapping[str, Any]) -> str:
    """The semantic conventions' `error.type` (the class of error an operation ended with) with the HTTP status
    when there is one: `overloaded_error (HTTP 529)`, `HTTP 503` (HTTP instrumentations set `error.type` to the
    status code itself), or "" when neither says anything. Both attributes stay in metadata as they are."""
    kind = attrs.get("error.type")
    kind_text = kind.strip() if isinstance(kind, str) else ""
    code = ""
    for key in _HTTP_STATUS_KEYS:
        value = attrs.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 400:
            code = str(value)
            break
        if isinstance(value, str) and value.isascii() and value.isdigit() and int(value) >= 400:
            code = value
            break
    if not code:
        return kind_text
    if not kind_text or kind_text == code:
        return f"HTTP {code}"
    return f"{kind_text} (HTTP {code})"


CONVENTION: Convention = Convention(
    name="span_events",
    description="span events and status",
    rules=(
        Extract("messages", message_events, "GenAI message events → chat_history / outputs",
                ("inputs.chat_history", "outputs", "metadata.events")),
        Extract("error", error, "status description (after the exception event when it is a traceback) → "
                "exception event → honeyhive_error → `error.type` with the HTTP status → \"error\"", ("error",)),
    ),
)
