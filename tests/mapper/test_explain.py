"""`explain`: why each attribute of a span landed where it did, in agreement with the mapping itself."""

from __future__ import annotations

import json
import uuid
from typing import Any

from otel_honeyhive import events_to_spans, explain, spans_to_events
from otel_honeyhive.mapper.explain import CARRIED, Decision, SpanExplanation
from tests.mapper.otel import Otel


def _chat(otel: Otel, attributes: dict[str, Any]) -> SpanExplanation:
    with otel.span("answer", root=True), otel.span("chat", attributes):
        pass
    explanations = {e.span_name: e for e in explain(otel.spans())}
    return explanations["chat"]


def _by_key(explanation: SpanExplanation) -> dict[str, Decision]:
    return {d.key: d for d in explanation.decisions}


def test_the_events_are_the_mapping_s_own(otel: Otel) -> None:
    with otel.span("answer", root=True), otel.span("chat", {"gen_ai.request.model": "gpt-4o",
                                                            "gen_ai.usage.input_tokens": 3}):
        pass
    assert [e.event for e in explain(otel.spans())] == spans_to_events(otel.spans())


def test_winner_loser_and_fall_through_are_named(otel: Otel) -> None:
    explanation = _chat(otel, {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                               "gen_ai.usage.total_tokens": 8, "llm.usage.total_tokens": 9, "app.tenant": "acme"})
    decisions = _by_key(explanation)
    assert decisions["gen_ai.request.model"].outcome == "won"
    assert decisions["gen_ai.request.model"].target == "config.model"
    assert decisions["gen_ai.request.model"].rule == "`gen_ai.request.model` [genai]"
    assert decisions["gen_ai.usage.total_tokens"].outcome == "won"
    loser = decisions["llm.usage.total_tokens"]
    assert (loser.outcome, loser.kept_as, loser.value) == ("shadowed", "llm.usage.total_tokens", 9)
    assert explanation.event["metadata"]["llm.usage.total_tokens"] == 9
    assert (decisions["app.tenant"].outcome, decisions["app.tenant"].kept_as) == ("metadata", "app.tenant")
    assert explanation.type_reason == "`gen_ai.operation.name`='chat' → model (type rule 30)"


def test_a_loser_equal_to_the_winner_is_not_kept(otel: Otel) -> None:
    decisions = _by_key(_chat(otel, {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 3,
                                     "gen_ai.usage.total_tokens": 9, "llm.usage.total_tokens": 9}))
    assert decisions["llm.usage.total_tokens"].outcome == "same as the winner"


def test_an_enclosing_bucket_of_a_better_rank_keeps_its_value(otel: Otel) -> None:
    """`honeyhive_config.model` (rank 0) gives `config.model`; `gen_ai.request.model` is then kept in metadata."""
    explanation = _chat(otel, {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 3,
                               "honeyhive_config.model": "house-model"})
    decisions = _by_key(explanation)
    assert explanation.event["config"]["model"] == "house-model"
    assert (decisions["gen_ai.request.model"].outcome, decisions["gen_ai.request.model"].kept_as) == (
        "shadowed", "gen_ai.request.model")
    assert decisions["honeyhive_config.model"].outcome == "won"


def test_read_and_refused_values_are_told_apart(otel: Otel) -> None:
    session = str(uuid.uuid4())
    explanation = _chat(otel, {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": "many",
                               "gen_ai.usage.output_tokens": 2, "honeyhive.session_id": session})
    decisions = _by_key(explanation)
    assert decisions["honeyhive.session_id"].outcome == "read"
    refused = decisions["gen_ai.usage.input_tokens"]
    assert (refused.outcome, refused.kept_as) == ("refused", "gen_ai.usage.input_tokens")
    assert explanation.event["metadata"]["gen_ai.usage.input_tokens"] == "many"


def test_every_key_of_a_group_is_listed_with_the_field_it_built(otel: Otel) -> None:
    decisions = _by_key(_chat(otel, {"gen_ai.request.model": "gpt-4o", "gen_ai.prompt.0.role": "user",
                                     "gen_ai.prompt.0.content": "hi"}))
    for key in ("gen_ai.prompt.0.role", "gen_ai.prompt.0.content"):
        assert (decisions[key].outcome, decisions[key].target) == ("won", "inputs.chat_history")


def test_each_decision_agrees_with_the_event(otel: Otel) -> None:
    """Whatever the attributes: a winner's value is at its target, a shadowed or fallen-through value is in
    metadata under the key named."""
    messages = [{"role": "user", "parts": [{"type": "text", "content": "2+2?"}]}]
    explanation = _chat(otel, {
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "llm.request.model_name": "gpt-x",
        "gen_ai.input.messages": json.dumps(messages), "gen_ai.prompt.0.content": "older copy",
        "gen_ai.usage.input_tokens": 4, "gen_ai.usage.prompt_tokens": 5, "gen_ai.request.temperature": 0.2,
        "honeyhive_config.temperature": 0.7, "user.id": "u1", "gen_ai.user": "u2", "other": [1, 2]})
    event = explanation.event
    for d in explanation.decisions:
        if d.outcome in ("shadowed", "metadata", "refused"):
            assert d.kept_as in event["metadata"], d
        if d.outcome == "won" and d.target and d.target.count(".") == 1 and d.key == d.rule.split("`")[1]:
            bucket, leaf = d.target.split(".")
            assert event[bucket][leaf] is not None, d


def test_spans_that_carry_honeyhive_events_are_explained_as_given_back_whole(otel: Otel) -> None:
    """A file `convert` made from events holds spans carrying those events (`events_to_spans`); the mapping gives
    each event back as it was, and explain says so for each, rather than finding no span to explain."""
    with otel.span("answer", root=True), otel.span("chat", {"gen_ai.request.model": "gpt-4o"}):
        pass
    events = spans_to_events(otel.spans())
    carried = events_to_spans(events)
    explained = explain(carried)
    assert [e.event for e in explained] == spans_to_events(carried) == events
    assert [(e.span_name, e.type_reason, e.decisions) for e in explained] == [
        ("answer", CARRIED, ()), ("chat", CARRIED, ())]
    assert CARRIED.startswith("a HoneyHive event carried as a span")
