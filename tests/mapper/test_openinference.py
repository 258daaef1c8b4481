"""OpenInference (Arize Phoenix) through the routing table."""

from __future__ import annotations

import json

from tests.mapper.otel import child_event

LLM = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "llm.provider": "openai"}


def test_llm_span_messages_tokens_and_parameters() -> None:
    event = child_event(
        {
            **LLM,
            "llm.system": "openai",
            "llm.invocation_parameters": json.dumps({"temperature": 0.1, "max_tokens": 50}),
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "Be terse.",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.content": "2+2?",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "4",
            "llm.token_count.prompt": 12,
            "llm.token_count.completion": 1,
            "llm.token_count.total": 13,
            "llm.cost.total": 0.0001,
            "input.value": json.dumps({"messages": []}),
            "input.mime_type": "application/json",
            "output.value": "4",
        }
    )
    assert event["event_type"] == "model"
    assert event["config"] == {
        "model": "gpt-4o-mini",
        "provider": "openai",
        "hyperparameters": {"temperature": 0.1, "max_tokens": 50},
    }
    assert event["inputs"] == {
        "chat_history": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "2+2?"}]
    }
    assert event["outputs"] == {"role": "assistant", "content": "4"}
    meta = event["metadata"]
    assert (meta["prompt_tokens"], meta["completion_tokens"], meta["total_tokens"]) == (12, 1, 13)
    assert meta["cost"] == 0.0001
    # On a model span the raw request and response repeat the messages: not kept beside them.
    assert not {"input.value", "output.value", "input.mime_type"} & set(meta)
    assert "llm.system" not in meta  # same as the winning provider


def test_the_raw_request_of_a_model_span_without_input_messages_is_its_inputs() -> None:
    """OpenInference's configuration can hide the input messages alone (`OPENINFERENCE_HIDE_INPUT_MESSAGES`), and
    some calls record none: the request in `input.value` is then the only input there is, as `output.value` is
    the outputs of a call without output messages."""
    event = child_event({**LLM, "llm.token_count.prompt": 3, "input.value": "2+2?", "output.value": "4"})
    assert event["event_type"] == "model"
    assert event["inputs"] == {"input": "2+2?"}
    assert "input.value" not in event["metadata"]
    request = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "2+2?"}]})
    as_json = child_event({**LLM, "input.value": request, "input.mime_type": "application/json"})
    assert as_json["inputs"] == json.loads(request)
    assert not {"input.value", "input.mime_type"} & set(as_json["metadata"])


def test_a_hidden_raw_request_is_no_inputs() -> None:
    event = child_event({**LLM, "input.value": "__REDACTED__", "output.value": "4"})
    assert event["inputs"] == {}
    assert event["metadata"]["input.value"] == "__REDACTED__"


def test_a_traced_llm_function_has_its_arguments_as_inputs_and_its_return_value_as_outputs() -> None:
    """OpenInference's `@tracer.llm` decorator records the arguments and the return value, and no other `llm.*`
    attribute (openinference-instrumentation 0.1.72)."""
    event = child_event({"input.value": '{"prompt": "Weather in Paris?"}', "input.mime_type": "application/json",
                         "output.value": "It is sunny.", "output.mime_type": "text/plain",
                         "openinference.span.kind": "LLM"}, name="ask")
    assert event["event_type"] == "model"
    assert event["inputs"] == {"prompt": "Weather in Paris?"}
    assert event["outputs"] == {"result": "It is sunny."}


def test_an_embeddings_call_s_raw_request_stays_in_metadata() -> None:
    event = child_event({"openinference.span.kind": "EMBEDDING", "embedding.model_name": "e",
                         "embedding.embeddings.0.embedding.text": "hi", "input.value": '{"input": ["hi"]}',
                         "input.mime_type": "application/json"})
    assert event["inputs"] == {"texts": ["hi"]}
    assert event["metadata"]["input.value"] == '{"input": ["hi"]}'


