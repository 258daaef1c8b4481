"""OpenTelemetry GenAI semantic conventions (`gen_ai.*`) through the routing table, new and old formats."""

from __future__ import annotations

import json

from tests.mapper.otel import Otel, child_event

CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}


def _dumps(value: object) -> str:
    return json.dumps(value)


# -- config ---------------------------------------------------------------------------------------------------


def test_model_provider_and_hyperparameters_go_to_config() -> None:
    event = child_event(
        {
            **CHAT,
            "gen_ai.provider.name": "openai",
            "gen_ai.request.temperature": 0.3,
            "gen_ai.request.top_p": 0.9,
            "gen_ai.request.max_tokens": 256,
            "gen_ai.request.frequency_penalty": 0.1,
            "gen_ai.request.presence_penalty": 0.0,
            "gen_ai.request.stop_sequences": ("END", "STOP"),
            "gen_ai.request.seed": 42,
        }
    )
    assert event["event_type"] == "model"
    assert event["config"] == {
        "model": "gpt-4o",
        "provider": "openai",
        "hyperparameters": {
            "temperature": 0.3,
            "top_p": 0.9,
            "max_tokens": 256,
            "frequency_penalty": 0.1,
            "presence_penalty": 0.0,
            "stop_sequences": ["END", "STOP"],
            "seed": 42,
        },
    }
    assert "gen_ai.request.model" not in event["metadata"]
    assert "gen_ai.request.temperature" not in event["metadata"]


def test_a_dotted_request_key_is_one_hyperparameter_with_underscores() -> None:
    event = child_event({**CHAT, "gen_ai.request.choice.count": 2, "gen_ai.request.reasoning.level": "high",
                         "gen_ai.request.temperature": 0.2})
    assert event["config"]["hyperparameters"] == {"choice_count": 2, "reasoning_level": "high", "temperature": 0.2}
    assert not [k for k in event["metadata"] if k.startswith("gen_ai.request.")]


def test_how_a_request_travels_is_metadata_not_a_hyperparameter() -> None:
    """The anthropic client's own spans set `gen_ai.request.stream` on every streamed call."""
    event = child_event({**CHAT, "gen_ai.request.stream": True, "gen_ai.request.temperature": 0.2,
                         "gen_ai.request.stream_cursor": "c-1", "gen_ai.request.extra_body": '{"x": 1}',
                         "gen_ai.request.extra_query": '{"q": "v"}'})
    assert event["config"]["hyperparameters"] == {"temperature": 0.2}
    meta = event["metadata"]
    assert (meta["stream"], meta["stream_cursor"], meta["extra_body"], meta["extra_query"]) == (
        True, "c-1", {"x": 1}, {"q": "v"})
    assert not [k for k in meta if k.startswith("gen_ai.request.")]


def test_request_model_wins_over_openinference_and_openllmetry_model_names() -> None:
    event = child_event(
        {
            **CHAT,
            "llm.request.model_name": "legacy-name",
            "llm.model_name": "oi-name",
            "embedding.model_name": "embed-name",
        }
    )
    assert event["config"]["model"] == "gpt-4o"
    # The losing values differ, so each is kept in metadata under its own key.
    assert event["metadata"]["llm.request.model_name"] == "legacy-name"
    assert event["metadata"]["response_model"] == "oi-name"  # OpenInference's name of the answering model
    assert event["metadata"]["embedding.model_name"] == "embed-name"


def test_model_name_sources_in_order() -> None:
    assert child_event({"llm.request.model_name": "a", "llm.model_name": "b"})["config"]["model"] == "a"
    assert child_event({"llm.model_name": "b", "embedding.model_name": "c"})["config"]["model"] == "b"
    assert child_event({"embedding.model_name": "c"})["config"]["model"] == "c"


def test_losing_value_equal_to_the_winner_is_not_duplicated() -> None:
    event = child_event({**CHAT, "llm.model_name": "gpt-4o"})
    assert event["config"]["model"] == "gpt-4o"
    assert "llm.model_name" not in event["metadata"]


