"""OpenInference (Arize Phoenix): `llm.*`, `input.value`/`output.value`, `retrieval.documents.*`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from otel_honeyhive.core.jsonable import jsonable
from otel_honeyhive.mapper.conventions.genai import NOT_SETTINGS
from otel_honeyhive.mapper.messages import indexed_history, indexed_messages, indexed_suffix, output_from_messages
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
    by_value,
)
from otel_honeyhive.mapper.values import (
    as_bucket,
    json_bucket,
    maybe_json,
    nested_from_flat,
    parse_json,
    refusing,
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


_FIRST_DOCUMENT = "retrieval.documents.0.document.content"
_plain_output_value = _value_with_mime("output.value", "output.mime_type", "result")
_plain_input_value = _value_with_mime("input.value", "input.mime_type", "input")


def _output_value(present: Mapping[str, Any]) -> dict[str, Any]:
    """`output.value`, less the `documents` a retriever returned when `retrieval.documents.*` carry them too
    (OpenInference's LangChain instrumentation records a retriever's return value, its documents, in both)."""
    built: dict[str, Any] = _plain_output_value(present)
    if _FIRST_DOCUMENT in present and isinstance(built.get("documents"), list):
        built = {k: v for k, v in built.items() if k != "documents"}
    return built


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


_CONTENT_KEYS = frozenset({"messages", "input", "instructions", "system"})
NOT_HYPERPARAMETERS = frozenset({"model", "tools", "functions", "_type", "id", "created_at", "object"}) | (
    NOT_SETTINGS | _CONTENT_KEYS)
"""Invocation-parameter keys that are not generation settings: the model (`config.model`), the request's content
(in `inputs.chat_history`), the tools offered (`config.tools`), the request parameters no convention counts as
settings (genai.py's `NOT_SETTINGS`: tool use, response format, truncation, how the request is sent and kept), and
what frameworks add (LangChain's `_type`, the Agents SDK's response `id` and `created_at`). The rest of them, tools
aside, go to `metadata.invocation_parameters` — the content only when the span records no input messages (else it
repeats them). A setting given as null (LangChain's `"stop": null`) is not one, nor is an object holding none
(the Agents SDK's `"reasoning": {}`)."""
_MIXED_PARAMETERS = {"text": frozenset({"format"})}
"""Parameter objects holding request parameters beside generation settings: the Responses API's `text` holds the
answer's format beside its `verbosity`. The listed fields go with the request parameters, the rest are settings."""
_INVOCATION_KEYS = ("llm.invocation_parameters", "embedding.invocation_parameters")
_OTHER_REQUESTED_MODEL_KEYS = ("llm.request.model_name", "gen_ai.request.model")
"""Where else a span may name the model asked for, when its invocation parameters do not."""


def _json_object(value: Any) -> dict[str, Any]:
    """A JSON object given as text (invocation parameters, `metadata`); anything else is refused (and kept in
    metadata as it came)."""
    parsed = parse_json(value)
    if not isinstance(parsed, dict):
        raise ValueError("not a JSON object")
    return parsed


def _metadata_user(facts: SpanFacts) -> tuple[Candidate, ...]:
    """A `user_id` in the span's `metadata` (LangChain's run metadata, as OpenInference's LangChain instrumentation
    records it) names the user, after every attribute that does (as Traceloop's path has the same `user_id` among
    its association properties); the object stays whole in `metadata.metadata`."""
    value = facts.span.attributes.get("metadata")
    if not isinstance(value, str) or '"user_id"' not in value:
        return ()
    try:
        parsed = _json_object(value)
    except ValueError:
        return ()
    user = parsed.get("user_id")
    if isinstance(user, bool) or not isinstance(user, (str, int)) or user == "":
        return ()
    return (Candidate("user_properties.user_id", user, 6, "metadata", keep_if_shadowed=False),)


def _model_output_value(facts: SpanFacts) -> tuple[Candidate, ...]:
    """`output.value` of an LLM call that records no output messages (Anthropic's `messages.count_tokens`, a
    LangChain model call that failed): the only answer there is, so the outputs, after every message source. Not
    an embeddings call's: its vectors are `outputs.embeddings` already (and it stays in metadata)."""
    attrs = facts.span.attributes
    if not _raw_value_is_all(facts, "output.value", _OUTPUT_TEXTS):
        return ()
    present = {k: attrs[k] for k in ("output.value", "output.mime_type") if k in attrs}
    return (Candidate("outputs", _plain_output_value(present), 18, "output.value"),)


def _model_input_value(facts: SpanFacts) -> tuple[Candidate, ...]:
    """`input.value` of an LLM call that records no input messages or prompts (input messages hidden alone, a
    `@tracer.llm` function's arguments): the only input there is, so the inputs, after every message source."""
    attrs = facts.span.attributes
    if not _raw_value_is_all(facts, "input.value", _INPUT_TEXTS):
        return ()
    present = {k: attrs[k] for k in ("input.value", "input.mime_type") if k in attrs}
    return (Candidate("inputs", _plain_input_value(present), 18, "input.value"),)


def _raw_value_is_all(facts: SpanFacts, key: str, repeated_by: tuple[str, ...]) -> bool:
    """Whether a model span's raw request or response (`key`) is all it records of it: an LLM call's (by its keys,
    or its span kind alone, as `@tracer.llm` records it), not hidden, and no attribute carries its content."""
    if facts.event_type != "model":
        return False
    attrs = facts.span.attributes
    value = attrs.get(key)
    if value is None or value == REDACTED or any(k in attrs for k in repeated_by):
        return False
    return attrs.get("openinference.span.kind") == "LLM" or any(k in attrs for k in _LLM_CALL)


def _output_finish_reason(facts: SpanFacts) -> tuple[Candidate, ...]:
    """Fills in the output message's finish reason (OpenInference's output messages carry none), only where there
    is an output message: with outputs hidden, `outputs` holding only a finish reason would be an empty answer (it
    stays in `metadata.finish_reasons`)."""
    if facts.event_type != "model":
        return ()
    attrs = facts.span.attributes
    reason = attrs.get("llm.finish_reason")
    if reason is None or not any(k.startswith(("llm.output_messages.", "llm.choices.")) for k in attrs):
        return ()
    return (Candidate("outputs.finish_reason", jsonable(reason), 14, "llm.finish_reason", keep_if_shadowed=False),)


def _pruned(value: Any) -> Any:
    """A parameter without its null fields; None when nothing is left (null, or an object holding nothing)."""
    if isinstance(value, dict):
        kept: dict[str, Any] = {}
        for k, item in value.items():
            pruned = _pruned(item)
            if pruned is not None:
                kept[k] = pruned
        return kept or None
    return value


def _split_parameters(params: Mapping[str, Any], repeated: frozenset[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Invocation parameters → (the generation settings, the other request parameters kept in metadata), neither
    holding the model, the tools, the `repeated` content keys, nulls or empty objects."""
    hyper: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for k, v in params.items():
        if k in ("model", "model_name", "tools", "functions") or k in repeated:
            continue
        value = _pruned(jsonable(v))
        if value is None:
            continue
        fields = _MIXED_PARAMETERS.get(k)
        if fields is not None and isinstance(value, dict):
            setting = {f: item for f, item in value.items() if f not in fields}
            other = {f: item for f, item in value.items() if f in fields}
            if setting:
                hyper[k] = setting
            if other:
                rest[k] = other
        elif k in NOT_HYPERPARAMETERS:
            rest[k] = value
        else:
            hyper[k] = value
    return hyper, rest


def _models_and_parameters(facts: SpanFacts) -> Iterable[Candidate]:
    """`llm.invocation_parameters` split by meaning, and `llm.model_name` placed by it: the model the app asked for
    (in the parameters) is `config.model`, and a different `llm.model_name` (OpenAI's instrumentor puts the dated
    model that answered there) is `metadata.response_model`; without a requested model, `llm.model_name` is the
    model."""
    attrs = facts.span.attributes
    requested = None
    for key in _INVOCATION_KEYS:
        if key not in attrs:
            continue
        try:
            params = _json_object(attrs[key])
        except (ValueError, TypeError):
            continue  # the validator below left it in metadata
        model = params.get("model") or params.get("model_name")
        if isinstance(model, str) and model:
            requested = model
            yield Candidate("config.model", model, 3, key)
        repeated = _CONTENT_KEYS if any(k in attrs for k in _INPUT_MESSAGES) else frozenset()
        hyper, rest = _split_parameters(params, repeated)
        if hyper:
            yield Candidate("config.hyperparameters", hyper, 2, key, merge=True)
        tools = params.get("tools") or params.get("functions")
        if tools:
            yield Candidate("config.tools", jsonable(tools), 5, key, keep_if_shadowed=False)
        if rest:
            yield Candidate("metadata.invocation_parameters", rest, 50, key)
    for key in _OTHER_REQUESTED_MODEL_KEYS:  # Anthropic's OpenInference instrumentation uses the first
        asked = attrs.get(key)
        if requested is None and isinstance(asked, str) and asked:
            requested = asked
    name = attrs.get("llm.model_name")
    if isinstance(name, str) and name:
        if requested is None:
            yield Candidate("config.model", name, 4, "llm.model_name")
        elif name != requested:
            yield Candidate("metadata.response_model", name, 3, "llm.model_name")


def _embedding_suffix(name: str) -> Callable[[str], bool]:
    """Accepts `{i}.embedding.{name}` under `embedding.embeddings.`."""
    wanted = f"embedding.{name}"

    def accept(suffix: str) -> bool:
        index, _, rest = suffix.partition(".")
        return rest == wanted and index.isascii() and index.isdigit()

    return accept


def _tool_parameters(value: Any) -> dict[str, Any]:
    """`tool.parameters` is the tool's definition (the JSON schema of its parameters, as OpenInference's
    `@tracer.tool` and its Agents SDK instrumentation record it), not the arguments of the call (`input.value`):
    kept, parsed, in metadata under its own key, so a span whose arguments are hidden gets no inputs rather than
    the schema passed off as them."""
    return {"tool.parameters": maybe_json(value)}


def _indexed_values(pairs: list[tuple[str, Any]]) -> list[Any]:
    """`{i}.…` values (`{i}.embedding.text`, `{i}.prompt.text` …) as a list in index order."""
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


def _indexed_text(field: str) -> Callable[[str], bool]:
    """Accepts `{i}.{field}` (`llm.prompts.{i}.prompt.text`, `llm.choices.{i}.completion.text`)."""

    def accept(suffix: str) -> bool:
        index, _, rest = suffix.partition(".")
        return rest == field and index.isascii() and index.isdigit()

    return accept


def _prompt_messages(pairs: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text} for text in _indexed_values(pairs)]


def _prompt_list(value: Any) -> list[dict[str, Any]]:
    """`llm.prompts` as a list of strings (OpenInference's LangChain instrumentation, for a non-chat LLM)."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise ValueError("llm.prompts: not a list of prompts")
    return [{"role": "user", "content": jsonable(text)} for text in value]


def _choice_outputs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return output_from_messages([{"role": "assistant", "content": text} for text in _indexed_values(pairs)])


_INPUT_MESSAGES = ("llm.input_messages.0.message.role", "llm.input_messages.0.message.content")
_OUTPUT_MESSAGES = ("llm.output_messages.0.message.role", "llm.output_messages.0.message.content")
_INPUT_TEXTS = (*_INPUT_MESSAGES, "llm.prompts", "llm.prompts.0.prompt.text")
"""What carries an LLM call's input (so `input.value` repeats it): its messages, or a completion's prompts."""
_OUTPUT_TEXTS = (*_OUTPUT_MESSAGES, "llm.choices.0.completion.text")
REDACTED = "__REDACTED__"
"""What OpenInference records in place of a value its configuration hides (`OPENINFERENCE_HIDE_OUTPUTS` …)."""
_LLM_CALL = ("llm.model_name", "llm.invocation_parameters", *_INPUT_TEXTS, *_OUTPUT_TEXTS)
"""Keys of an LLM call's span (an embeddings call's has `embedding.*` instead): where `input.value` and
`output.value` are the request and the answer, as messages (or prompts and choices) or as themselves
(`_model_input_value`, `_model_output_value`)."""

CONVENTION: Convention = Convention(
    name="openinference",
    description="OpenInference (Arize Phoenix)",
    rules=(
        # Read by the extract below (a value that is not a JSON object stays in metadata as it is).
        Field("llm.invocation_parameters", None, convert=_json_object),
        Field("embedding.invocation_parameters", None, convert=_json_object),
        Field("llm.model_name", None, convert=str),
        Extract("invocation", _models_and_parameters,
                "`llm.invocation_parameters` / `embedding.invocation_parameters` split by meaning, then "
                "`llm.model_name`",
                ("config.model", "config.hyperparameters", "config.tools", "metadata.response_model"), rank=3,
                keys=("llm.model_name", *_INVOCATION_KEYS)),
        Field("embedding.model_name", "config.model", rank=5),
        Field("llm.response.model_name", "metadata.response_model", rank=2),
        Field("llm.provider", "config.provider", rank=3),
        Field("llm.system", "config.provider", rank=4),
        Field("llm.finish_reason", "metadata.finish_reasons", rank=2, convert=lambda v: [jsonable(v)],
              only=MODEL_CALL),
        Extract("output_finish_reason", _output_finish_reason, "`llm.finish_reason`, beside output messages",
                ("outputs.finish_reason",), rank=14, keys=("llm.finish_reason",)),
        Group("embedding.embeddings.", "inputs.texts", _indexed_values, rank=2, accept=_embedding_suffix("text"),
              label="embedding.embeddings.{i}.embedding.text"),
        Group("embedding.embeddings.", "outputs.embeddings", _indexed_values, rank=2,
              accept=_embedding_suffix("vector"), label="embedding.embeddings.{i}.embedding.vector"),
        Field("llm.prompt_template.template", "config.template", rank=1),
        Field("llm.prompt_template.variables", "inputs", rank=5, convert=as_bucket("variables"), merge=True),
        Group("llm.tools.", "config.tools", _tool_schemas, rank=2),
        Group("llm.input_messages.", "inputs.chat_history", indexed_history, rank=2, accept=indexed_suffix),
        Group("llm.output_messages.", "outputs", lambda p: output_from_messages(indexed_messages(p)), rank=12,
              accept=indexed_suffix),
        # The legacy completions API (OpenInference's spec: "Completions API (Legacy Text Completion)"): each
        # prompt a user message, each choice an answer.
        Group("llm.prompts.", "inputs.chat_history", _prompt_messages, rank=3, accept=_indexed_text("prompt.text"),
              label="llm.prompts.{i}.prompt.text"),
        Field("llm.prompts", "inputs.chat_history", rank=3, convert=_prompt_list),
        Group("llm.choices.", "outputs", _choice_outputs, rank=13, accept=_indexed_text("completion.text"),
              label="llm.choices.{i}.completion.text"),
        Field("llm.token_count.prompt", "metadata.prompt_tokens", rank=3, convert=to_int),
        Field("llm.token_count.completion", "metadata.completion_tokens", rank=3, convert=to_int),
        Field("llm.token_count.total", "metadata.total_tokens", rank=1, convert=to_int),
        Field("llm.token_count.prompt_details.cache_read", "metadata.cache_read_input_tokens", rank=3,
              convert=to_int),
        Field("llm.token_count.prompt_details.cache_write", "metadata.cache_creation_input_tokens", rank=3,
              convert=to_int),
        Field("llm.token_count.completion_details.reasoning", "metadata.reasoning_tokens", rank=3, convert=to_int),
        Field("llm.cost.total", "metadata.cost", rank=1, convert=to_number),
        # An LLM call's raw request and response repeat its messages or, without them, are its inputs and outputs
        # (the extracts below); a hidden one is kept.
        Field("input.value", None, only=MODEL, covered_by=_LLM_CALL, convert=refusing(REDACTED)),
        Field("input.mime_type", None, only=MODEL, covered_by=_LLM_CALL),
        Field("output.value", None, only=MODEL, covered_by=_LLM_CALL, convert=refusing(REDACTED)),
        Field("output.mime_type", None, only=MODEL, covered_by=_LLM_CALL),
        Extract("model_input_value", _model_input_value,
                "`input.value` of an LLM call without input messages or prompts", ("inputs",), rank=18,
                keys=("input.value",)),
        Extract("model_output_value", _model_output_value,
                "`output.value` of an LLM call without output messages or choices", ("outputs",), rank=18,
                keys=("output.value",)),
        Combine(("input.value", "input.mime_type"), "inputs", _value_with_mime("input.value",
                "input.mime_type", "input"), rank=2, only=NOT_MODEL),
        Combine(("output.value", "output.mime_type", _FIRST_DOCUMENT), "outputs", _output_value, rank=2,
                only=NOT_MODEL),
        Field("tool.parameters", "metadata", rank=4, convert=_tool_parameters, merge=True),
        Group("retrieval.documents.", "outputs.documents", _documents, rank=4),
        Field("user.id", "user_properties.user_id", rank=1),
        # OpenInference's `metadata` is a JSON object (LangChain's run metadata, `using_metadata`).
        Field("metadata", "metadata.metadata", rank=5, convert=_json_object),
        Extract("metadata_user", _metadata_user, "`user_id` in OpenInference's `metadata`",
                ("user_properties.user_id",), rank=6, keys=("metadata",)),
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