def test_the_raw_response_of_a_model_span_without_output_messages_is_its_outputs() -> None:
    """Anthropic's `messages.count_tokens` (and a LangChain model call that failed) record no output messages: the
    response in `output.value` is the only answer there is."""
    event = child_event({**LLM, "llm.input_messages.0.message.role": "user",
                         "llm.input_messages.0.message.content": "count me",
                         "output.value": '{"input_tokens": 17}', "output.mime_type": "application/json"})
    assert event["outputs"] == {"input_tokens": 17}
    assert not {"output.value", "output.mime_type"} & set(event["metadata"])
    text = child_event({**LLM, "llm.token_count.prompt": 3, "input.value": "2+2?", "output.value": "4"})
    assert text["outputs"] == {"result": "4"}
    assert "output.value" not in text["metadata"]


def test_output_messages_win_over_the_raw_response_which_is_not_kept_twice() -> None:
    event = child_event({**LLM, "llm.output_messages.0.message.role": "assistant",
                         "llm.output_messages.0.message.content": "4", "output.value": '{"id": "r1"}',
                         "output.mime_type": "application/json"})
    assert event["outputs"] == {"role": "assistant", "content": "4"}
    assert not {"output.value", "output.mime_type"} & set(event["metadata"])


def test_an_embeddings_call_s_raw_response_is_not_its_outputs() -> None:
    """Its vectors are `outputs.embeddings` (or hidden); the raw response stays in metadata as before."""
    raw = '{"data": [{"embedding": [0.1, 0.2]}]}'
    event = child_event({"openinference.span.kind": "EMBEDDING", "embedding.model_name": "e",
                         "embedding.embeddings.0.embedding.vector": (0.1, 0.2), "llm.token_count.prompt": 2,
                         "output.value": raw, "output.mime_type": "application/json"})
    assert event["outputs"] == {"embeddings": [[0.1, 0.2]]}
    assert event["metadata"]["output.value"] == raw
    assert event["metadata"]["output.mime_type"] == "application/json"


def test_a_hidden_raw_response_is_no_outputs() -> None:
    event = child_event({**LLM, "llm.input_messages.0.message.role": "user",
                         "llm.input_messages.0.message.content": "hi", "output.value": "__REDACTED__"})
    assert event["outputs"] == {}
    assert event["metadata"]["output.value"] == "__REDACTED__"


def test_a_raw_response_that_loses_to_message_events_is_kept_in_metadata() -> None:
    event = child_event({**LLM, "output.value": "4"}, events=[("gen_ai.choice", {"message": '{"content": "4!"}'})])
    assert event["outputs"] == {"role": "assistant", "content": "4!"}
    assert event["metadata"]["output.value"] == {"result": "4"}


def test_openinference_metadata_is_an_object_and_its_user_id_the_user() -> None:
    """OpenInference's `metadata` is JSON text (LangChain's run metadata on every span of its LangChain
    instrumentation)."""
    event = child_event({**LLM, "llm.token_count.prompt": 3,
                         "metadata": json.dumps({"user_id": "u-9", "ls_provider": "scripted"})})
    assert event["metadata"]["metadata"] == {"user_id": "u-9", "ls_provider": "scripted"}
    assert event["user_properties"] == {"user_id": "u-9"}


def test_a_user_id_attribute_wins_over_the_one_in_metadata() -> None:
    event = child_event({**LLM, "llm.token_count.prompt": 3, "user.id": "u-1",
                         "metadata": json.dumps({"user_id": "u-9"})})
    assert event["user_properties"] == {"user_id": "u-1"}
    assert event["metadata"]["metadata"] == {"user_id": "u-9"}


def test_metadata_that_is_not_a_json_object_is_kept_as_it_came() -> None:
    for raw in ("not json", "[1, 2]", '{"cut": '):
        event = child_event({**LLM, "llm.token_count.prompt": 3, "metadata": raw})
        assert event["metadata"]["metadata"] == raw
        assert event["user_properties"] == {}


def test_the_answering_model_is_the_response_model() -> None:
    """OpenAI's instrumentor: the requested model in the parameters, the dated one that answered in
    `llm.model_name`."""
    event = child_event({**LLM, "llm.model_name": "gpt-4o-mini-2024-07-18", "llm.token_count.prompt": 3,
                         "llm.invocation_parameters": json.dumps({"model": "gpt-4o-mini", "temperature": 0})})
    assert event["config"]["model"] == "gpt-4o-mini"
    assert event["metadata"]["response_model"] == "gpt-4o-mini-2024-07-18"
    assert "llm.model_name" not in event["metadata"]


