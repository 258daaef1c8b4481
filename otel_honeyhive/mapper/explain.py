"""Why each attribute landed where it did: the mapping of a set of spans, with every routing decision named
(docs/mapping.md#explaining-a-mapping).

The events are the ones `spans_to_events` makes, so the explanation always agrees with what the exporter ships
(before delivery-time changes such as truncation). The decisions come from the ruleset's general routing loop,
which every planned route is equivalent to, run again with a trail; the winners are worked out as
`resolve.apply_candidates` does: within a target the lowest rank wins, merge rules are deep-merged, and a loser
that differs is kept in `metadata` under its source key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_honeyhive.core.events import DEFAULT_SOURCE, Event
from otel_honeyhive.core.jsonable import jsonable
from otel_honeyhive.core.spans import SpanView, as_span_view
from otel_honeyhive.mapper.conversations import conversation_source
from otel_honeyhive.mapper.doc import source_label
from otel_honeyhive.mapper.filtering import SpanFilter
from otel_honeyhive.mapper.identity import (
    normalise_uuid,
    session_id_for_conversation,
    session_id_for_trace,
    span_hex,
)
from otel_honeyhive.mapper.markers import ORIGIN_KEY
from otel_honeyhive.mapper.rules import Candidate, Combine, Extract, Field, Group
from otel_honeyhive.mapper.ruleset import CONSUMED, PROPOSED, REFUSED, Ruleset, Step
from otel_honeyhive.mapper.trace import SESSION_KEYS, TraceMapper, group_by_trace

WON, MERGED, SHADOWED, SAME, TO_METADATA, READ, REFUSED_TO_METADATA = (
    "won", "merged", "shadowed", "same as the winner", "metadata", "read", "refused",
)


@dataclass(frozen=True)
class Decision:
    """What became of one attribute (or one extract's proposal) of a span."""

    key: str
    """The attribute key, or what an extract read (its source)."""
    outcome: str
    """`won` (the value is the target's), `merged` (deep-merged into the target), `shadowed` (lost; kept in
    `metadata[kept_as]`), `same as the winner` (lost with the winner's value: nothing to keep), `metadata` (no rule
    took it: kept under its own key), `read` (taken by identity or an extract, not copied), `refused` (a converter
    refused the value; it is kept in metadata unless another rule took it)."""
    target: str | None = None
    """The event field the rule proposed (dotted)."""
    rule: str = ""
    """The rule, as the README's routing table names it, with its convention."""
    rank: int | None = None
    value: Any = None
    """The value proposed (or the attribute's value, for `metadata`)."""
    kept_as: str | None = None
    """For `shadowed`: the metadata key the losing value is kept under."""

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and v != ""}


CARRIED = (f"a HoneyHive event carried as a span ({ORIGIN_KEY} = event, made by events_to_spans): given back as "
           "it was, no rule applies")
"""The type reason of such a span: its event is the one it carries, whole."""


@dataclass(frozen=True)
class SpanExplanation:
    """One span: the event it became, why it has that type, and every decision about its attributes."""

    span_name: str
    span_id: str
    event: Event
    type_reason: str
    decisions: tuple[Decision, ...]
    session_reason: str = ""
    """How the span's trace got its session (the trace rule, an explicit session, a conversation id)."""

    def as_dict(self) -> dict[str, Any]:
        return {"span_name": self.span_name, "span_id": self.span_id, "event_type": self.event.get("event_type"),
                "type_reason": self.type_reason, "session_reason": self.session_reason,
                "decisions": [d.as_dict() for d in self.decisions], "event": self.event}


def explain(
    spans: Iterable[ReadableSpan | SpanView],
    *,
    project: str | None = None,
    source: str = DEFAULT_SOURCE,
    ruleset: Ruleset | None = None,
    sessions: str = "trace",
    span_filter: SpanFilter | None = None,
) -> list[SpanExplanation]:
    """The mapping of `spans` (as `spans_to_events` does it, with the same `sessions` mode and `span_filter`),
    explained span by span, in the events' order; a span the filter drops has no event, so no explanation."""
    ruleset = ruleset or Ruleset.default()
    mapper = TraceMapper(ruleset, project=project, source=source, sessions=sessions, span_filter=span_filter)
    views = [as_span_view(s) for s in spans]
    by_id = {span_hex(v.span_id): v for v in views}
    owners = _owners(ruleset)
    out: list[SpanExplanation] = []
    for trace in group_by_trace(views):
        has_children = {s.parent_span_id for s in trace}
        events = mapper.map_trace(trace)
        session_reason = _session_reason(trace, events, sessions)
        carried = {s.attributes.get("honeyhive_event_id"): s for s in trace
                   if s.attributes.get(ORIGIN_KEY) == "event"}
        for event in events:
            origin = carried.get(event.get("event_id"))
            if origin is not None:  # given back whole, no rule looked at it: nothing to explain but that
                out.append(SpanExplanation(origin.name, span_hex(origin.span_id), event, CARRIED, (), session_reason))
                continue
            metadata = event.get("metadata")
            hex_id = metadata.get("span_id") if isinstance(metadata, dict) else None
            span = by_id.get(hex_id) if isinstance(hex_id, str) else None
            if span is None:
                continue
            event_type = str(event.get("event_type"))
            trail: list[Step] = []
            ruleset.route_generally(span, event_type, _blank(event), trail)
            out.append(SpanExplanation(
                span.name, hex_id if isinstance(hex_id, str) else "", event,
                _type_reason(ruleset, span, event_type, span.span_id in has_children),
                tuple(_decisions(trail, owners, span.attributes, event)), session_reason,
            ))
    return out