def test_response_model_goes_to_metadata() -> None:
    event = child_event({**CHAT, "gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.response.id": "chatcmpl-1"})
    assert event["metadata"]["response_model"] == "gpt-4o-2024-08-06"
    assert event["metadata"]["gen_ai.response.id"] == "chatcmpl-1"
    assert event["config"]["model"] == "gpt-4o"


def test_provider_sources_in_order() -> None:
    event = child_event({**CHAT, "gen_ai.provider.name": "azure.ai.openai", "gen_ai.system": "openai"})
    assert event["config"]["provider"] == "azure.ai.openai"
    assert event["metadata"]["gen_ai.system"] == "openai"
    assert child_event({**CHAT, "gen_ai.system": "openai", "llm.provider": "x"})["config"]["provider"] == "openai"
    assert child_event({"llm.provider": "x", "llm.system": "y"})["config"]["provider"] == "x"
    assert child_event({"llm.system": "y"})["config"]["provider"] == "y"


def test_genai_hyperparameters_win_over_invocation_parameters_leaf_by_leaf() -> None:
    event = child_event(
        {
            **CHAT,
            "gen_ai.request.temperature": 0.5,
            "llm.invocation_parameters": _dumps({"temperature": 0.7, "top_k": 3}),
        }
    )
    assert event["config"]["hyperparameters"] == {"temperature": 0.5, "top_k": 3}
    # The losing leaf differs: the losing source is kept whole.
    assert event["metadata"]["llm.invocation_parameters"] == {"temperature": 0.7, "top_k": 3}


def test_agreeing_invocation_parameters_are_merged_without_a_metadata_copy() -> None:
    event = child_event(
        {**CHAT, "gen_ai.request.temperature": 0.5, "llm.invocation_parameters": _dumps({"temperature": 0.5})}
    )
    assert event["config"]["hyperparameters"] == {"temperature": 0.5}
    assert "llm.invocation_parameters" not in event["metadata"]


def test_tool_definitions_go_to_config_tools() -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    event = child_event({**CHAT, "gen_ai.tool.definitions": _dumps(tools)})
    assert event["config"]["tools"] == tools


def test_tool_definitions_win_over_openinference_and_openllmetry_tools() -> None:
    event = child_event(
        {
            **CHAT,
            "gen_ai.tool.definitions": _dumps([{"name": "a"}]),
            "llm.tools.0.tool.json_schema": _dumps({"name": "b"}),
            "llm.request.functions.0.name": "c",
        }
    )
    assert event["config"]["tools"] == [{"name": "a"}]


# -- inputs: new parts format ----------------------------------------------------------------------------------


def test_input_messages_in_parts_format_become_chat_history_with_system_instructions_first() -> None:
    messages = [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
            ],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "rainy, 57°F"}]},
    ]
    instructions = [{"type": "text", "content": "You are a helpful bot."}]
    event = child_event(
        {
            **CHAT,
            "gen_ai.input.messages": _dumps(messages),
            "gen_ai.system_instructions": _dumps(instructions),
        }
    )
    assert event["inputs"]["chat_history"] == [
        {"role": "system", "content": "You are a helpful bot."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "rainy, 57°F"},
    ]
    assert "gen_ai.input.messages" not in event["metadata"]
    assert "gen_ai.system_instructions" not in event["metadata"]


def test_text_parts_are_joined_one_a_line_and_other_parts_kept() -> None:
    messages = [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "Describe"},
                {"type": "text", "content": "this image."},
                {"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"},
            ],
        }
    ]
    event = child_event({**CHAT, "gen_ai.input.messages": _dumps(messages)})
    assert event["inputs"]["chat_history"] == [
        {
            "role": "user",
            "content": "Describe\nthis image.",
            "parts": [{"type": "uri", "modality": "image", "uri": "https://example.com/cat.png"}],
        }
    ]