def test_without_a_requested_model_the_model_name_is_the_model() -> None:
    event = child_event({**LLM, "llm.token_count.prompt": 3})
    assert event["config"]["model"] == "gpt-4o-mini"
    assert "response_model" not in event["metadata"] and "llm.model_name" not in event["metadata"]


def test_hyperparameters_hold_only_generation_settings() -> None:
    """LangChain's `_type`, the Agents SDK's response `id` and `created_at`, and the tools offered are not
    hyperparameters: tools go to `config.tools`, the rest to `metadata.invocation_parameters`."""
    tool = {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}
    params = {"model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 64, "stop": ["\n"], "tools": [tool],
              "_type": "openai-chat", "id": "resp_1", "created_at": 1700000000}
    event = child_event({**LLM, "llm.token_count.prompt": 3, "llm.invocation_parameters": json.dumps(params)})
    assert event["config"]["hyperparameters"] == {"temperature": 0.2, "max_tokens": 64, "stop": ["\n"]}
    assert event["config"]["tools"] == [tool]
    assert event["metadata"]["invocation_parameters"] == {"_type": "openai-chat", "id": "resp_1",
                                                          "created_at": 1700000000}


def test_invocation_parameters_that_are_not_an_object_stay_in_metadata() -> None:
    event = child_event({**LLM, "llm.token_count.prompt": 3, "llm.invocation_parameters": "not json"})
    assert event["metadata"]["llm.invocation_parameters"] == "not json"
    assert event["config"]["model"] == "gpt-4o-mini"


def test_token_details_under_one_set_of_names() -> None:
    event = child_event({**LLM, "llm.token_count.prompt": 30, "llm.token_count.completion": 20,
                         "llm.token_count.prompt_details.cache_read": 10,
                         "llm.token_count.prompt_details.cache_write": 5,
                         "llm.token_count.completion_details.reasoning": 7})
    meta = event["metadata"]
    assert (meta["cache_read_input_tokens"], meta["cache_creation_input_tokens"], meta["reasoning_tokens"]) == (
        10, 5, 7)
    assert not [k for k in meta if k.startswith("llm.token_count")]


def test_input_message_tool_calls() -> None:
    event = child_event(
        {
            **LLM,
            "llm.input_messages.0.message.role": "assistant",
            "llm.input_messages.0.message.tool_calls.0.tool_call.id": "call_a",
            "llm.input_messages.0.message.tool_calls.0.tool_call.function.name": "search",
            "llm.input_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"q": "otel"}',
            "llm.input_messages.1.message.role": "tool",
            "llm.input_messages.1.message.tool_call_id": "call_a",
            "llm.input_messages.1.message.content": "results",
            "llm.input_messages.1.message.name": "search",
        }
    )
    assert event["inputs"]["chat_history"] == [
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "search", "arguments": '{"q": "otel"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "results", "name": "search"},
    ]


def test_output_message_tool_calls() -> None:
    event = child_event(
        {
            **LLM,
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_b",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "lookup",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": "{}",
        }
    )
    assert event["outputs"] == {
        "role": "assistant",
        "tool_calls": [{"id": "call_b", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}],
    }


def test_multimodal_contents_become_text_and_semconv_parts() -> None:
    """The same shape the GenAI parts format gives: the text is `content`, an image is the semantic conventions'
    `uri` part under `parts` (never a dotted key)."""
    event = child_event(
        {
            **LLM,
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.contents.0.message_content.type": "text",
            "llm.input_messages.0.message.contents.0.message_content.text": "What is in this picture?",
            "llm.input_messages.0.message.contents.1.message_content.type": "image",
            "llm.input_messages.0.message.contents.1.message_content.image.image.url": "https://x/cat.png",
        }
    )
    assert event["inputs"]["chat_history"] == [
        {
            "role": "user",
            "content": "What is in this picture?",
            "parts": [{"type": "uri", "modality": "image", "uri": "https://x/cat.png"}],
        }
    ]


