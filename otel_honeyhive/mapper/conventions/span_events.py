"""Span events: GenAI message events, OpenLLMetry's content events, and exceptions.

Message events become `inputs.chat_history` / `outputs` (span attributes win over them); an exception gives the
event its `error`; every event not turned into a message is kept in `metadata.events`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from otel_honeyhive.mapper.messages import json_messages, output_from_messages, system_instructions
from otel_honeyhive.mapper.rules import Candidate, Convention, Extract, SpanFacts
from otel_honeyhive.mapper.values import jsonable, maybe_json
from otel_honeyhive.spans.view import STATUS_ERROR, STATUS_OK, SpanEventView

_ROLE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_DETAILS = "gen_ai.client.inference.operation.details"


def _role_message(event: SpanEventView, role: str) -> dict[str, Any]:
    attrs = event.attributes
    message: dict[str, Any] = {"role": attrs.get("role", role)}
    if "content" in attrs:
        message["content"] = maybe_json(attrs["content"])
    for key in ("id", "tool_call_id", "name"):
        if key in attrs:
            message["tool_call_id" if key == "id" and role == "tool" else key] = jsonable(attrs[key])
    if "tool_calls" in attrs:
        message["tool_calls"] = maybe_json(attrs["tool_calls"])
    return message


def _choice(event: SpanEventView) -> dict[str, Any]:
    attrs = event.attributes
    message = maybe_json(attrs.get("message", {}))
    out: dict[str, Any] = dict(message) if isinstance(message, dict) else {"content": message}
    out.setdefault("role", "assistant")
    if "finish_reason" in attrs:
        out["finish_reason"] = jsonable(attrs["finish_reason"])
    if "index" in attrs:
        out["index"] = jsonable(attrs["index"])
    return out


def _event_record(event: SpanEventView, start_ns: int) -> dict[str, Any]:
    record: dict[str, Any] = {"name": event.name, "time_ms": event.time_ns // 1_000_000}
    if event.attributes:
        record["attributes"] = {k: jsonable(v) for k, v in event.attributes.items()}
    return record


def message_events(facts: SpanFacts) -> Iterator[Candidate]:
    span = facts.span
    if not span.events:
        return
    history: list[dict[str, Any]] = []
    choices: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    for event in span.events:
        name = event.name
        try:
            if name in _ROLE_EVENTS:
                history.append(_role_message(event, _ROLE_EVENTS[name]))
                continue
            if name == "gen_ai.choice":
                choices.append(_choice(event))
                continue
            if name == "gen_ai.content.prompt" and "gen_ai.prompt" in event.attributes:
                yield Candidate("inputs.chat_history", json_messages(event.attributes["gen_ai.prompt"]), 6,
                                "event:gen_ai.content.prompt")
                continue
            if name == "gen_ai.content.completion" and "gen_ai.completion" in event.attributes:
                yield Candidate("outputs", output_from_messages(json_messages(event.attributes["gen_ai.completion"])),
                                6, "event:gen_ai.content.completion")
                continue
            if name == _DETAILS:
                attrs = event.attributes
                if "gen_ai.input.messages" in attrs:
                    msgs = json_messages(attrs["gen_ai.input.messages"])
                    if "gen_ai.system_instructions" in attrs:
                        msgs.insert(0, system_instructions(attrs["gen_ai.system_instructions"]))
                    yield Candidate("inputs.chat_history", msgs, 5, f"event:{_DETAILS}")
                if "gen_ai.output.messages" in attrs:
                    yield Candidate("outputs", output_from_messages(json_messages(attrs["gen_ai.output.messages"])),
                                    5, f"event:{_DETAILS}")
                continue
        except (ValueError, TypeError, KeyError, AttributeError):
            pass  # malformed content: keep the raw event below
        kept.append(_event_record(event, span.start_ns))
    if history:
        yield Candidate("inputs.chat_history", history, 7, "event:gen_ai.*.message")
    if choices:
        choices.sort(key=lambda c: c.get("index", 0) if isinstance(c.get("index", 0), int) else 0)
        yield Candidate("outputs", output_from_messages(choices), 7, "event:gen_ai.choice")
    if kept:
        yield Candidate("metadata.events", kept, 0, "span.events")


def _exception_text(attrs: Mapping[str, Any]) -> str:
    kind = attrs.get("exception.type")
    message = attrs.get("exception.message")
    if kind and message:
        return f"{kind}: {message}"
    return str(kind or message or "exception")


def error(facts: SpanFacts) -> Iterator[Candidate]:
    """Status ERROR description → first exception event → (honeyhive_error, in the honeyhive convention)."""
    span = facts.span
    if span.status_code == STATUS_ERROR and span.status_message:
        yield Candidate("error", span.status_message, 10, "status.description")
    if span.status_code != STATUS_OK:
        for event in span.events:
            if event.name == "exception":
                yield Candidate("error", _exception_text(event.attributes), 20, "event:exception",
                                keep_if_shadowed=False)
                break
    if span.status_code == STATUS_ERROR:
        yield Candidate("error", "error", 90, "status.code", keep_if_shadowed=False)


CONVENTION = Convention(
    name="span_events",
    description="span events and status",
    rules=(
        Extract("messages", message_events, "GenAI message events → chat_history / outputs",
                ("inputs.chat_history", "outputs", "metadata.events")),
        Extract("error", error, "status description → exception event → honeyhive_error", ("error",)),
    ),
)
