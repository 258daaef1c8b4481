"""OpenLLMetry / Traceloop (`traceloop.*`, legacy `llm.*`) through the routing table."""

from __future__ import annotations

import json

from tests.mapper.otel import child_event


def test_workflow_entity_input_and_output_fill_inputs_and_outputs() -> None:
    # Langfuse #5457: workflow spans showed no input/output because traceloop.entity.* was unmapped.
    event = child_event(
        {
            "traceloop.span.kind": "workflow",
            "traceloop.entity.name": "answer_question",
            "traceloop.workflow.name": "qa",
            "traceloop.entity.input": json.dumps({"args": ["Paris"], "kwargs": {"units": "metric"}}),
            "traceloop.entity.output": json.dumps({"answer": "Sunny", "confidence": 0.9}),
        },
        children=1,
    )
    assert event["event_type"] == "chain"
    assert event["inputs"] == {"args": ["Paris"], "kwargs": {"units": "metric"}}
    assert event["outputs"] == {"answer": "Sunny", "confidence": 0.9}
    assert event["metadata"]["traceloop.entity.name"] == "answer_question"
    assert event["metadata"]["traceloop.workflow.name"] == "qa"
    assert "traceloop.entity.input" not in event["metadata"]


def test_entity_output_that_is_a_json_string_is_decoded() -> None:
    # OpenLLMetry json.dumps every return value: a str return arrives as a quoted JSON string.
    event = child_event({"traceloop.span.kind": "task", "traceloop.entity.output": json.dumps("Sunny")})
    assert event["outputs"] == {"result": "Sunny"}


def test_entity_output_that_is_a_json_number_or_list_is_decoded() -> None:
    assert child_event({"traceloop.span.kind": "task", "traceloop.entity.output": "42"})["outputs"] == {"result": 42}
    assert child_event({"traceloop.span.kind": "task", "traceloop.entity.output": "[1, 2]"})["outputs"] == {
        "result": [1, 2]
    }


def test_entity_input_that_is_plain_text_is_kept_as_it_came() -> None:
    event = child_event({"traceloop.span.kind": "task", "traceloop.entity.input": "just words"})
    assert event["inputs"] == {"input": "just words"}


def test_entity_input_truncated_is_kept_raw() -> None:
    full = json.dumps({"args": [], "kwargs": {"question": "What is the capital of France?"}})
    cut = full[:35]
    event = child_event({"traceloop.span.kind": "task", "traceloop.entity.input": cut})
    assert event["inputs"] == {"input": cut}


def test_entity_input_wins_over_openinference_input_value() -> None:
    event = child_event(
        {
            "traceloop.span.kind": "task",
            "traceloop.entity.input": json.dumps({"args": [1]}),
            "input.value": "other",
        }
    )
    assert event["inputs"] == {"args": [1]}
    assert event["metadata"]["input.value"] == {"input": "other"}


def test_entity_output_wins_over_output_messages_on_a_workflow_whatever_the_attribute_order() -> None:
    output_messages = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "A"}]}])
    entity_output = json.dumps({"answer": "B"})
    first = child_event(
        {"traceloop.span.kind": "workflow", "gen_ai.output.messages": output_messages,
         "traceloop.entity.output": entity_output}
    )
    second = child_event(
        {"traceloop.span.kind": "workflow", "traceloop.entity.output": entity_output,
         "gen_ai.output.messages": output_messages}
    )
    for event in (first, second):
        assert event["outputs"] == {"answer": "B"}
        assert event["metadata"]["gen_ai.output.messages"] == {"role": "assistant", "content": "A"}


def test_entity_input_on_a_model_span_is_not_lost() -> None:
    event = child_event(
        {"llm.request.type": "chat", "traceloop.entity.input": "raw prompt", "llm.request.model_name": "gpt-4"}
    )
    assert event["event_type"] == "model"
    assert event["inputs"] == {}
    assert event["metadata"]["traceloop.entity.input"] == "raw prompt"