def test_text_only_contents_are_joined_into_a_string_one_part_a_line() -> None:
    event = child_event(
        {
            **LLM,
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.contents.0.message_content.type": "text",
            "llm.input_messages.0.message.contents.0.message_content.text": "Hello",
            "llm.input_messages.0.message.contents.1.message_content.type": "text",
            "llm.input_messages.0.message.contents.1.message_content.text": "world",
        }
    )
    assert event["inputs"]["chat_history"] == [{"role": "user", "content": "Hello\nworld"}]


def test_content_parts_take_the_shape_of_the_genai_parts_format() -> None:
    """OpenInference's Anthropic instrumentation: an image and text in the question, a tool result recorded as its
    content blocks, and a reply with a reasoning (thinking) part before its text."""
    event = child_event({
        **LLM,
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.contents.0.message_content.type": "image",
        "llm.input_messages.0.message.contents.0.message_content.image.image.url": "data:image/png;base64,iVBORw0KGgo=",
        "llm.input_messages.0.message.contents.1.message_content.type": "text",
        "llm.input_messages.0.message.contents.1.message_content.text": "What is in this image?",
        "llm.input_messages.1.message.role": "tool",
        "llm.input_messages.1.message.tool_call_id": "toolu_2",
        "llm.input_messages.1.message.content": '[{"type": "text", "text": "clock service down"}]',
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.contents.0.message_content.type": "reasoning",
        "llm.output_messages.0.message.contents.0.message_content.text": "6*7=42.",
        "llm.output_messages.0.message.contents.0.message_content.signature": "sig",
        "llm.output_messages.0.message.contents.1.message_content.type": "text",
        "llm.output_messages.0.message.contents.1.message_content.text": "42",
    })
    assert event["inputs"]["chat_history"] == [
        {"role": "user", "content": "What is in this image?",
         "parts": [{"type": "uri", "modality": "image", "uri": "data:image/png;base64,iVBORw0KGgo="}]},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "clock service down"},
    ]
    assert event["outputs"] == {"role": "assistant", "content": "42",
                                "parts": [{"type": "reasoning", "content": "6*7=42.", "signature": "sig"}]}


def test_unknown_content_part_fields_are_nested_never_dotted() -> None:
    event = child_event({
        **LLM,
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.contents.0.message_content.type": "document",
        "llm.input_messages.0.message.contents.0.message_content.document.source.url": "https://x/a.pdf",
        "llm.input_messages.0.message.contents.1.message_content.type": "image",
        "llm.input_messages.0.message.contents.1.message_content.image.image.url": "https://x/cat.png",
        "llm.input_messages.0.message.contents.1.message_content.image.image.detail": "low",
    })
    assert event["inputs"]["chat_history"] == [{"role": "user", "parts": [
        {"type": "document", "document": {"source": {"url": "https://x/a.pdf"}}},
        {"type": "uri", "modality": "image", "uri": "https://x/cat.png", "detail": "low"},
    ]}]


def test_input_messages_sorted_numerically() -> None:
    attrs: dict[str, object] = {**LLM}
    for i in range(11):
        attrs[f"llm.input_messages.{i}.message.role"] = "user"
        attrs[f"llm.input_messages.{i}.message.content"] = str(i)
    history = child_event(attrs)["inputs"]["chat_history"]
    assert [m["content"] for m in history] == [str(i) for i in range(11)]


def test_openinference_messages_win_over_flattened_genai_prompt() -> None:
    event = child_event(
        {
            **LLM,
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "oi",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "legacy",
        }
    )
    assert event["inputs"]["chat_history"] == [{"role": "user", "content": "oi"}]
    assert event["metadata"]["gen_ai.prompt.*"] == [{"role": "user", "content": "legacy"}]


def test_several_output_messages_become_choices() -> None:
    event = child_event(
        {
            **LLM,
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "A",
            "llm.output_messages.1.message.role": "assistant",
            "llm.output_messages.1.message.content": "B",
        }
    )
    assert event["outputs"]["content"] == "A"
    assert event["outputs"]["choices"] == [
        {"role": "assistant", "content": "A"},
        {"role": "assistant", "content": "B"},
    ]