def _session_reason(trace: list[SpanView], events: list[Event], sessions: str) -> str:
    """Which rule gave the trace its session (docs/identity-and-assembly.md), and, when the trace rule did
    although the trace names a conversation, what `sessions="conversation"` would do."""
    session_id = next((e.get("session_id") for e in events if isinstance(e.get("session_id"), str)), None)
    if session_id is None:
        return ""
    found = conversation_source(trace)
    if session_id == session_id_for_trace(trace[0].trace_id):
        reason = f"the trace's root span → session {session_id}"
        if found is not None:
            conversation, key, span = found
            reason += (f"; it names conversation {conversation!r} (`{key}` on span {span.name!r}): with sessions "
                       "mode conversation its turns would share one session")
        return reason
    explicit = any(normalise_uuid(str(span.attributes.get(key))) == session_id
                   for span in trace for key in SESSION_KEYS if key in span.attributes)
    if not explicit and found is not None and sessions == "conversation" and (
            session_id == session_id_for_conversation(found[0])):
        conversation, key, span = found
        return (f"conversation {conversation!r} (`{key}` on span {span.name!r}) → session {session_id}; the "
                "root span is a turn under it")
    return f"an explicit `honeyhive.session_id` → session {session_id}; the root span is an event under it"


def _blank(event: Event) -> Event:
    """A fresh event of the same shape to route into (the real one is already filled)."""
    return {key: ({} if isinstance(value, dict) else value) for key, value in event.items()}


def _owners(ruleset: Ruleset) -> dict[int, str]:
    return {id(rule): convention.name for convention in ruleset.conventions for rule in convention.rules}


def _type_reason(ruleset: Ruleset, span: SpanView, event_type: str, has_children: bool) -> str:
    if event_type == "session":
        return "the trace's root span (no explicit session) → session"
    attrs = span.attributes
    for rule in ruleset.type_rules:
        decided = rule.decide(attrs)
        if decided is not None:
            shown = ", ".join(f"`{k}`={attrs[k]!r}" for k in rule.keys or () if k in attrs)
            why = f"{shown or rule.description} → {decided} (type rule {rule.rank})"
            return why if decided == event_type else f"{why}; the trace mapper made it {event_type}"
    fallback = "chain" if has_children else "tool"
    if fallback != event_type:
        return f"set by the trace mapper ({event_type})"
    return "no rule matched: chain when the span has children, else tool"


def _label(rule: Field | Group | Combine | Extract | None, owners: Mapping[int, str]) -> str:
    if rule is None:
        return ""
    owner = owners.get(id(rule))
    return f"{source_label(rule)} [{owner}]" if owner else source_label(rule)


def _at(event: Event, dotted: str) -> Any:
    value: Any = event
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


_MISSING = object()


def _holds(actual: Any, proposed: Any) -> bool:
    """The event holds the proposed value (a dict may have gained fields from narrower targets since)."""
    if isinstance(actual, dict) and isinstance(proposed, dict):
        return all(k in actual and _holds(actual[k], v) for k, v in proposed.items())
    return bool(actual == proposed)


def _decisions(
    trail: list[Step], owners: Mapping[int, str], attrs: Mapping[str, Any], event: Event
) -> list[Decision]:
    proposed: dict[int, Candidate] = {}  # a group's or combine's one candidate stands for several keys
    for step in trail:
        if step.what == PROPOSED and step.candidate is not None:
            proposed.setdefault(id(step.candidate), step.candidate)
    by_target: dict[str, list[Candidate]] = {}
    for candidate in proposed.values():
        by_target.setdefault(candidate.target, []).append(candidate)
    outcome: dict[int, tuple[str, str | None]] = {}
    for group in by_target.values():
        group.sort(key=lambda c: c.rank)  # stable, as apply_candidates sorts
        winner = group[0]
        merging = isinstance(winner.value, dict) and any(c.merge for c in group)
        outcome[id(winner)] = (MERGED if merging and len(group) > 1 else WON, None)
        for loser in group[1:]:
            if merging and isinstance(loser.value, Mapping):
                outcome[id(loser)] = (MERGED, None)
            elif loser.keep_if_shadowed and loser.value != winner.value:
                outcome[id(loser)] = (SHADOWED, loser.source)
            else:
                outcome[id(loser)] = (SAME, None)
    taken = {step.key for step in trail if step.what in (PROPOSED, CONSUMED)}
    decisions: list[Decision] = []
    refused_shown: set[str] = set()
    for step in trail:
        rule = _label(step.rule, owners)
        proposal = step.candidate
        if step.what == PROPOSED and proposal is not None:
            what, kept_as = outcome[id(proposal)]
            if what == WON and not _holds(_at(event, proposal.target), proposal.value):
                # An enclosing field from a better rank kept its value (`honeyhive_config.model` over
                # `gen_ai.request.model`): the proposal was kept in metadata instead.
                what, kept_as = (SHADOWED, proposal.source) if proposal.keep_if_shadowed else (SAME, None)
            decisions.append(Decision(step.key, what, proposal.target, rule, proposal.rank,
                                      jsonable(attrs.get(step.key, proposal.value)), kept_as))
        elif step.what == CONSUMED:
            decisions.append(Decision(step.key, READ, None, rule, value=jsonable(attrs.get(step.key))))
        elif step.what == REFUSED:
            if step.key not in taken:
                refused_shown.add(step.key)
                decisions.append(Decision(step.key, REFUSED_TO_METADATA, None, rule,
                                          value=jsonable(attrs.get(step.key)), kept_as=step.key))
        elif not refused_shown or step.key not in refused_shown:  # a refused value already says where it went
            decisions.append(Decision(step.key, TO_METADATA, None, "", value=jsonable(attrs.get(step.key)),
                                      kept_as=step.key))
    return decisions


__all__ = ["Decision", "SpanExplanation", "explain"]
