"""OpenLLMetry / Traceloop (`traceloop.*`, legacy `llm.*` keys of opentelemetry-semantic-conventions-ai)."""

from __future__ import annotations

from typing import Any

from otel_honeyhive.mapper.rules import NOT_MODEL, Convention, Field, Group, by_value
from otel_honeyhive.mapper.values import as_bucket, flat_dict, json_bucket, maybe_json, nested_from_flat, to_int


def _functions(pairs: list[tuple[str, Any]]) -> list[Any]:
    tools = nested_from_flat(pairs)
    if not isinstance(tools, list):
        raise ValueError("llm.request.functions.* must be indexed")
    return [{k: maybe_json(v) for k, v in t.items()} if isinstance(t, dict) else t for t in tools]


CONVENTION: Convention = Convention(
    name="openllmetry",
    description="OpenLLMetry / Traceloop (traceloop.*, llm.*)",
    rules=(
        Field("llm.request.model_name", "config.model", rank=2),
        Field("traceloop.prompt.template", "config.template", rank=2),
        Field("traceloop.prompt.template_variables", "inputs", rank=5, convert=as_bucket("variables"),
              merge=True),
        Group("llm.request.functions.", "config.tools", _functions, rank=3),
        # OpenLLMetry json.dumps every argument list and return value: a str return arrives as '"text"'.
        Field("traceloop.entity.input", "inputs", rank=1, convert=json_bucket("input"), only=NOT_MODEL),
        Field("traceloop.entity.output", "outputs", rank=1, convert=json_bucket("result"), only=NOT_MODEL),
        Field("llm.usage.total_tokens", "metadata.total_tokens", rank=3, convert=to_int),
        # The token details under the names OpenLLMetry used before the GenAI conventions named them.
        Field("gen_ai.usage.cache_read_input_tokens", "metadata.cache_read_input_tokens", rank=2, convert=to_int),
        Field("gen_ai.usage.cache_creation_input_tokens", "metadata.cache_creation_input_tokens", rank=2,
              convert=to_int),
        Field("gen_ai.usage.reasoning_tokens", "metadata.reasoning_tokens", rank=2, convert=to_int),
        Field("llm.usage.reasoning_tokens", "metadata.reasoning_tokens", rank=3, convert=to_int),
        Group("traceloop.association.properties.", "user_properties", flat_dict, rank=5,
              exclude=frozenset({"session_id"}), merge=True),
        Field("traceloop.association.properties.session_id", "metadata.conversation_id", rank=3),
    ),
    type_rules=(
        by_value("llm.request.type",
                 {"chat": "model", "completion": "model", "embedding": "model", "rerank": "model"}, rank=40),
        by_value("traceloop.span.kind",
                 {"tool": "tool", "workflow": "chain", "task": "chain", "agent": "chain"}, rank=50),
    ),
)
