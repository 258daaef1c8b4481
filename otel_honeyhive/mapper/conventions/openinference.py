"""OpenInference (Arize Phoenix): `llm.*`, `input.value`/`output.value`, `retrieval.documents.*`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from otel_honeyhive.core.jsonable import jsonable
from otel_honeyhive.mapper.messages import indexed_messages, indexed_suffix, output_from_messages
from otel_honeyhive.mapper.rules import MODEL, NOT_MODEL, Combine, Convention, Field, Group, by_value
from otel_honeyhive.mapper.values import (
    as_bucket,
    json_bucket,
    maybe_json,
    nested_from_flat,
    parse_json,
    to_int,
    to_number,
)


def _value_with_mime(value_key: str, mime_key: str, default_key: str) -> Any:
    """`input.value` / `output.value`: decoded when the mime type says JSON (a truncated value stays raw); without
    a mime type (OpenInference's default is text) JSON objects and arrays are still decoded, under `default_key`."""
    as_json = json_bucket(default_key)

    def build(present: Mapping[str, Any]) -> dict[str, Any]:
        value = present[value_key]
        mime = present.get(mime_key)
        if isinstance(mime, str) and "json" in mime.lower():
            built: dict[str, Any] = as_json(value)
            return built
        return {default_key: maybe_json(value) if not mime else jsonable(value)}

    return build


_DOCUMENT_KEYS: dict[str, tuple[int, str]] = {}


def _document_key(suffix: str) -> tuple[int, str]:
    """`{i}.document.{field}` → (i, field), parsed once per distinct suffix."""
    found = _DOCUMENT_KEYS.get(suffix)
    if found is None:
        index, _, rest = suffix.partition(".")
        if not (index.isascii() and index.isdigit()) or not rest:
            raise ValueError(f"retrieval.documents.{suffix}: not an indexed document key")
        found = (int(index), rest[9:] if rest.startswith("document.") else rest)
        if len(_DOCUMENT_KEYS) >= 4096:
            _DOCUMENT_KEYS.clear()
        _DOCUMENT_KEYS[suffix] = found
    return found


def _documents(pairs: list[tuple[str, Any]]) -> list[Any]:
    """`{i}.document.{field}` → a list of documents (a hot path for RAG spans: no generic unflattening)."""
    docs: dict[int, dict[str, Any]] = {}
    for suffix, value in pairs:
        index, field = _document_key(suffix)
        doc = docs.get(index)
        if doc is None:
            doc = docs[index] = {}
        doc[field] = maybe_json(value) if field == "metadata" else jsonable(value)
    return [docs[i] for i in sorted(docs)]


def _invocation_model(value: Any) -> str:
    """The requested model inside `llm.invocation_parameters` (OpenAI's instrumentor puts the dated model that
    answered in `llm.model_name`, and the model the app asked for only here)."""
    params = parse_json(value)
    model = params.get("model") if isinstance(params, dict) else None
    if not isinstance(model, str) or not model:
        raise ValueError("no model in the invocation parameters")
    return model


def _hyperparameters(value: Any) -> dict[str, Any]:
    """Invocation parameters as hyperparameters: the model is `config.model`, not a hyperparameter."""
    params = parse_json(value)
    if not isinstance(params, dict):
        raise ValueError("invocation parameters must be a JSON object")
    rest = {k: v for k, v in params.items() if k != "model"}
    if not rest:
        raise ValueError("no parameters besides the model")
    return rest


def _embedding_suffix(name: str) -> Callable[[str], bool]:
    """Accepts `{i}.embedding.{name}` under `embedding.embeddings.`."""
    wanted = f"embedding.{name}"

    def accept(suffix: str) -> bool:
        index, _, rest = suffix.partition(".")
        return rest == wanted and index.isascii() and index.isdigit()

    return accept


def _embedding_items(pairs: list[tuple[str, Any]]) -> list[Any]:
    """`{i}.embedding.text` (or `.vector`) values as a list in index order."""
    items = {int(suffix.partition(".")[0]): jsonable(value) for suffix, value in pairs}
    return [items[i] for i in sorted(items)]


def _tool_schemas(pairs: list[tuple[str, Any]]) -> list[Any]:
    tools = nested_from_flat(pairs)
    if not isinstance(tools, list):
        raise ValueError("llm.tools.* must be indexed")
    out = []
    for tool in tools:
        schema = tool.get("tool", {}).get("json_schema") if isinstance(tool, dict) else None
        out.append(schema if schema is not None else tool)
    return out


CONVENTION: Convention = Convention(
    name="openinference",
    description="OpenInference (Arize Phoenix)",
    rules=(
        Field("llm.invocation_parameters", "config.model", rank=3, convert=_invocation_model),
        Field("llm.model_name", "config.model", rank=4),
        Field("embedding.model_name", "config.model", rank=5),
        Field("llm.response.model_name", "metadata.response_model", rank=2),
        Field("llm.provider", "config.provider", rank=3),
        Field("llm.system", "config.provider", rank=4),
        Field("llm.invocation_parameters", "config.hyperparameters", rank=2, convert=_hyperparameters, merge=True),
        Field("embedding.invocation_parameters", "config.hyperparameters", rank=3, convert=_hyperparameters,
              merge=True),
        Field("llm.finish_reason", "metadata.finish_reasons", rank=2, convert=lambda v: [jsonable(v)], only=MODEL),
        # Fills in the output message's finish reason (output messages carry none in OpenInference).
        Field("llm.finish_reason", "outputs.finish_reason", rank=14, only=MODEL),
        Group("embedding.embeddings.", "inputs.texts", _embedding_items, rank=2, accept=_embedding_suffix("text"),
              label="embedding.embeddings.{i}.embedding.text"),
        Group("embedding.embeddings.", "outputs.embeddings", _embedding_items, rank=2,
              accept=_embedding_suffix("vector"), label="embedding.embeddings.{i}.embedding.vector"),
        Field("llm.prompt_template.template", "config.template", rank=1),
        Field("llm.prompt_template.variables", "inputs", rank=5, convert=as_bucket("variables"), merge=True),
        Group("llm.tools.", "config.tools", _tool_schemas, rank=2),
        Group("llm.input_messages.", "inputs.chat_history", indexed_messages, rank=2, accept=indexed_suffix),
        Group("llm.output_messages.", "outputs", lambda p: output_from_messages(indexed_messages(p)), rank=12,
              accept=indexed_suffix),
        Field("llm.token_count.prompt", "metadata.prompt_tokens", rank=3, convert=to_int),
        Field("llm.token_count.completion", "metadata.completion_tokens", rank=3, convert=to_int),
        Field("llm.token_count.total", "metadata.total_tokens", rank=1, convert=to_int),
        Field("llm.cost.total", "metadata.cost", rank=1, convert=to_number),
        Combine(("input.value", "input.mime_type"), "inputs", _value_with_mime("input.value",
                "input.mime_type", "input"), rank=2, only=NOT_MODEL),
        Combine(("output.value", "output.mime_type"), "outputs", _value_with_mime("output.value",
                "output.mime_type", "result"), rank=2, only=NOT_MODEL),
        Field("tool.parameters", "inputs", rank=4, convert=as_bucket("parameters"), only=NOT_MODEL),
        Group("retrieval.documents.", "outputs.documents", _documents, rank=4),
        Field("user.id", "user_properties.user_id", rank=1),
        Field("session.id", "metadata.conversation_id", rank=1),
    ),
    type_rules=(
        by_value(
            "openinference.span.kind",
            {
                "LLM": "model",
                "EMBEDDING": "model",
                "TOOL": "tool",
                "RETRIEVER": "tool",
                "RERANKER": "tool",
                "CHAIN": "chain",
                "AGENT": "chain",
                "GUARDRAIL": "chain",
                "EVALUATOR": "chain",
                "PROMPT": "chain",
            },
            rank=20,
        ),
    ),
)