def test_legacy_model_call_keys() -> None:
    event = child_event(
        {
            "llm.request.type": "chat",
            "gen_ai.system": "OpenAI",
            "gen_ai.request.model": "gpt-4",
            "llm.usage.total_tokens": 30,
            "gen_ai.usage.prompt_tokens": 25,
            "gen_ai.usage.completion_tokens": 5,
            "llm.is_streaming": False,
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "hi",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "hello",
            "gen_ai.completion.0.finish_reason": "stop",
        }
    )
    assert event["event_type"] == "model"
    assert event["config"] == {"model": "gpt-4", "provider": "OpenAI"}
    assert event["inputs"] == {"chat_history": [{"role": "user", "content": "hi"}]}
    assert event["outputs"] == {"role": "assistant", "content": "hello", "finish_reason": "stop"}
    assert event["metadata"]["prompt_tokens"] == 25
    assert event["metadata"]["completion_tokens"] == 5
    assert event["metadata"]["total_tokens"] == 30
    assert event["metadata"]["llm.is_streaming"] is False


def test_request_functions_become_config_tools() -> None:
    event = child_event(
        {
            "llm.request.type": "chat",
            "llm.request.functions.0.name": "get_weather",
            "llm.request.functions.0.description": "Weather for a city",
            "llm.request.functions.0.parameters": json.dumps(
                {"type": "object", "properties": {"city": {"type": "string"}}}
            ),
            "llm.request.functions.1.name": "get_time",
        }
    )
    assert event["config"]["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
        {"name": "get_time"},
    ]


def test_prompt_template_and_variables() -> None:
    event = child_event(
        {
            "llm.request.type": "chat",
            "traceloop.prompt.template": "Answer {{question}}",
            "traceloop.prompt.template_variables": json.dumps({"question": "why?"}),
            "traceloop.prompt.version": 3,
        }
    )
    assert event["config"]["template"] == "Answer {{question}}"
    assert event["inputs"] == {"question": "why?"}
    assert event["metadata"]["traceloop.prompt.version"] == 3


def test_template_variables_merge_with_entity_input() -> None:
    event = child_event(
        {
            "traceloop.span.kind": "task",
            "traceloop.entity.input": json.dumps({"args": ["x"]}),
            "traceloop.prompt.template_variables": json.dumps({"question": "why?"}),
        }
    )
    assert event["inputs"] == {"args": ["x"], "question": "why?"}


def test_association_properties_become_user_properties_and_session_id_a_conversation_id() -> None:
    event = child_event(
        {
            "traceloop.span.kind": "workflow",
            "traceloop.association.properties.user_id": "u-1",
            "traceloop.association.properties.customer_id": "acme",
            "traceloop.association.properties.session_id": "chat-99",
        }
    )
    assert event["user_properties"] == {"user_id": "u-1", "customer_id": "acme"}
    assert event["metadata"]["conversation_id"] == "chat-99"
    assert event["session_id"] != "chat-99"


def test_user_id_sources_in_order_and_the_loser_is_kept() -> None:
    event = child_event(
        {
            "traceloop.span.kind": "task",
            "user.id": "from-user-id",
            "traceloop.association.properties.user_id": "from-association",
            "traceloop.association.properties.tier": "gold",
        }
    )
    assert event["user_properties"] == {"user_id": "from-user-id", "tier": "gold"}
    assert event["metadata"]["traceloop.association.properties.user_id"] == "from-association"


def test_conversation_id_sources_in_order() -> None:
    event = child_event(
        {
            "traceloop.span.kind": "task",
            "session.id": "s-1",
            "gen_ai.conversation.id": "c-1",
            "traceloop.association.properties.session_id": "a-1",
        }
    )
    assert event["metadata"]["conversation_id"] == "s-1"
    assert event["metadata"]["gen_ai.conversation.id"] == "c-1"
    assert event["metadata"]["traceloop.association.properties.session_id"] == "a-1"
