"""GenAI log records joined to their span: what each record kind contributes, as tables of rules
(docs/mapping.md#genai-content-in-log-records).

A record is turned into what the mapper already understands, so its content lands where the same content on a
span would land: a per-message record becomes a span event (mapped by conventions/span_events.py into
`inputs.chat_history` / `outputs`), a `gen_ai.client.inference.operation.details` record gives the span the
attributes it lacks (the span's own win), and a `gen_ai.evaluation.result` record fills `metrics` / `feedback`
by `EVALUATION_RULES`. Pure: no state, no I/O; the pipeline decides when a record joins (pipeline/joining.py).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.jsonable import jsonable
from otel_honeyhive.core.log_records import EVENT_NAME_ATTRIBUTE, LogRecordView
from otel_honeyhive.core.spans import SpanEventView, SpanView
from otel_honeyhive.mapper.ruleset import Ruleset
from otel_honeyhive.mapper.values import to_number


class RecordKind(enum.Enum):
    INPUT_MESSAGE = "input message"
    """Becomes a span event: `inputs.chat_history`."""
    OUTPUT_MESSAGE = "output message"
    """Becomes a span event: `outputs`."""
    DETAILS = "details"
    """Its attributes become the span's where the span has none of that key."""
    EVALUATION = "evaluation"
    """`metrics` (score) and `feedback` (label, explanation) of the span's event."""


CHOICE = "gen_ai.choice"

RECORD_KINDS: Mapping[str, RecordKind] = {
    "gen_ai.system.message": RecordKind.INPUT_MESSAGE,
    "gen_ai.user.message": RecordKind.INPUT_MESSAGE,
    "gen_ai.assistant.message": RecordKind.INPUT_MESSAGE,
    "gen_ai.tool.message": RecordKind.INPUT_MESSAGE,
    CHOICE: RecordKind.OUTPUT_MESSAGE,
    "gen_ai.client.inference.operation.details": RecordKind.DETAILS,
    "gen_ai.evaluation.result": RecordKind.EVALUATION,
}
"""The GenAI record kinds, by event name (`event_name`, else the `event.name` attribute). Any other record is an
ordinary log: counted, never turned into an event."""

INPUT_CONTENT_KEYS = (
    "gen_ai.input.messages", "gen_ai.system_instructions", "gen_ai.prompt", "llm.input_messages", "honeyhive_inputs",
)
"""A span carrying any of these (or keys under them) already has its input messages: a record's input messages
(per-message input records, a details record's `DETAILS_INPUT_KEYS`) are not added to it, so that nothing is
duplicated or mixed in `SPAN_AND_EVENT` modes."""
OUTPUT_CONTENT_KEYS = ("gen_ai.output.messages", "gen_ai.completion", "llm.output_messages", "honeyhive_outputs")
"""The same for output messages (`gen_ai.choice` records, a details record's `DETAILS_OUTPUT_KEYS`)."""
DETAILS_INPUT_KEYS = frozenset({"gen_ai.input.messages", "gen_ai.system_instructions"})
DETAILS_OUTPUT_KEYS = frozenset({"gen_ai.output.messages"})

EVALUATION_NAME = "gen_ai.evaluation.name"
EVALUATION_RULES: Sequence[tuple[str, str, str | None]] = (
    ("gen_ai.evaluation.score.value", "metrics", None),
    ("gen_ai.evaluation.score.label", "feedback", "label"),
    ("gen_ai.evaluation.explanation", "feedback", "explanation"),
)
"""(record attribute, event bucket, key under the evaluation's name): the score is `metrics[<name>]`, the label
and explanation `feedback[<name>] = {label, explanation}`. A record without a name is named `evaluation`; a
score that is not a number (nor numeric text, nor a boolean) is `feedback[<name>].score`."""

UPDATE_BUCKETS = ("outputs", "metrics", "feedback", "metadata")
"""What an update of an event already shipped can carry (HoneyHive's `PUT /events` takes no `inputs`: late input
messages travel in `metadata.log_record_inputs`)."""


def kind_of(record: LogRecordView) -> RecordKind | None:
    return RECORD_KINDS.get(record.event_name) if record.event_name else None


