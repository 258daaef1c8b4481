"""OpenTelemetry GenAI semantic conventions: the current JSON parts format and the older flattened keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_honeyhive.mapper.conventions.google_genai import tool_arguments
from otel_honeyhive.mapper.messages import (
    history_messages,
    indexed_history,
    indexed_messages,
    indexed_suffix,
    json_messages,
    output_from_messages,
    system_instructions,
)
from otel_honeyhive.mapper.rules import (
    MODEL,
    MODEL_CALL,
    NOT_MODEL,
    Candidate,
    Combine,
    Convention,
    Extract,
    Field,
    Group,
    SpanFacts,
    TypeRule,
    by_value,
    when_present,
)
from otel_honeyhive.mapper.values import (
    as_bucket,
    maybe_json,
    parse_json,
    parse_json_strict,
    refusing,
    to_int,
    to_number,
)

MODEL_NAME_KEYS = ("gen_ai.request.model", "llm.request.model_name", "llm.model_name", "embedding.model_name")
MESSAGE_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.prompt.0.content",
    "gen_ai.prompt.0.role",
    "gen_ai.completion.0.content",
    "gen_ai.completion.0.role",
    "llm.input_messages.0.message.role",
    "llm.input_messages.0.message.content",
    "llm.output_messages.0.message.role",
    "llm.output_messages.0.message.content",
)
TOKEN_KEYS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.completion_tokens",
    "gen_ai.usage.total_tokens",
    "llm.token_count.prompt",
    "llm.token_count.completion",
    "llm.token_count.total",
    "llm.usage.total_tokens",
)


def chat_history(present: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages = history_messages(json_messages(present["gen_ai.input.messages"]))
    if "gen_ai.system_instructions" in present:
        messages.insert(0, system_instructions(present["gen_ai.system_instructions"]))
    return messages


def outputs(present: Mapping[str, Any]) -> dict[str, Any]:
    """The output messages, read with the number of choices the span asked for: several messages are alternative
    choices only then (else they may be the parallel tool calls of one turn)."""
    return output_from_messages(json_messages(present["gen_ai.output.messages"]),
                                present.get("gen_ai.request.choice.count"))


def _embedding_total(facts: SpanFacts) -> tuple[Candidate, ...]:
    """An embeddings call produces no tokens: its total is its input (as OpenAI's own usage block says). The
    official instrumentation records only `gen_ai.usage.input_tokens` for it."""
    attrs = facts.span.attributes
    if attrs.get("gen_ai.operation.name") != "embeddings":
        return ()
    if "gen_ai.usage.output_tokens" in attrs or "gen_ai.usage.completion_tokens" in attrs:
        return ()
    for key in ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"):
        if key in attrs:
            try:
                total = to_int(attrs[key])
            except ValueError:
                continue
            return (Candidate("metadata.total_tokens", total, 4, key, keep_if_shadowed=False),)
    return ()


UNKNOWN_MODEL = "unknown"
"""What Traceloop's LangChain instrumentation records as the requested and the answering model of a chat model
LangChain cannot serialise (most custom and community models): no model name. Refused as one, so the field is left
to the next source (LangChain's own `ls_model_name`, in openllmetry.py)."""
PLACEHOLDER_PROVIDER = "langchain"
"""What the same instrumentation records as the provider of a model class it does not know: refused on model
events only (on its tool and chain spans it names the framework, and is kept)."""
TRANSPORT = ("stream", "stream_cursor", "extra_body", "extra_query")
"""`gen_ai.request.*` keys that say how a request travels, not how the answer is generated: `metadata.<key>`, not
hyperparameters (the anthropic client's own spans set `stream` on every streamed call; opentelemetry-util-genai
sets `stream_cursor`; LangSmith's OpenTelemetry export `extra_body` and `extra_query`)."""


NOT_SETTINGS = frozenset({
    "tool_choice", "parallel_tool_calls", "max_tool_calls",
    "response_format",
    "truncation", "previous_response_id", "conversation", "include", "prompt",
    "service_tier", "store", "metadata", "user", "safety_identifier", "prompt_cache_key", "background",
    "stream_options", "base_url",
})
"""Request parameters that are not generation settings, by the name every convention gives them (a
`gen_ai.request.*` suffix, an OpenInference invocation-parameter key): how the offered tools may be called, the
answer's format (the GenAI conventions' `gen_ai.output.type`, no request setting either), what the model is given
beside the messages (how an overlong context is cut, earlier responses, a stored prompt), and how the request is
served, kept and attributed. Kept out of `config.hyperparameters` by every convention: a GenAI span keeps them in
metadata as they came, OpenInference in `metadata.invocation_parameters`."""


def hyperparameters(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`gen_ai.request.*` settings by their name under the prefix, with no dot inside it
    (`gen_ai.request.choice.count` → `choice_count`): a dotted key in `config.hyperparameters` reads as a path."""
    return {suffix.replace(".", "_"): maybe_json(value) for suffix, value in pairs}


_RESULT = as_bucket("result")


def tool_result(value: Any) -> dict[str, Any]:
    """`gen_ai.tool.call.result` as the `outputs` bucket. The google-genai instrumentation (1.x) JSON-encodes every
    return value, so a returned text arrives quoted (`'"sunny"'`): a JSON string is decoded; the rest as
    `as_bucket("result")` has it."""
    if isinstance(value, str) and value[:1] == '"':
        try:
            text = parse_json(value)
        except ValueError:
            text = None
        if isinstance(text, str):
            return {"result": text}
    built: dict[str, Any] = _RESULT(value)
    return built


def _response_model_fallback(facts: SpanFacts) -> tuple[Candidate, ...]:
    """A model span that names only the model that answered (Traceloop's agents instrumentation) still has a
    `config.model`; where a requested model exists, it wins and the answering one stays `metadata.response_model`
    only."""
    attrs = facts.span.attributes
    model = attrs.get("gen_ai.response.model")
    if not isinstance(model, str) or not model or model == UNKNOWN_MODEL or "llm.request.model_name" in attrs:
        return ()
    if attrs.get("gen_ai.request.model", UNKNOWN_MODEL) != UNKNOWN_MODEL:
        return ()
    return (Candidate("config.model", model, 9, "gen_ai.response.model", keep_if_shadowed=False),)


def _has_model_evidence(attrs: Mapping[str, Any]) -> str | None:
    if any(k in attrs for k in MODEL_NAME_KEYS) and (
        any(k in attrs for k in MESSAGE_KEYS) or any(k in attrs for k in TOKEN_KEYS)
    ):
        return "model"
    return None


CONVENTION: Convention = Convention(
    name="genai",
    description="OpenTelemetry GenAI semantic conventions (gen_ai.*)",
    rules=(
        Field("gen_ai.request.model", "config.model", rank=1, convert=refusing(UNKNOWN_MODEL)),
        Field("gen_ai.response.model", "metadata.response_model", rank=1, convert=refusing(UNKNOWN_MODEL)),
        Extract("response_model_fallback", _response_model_fallback,
                "`gen_ai.response.model` when no model was requested", ("config.model",), rank=9,
                keys=("gen_ai.response.model",)),
        Field("gen_ai.provider.name", "config.provider", rank=1, only=MODEL, convert=refusing(PLACEHOLDER_PROVIDER)),
        Field("gen_ai.provider.name", "config.provider", rank=1, only=NOT_MODEL),
        Field("gen_ai.system", "config.provider", rank=2),
        Group("gen_ai.request.", "config.hyperparameters", hyperparameters, rank=1,
              exclude=frozenset({"model", *TRANSPORT, *NOT_SETTINGS}), merge=True),
        *(Field(f"gen_ai.request.{key}", f"metadata.{key}", rank=1, convert=maybe_json) for key in TRANSPORT),
        Field("gen_ai.tool.definitions", "config.tools", rank=1, convert=parse_json_strict),
        Combine(("gen_ai.input.messages", "gen_ai.system_instructions"), "inputs.chat_history", chat_history,
                rank=1),
        Group("gen_ai.prompt.", "inputs.chat_history", indexed_history, rank=3, accept=indexed_suffix),
        # Message outputs rank after the non-model `outputs` sources (ranks 1-4, only on tool/chain spans):
        # on a model span they are the only sources; on a workflow span `traceloop.entity.output` wins.
        Combine(("gen_ai.output.messages", "gen_ai.request.choice.count"), "outputs", outputs, rank=11),
        Group("gen_ai.completion.", "outputs", lambda p: output_from_messages(indexed_messages(p)), rank=13,
              accept=indexed_suffix),
        Field("gen_ai.usage.input_tokens", "metadata.prompt_tokens", rank=1, convert=to_int),
        Field("gen_ai.usage.prompt_tokens", "metadata.prompt_tokens", rank=2, convert=to_int),
        Field("gen_ai.usage.output_tokens", "metadata.completion_tokens", rank=1, convert=to_int),
        Field("gen_ai.usage.completion_tokens", "metadata.completion_tokens", rank=2, convert=to_int),
        Field("gen_ai.usage.total_tokens", "metadata.total_tokens", rank=2, convert=to_int),
        Field("gen_ai.usage.cache_read.input_tokens", "metadata.cache_read_input_tokens", rank=1, convert=to_int),
        Field("gen_ai.usage.cache_creation.input_tokens", "metadata.cache_creation_input_tokens", rank=1,
              convert=to_int),
        Field("gen_ai.usage.reasoning.output_tokens", "metadata.reasoning_tokens", rank=1, convert=to_int),
        Extract("embedding_total", _embedding_total, "`gen_ai.usage.input_tokens` of an `embeddings` operation",
                ("metadata.total_tokens",), rank=4, keys=("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")),
        Field("gen_ai.usage.cost", "metadata.cost", rank=2, convert=to_number),
        Field("gen_ai.tool.call.arguments", "inputs", rank=3, convert=tool_arguments, only=NOT_MODEL),
        Field("gen_ai.tool.call.result", "outputs", rank=3, convert=tool_result, only=NOT_MODEL),
        # A `retrieval` span (a framework's retriever): the query and the documents it returned.
        Field("gen_ai.retrieval.query.text", "inputs.query", rank=3, only=NOT_MODEL),
        Field("gen_ai.retrieval.documents", "outputs.documents", rank=3, convert=parse_json_strict, only=NOT_MODEL),
        Field("gen_ai.user", "user_properties.user_id", rank=2),
        Field("gen_ai.conversation.id", "metadata.conversation_id", rank=2),
        Field("gen_ai.response.finish_reasons", "metadata.finish_reasons", rank=1, convert=maybe_json,
              only=MODEL_CALL),
    ),
    type_rules=(
        by_value(
            "gen_ai.operation.name",
            {
                "chat": "model",
                "text_completion": "model",
                "generate_content": "model",
                "embeddings": "model",
                "completion": "model",
                "execute_tool": "tool",
                "retrieval": "tool",
                "search_memory": "tool",
                "create_memory": "tool",
                "update_memory": "tool",
                "delete_memory": "tool",
                "vector_db_retrieve": "tool",
                "invoke_agent": "chain",
                "create_agent": "chain",
                "invoke_workflow": "chain",
                "plan": "chain",
                "execute_task": "chain",
            },
            rank=30,
        ),
        when_present(("gen_ai.tool.name", "gen_ai.tool.call.id", "tool.name"), "tool", rank=60),
        when_present(("gen_ai.agent.name", "gen_ai.agent.id", "agent.name"), "chain", rank=70),
        TypeRule(80, _has_model_evidence, "a model name and messages or token usage present → model",
                 MODEL_NAME_KEYS),
    ),
)
