"""User extension: rules and conventions added with `Ruleset.default().extend(...)`."""

from __future__ import annotations

from collections.abc import Iterator

from otel_honeyhive import spans_to_events
from otel_honeyhive.mapper import Candidate, Convention, Extract, Field, Group, Ruleset, SpanFacts, TypeRule, by_value
from otel_honeyhive.mapper.values import flat_dict
from tests.mapper.otel import Event, Otel


def _child(attrs: dict[str, object], ruleset: Ruleset | None) -> Event:
    otel = Otel()
    with otel.span("root", root=True), otel.span("step", attrs):
        pass
    return {e["event_name"]: e for e in spans_to_events(otel.spans(), ruleset=ruleset)}["step"]


def test_a_user_field_with_a_better_rank_wins_and_the_builtin_value_is_kept() -> None:
    ruleset = Ruleset.default().extend(Field("my.model", "config.model", rank=0))
    attrs = {"my.model": "house-model", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 1}
    event = _child(attrs, ruleset)
    assert event["config"]["model"] == "house-model"
    assert event["metadata"]["gen_ai.request.model"] == "gpt-4o"
    assert "my.model" not in event["metadata"]


def test_without_the_extension_the_user_key_is_just_metadata() -> None:
    event = _child({"my.model": "house-model", "gen_ai.request.model": "gpt-4o"}, None)
    assert event["config"]["model"] == "gpt-4o"
    assert event["metadata"]["my.model"] == "house-model"


def test_extend_returns_a_new_ruleset_and_leaves_the_default_alone() -> None:
    base = Ruleset.default()
    extended = base.extend(Field("my.model", "config.model", rank=0))
    assert len(extended.conventions) == len(base.conventions) + 1
    event = _child({"my.model": "house-model"}, base)
    assert "model" not in event["config"]


def test_a_user_convention_with_a_type_rule_and_routing() -> None:
    convention = Convention(
        name="acme",
        rules=(
            Field("acme.prompt", "inputs.prompt"),
            Field("acme.answer", "outputs.answer"),
            Group("acme.params.", "config.hyperparameters", flat_dict, rank=0, merge=True),
        ),
        type_rules=(by_value("acme.kind", {"generate": "model", "lookup": "tool"}, rank=5),),
    )
    ruleset = Ruleset.default().extend(convention)
    event = _child(
        {
            "acme.kind": "generate",
            "acme.prompt": "hi",
            "acme.answer": "hello",
            "acme.params.temperature": 0.4,
            "gen_ai.operation.name": "execute_tool",  # a built-in rule with a worse rank
        },
        ruleset,
    )
    assert event["event_type"] == "model"
    assert event["inputs"] == {"prompt": "hi"}
    assert event["outputs"] == {"answer": "hello"}
    assert event["config"]["hyperparameters"] == {"temperature": 0.4}
    assert event["metadata"]["acme.kind"] == "generate"


def test_a_user_type_rule_added_loose() -> None:
    rule = TypeRule(1, lambda attrs: "chain" if attrs.get("acme.pipeline") else None, "acme pipelines are chains")
    event = _child({"acme.pipeline": True, "gen_ai.operation.name": "chat"}, Ruleset.default().extend(rule))
    assert event["event_type"] == "chain"


def test_a_user_extract_can_derive_fields_from_the_whole_span() -> None:
    def span_name_as_feature(facts: SpanFacts) -> Iterator[Candidate]:
        yield Candidate("metrics.name_length", len(facts.span.name), 50, "extract:name_length")

    ruleset = Ruleset.default().extend(Extract("name_length", span_name_as_feature))
    event = _child({}, ruleset)
    assert event["metrics"] == {"name_length": len("step")}


def test_a_user_rule_with_a_worse_rank_loses_and_is_kept() -> None:
    ruleset = Ruleset.default().extend(Field("my.model", "config.model", rank=99))
    event = _child({"my.model": "house-model", "gen_ai.request.model": "gpt-4o"}, ruleset)
    assert event["config"]["model"] == "gpt-4o"
    assert event["metadata"]["my.model"] == "house-model"