def test_separate_system_instruction_blocks_are_separate_lines() -> None:
    """Anthropic's system blocks (and any instructions given as several parts) are paragraphs: not glued."""
    instructions = [{"type": "text", "content": "You are terse."},
                    {"type": "text", "content": "Always answer in French."}]
    event = child_event({**CHAT, "gen_ai.input.messages": _dumps([{"role": "user", "parts": [
        {"type": "text", "content": "hi"}]}]), "gen_ai.system_instructions": _dumps(instructions)})
    assert event["inputs"]["chat_history"][0] == {"role": "system",
                                                  "content": "You are terse.\nAlways answer in French."}


def test_tool_call_response_given_as_result_is_understood() -> None:
    messages = [{"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "result": {"ok": True}}]}]
    event = child_event({**CHAT, "gen_ai.input.messages": _dumps(messages)})
    assert event["inputs"]["chat_history"] == [{"role": "tool", "tool_call_id": "c1", "content": '{"ok":true}'}]


def test_plain_text_system_instructions_become_a_system_message() -> None:
    messages = [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    event = child_event({**CHAT, "gen_ai.input.messages": _dumps(messages), "gen_ai.system_instructions": "Be brief."})
    assert event["inputs"]["chat_history"][0] == {"role": "system", "content": "Be brief."}


def test_system_instructions_alone_are_kept_in_metadata() -> None:
    event = child_event({**CHAT, "gen_ai.system_instructions": "Be brief."})
    assert event["metadata"]["gen_ai.system_instructions"] == "Be brief."


def test_input_messages_truncated_mid_string_are_kept_raw() -> None:
    full = _dumps([{"role": "user", "parts": [{"type": "text", "content": "a long question about"}]}])
    cut = full[:40]
    event = child_event({**CHAT, "gen_ai.input.messages": cut, "gen_ai.system_instructions": "Be brief."})
    assert "chat_history" not in event["inputs"]
    assert event["metadata"]["gen_ai.input.messages"] == cut
    assert event["metadata"]["gen_ai.system_instructions"] == "Be brief."


def test_truncated_input_messages_fall_back_to_the_next_source() -> None:
    cut = _dumps([{"role": "user", "parts": [{"type": "text", "content": "hello"}]}])[:30]
    event = child_event({**CHAT, "gen_ai.input.messages": cut, "gen_ai.prompt.0.role": "user",
                         "gen_ai.prompt.0.content": "hello"})
    assert event["inputs"]["chat_history"] == [{"role": "user", "content": "hello"}]
    assert event["metadata"]["gen_ai.input.messages"] == cut


def test_input_messages_win_over_flattened_prompt_which_is_kept_in_metadata() -> None:
    event = child_event(
        {
            **CHAT,
            "gen_ai.input.messages": _dumps([{"role": "user", "parts": [{"type": "text", "content": "new"}]}]),
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "old",
        }
    )
    assert event["inputs"]["chat_history"] == [{"role": "user", "content": "new"}]
    assert event["metadata"]["gen_ai.prompt.*"] == [{"role": "user", "content": "old"}]


def test_input_messages_given_as_a_real_sequence_of_json_strings() -> None:
    event = child_event(
        {**CHAT, "gen_ai.input.messages": (_dumps({"role": "user", "parts": [{"type": "text", "content": "hi"}]}),)}
    )
    assert event["inputs"]["chat_history"] == [{"role": "user", "content": "hi"}]


# -- outputs: new parts format ----------------------------------------------------------------------------------


def test_output_messages_give_the_first_message_with_finish_reason() -> None:
    output = [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "It is rainy."}],
            "finish_reason": "stop",
        }
    ]
    event = child_event({**CHAT, "gen_ai.output.messages": _dumps(output)})
    assert event["outputs"] == {"role": "assistant", "content": "It is rainy.", "finish_reason": "stop"}


