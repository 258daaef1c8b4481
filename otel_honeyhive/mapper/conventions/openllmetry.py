"""OpenLLMetry / Traceloop (`traceloop.*`, legacy `llm.*` keys of opentelemetry-semantic-conventions-ai)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from otel_honeyhive.mapper.rules import (
    MODEL,
    NOT_MODEL,
    Candidate,
    Convention,
    Extract,
    Field,
    Group,
    SpanFacts,
    by_value,
)
from otel_honeyhive.mapper.values import as_bucket, flat_dict, json_bucket, maybe_json, nested_from_flat, to_int


def _functions(pairs: list[tuple[str, Any]]) -> list[Any]:
    tools = nested_from_flat(pairs)
    if not isinstance(tools, list):
        raise ValueError("llm.request.functions.* must be indexed")
    return [{k: maybe_json(v) for k, v in t.items()} if isinstance(t, dict) else t for t in tools]


_ASSOCIATION = "traceloop.association.properties."
_LANGCHAIN_RUN_METADATA = ("ls_", "lc_")
"""LangChain's own run metadata (its LangSmith parameters `ls_provider`, `ls_model_name`, ... and `lc_versions`),
which Traceloop's LangChain instrumentation records as association properties: about the model, not the user."""


def _user_property(suffix: str) -> bool:
    return not suffix.startswith(_LANGCHAIN_RUN_METADATA)


def _langchain_names(target: str, name: str, key: str, placeholder: str) -> Callable[[SpanFacts], Iterable[Candidate]]:
    """What LangChain itself names (`ls_model_name`, `ls_provider`) where Traceloop's LangChain instrumentation
    could not tell it: it records the model as "unknown" for a chat model LangChain cannot serialise (most custom
    and community models), and the provider as "langchain" for a model class it does not know."""
    source = _ASSOCIATION + name

    def extract(facts: SpanFacts) -> Iterable[Candidate]:
        attrs = facts.span.attributes
        value = attrs.get(source)
        if isinstance(value, str) and value and attrs.get(key, placeholder) == placeholder:
            yield Candidate(target, value, 0, source)

    return extract


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
              exclude=frozenset({"session_id"}), merge=True, accept=_user_property),
        Extract("langchain_model", _langchain_names("config.model", "ls_model_name", "gen_ai.request.model", "unknown"),
                f"`{_ASSOCIATION}ls_model_name` when `gen_ai.request.model` is absent or `unknown`",
                ("config.model",), rank=0, keys=(_ASSOCIATION + "ls_model_name",)),
        Extract("langchain_provider",
                _langchain_names("config.provider", "ls_provider", "gen_ai.provider.name", "langchain"),
                f"`{_ASSOCIATION}ls_provider` when `gen_ai.provider.name` is absent or `langchain`",
                ("config.provider",), rank=0, keys=(_ASSOCIATION + "ls_provider",)),
        # What those stand in for: the placeholders genai.py's rules refuse (`unknown`, `langchain`) are not kept
        # beside LangChain's names; a real name Traceloop recorded is the field's already.
        Field("gen_ai.request.model", None, covered_by=(_ASSOCIATION + "ls_model_name",)),
        Field("gen_ai.response.model", None, covered_by=(_ASSOCIATION + "ls_model_name",)),
        Field("gen_ai.provider.name", None, only=MODEL, covered_by=(_ASSOCIATION + "ls_provider",)),
        # Traceloop's LangChain instrumentation repeats the entity input and output under these names.
        Field("gen_ai.task.input", None, covered_by=("traceloop.entity.input",)),
        Field("gen_ai.task.output", None, covered_by=("traceloop.entity.output",)),
        Field("traceloop.association.properties.session_id", "metadata.conversation_id", rank=3),
    ),
    type_rules=(
        by_value("llm.request.type",
                 {"chat": "model", "completion": "model", "embedding": "model", "rerank": "model"}, rank=40),
        by_value("traceloop.span.kind",
                 {"tool": "tool", "workflow": "chain", "task": "chain", "agent": "chain"}, rank=50),
    ),
)