def test_invocation_parameters_that_are_not_json_are_kept_raw() -> None:
    event = child_event({**LLM, "llm.invocation_parameters": "{temperature: 0.1"})
    assert "hyperparameters" not in event["config"]
    assert event["metadata"]["llm.invocation_parameters"] == "{temperature: 0.1"


def test_tools_json_schema_become_config_tools() -> None:
    schema = {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}
    event = child_event({**LLM, "llm.tools.0.tool.json_schema": json.dumps(schema)})
    assert event["config"]["tools"] == [schema]


def test_prompt_template_and_variables() -> None:
    event = child_event(
        {
            **LLM,
            "llm.prompt_template.template": "Hello {name}",
            "llm.prompt_template.variables": json.dumps({"name": "Ada"}),
            "llm.prompt_template.version": "v2",
        }
    )
    assert event["config"]["template"] == "Hello {name}"
    assert event["inputs"] == {"name": "Ada"}
    assert event["metadata"]["llm.prompt_template.version"] == "v2"


def test_openinference_template_wins_over_traceloop_template() -> None:
    event = child_event({**LLM, "llm.prompt_template.template": "A", "traceloop.prompt.template": "B"})
    assert event["config"]["template"] == "A"
    assert event["metadata"]["traceloop.prompt.template"] == "B"


# -- non-model spans: input.value / output.value -----------------------------------------------------------------


def test_chain_input_value_with_json_mime_type_is_parsed() -> None:
    event = child_event(
        {
            "openinference.span.kind": "CHAIN",
            "input.value": json.dumps({"question": "why?", "k": 3}),
            "input.mime_type": "application/json",
            "output.value": json.dumps({"answer": "because"}),
            "output.mime_type": "application/json",
        }
    )
    assert event["event_type"] == "chain"
    assert event["inputs"] == {"question": "why?", "k": 3}
    assert event["outputs"] == {"answer": "because"}
    assert "input.mime_type" not in event["metadata"]


def test_json_mime_value_that_is_not_an_object_is_kept_under_a_key() -> None:
    event = child_event(
        {
            "openinference.span.kind": "CHAIN",
            "input.value": json.dumps("plain question"),
            "input.mime_type": "application/json",
            "output.value": "[1, 2]",
            "output.mime_type": "application/json",
        }
    )
    assert event["inputs"] == {"input": "plain question"}
    assert event["outputs"] == {"result": [1, 2]}


def test_text_mime_value_is_kept_as_text_even_when_it_looks_like_json() -> None:
    event = child_event(
        {
            "openinference.span.kind": "CHAIN",
            "input.value": '{"not": "parsed"}',
            "input.mime_type": "text/plain",
        }
    )
    assert event["inputs"] == {"input": '{"not": "parsed"}'}


def test_input_value_without_mime_type_is_kept_under_input_and_parsed_when_it_is_a_json_object() -> None:
    # Without a mime type the value is text (OpenInference's default); JSON objects are still made readable.
    assert child_event({"openinference.span.kind": "CHAIN", "input.value": '{"a": 1}'})["inputs"] == {
        "input": {"a": 1}
    }
    assert child_event({"openinference.span.kind": "CHAIN", "input.value": "hello"})["inputs"] == {"input": "hello"}
    assert child_event({"openinference.span.kind": "CHAIN", "output.value": "42"})["outputs"] == {"result": "42"}


def test_json_mime_value_truncated_is_kept_raw() -> None:
    cut = json.dumps({"question": "what is the meaning of life?"})[:20]
    event = child_event(
        {"openinference.span.kind": "CHAIN", "input.value": cut, "input.mime_type": "application/json"}
    )
    assert event["inputs"] == {"input": cut}


def test_tool_span_with_parameters() -> None:
    """`tool.parameters` is the tool's parameter schema, not the call's arguments (`input.value`): metadata."""
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}
    event = child_event(
        {
            "openinference.span.kind": "TOOL",
            "tool.name": "calculator",
            "tool.description": "adds",
            "tool.parameters": json.dumps(schema),
            "output.value": "3",
        }
    )
    assert event["event_type"] == "tool"
    assert event["inputs"] == {}
    assert event["metadata"]["tool.parameters"] == schema
    assert event["outputs"] == {"result": "3"}
    assert event["metadata"]["tool.name"] == "calculator"
    assert event["metadata"]["tool.description"] == "adds"