def test_several_output_messages_are_all_kept_as_choices() -> None:
    output = [
        {"role": "assistant", "parts": [{"type": "text", "content": "A"}], "finish_reason": "stop"},
        {"role": "assistant", "parts": [{"type": "text", "content": "B"}], "finish_reason": "length"},
    ]
    event = child_event({**CHAT, "gen_ai.output.messages": _dumps(output)})
    assert event["outputs"] == {
        "role": "assistant",
        "content": "A",
        "finish_reason": "stop",
        "choices": [
            {"role": "assistant", "content": "A", "finish_reason": "stop"},
            {"role": "assistant", "content": "B", "finish_reason": "length"},
        ],
    }


def test_output_tool_call_is_kept_in_openai_shape() -> None:
    output = [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c9", "name": "lookup", "arguments": '{"q": "x"}'}],
            "finish_reason": "tool_call",
        }
    ]
    event = child_event({**CHAT, "gen_ai.output.messages": _dumps(output)})
    assert event["outputs"] == {
        "role": "assistant",
        "tool_calls": [{"id": "c9", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}],
        "finish_reason": "tool_call",
    }


def test_finish_reasons_are_kept_in_metadata() -> None:
    event = child_event({**CHAT, "gen_ai.response.finish_reasons": ("stop",)})
    assert event["metadata"]["finish_reasons"] == ["stop"]


# -- old flattened format ---------------------------------------------------------------------------------------


def test_flattened_prompt_rebuilds_chat_history_in_numeric_order() -> None:
    attrs: dict[str, object] = {**CHAT}
    for i in range(12):
        attrs[f"gen_ai.prompt.{i}.role"] = "user" if i % 2 == 0 else "assistant"
        attrs[f"gen_ai.prompt.{i}.content"] = f"message {i}"
    event = child_event(attrs)
    history = event["inputs"]["chat_history"]
    assert [m["content"] for m in history] == [f"message {i}" for i in range(12)]  # "10" after "2"
    assert history[10] == {"role": "user", "content": "message 10"}


def test_flattened_prompt_skips_prompt_filter_results_but_keeps_it_in_metadata() -> None:
    filters = _dumps([{"prompt_index": 0, "content_filter_results": {}}])
    event = child_event(
        {
            **CHAT,
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "hi",
            "gen_ai.prompt.prompt_filter_results": filters,
        }
    )
    assert event["inputs"]["chat_history"] == [{"role": "user", "content": "hi"}]
    assert event["metadata"]["gen_ai.prompt.prompt_filter_results"] == filters


def test_flattened_tool_message_and_multimodal_content() -> None:
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": "data:..."}}]
    event = child_event(
        {
            **CHAT,
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": _dumps(content),
            "gen_ai.prompt.1.role": "tool",
            "gen_ai.prompt.1.content": "42",
            "gen_ai.prompt.1.tool_call_id": "call_7",
        }
    )
    assert event["inputs"]["chat_history"] == [
        {"role": "user", "content": content},
        {"role": "tool", "content": "42", "tool_call_id": "call_7"},
    ]


def test_flattened_completion_with_tool_calls() -> None:
    event = child_event(
        {
            **CHAT,
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.finish_reason": "tool_calls",
            "gen_ai.completion.0.tool_calls.0.id": "call_1",
            "gen_ai.completion.0.tool_calls.0.name": "get_weather",
            "gen_ai.completion.0.tool_calls.0.arguments": '{"city": "Paris"}',
            "gen_ai.completion.0.tool_calls.1.id": "call_2",
            "gen_ai.completion.0.tool_calls.1.name": "get_time",
            "gen_ai.completion.0.tool_calls.1.arguments": "{}",
        }
    )
    assert event["outputs"] == {
        "role": "assistant",
        "finish_reason": "tool_calls",
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
        ],
    }


def test_flattened_completion_without_role_is_an_assistant_message() -> None:
    event = child_event({**CHAT, "gen_ai.completion.0.content": "Hello!"})
    assert event["outputs"] == {"role": "assistant", "content": "Hello!"}


def test_output_messages_win_over_flattened_completion() -> None:
    output = [{"role": "assistant", "parts": [{"type": "text", "content": "new"}]}]
    event = child_event({**CHAT, "gen_ai.output.messages": _dumps(output), "gen_ai.completion.0.content": "old"})
    assert event["outputs"] == {"role": "assistant", "content": "new"}
    assert event["metadata"]["gen_ai.completion.*"] == {"role": "assistant", "content": "old"}


