"""Spans written by HoneyHive's own SDK (`@trace`, `enrich_span`): flattened buckets and `honeyhive_*` fields."""

from __future__ import annotations

import json

from tests.mapper.otel import Otel, child_event, error_status


def test_inputs_and_return_value_from_the_trace_decorator() -> None:
    event = child_event(
        {
            "honeyhive_event_type": "tool",
            "honeyhive_inputs.query": "capital of France",
            "honeyhive_inputs.top_k": 3,
            "honeyhive_outputs.result": "Paris",
        }
    )
    assert event["event_type"] == "tool"
    assert event["inputs"] == {"query": "capital of France", "top_k": 3}
    assert event["outputs"] == {"result": "Paris"}
    assert not any(k.startswith("honeyhive_") for k in event["metadata"])


def test_dotted_keys_rebuild_nested_objects_and_indexed_keys_rebuild_lists() -> None:
    event = child_event(
        {
            "honeyhive_event_type": "chain",
            "honeyhive_inputs.request.user.name": "Ada",
            "honeyhive_inputs.request.user.age": 36,
            "honeyhive_inputs.request.tags.0": "a",
            "honeyhive_inputs.request.tags.1": "b",
            "honeyhive_inputs.request.tags.2": "c",
            "honeyhive_outputs.result.items.0.id": 1,
            "honeyhive_outputs.result.items.1.id": 2,
        }
    )
    assert event["inputs"] == {"request": {"user": {"name": "Ada", "age": 36}, "tags": ["a", "b", "c"]}}
    assert event["outputs"] == {"result": {"items": [{"id": 1}, {"id": 2}]}}


def test_indexed_list_keys_are_ordered_numerically() -> None:
    attrs: dict[str, object] = {"honeyhive_event_type": "tool"}
    for i in range(12):
        attrs[f"honeyhive_inputs.values.{i}"] = i
    assert child_event(attrs)["inputs"] == {"values": list(range(12))}


def test_json_string_values_are_parsed() -> None:
    event = child_event(
        {
            "honeyhive_event_type": "tool",
            "honeyhive_inputs.payload": json.dumps({"a": [1, 2], "b": {"c": True}}),
            "honeyhive_outputs.result": json.dumps([{"x": 1}]),
            "honeyhive_inputs.note": "{not json",
        }
    )
    assert event["inputs"] == {"payload": {"a": [1, 2], "b": {"c": True}}, "note": "{not json"}
    assert event["outputs"] == {"result": [{"x": 1}]}


def test_every_bucket_is_routed() -> None:
    event = child_event(
        {
            "honeyhive_event_type": "model",
            "honeyhive_config.model": "gpt-4o",
            "honeyhive_config.temperature": 0.1,
            "honeyhive_metadata.experiment": "exp-1",
            "honeyhive_metrics.latency_score": 0.8,
            "honeyhive_feedback.rating": 5,
            "honeyhive_user_properties.tier": "pro",
        }
    )
    assert event["event_type"] == "model"
    assert event["config"] == {"model": "gpt-4o", "temperature": 0.1}
    assert event["metadata"]["experiment"] == "exp-1"
    assert event["metrics"] == {"latency_score": 0.8}
    assert event["feedback"] == {"rating": 5}
    assert event["user_properties"] == {"tier": "pro"}


def test_a_whole_bucket_sent_as_one_json_attribute() -> None:
    event = child_event({"honeyhive_event_type": "tool", "honeyhive_metrics": json.dumps({"accuracy": 1.0})})
    assert event["metrics"] == {"accuracy": 1.0}


def test_honeyhive_buckets_win_over_other_conventions_and_the_loser_is_kept() -> None:
    event = child_event(
        {
            "honeyhive_event_type": "model",
            "honeyhive_config.model": "explicit-model",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.request.temperature": 0.3,
            "honeyhive_metadata.prompt_tokens": 50,
            "gen_ai.usage.input_tokens": 40,
        }
    )
    assert event["config"]["model"] == "explicit-model"
    assert event["config"]["hyperparameters"] == {"temperature": 0.3}
    assert event["metadata"]["gen_ai.request.model"] == "gpt-4o"
    assert event["metadata"]["prompt_tokens"] == 50
    assert event["metadata"]["gen_ai.usage.input_tokens"] == 40


def test_honeyhive_chat_history_wins_over_instrumentation_messages() -> None:
    explicit = [{"role": "user", "content": "explicit"}]
    event = child_event(
        {
            "honeyhive_event_type": "model",
            "honeyhive_inputs.chat_history": json.dumps(explicit),
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "instrumented",
        }
    )
    assert event["inputs"]["chat_history"] == explicit
    assert event["metadata"]["gen_ai.prompt.*"] == [{"role": "user", "content": "instrumented"}]


