"""Event types (conventions.md, "first rule that matches wins"), rule by rule and in order of precedence."""

from __future__ import annotations

import pytest

from tests.mapper.otel import Otel, child_event

# -- the root -------------------------------------------------------------------------------------------------


def test_root_is_always_the_session_whatever_it_says_about_itself(otel: Otel) -> None:
    attrs = {"honeyhive_event_type": "model", "openinference.span.kind": "LLM", "gen_ai.operation.name": "chat"}
    with otel.span("root", attrs, root=True):
        pass
    (event,) = otel.events()
    assert event["event_type"] == "session"


# -- rule 1: honeyhive_event_type -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["model", "tool", "chain"])
def test_honeyhive_event_type_is_taken_as_given(value: str) -> None:
    event = child_event({"honeyhive_event_type": value})
    assert event["event_type"] == value
    assert "honeyhive_event_type" not in event["metadata"]


def test_honeyhive_event_type_beats_every_other_convention() -> None:
    event = child_event(
        {
            "honeyhive_event_type": "tool",
            "openinference.span.kind": "LLM",
            "gen_ai.operation.name": "chat",
            "traceloop.span.kind": "workflow",
        }
    )
    assert event["event_type"] == "tool"


def test_unknown_honeyhive_event_type_falls_through_and_is_kept_in_metadata() -> None:
    event = child_event({"honeyhive_event_type": "agent", "gen_ai.operation.name": "chat"})
    assert event["event_type"] == "model"
    assert event["metadata"]["honeyhive_event_type"] == "agent"


# -- rule 2: openinference.span.kind ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("LLM", "model"),
        ("EMBEDDING", "model"),
        ("TOOL", "tool"),
        ("RETRIEVER", "tool"),
        ("RERANKER", "tool"),
        ("CHAIN", "chain"),
        ("AGENT", "chain"),
        ("GUARDRAIL", "chain"),
        ("EVALUATOR", "chain"),
        ("PROMPT", "chain"),
    ],
)
def test_openinference_span_kind(kind: str, expected: str) -> None:
    assert child_event({"openinference.span.kind": kind})["event_type"] == expected


def test_openinference_kind_beats_genai_operation_name() -> None:
    event = child_event({"openinference.span.kind": "TOOL", "gen_ai.operation.name": "chat"})
    assert event["event_type"] == "tool"


def test_unknown_openinference_kind_falls_through_to_the_next_rule() -> None:
    event = child_event({"openinference.span.kind": "UNKNOWN", "gen_ai.operation.name": "execute_tool"})
    assert event["event_type"] == "tool"
    assert event["metadata"]["openinference.span.kind"] == "UNKNOWN"


# -- rule 3: gen_ai.operation.name ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ("chat", "model"),
        ("text_completion", "model"),
        ("generate_content", "model"),
        ("embeddings", "model"),
        ("completion", "model"),
        ("execute_tool", "tool"),
        ("retrieval", "tool"),
        ("search_memory", "tool"),
        ("vector_db_retrieve", "tool"),
        ("invoke_agent", "chain"),
        ("create_agent", "chain"),
        ("invoke_workflow", "chain"),
        ("plan", "chain"),
        ("execute_task", "chain"),
    ],
)
def test_genai_operation_name(operation: str, expected: str) -> None:
    event = child_event({"gen_ai.operation.name": operation})
    assert event["event_type"] == expected
    assert event["metadata"]["gen_ai.operation.name"] == operation


def test_genai_operation_name_beats_legacy_request_type() -> None:
    event = child_event({"gen_ai.operation.name": "execute_tool", "llm.request.type": "chat"})
    assert event["event_type"] == "tool"


# -- rule 4: llm.request.type -----------------------------------------------------------------------------------


@pytest.mark.parametrize("request_type", ["chat", "completion", "embedding", "rerank"])
def test_legacy_openllmetry_request_type_is_a_model_call(request_type: str) -> None:
    assert child_event({"llm.request.type": request_type})["event_type"] == "model"


def test_llm_request_type_beats_traceloop_span_kind() -> None:
    event = child_event({"llm.request.type": "chat", "traceloop.span.kind": "task"})
    assert event["event_type"] == "model"


# -- rule 5: traceloop.span.kind --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected"), [("tool", "tool"), ("workflow", "chain"), ("task", "chain"), ("agent", "chain")]
)
def test_traceloop_span_kind(kind: str, expected: str) -> None:
    assert child_event({"traceloop.span.kind": kind})["event_type"] == expected


def test_traceloop_span_kind_beats_tool_name_presence() -> None:
    event = child_event({"traceloop.span.kind": "agent", "gen_ai.tool.name": "search"})
    assert event["event_type"] == "chain"


# -- rule 6 and 7: tool and agent attributes ---------------------------------------------------------------------


@pytest.mark.parametrize("key", ["gen_ai.tool.name", "gen_ai.tool.call.id", "tool.name"])
def test_tool_attribute_present_makes_a_tool(key: str) -> None:
    # Even when the span has children (which alone would make it a chain).
    assert child_event({key: "search"}, children=1)["event_type"] == "tool"