def test_input_value_wins_over_tool_parameters() -> None:
    event = child_event(
        {
            "openinference.span.kind": "TOOL",
            "input.value": '{"x": 1}',
            "input.mime_type": "application/json",
            "tool.parameters": '{"y": 2}',
        }
    )
    assert event["inputs"] == {"x": 1}
    assert event["metadata"]["tool.parameters"] == {"y": 2}


# -- retrievers ---------------------------------------------------------------------------------------------------


def test_retrieval_documents_become_a_list_of_documents() -> None:
    event = child_event(
        {
            "openinference.span.kind": "RETRIEVER",
            "input.value": "capital of France",
            "retrieval.documents.0.document.id": "d1",
            "retrieval.documents.0.document.content": "Paris is the capital of France.",
            "retrieval.documents.0.document.score": 0.92,
            "retrieval.documents.0.document.metadata": json.dumps({"source": "wiki"}),
            "retrieval.documents.1.document.id": "d2",
            "retrieval.documents.1.document.content": "France is in Europe.",
            "retrieval.documents.1.document.score": 0.4,
        }
    )
    assert event["event_type"] == "tool"
    assert event["inputs"] == {"input": "capital of France"}
    assert event["outputs"] == {
        "documents": [
            {"id": "d1", "content": "Paris is the capital of France.", "score": 0.92, "metadata": {"source": "wiki"}},
            {"id": "d2", "content": "France is in Europe.", "score": 0.4},
        ]
    }


def test_retrieval_documents_sit_beside_the_output_value() -> None:
    event = child_event(
        {
            "openinference.span.kind": "RETRIEVER",
            "output.value": '{"count": 1}',
            "output.mime_type": "application/json",
            "retrieval.documents.0.document.content": "doc",
        }
    )
    assert event["outputs"] == {"count": 1, "documents": [{"content": "doc"}]}


# -- embeddings, users, sessions ---------------------------------------------------------------------------------


def test_embedding_span_is_a_model_with_the_embedding_model_name() -> None:
    event = child_event(
        {
            "openinference.span.kind": "EMBEDDING",
            "embedding.model_name": "text-embedding-3-small",
            "embedding.embeddings.0.embedding.text": "hello",
            "embedding.embeddings.0.embedding.vector": (0.1, 0.2),
        }
    )
    assert event["event_type"] == "model"
    assert event["config"]["model"] == "text-embedding-3-small"
    assert event["inputs"] == {"texts": ["hello"]}
    assert event["outputs"] == {"embeddings": [[0.1, 0.2]]}
    assert not any(k.startswith("embedding.") for k in event["metadata"])


def test_embedding_texts_and_vectors_keep_their_index_order_and_parameters_become_hyperparameters() -> None:
    attrs: dict[str, object] = {
        "openinference.span.kind": "EMBEDDING",
        "embedding.model_name": "text-embedding-3-small",
        "embedding.invocation_parameters": json.dumps({"model": "text-embedding-3-small", "dimensions": 2}),
    }
    for i in range(11):
        attrs[f"embedding.embeddings.{i}.embedding.text"] = f"t{i}"
        attrs[f"embedding.embeddings.{i}.embedding.vector"] = (float(i), 0.0)
    event = child_event(attrs)
    assert event["inputs"]["texts"] == [f"t{i}" for i in range(11)]
    assert event["outputs"]["embeddings"][10] == [10.0, 0.0]
    assert event["config"] == {"model": "text-embedding-3-small", "hyperparameters": {"dimensions": 2}}


# -- the model asked for, and how the answer ended -----------------------------------------------------------------


def test_invocation_parameters_with_only_the_model_give_no_hyperparameters() -> None:
    event = child_event({**LLM, "llm.invocation_parameters": json.dumps({"model": "gpt-4o-mini"})})
    assert event["config"] == {"model": "gpt-4o-mini", "provider": "openai"}
    assert "llm.invocation_parameters" not in event["metadata"]


def test_finish_reason_goes_with_the_output_message_and_into_finish_reasons() -> None:
    event = child_event(
        {
            **LLM,
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "4",
            "llm.finish_reason": "stop",
        }
    )
    assert event["outputs"] == {"role": "assistant", "content": "4", "finish_reason": "stop"}
    assert event["metadata"]["finish_reasons"] == ["stop"]