def _key_test(keys: Sequence[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    """`keys` as `_has_key` asks them: the keys themselves, and the prefixes of keys under them."""
    return frozenset(keys), tuple(key + "." for key in keys)


_INPUT_KEY_TEST = _key_test(INPUT_CONTENT_KEYS)
_OUTPUT_KEY_TEST = _key_test(OUTPUT_CONTENT_KEYS)


def _has_key(attributes: Mapping[str, Any], test: tuple[frozenset[str], tuple[str, ...]]) -> bool:
    """Whether any attribute is one of the keys or under one: a set lookup and one `startswith` per attribute
    (this runs twice for every span a record joins)."""
    exact, under = test
    if not exact.isdisjoint(attributes):
        return True
    for key in attributes:  # noqa: SIM110 - a plain loop: any() over a generator costs a frame switch per key
        if key.startswith(under):
            return True
    return False


def _body_attributes(record: LogRecordView) -> dict[str, Any]:
    """A per-message record's content map (its body) as the attributes of the span event it becomes."""
    body = record.body
    attributes: dict[str, Any] = dict(body) if isinstance(body, Mapping) else {}
    if body is not None and not isinstance(body, Mapping):
        # Text where a map belongs: a message's content (a choice's is under `message`, where it is looked for).
        attributes["message" if record.event_name == CHOICE else "content"] = (
            {"content": body} if record.event_name == CHOICE else body)
    for key, value in record.attributes.items():  # e.g. `gen_ai.system`; the body's keys win
        if key != EVENT_NAME_ATTRIBUTE:
            attributes.setdefault(key, value)
    return attributes


EVALUATIONS_KEY = "otel_honeyhive.log_record_evaluations"
"""Where a joined span carries its evaluation records' fields (in `SpanView.extra`) until its event is mapped:
on the span itself, not in a side table, so they travel with it to wherever it is mapped."""


def join(span: SpanView, records: Iterable[LogRecordView]) -> SpanView:
    """`span` with its GenAI records joined: message records as span events, details as the attributes it lacks,
    evaluations (by `EVALUATION_RULES`) in its `extra` for `apply_evaluations`."""
    records = list(records)
    attributes: dict[str, Any] | None = None
    events: list[SpanEventView] = []
    evaluations = evaluation_fields(records)
    has_inputs = _has_key(span.attributes, _INPUT_KEY_TEST)
    has_outputs = _has_key(span.attributes, _OUTPUT_KEY_TEST)
    for record in sorted(records, key=lambda r: r.time_ns):
        kind = kind_of(record)
        name = record.event_name or ""
        if (kind is RecordKind.INPUT_MESSAGE and not has_inputs) or (
                kind is RecordKind.OUTPUT_MESSAGE and not has_outputs):
            events.append(SpanEventView(name, record.time_ns, _body_attributes(record)))
        elif kind is RecordKind.DETAILS:
            if attributes is None:
                attributes = dict(span.attributes)
            for key, value in record.attributes.items():
                if key == EVENT_NAME_ATTRIBUTE or key in span.attributes:
                    continue
                if (has_inputs and key in DETAILS_INPUT_KEYS) or (has_outputs and key in DETAILS_OUTPUT_KEYS):
                    continue
                attributes.setdefault(key, value)
    if attributes is None and not events and not evaluations:
        return span
    extra = span.extra
    if evaluations:
        earlier = extra.get(EVALUATIONS_KEY)
        if isinstance(earlier, dict):  # a span joined twice: what it already had wins
            merged = {bucket: dict(values) for bucket, values in evaluations.items()}
            for bucket, values in earlier.items():
                merged.setdefault(bucket, {}).update(values)
            evaluations = merged
        extra = {**extra, EVALUATIONS_KEY: evaluations}
    return SpanView(
        trace_id=span.trace_id, span_id=span.span_id, name=span.name, start_ns=span.start_ns, end_ns=span.end_ns,
        parent_span_id=span.parent_span_id, parent_is_remote=span.parent_is_remote, kind=span.kind,
        status_code=span.status_code, status_message=span.status_message,
        attributes=span.attributes if attributes is None else attributes,
        events=(*span.events, *events) if events else span.events,
        links=span.links, resource=span.resource, scope_name=span.scope_name, scope_version=span.scope_version,
        dropped_attributes=span.dropped_attributes, dropped_events=span.dropped_events,
        dropped_links=span.dropped_links, extra=extra,
    )


def evaluation_fields(records: Iterable[LogRecordView]) -> dict[str, dict[str, Any]]:
    """`{"metrics": {...}, "feedback": {...}}` from the evaluation records among `records` (empty buckets left
    out), by `EVALUATION_RULES`."""
    fields: dict[str, dict[str, Any]] = {}
    for record in records:
        if kind_of(record) is not RecordKind.EVALUATION:
            continue
        attrs = record.attributes
        name = attrs.get(EVALUATION_NAME)
        name = name if isinstance(name, str) and name else "evaluation"
        for attribute, bucket, key in EVALUATION_RULES:
            if attribute not in attrs:
                continue
            value = jsonable(attrs[attribute])
            if key is None and not isinstance(value, bool):
                try:
                    value = to_number(value)
                except ValueError:  # not a score (the conventions say a double): the evaluation's feedback
                    bucket, key = "feedback", "score"
            target = fields.setdefault(bucket, {})
            if key is None:
                target[name] = value
            else:
                entry = target.get(name)
                if not isinstance(entry, dict):
                    entry = target[name] = {}
                entry[key] = value
    return fields


def apply_evaluations(event: Event, span: SpanView) -> None:
    """Fill the event's `metrics` / `feedback` from the evaluation records joined to `span`; what the span itself
    gave wins."""
    fields = span.extra.get(EVALUATIONS_KEY) if span.extra else None
    if not isinstance(fields, dict):
        return
    for bucket, values in fields.items():
        current = event.get(bucket)
        if not isinstance(current, dict):
            current = event[bucket] = {}
        for key, value in values.items():
            current.setdefault(key, value)


def late_update_fields(
    ruleset: Ruleset, span: SpanView, event_type: str, records: Sequence[LogRecordView], *, had_outputs: bool,
    had_chat_history: bool, own_metrics: Sequence[str] = (), own_feedback: Sequence[str] = (),
) -> dict[str, Any]:
    """What an update of an event already shipped carries for the records that came after it — all of them, each
    time, since an update replaces `outputs` and merges the other buckets one level deep: the records mapped as
    they would have been joined (on a span with the event's ids and none of its attributes), reduced to
    `UPDATE_BUCKETS` and to what the shipped event lacked (its own outputs, and its own metrics and feedback of
    the same name, win)."""
    joined = join(span, records)
    event: Event = {bucket: {} for bucket in ("config", "inputs", "outputs", "metadata", "metrics", "feedback",
                                              "user_properties")}
    ruleset.route(joined, event_type, event)
    apply_evaluations(event, joined)
    fields: dict[str, Any] = {}
    outputs = event.get("outputs")
    if outputs and not had_outputs:
        fields["outputs"] = outputs
    for bucket, own in (("metrics", own_metrics), ("feedback", own_feedback)):
        values = event.get(bucket)
        if isinstance(values, dict) and own:
            values = {key: value for key, value in values.items() if key not in own}
        if values:
            fields[bucket] = values
    metadata = dict(event.get("metadata") or {})
    inputs = event.get("inputs")
    if isinstance(inputs, dict) and inputs.get("chat_history") and not had_chat_history:
        metadata["log_record_inputs"] = {"chat_history": inputs["chat_history"]}
    if metadata:
        fields["metadata"] = metadata
    return fields


def record_summary(record: LogRecordView) -> dict[str, Any]:
    """A record kept as metadata (its span never came): what it said, JSON-ready."""
    summary: dict[str, Any] = {"event_name": record.event_name, "time_ms": record.time_ns // 1_000_000}
    if record.span_id:
        summary["span_id"] = f"{record.span_id:016x}"
    if record.body is not None:
        summary["body"] = jsonable(record.body)
    attributes = {k: jsonable(v) for k, v in record.attributes.items() if k != EVENT_NAME_ATTRIBUTE}
    if attributes:
        summary["attributes"] = attributes
    return summary


__all__ = [
    "DETAILS_INPUT_KEYS", "DETAILS_OUTPUT_KEYS", "EVALUATIONS_KEY", "EVALUATION_RULES", "INPUT_CONTENT_KEYS",
    "OUTPUT_CONTENT_KEYS", "RECORD_KINDS", "UPDATE_BUCKETS", "RecordKind", "apply_evaluations", "evaluation_fields",
    "join", "kind_of", "late_update_fields", "record_summary",
]