# -- tokens and cost --------------------------------------------------------------------------------------------


def test_token_usage_goes_to_metadata_with_a_computed_total() -> None:
    event = child_event({**CHAT, "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 20})
    assert event["metadata"]["prompt_tokens"] == 100
    assert event["metadata"]["completion_tokens"] == 20
    assert event["metadata"]["total_tokens"] == 120
    assert "gen_ai.usage.input_tokens" not in event["metadata"]


def test_new_usage_keys_win_over_legacy_ones() -> None:
    event = child_event(
        {
            **CHAT,
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.prompt_tokens": 99,
            "gen_ai.usage.output_tokens": 20,
            "gen_ai.usage.completion_tokens": 20,
            "llm.token_count.prompt": 98,
        }
    )
    assert event["metadata"]["prompt_tokens"] == 100
    assert event["metadata"]["completion_tokens"] == 20
    assert event["metadata"]["gen_ai.usage.prompt_tokens"] == 99
    assert event["metadata"]["llm.token_count.prompt"] == 98
    assert "gen_ai.usage.completion_tokens" not in event["metadata"]  # same value as the winner


def test_legacy_usage_keys_alone() -> None:
    event = child_event({**CHAT, "gen_ai.usage.prompt_tokens": 7, "gen_ai.usage.completion_tokens": 3})
    assert (event["metadata"]["prompt_tokens"], event["metadata"]["completion_tokens"]) == (7, 3)
    assert event["metadata"]["total_tokens"] == 10


def test_explicit_total_wins_over_the_computed_sum() -> None:
    event = child_event(
        {**CHAT, "gen_ai.usage.input_tokens": 1, "gen_ai.usage.output_tokens": 1, "gen_ai.usage.total_tokens": 5}
    )
    assert event["metadata"]["total_tokens"] == 5


def test_an_embeddings_call_totals_its_input_tokens() -> None:
    embeddings = {"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "text-embedding-3-small"}
    event = child_event({**embeddings, "gen_ai.usage.input_tokens": 8})
    assert event["metadata"]["prompt_tokens"] == 8
    assert event["metadata"]["total_tokens"] == 8
    assert "completion_tokens" not in event["metadata"]
    assert child_event({**embeddings, "gen_ai.usage.input_tokens": 8, "gen_ai.usage.total_tokens": 9})[
        "metadata"
    ]["total_tokens"] == 9


def test_a_chat_with_input_tokens_only_gets_no_total() -> None:
    assert "total_tokens" not in child_event({**CHAT, "gen_ai.usage.input_tokens": 8})["metadata"]


def test_token_counts_sent_as_strings_are_accepted() -> None:
    event = child_event({**CHAT, "gen_ai.usage.input_tokens": "100", "gen_ai.usage.output_tokens": " 20 "})
    assert event["metadata"]["prompt_tokens"] == 100
    assert event["metadata"]["completion_tokens"] == 20
    assert event["metadata"]["total_tokens"] == 120


def test_non_numeric_token_count_is_kept_raw_and_the_next_source_used() -> None:
    event = child_event({**CHAT, "gen_ai.usage.input_tokens": "many", "gen_ai.usage.prompt_tokens": 12})
    assert event["metadata"]["prompt_tokens"] == 12
    assert event["metadata"]["gen_ai.usage.input_tokens"] == "many"


def test_non_numeric_token_count_alone_is_kept_raw() -> None:
    event = child_event({**CHAT, "gen_ai.usage.input_tokens": "n/a", "gen_ai.usage.output_tokens": 2})
    assert "prompt_tokens" not in event["metadata"]
    assert event["metadata"]["gen_ai.usage.input_tokens"] == "n/a"
    assert "total_tokens" not in event["metadata"]


def test_cost() -> None:
    event = child_event({**CHAT, "gen_ai.usage.cost": "0.0042"})
    assert event["metadata"]["cost"] == 0.0042


# -- tool calls (non-model) -------------------------------------------------------------------------------------


def test_execute_tool_span_takes_arguments_and_result() -> None:
    event = child_event(
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.id": "call_1",
            "gen_ai.tool.call.arguments": '{"city": "Paris"}',
            "gen_ai.tool.call.result": "rainy",
        }
    )
    assert event["event_type"] == "tool"
    assert event["inputs"] == {"city": "Paris"}
    assert event["outputs"] == {"result": "rainy"}
    assert event["metadata"]["gen_ai.tool.name"] == "get_weather"
    assert event["metadata"]["gen_ai.tool.call.id"] == "call_1"


def test_tool_call_arguments_that_are_not_an_object_are_kept_under_a_key() -> None:
    event = child_event({"gen_ai.tool.name": "t", "gen_ai.tool.call.arguments": "[1, 2]"})
    assert event["inputs"] == {"arguments": [1, 2]}


def test_tool_call_result_that_is_an_object_becomes_the_outputs() -> None:
    event = child_event({"gen_ai.tool.name": "t", "gen_ai.tool.call.result": '{"temp": 14}'})
    assert event["outputs"] == {"temp": 14}


def test_a_tool_call_result_that_is_a_json_string_is_its_text() -> None:
    """The google-genai instrumentation (1.x) JSON-encodes every return value."""
    event = child_event({"gen_ai.tool.name": "t", "gen_ai.tool.call.result": '"sunny in Paris"'})
    assert event["outputs"] == {"result": "sunny in Paris"}
    quoted = child_event({"gen_ai.tool.name": "t", "gen_ai.tool.call.result": '"cut'})
    assert quoted["outputs"] == {"result": '"cut'}


# -- users and conversations -------------------------------------------------------------------------------------


def test_genai_user_and_conversation_id() -> None:
    event = child_event({**CHAT, "gen_ai.user": "alice", "gen_ai.conversation.id": "conv-1"})
    assert event["user_properties"] == {"user_id": "alice"}
    assert event["metadata"]["conversation_id"] == "conv-1"
    # A conversation id does not replace the trace's session.
    assert event["session_id"] != "conv-1"


def test_model_events_without_content_still_carry_model_provider_and_tokens() -> None:
    event = child_event(
        {
            **CHAT,
            "gen_ai.provider.name": "openai",
            "gen_ai.usage.input_tokens": 9,
            "gen_ai.usage.output_tokens": 1,
        }
    )
    assert event["event_type"] == "model"
    assert event["config"] == {"model": "gpt-4o", "provider": "openai"}
    assert event["inputs"] == {}
    assert event["outputs"] == {}
    assert event["metadata"]["total_tokens"] == 10


def test_a_retrieval_span_takes_its_query_and_documents() -> None:
    documents = [{"id": "doc_123", "score": 0.95, "content": "Refunds take 5 days."}, {"id": "doc_456", "score": 0.87}]
    event = child_event(
        {
            "gen_ai.operation.name": "retrieval",
            "gen_ai.retrieval.query.text": "how long do refunds take?",
            "gen_ai.retrieval.documents": _dumps(documents),
            "gen_ai.data_source.id": "kb-products",
        }
    )
    assert event["event_type"] == "tool"
    assert event["inputs"] == {"query": "how long do refunds take?"}
    assert event["outputs"] == {"documents": documents}
    assert event["metadata"]["gen_ai.data_source.id"] == "kb-products"
    assert "gen_ai.retrieval.documents" not in event["metadata"]


def test_retrieval_documents_cut_by_a_length_limit_are_kept_raw() -> None:
    cut = _dumps([{"id": "doc_123", "score": 0.95}])[:20]
    event = child_event({"gen_ai.operation.name": "retrieval", "gen_ai.retrieval.documents": cut})
    assert event["outputs"] == {}
    assert event["metadata"]["gen_ai.retrieval.documents"] == cut


# -- the model and the token details ------------------------------------------------------------------------------


def test_a_span_naming_only_the_answering_model_has_it_as_the_model() -> None:
    """Traceloop's agents instrumentation records `gen_ai.response.model` and no request model."""
    event = child_event({"gen_ai.operation.name": "chat", "gen_ai.response.model": "gpt-4o-2024-08-06",
                         "gen_ai.usage.input_tokens": 5})
    assert event["config"]["model"] == "gpt-4o-2024-08-06"
    assert event["metadata"]["response_model"] == "gpt-4o-2024-08-06"
    assert "gen_ai.response.model" not in event["metadata"]


def test_the_requested_model_wins_over_the_answering_one() -> None:
    event = child_event({**CHAT, "gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.usage.input_tokens": 5})
    assert event["config"]["model"] == "gpt-4o"
    assert event["metadata"]["response_model"] == "gpt-4o-2024-08-06"
    assert "gen_ai.response.model" not in event["metadata"]


def test_token_details_under_one_set_of_names() -> None:
    event = child_event({**CHAT, "gen_ai.usage.input_tokens": 30, "gen_ai.usage.output_tokens": 20,
                         "gen_ai.usage.cache_read.input_tokens": 10,
                         "gen_ai.usage.cache_creation.input_tokens": 5,
                         "gen_ai.usage.reasoning.output_tokens": 7})
    meta = event["metadata"]
    assert (meta["prompt_tokens"], meta["completion_tokens"]) == (30, 20)
    assert (meta["cache_read_input_tokens"], meta["cache_creation_input_tokens"], meta["reasoning_tokens"]) == (
        10, 5, 7)
    assert not [k for k in meta if k.startswith("gen_ai.usage")]


def test_openllmetry_token_detail_names_land_in_the_same_fields_once() -> None:
    """OpenLLMetry's older names beside the GenAI ones (both set by some releases): one value each."""
    event = child_event({**CHAT, "gen_ai.usage.input_tokens": 30, "gen_ai.usage.cache_read_input_tokens": 10,
                         "gen_ai.usage.cache_read.input_tokens": 10,
                         "gen_ai.usage.cache_creation_input_tokens": 5, "llm.usage.reasoning_tokens": 7})
    meta = event["metadata"]
    assert (meta["cache_read_input_tokens"], meta["cache_creation_input_tokens"], meta["reasoning_tokens"]) == (
        10, 5, 7)
    assert not [k for k in meta if "cache" in k and k.startswith("gen_ai.")]
    assert "llm.usage.reasoning_tokens" not in meta


def test_a_model_call_that_is_its_traces_root_keeps_its_finish_reasons_by_the_same_name() -> None:
    otel = Otel()
    with otel.span("chat gpt-4o", {**CHAT, "gen_ai.response.finish_reasons": ("stop",)}, root=True):
        pass
    (session,) = otel.events()
    assert session["event_type"] == "session" and session["metadata"]["finish_reasons"] == ["stop"]
    assert "gen_ai.response.finish_reasons" not in session["metadata"]


def test_request_parameters_that_are_not_generation_settings_stay_out_of_hyperparameters() -> None:
    """The same keys OpenInference's invocation parameters keep out (tool use, response format, truncation, how
    the request is kept and attributed) stay out of `gen_ai.request.*`'s hyperparameters: in metadata, as they
    came."""
    event = child_event({**CHAT, "gen_ai.request.temperature": 0.2, "gen_ai.request.tool_choice": "auto",
                         "gen_ai.request.parallel_tool_calls": True, "gen_ai.request.truncation": "auto",
                         "gen_ai.request.response_format": "json_object", "gen_ai.request.service_tier": "flex"})
    assert event["config"]["hyperparameters"] == {"temperature": 0.2}
    meta = event["metadata"]
    assert (meta["gen_ai.request.tool_choice"], meta["gen_ai.request.parallel_tool_calls"],
            meta["gen_ai.request.truncation"], meta["gen_ai.request.response_format"],
            meta["gen_ai.request.service_tier"]) == ("auto", True, "auto", "json_object", "flex")