def test_honeyhive_buckets_merge_with_what_other_conventions_found() -> None:
    event = child_event(
        {
            "honeyhive_event_type": "chain",
            "honeyhive_inputs.extra": "yes",
            "traceloop.entity.input": json.dumps({"args": [1]}),
            "honeyhive_user_properties.tier": "pro",
            "user.id": "alice",
        }
    )
    # "merge into what other conventions found": the entity input is the base, HoneyHive's keys go into it.
    assert event["inputs"] == {"args": [1], "extra": "yes"}
    assert "traceloop.entity.input" not in event["metadata"]
    assert event["user_properties"] == {"tier": "pro", "user_id": "alice"}


def test_honeyhive_bucket_leaf_wins_over_the_same_leaf_from_another_convention() -> None:
    event = child_event(
        {
            "honeyhive_event_type": "chain",
            "honeyhive_inputs.question": "explicit",
            "traceloop.entity.input": json.dumps({"question": "instrumented", "k": 3}),
        }
    )
    assert event["inputs"] == {"question": "explicit", "k": 3}
    assert event["metadata"]["traceloop.entity.input"] == {"question": "instrumented", "k": 3}


def test_explicit_hyperparameters_win_leaf_by_leaf_over_instrumentation() -> None:
    event = child_event(
        {
            "honeyhive_event_type": "model",
            "honeyhive_config.hyperparameters.temperature": 0.9,
            "gen_ai.request.temperature": 0.5,
            "gen_ai.request.top_p": 1.0,
        }
    )
    assert event["config"] == {"hyperparameters": {"temperature": 0.9, "top_p": 1.0}}
    assert event["metadata"]["gen_ai.request.*"] == {"temperature": 0.5, "top_p": 1.0}


def test_event_name_and_user_id() -> None:
    event = child_event(
        {"honeyhive_event_type": "tool", "honeyhive_event_name": "retrieve", "honeyhive_user_id": "u-9"},
        name="span-name",
    )
    assert event["event_name"] == "retrieve"
    assert event["user_properties"] == {"user_id": "u-9"}


def test_honeyhive_user_id_wins_over_otel_user_id() -> None:
    event = child_event({"honeyhive_user_id": "hh", "user.id": "otel"})
    assert event["user_properties"]["user_id"] == "hh"
    assert event["metadata"]["user.id"] == "otel"


def test_session_name_names_the_session(otel: Otel) -> None:
    with otel.span("root", {"honeyhive_session_name": "Checkout flow"}, root=True), otel.span("child"):
        pass
    events = otel.by_name()
    assert "Checkout flow" in events
    session = events["Checkout flow"]
    assert session["event_type"] == "session"
    assert "honeyhive_session_name" not in session["metadata"]


def test_session_name_wins_over_event_name_on_the_session(otel: Otel) -> None:
    attrs = {"honeyhive_session_name": "Session", "honeyhive_event_name": "Event"}
    with otel.span("root", attrs, root=True):
        pass
    (event,) = otel.events()
    assert event["event_name"] == "Session"


def test_session_name_on_an_ordinary_event_is_kept_in_metadata() -> None:
    event = child_event({"honeyhive_session_name": "not a session"})
    assert event["event_name"] == "step"
    assert event["metadata"]["honeyhive_session_name"] == "not a session"


def test_honeyhive_error_is_the_error_when_nothing_better_is_known() -> None:
    event = child_event({"honeyhive_error": "ValueError: bad input"})
    assert event["error"] == "ValueError: bad input"


def test_status_description_wins_over_honeyhive_error_which_is_kept() -> None:
    event = child_event({"honeyhive_error": "from sdk"}, status=error_status("from status"))
    assert event["error"] == "from status"
    assert event["metadata"]["honeyhive_error"] == "from sdk"


def test_project_source_and_duration() -> None:
    event = child_event(
        {"honeyhive.project": "proj-a", "honeyhive.source": "prod", "honeyhive_duration_ms": "12.5"}
    )
    assert event["project"] == "proj-a"
    assert event["source"] == "prod"
    assert event["duration"] == 12.5


def test_configured_project_and_source_apply_when_the_span_says_nothing(otel: Otel) -> None:
    with otel.span("root", root=True):
        pass
    (event,) = otel.events(project="my-project", source="staging")
    assert event["project"] == "my-project"
    assert event["source"] == "staging"


def test_span_project_overrides_the_configured_one(otel: Otel) -> None:
    with otel.span("root", {"honeyhive.project": "from-span"}, root=True):
        pass
    (event,) = otel.events(project="configured")
    assert event["project"] == "from-span"