@pytest.mark.parametrize("key", ["gen_ai.agent.name", "gen_ai.agent.id", "agent.name"])
def test_agent_attribute_present_makes_a_chain(key: str) -> None:
    # Even as a leaf (which alone would make it a tool).
    assert child_event({key: "planner"})["event_type"] == "chain"


def test_tool_attribute_beats_agent_attribute() -> None:
    assert child_event({"gen_ai.tool.name": "search", "gen_ai.agent.name": "planner"})["event_type"] == "tool"


def test_agent_attribute_beats_model_evidence() -> None:
    attrs = {"gen_ai.agent.name": "planner", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 5}
    event = child_event(attrs)
    assert event["event_type"] == "chain"
    # Classified as a chain, the model and tokens are still routed.
    assert event["config"]["model"] == "gpt-4o"
    assert event["metadata"]["prompt_tokens"] == 5


# -- rule 8: a model name and messages or tokens ------------------------------------------------------------------


@pytest.mark.parametrize(
    "evidence",
    [
        {"gen_ai.usage.input_tokens": 10},
        {"gen_ai.usage.output_tokens": 10},
        {"gen_ai.usage.total_tokens": 10},
        {"llm.token_count.total": 10},
        {"gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "hi"},
        {"gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]'},
        {"gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "hi"}]}]'},
        {"llm.input_messages.0.message.role": "user", "llm.input_messages.0.message.content": "hi"},
        {"gen_ai.completion.0.content": "hi"},
    ],
)
@pytest.mark.parametrize("model_key", ["gen_ai.request.model", "llm.model_name", "llm.request.model_name"])
def test_model_name_with_messages_or_tokens_makes_a_model(model_key: str, evidence: dict[str, object]) -> None:
    event = child_event({model_key: "gpt-4o", **evidence})
    assert event["event_type"] == "model"


@pytest.mark.parametrize("model_key", ["gen_ai.request.model", "llm.model_name"])
def test_model_name_alone_is_not_a_model(model_key: str) -> None:
    assert child_event({model_key: "gpt-4o"})["event_type"] == "tool"
    assert child_event({model_key: "gpt-4o"}, children=1)["event_type"] == "chain"


def test_tokens_alone_are_not_a_model() -> None:
    assert child_event({"gen_ai.usage.input_tokens": 3}, children=1)["event_type"] == "chain"


# -- rule 9: fallback by children ------------------------------------------------------------------------------


def test_fallback_leaf_is_a_tool() -> None:
    assert child_event({"http.request.method": "GET", "url.full": "https://example.com"})["event_type"] == "tool"


def test_fallback_span_with_children_is_a_chain() -> None:
    assert child_event({"code.function": "pipeline"}, children=2)["event_type"] == "chain"


def test_fallback_applies_to_a_root_under_an_explicit_session(otel: Otel) -> None:
    session = "0f8b1a52-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
    with otel.span("leaf-root", {"honeyhive_session_id": session}, root=True):
        pass
    (event,) = otel.events()
    assert event["event_type"] == "tool"


# -- several conventions on one span ---------------------------------------------------------------------------


def test_langchain_via_openllmetry_is_a_chain_with_fields_from_every_convention() -> None:
    event = child_event(
        {
            "traceloop.span.kind": "workflow",
            "traceloop.entity.name": "AgentExecutor",
            "traceloop.entity.input": '{"args": [], "kwargs": {"input": "weather in Paris?"}}',
            "traceloop.entity.output": '{"output": "Sunny"}',
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.provider.name": "langchain",
            "gen_ai.agent.name": "weather-agent",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 8,
            "traceloop.association.properties.user_id": "u-7",
        },
        children=2,
    )
    assert event["event_type"] == "chain"
    assert event["config"] == {"provider": "langchain", "model": "gpt-4o-mini"}
    assert event["inputs"] == {"args": [], "kwargs": {"input": "weather in Paris?"}}
    assert event["outputs"] == {"output": "Sunny"}
    assert event["metadata"]["prompt_tokens"] == 120
    assert event["metadata"]["completion_tokens"] == 8
    assert event["metadata"]["total_tokens"] == 128
    assert event["metadata"]["gen_ai.agent.name"] == "weather-agent"
    assert event["metadata"]["traceloop.entity.name"] == "AgentExecutor"
    assert event["user_properties"] == {"user_id": "u-7"}


def test_openinference_llm_span_with_genai_attributes_merges_both() -> None:
    event = child_event(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "claude-3-5-sonnet",
            "llm.provider": "anthropic",
            "gen_ai.request.temperature": 0.2,
            "llm.token_count.prompt": 11,
            "llm.token_count.completion": 4,
        }
    )
    assert event["event_type"] == "model"
    assert event["config"] == {
        "model": "claude-3-5-sonnet",
        "provider": "anthropic",
        "hyperparameters": {"temperature": 0.2},
    }
    assert event["metadata"]["total_tokens"] == 15


def test_case_of_kind_values_does_not_matter() -> None:
    assert child_event({"openinference.span.kind": "llm"})["event_type"] == "model"
    assert child_event({"gen_ai.operation.name": "CHAT"})["event_type"] == "model"
    assert child_event({"traceloop.span.kind": "Tool"})["event_type"] == "tool"