def test_user_id_and_session_id() -> None:
    event = child_event({"openinference.span.kind": "CHAIN", "user.id": "alice", "session.id": "conv-7"})
    assert event["user_properties"] == {"user_id": "alice"}
    assert event["metadata"]["conversation_id"] == "conv-7"


def test_user_id_wins_over_genai_user() -> None:
    event = child_event({**LLM, "user.id": "alice", "gen_ai.user": "bob"})
    assert event["user_properties"] == {"user_id": "alice"}
    assert event["metadata"]["gen_ai.user"] == "bob"


# -- the legacy completions API: `llm.prompts` / `llm.choices` ---------------------------------------------------

COMPLETION_RESPONSE = {"id": "cmpl-1", "object": "text_completion", "model": "gpt-3.5-turbo-instruct-0914",
                       "choices": [{"finish_reason": "stop", "index": 0, "logprobs": None, "text": " answer 0"},
                                   {"finish_reason": "stop", "index": 1, "logprobs": None, "text": " answer 1"}]}
COMPLETION = {
    "llm.system": "openai",
    "input.value": json.dumps({"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 8, "n": 2}),
    "input.mime_type": "application/json",
    "output.value": json.dumps(COMPLETION_RESPONSE),
    "output.mime_type": "application/json",
    "llm.invocation_parameters": json.dumps({"model": "gpt-3.5-turbo-instruct", "max_tokens": 8, "n": 2}),
    "llm.prompts.0.prompt.text": "Say hi",
    "llm.model_name": "gpt-3.5-turbo-instruct-0914",
    "llm.token_count.total": 7,
    "llm.token_count.prompt": 4,
    "llm.token_count.completion": 3,
    "llm.choices.0.completion.text": " answer 0",
    "llm.finish_reason": "stop",
    "llm.choices.1.completion.text": " answer 1",
    "openinference.span.kind": "LLM",
}
"""What `openinference-instrumentation-openai` 0.1.66 records for `client.completions.create(..., n=2)` (the
OpenInference spec's "Completions API (Legacy Text Completion)" attributes)."""


def test_a_completion_s_prompt_is_the_user_message_and_its_choices_the_outputs() -> None:
    event = child_event(COMPLETION, name="Completion")
    assert event["event_type"] == "model"
    assert event["inputs"] == {"chat_history": [{"role": "user", "content": "Say hi"}]}
    first = {"role": "assistant", "content": " answer 0"}
    assert event["outputs"] == {**first, "finish_reason": "stop",
                                "choices": [first, {"role": "assistant", "content": " answer 1"}]}
    # The raw request and response repeat them: not kept beside them; nor are the attributes taken.
    assert not [k for k in event["metadata"] if k.startswith(("input.", "output.", "llm.prompts", "llm.choices"))]


def test_one_choice_is_the_outputs_with_its_finish_reason() -> None:
    one = {k: v for k, v in COMPLETION.items() if k != "llm.choices.1.completion.text"}
    event = child_event(one, name="Completion")
    assert event["outputs"] == {"role": "assistant", "content": " answer 0", "finish_reason": "stop"}


def test_prompts_given_as_a_list_are_user_messages() -> None:
    """OpenInference's LangChain instrumentation records a (non-chat) LLM's prompts as a list of strings, as the
    convention first had `llm.prompts`."""
    event = child_event({"openinference.span.kind": "LLM", "llm.model_name": "m", "llm.prompts": ("Hi", "Bye"),
                         "input.value": json.dumps({"prompts": ["Hi", "Bye"]}), "input.mime_type": "application/json"})
    assert event["inputs"] == {"chat_history": [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Bye"}]}
    assert not {"llm.prompts", "input.value"} & set(event["metadata"])


def test_input_messages_win_over_prompts() -> None:
    event = child_event({**COMPLETION, "llm.input_messages.0.message.role": "user",
                         "llm.input_messages.0.message.content": "Say hi!"}, name="Completion")
    assert event["inputs"]["chat_history"] == [{"role": "user", "content": "Say hi!"}]
