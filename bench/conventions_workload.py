"""The same LLM traces written in each instrumentation convention the mapper knows, by the real OpenTelemetry SDK.

One seed-driven plan (trace sizes, prompt sizes, texts, tool calls) is rendered once per convention, so the
workloads differ only in how the convention spells the same facts. Each trace: a root (agent / workflow / chain),
then 4–14 steps cycling retriever → model → tool; a model call answers with a tool call about half the time
when a tool follows, and the next model call then carries that call and its result in its history. Prompts are
2–20 KB. The attribute keys are the ones the instrumentations emit (`tests/mapper/`, `tests/instrumentors/`).

Used by `bench/mapper_conventions.py`.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from workload import WORDS, make_traces

Message = dict[str, Any]
"""A chat message in OpenAI's shape (`role`, `content`, `tool_calls: [{id, type, function: {name, arguments}}]`,
`tool_call_id`): the plan's neutral form, which each convention re-spells."""

MODEL = "gpt-4o"
RESPONSE_MODEL = "gpt-4o-2024-08-06"
SYSTEM = "You are a support agent. Answer from the retrieved context only, cite document ids, and say so when " \
         "the context does not contain the answer."
TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "search", "description": "Search the web for recent information",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}},
    {"type": "function", "function": {
        "name": "lookup_order", "description": "Order status by order id",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}},
]


# -- the plan: what happens in each trace, independent of any convention ------------------------------------------


@dataclass(frozen=True, slots=True)
class Doc:
    id: str
    content: str
    score: float
    source: str


@dataclass(frozen=True, slots=True)
class Retrieval:
    query: str
    docs: tuple[Doc, ...]
    failed: bool


@dataclass(frozen=True, slots=True)
class ToolCall:
    call_id: str
    name: str
    arguments: dict[str, Any]
    result: dict[str, Any]
    failed: bool


@dataclass(frozen=True, slots=True)
class ModelCall:
    messages: tuple[Message, ...]
    output: Message
    finish_reason: str
    input_tokens: int
    output_tokens: int
    response_id: str
    temperature: float
    max_tokens: int


Step = Retrieval | ModelCall | ToolCall


@dataclass(frozen=True, slots=True)
class TracePlan:
    question: str
    answer: str
    user_id: str
    conversation_id: str
    session_uuid: str
    steps: tuple[Step, ...]


class _Texts:
    """Text of a given size, sliced from one seeded corpus: drawing words per span would dominate building."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.corpus = " ".join(rng.choice(WORDS) for _ in range(20_000))  # ~140 KB

    def take(self, size: int) -> str:
        start = self.rng.randrange(len(self.corpus) - size)
        return self.corpus[start : start + size]


def plan_traces(n_spans: int, seed: int = 7) -> list[TracePlan]:
    """Whole traces of 5–15 spans until there are at least `n_spans` spans."""
    rng = random.Random(seed)
    texts = _Texts(rng)
    plans: list[TracePlan] = []
    made = 0
    while made < n_spans:
        size = rng.randint(5, 15)
        question = texts.take(rng.randint(80, 200))
        steps: list[Step] = []
        pending: tuple[Message, Message] | None = None  # the last tool call and its result, for the next model
        kinds = [i % 3 for i in range(size - 1)]  # 0 retriever, 1 model, 2 tool
        call: tuple[str, str, dict[str, Any]] | None = None
        for i, kind in enumerate(kinds):
            if kind == 0:
                docs = tuple(
                    Doc(f"doc-{rng.randrange(10**6):06d}", texts.take(rng.randint(300, 900)),
                        round(rng.uniform(0.5, 0.99), 4), rng.choice(("kb", "faq", "manual")))
                    for _ in range(rng.randint(2, 4))
                )
                steps.append(Retrieval(texts.take(rng.randint(60, 160)), docs, rng.random() < 0.1))
            elif kind == 1:
                messages: list[Message] = [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": texts.take(rng.randint(2_000, 20_000))},
                ]
                if pending is not None:
                    messages.extend(pending)
                    pending = None
                tool_next = i + 1 < len(kinds) and kinds[i + 1] == 2
                response_id = f"chatcmpl-{rng.getrandbits(64):016x}"
                if tool_next and rng.random() < 0.5:
                    name = rng.choice(("search", "lookup_order"))
                    arguments = {"q": texts.take(40)} if name == "search" else {"order_id": f"A{rng.randrange(10**6)}"}
                    call = (f"call_{rng.getrandbits(64):016x}", name, arguments)
                    output: Message = {"role": "assistant", "tool_calls": [
                        {"id": call[0], "type": "function",
                         "function": {"name": name, "arguments": json.dumps(arguments)}}]}
                    finish = "tool_calls"
                else:
                    output = {"role": "assistant", "content": texts.take(rng.randint(200, 800))}
                    finish = "stop"
                prompt_chars = sum(len(m.get("content") or "") for m in messages)
                steps.append(ModelCall(tuple(messages), output, finish, prompt_chars // 4, rng.randint(20, 200),
                                       response_id, 0.2, 512))
            else:
                if call is None:  # the agent's own tool call, not one a model asked for
                    call = (f"call_{rng.getrandbits(64):016x}", "search", {"q": texts.take(40)})
                call_id, name, arguments = call
                call = None
                result = {"hits": [texts.take(rng.randint(80, 240)) for _ in range(rng.randint(1, 3))]}
                failed = rng.random() < 0.1
                steps.append(ToolCall(call_id, name, arguments, result, failed))
                if isinstance(steps[-2], ModelCall) and "tool_calls" in steps[-2].output:
                    pending = (steps[-2].output, {"role": "tool", "tool_call_id": call_id,
                                                  "content": "error" if failed else json.dumps(result)})
        plans.append(TracePlan(question, texts.take(rng.randint(200, 600)), f"user-{rng.randrange(1000)}",
                               f"conv-{rng.getrandbits(32):08x}", str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                               tuple(steps)))
        made += size
    return plans


# -- rendering helpers ---------------------------------------------------------------------------------------------


@dataclass
class Workload:
    name: str
    description: str
    spans: list[ReadableSpan]
    expected: dict[tuple[int, int], str] = field(default_factory=dict)
    """(trace id, span id) → the event type the span must become."""
    failed: set[tuple[int, int]] = field(default_factory=set)
    """Spans carrying an exception: their events must have an `error`."""


class _Recorder:
    """Starts spans the way instrumentations do and notes what each one must become."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer
        self.expected: dict[tuple[int, int], str] = {}
        self.failed: set[tuple[int, int]] = set()

    @contextmanager
    def span(self, name: str, attributes: dict[str, Any], event_type: str,
             kind: SpanKind = SpanKind.INTERNAL) -> Iterator[Span]:
        with self.tracer.start_as_current_span(name, kind=kind, record_exception=False,
                                               set_status_on_exception=False) as span:
            assert isinstance(span, Span)
            span.set_attributes(attributes)
            ctx = span.get_span_context()
            self.expected[(ctx.trace_id, ctx.span_id)] = event_type
            yield span

    def fail(self, span: Span, exc: Exception) -> None:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR))
        ctx = span.get_span_context()
        self.failed.add((ctx.trace_id, ctx.span_id))


def _failure(step: Retrieval | ToolCall) -> Exception:
    return TimeoutError("upstream timed out after 30s") if isinstance(step, ToolCall) else \
        ConnectionError("vector store unavailable")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _tool_calls(message: Message) -> list[tuple[str, str, str]]:
    return [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls", ())]


def _parts(message: Message) -> dict[str, Any]:
    """GenAI parts format (`gen_ai.input.messages`)."""
    parts: list[dict[str, Any]] = []
    if message["role"] == "tool":
        parts.append({"type": "tool_call_response", "id": message["tool_call_id"], "response": message["content"]})
    elif message.get("content"):
        parts.append({"type": "text", "content": message["content"]})
    parts.extend({"type": "tool_call", "id": i, "name": n, "arguments": json.loads(a)}
                 for i, n, a in _tool_calls(message))
    return {"role": message["role"], "parts": parts}


def _flattened(prefix: str, messages: tuple[Message, ...] | list[Message]) -> dict[str, Any]:
    """`gen_ai.prompt.{i}.role/content/tool_calls.{k}.*` as OpenLLMetry writes them."""
    out: dict[str, Any] = {}
    for i, m in enumerate(messages):
        out[f"{prefix}.{i}.role"] = m["role"]
        if m.get("content"):
            out[f"{prefix}.{i}.content"] = m["content"]
        if "tool_call_id" in m:
            out[f"{prefix}.{i}.tool_call_id"] = m["tool_call_id"]
        for k, (call_id, name, arguments) in enumerate(_tool_calls(m)):
            out[f"{prefix}.{i}.tool_calls.{k}.id"] = call_id
            out[f"{prefix}.{i}.tool_calls.{k}.name"] = name
            out[f"{prefix}.{i}.tool_calls.{k}.arguments"] = arguments
    return out


def _oi_messages(prefix: str, messages: tuple[Message, ...] | list[Message]) -> dict[str, Any]:
    """OpenInference `llm.input_messages.{i}.message.*`."""
    out: dict[str, Any] = {}
    for i, m in enumerate(messages):
        out[f"{prefix}.{i}.message.role"] = m["role"]
        if m.get("content"):
            out[f"{prefix}.{i}.message.content"] = m["content"]
        if "tool_call_id" in m:
            out[f"{prefix}.{i}.message.tool_call_id"] = m["tool_call_id"]
        for k, (call_id, name, arguments) in enumerate(_tool_calls(m)):
            base = f"{prefix}.{i}.message.tool_calls.{k}.tool_call"
            out[f"{base}.id"] = call_id
            out[f"{base}.function.name"] = name
            out[f"{base}.function.arguments"] = arguments
    return out


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    """HoneyHive's SDK flattening: dicts as `prefix.key`, lists as `prefix.0`; None left out."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(f"{prefix}.{key}", item)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _flatten(f"{prefix}.{i}", item)
    elif value is not None:
        yield prefix, value


def _docs_json(docs: tuple[Doc, ...]) -> str:
    return _dumps([{"id": d.id, "score": d.score, "content": d.content, "metadata": {"source": d.source}}
                   for d in docs])


# -- one renderer per convention -----------------------------------------------------------------------------------
# Each writes one trace; the root's event type is `session` (its trace's session) unless the convention says
# otherwise.


def _genai_parts(r: _Recorder, plan: TracePlan) -> None:
    root = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support-bot", "gen_ai.agent.id": "asst_1",
            "gen_ai.provider.name": "openai", "gen_ai.conversation.id": plan.conversation_id,
            "gen_ai.input.messages": _dumps([_parts({"role": "user", "content": plan.question})]),
            "gen_ai.output.messages": _dumps([{**_parts({"role": "assistant", "content": plan.answer}),
                                               "finish_reason": "stop"}])}
    with r.span("invoke_agent support-bot", root, "session"):
        attrs: dict[str, Any]
        for step in plan.steps:
            if isinstance(step, Retrieval):
                attrs = {"gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": "kb-products",
                         "gen_ai.retrieval.query.text": step.query, "gen_ai.retrieval.top_k": len(step.docs),
                         "gen_ai.retrieval.documents": _docs_json(step.docs)}
                with r.span("retrieval kb-products", attrs, "tool"):
                    pass
            elif isinstance(step, ModelCall):
                output = {**_parts(step.output), "finish_reason": "tool_call" if step.output.get("tool_calls")
                          else "stop"}
                attrs = {
                    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": MODEL,
                    "gen_ai.request.temperature": step.temperature, "gen_ai.request.max_tokens": step.max_tokens,
                    "gen_ai.request.top_p": 1.0, "server.address": "api.openai.com", "server.port": 443,
                    "gen_ai.conversation.id": plan.conversation_id,
                    "gen_ai.system_instructions": _dumps([{"type": "text", "content": step.messages[0]["content"]}]),
                    "gen_ai.input.messages": _dumps([_parts(m) for m in step.messages[1:]]),
                    "gen_ai.tool.definitions": _dumps([{"type": "function", **t["function"]} for t in TOOLS]),
                    "gen_ai.response.model": RESPONSE_MODEL, "gen_ai.response.id": step.response_id,
                    "gen_ai.response.finish_reasons": (step.finish_reason,),
                    "gen_ai.usage.input_tokens": step.input_tokens, "gen_ai.usage.output_tokens": step.output_tokens,
                    "gen_ai.output.messages": _dumps([output]),
                }
                with r.span(f"chat {MODEL}", attrs, "model", SpanKind.CLIENT):
                    pass
            else:
                attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": step.name,
                         "gen_ai.tool.type": "function", "gen_ai.tool.call.id": step.call_id,
                         "gen_ai.tool.call.arguments": _dumps(step.arguments),
                         "gen_ai.tool.call.result": _dumps(step.result)}
                with r.span(f"execute_tool {step.name}", attrs, "tool"):
                    pass


def _genai_flattened(r: _Recorder, plan: TracePlan) -> None:
    """The GenAI conventions before the parts format (≤ v1.36): `gen_ai.system`, prompt/completion token keys,
    messages flattened into indexed keys, no operation name on the model span (typed by its model and
    messages)."""
    root = {"gen_ai.agent.name": "support-bot", "gen_ai.system": "openai"}
    with r.span("support-bot", root, "session"):
        attrs: dict[str, Any]
        for step in plan.steps:
            if isinstance(step, ModelCall):
                attrs = {
                    "gen_ai.system": "openai", "gen_ai.request.model": MODEL,
                    "gen_ai.request.temperature": step.temperature, "gen_ai.request.max_tokens": step.max_tokens,
                    "gen_ai.request.top_p": 1.0, "server.address": "api.openai.com",
                    **_flattened("gen_ai.prompt", step.messages),
                    "gen_ai.response.model": RESPONSE_MODEL, "gen_ai.response.id": step.response_id,
                    "gen_ai.response.finish_reasons": (step.finish_reason,),
                    "gen_ai.usage.prompt_tokens": step.input_tokens,
                    "gen_ai.usage.completion_tokens": step.output_tokens,
                    **_flattened("gen_ai.completion", [step.output]),
                    "gen_ai.completion.0.finish_reason": step.finish_reason,
                }
                with r.span(f"chat {MODEL}", attrs, "model", SpanKind.CLIENT):
                    pass
            else:
                _genai_tool(r, step)


def _genai_tool(r: _Recorder, step: Retrieval | ToolCall, events: bool = False) -> None:
    """A GenAI `execute_tool` span; a retriever is a datastore tool. With `events`, failures are recorded."""
    if isinstance(step, Retrieval):
        name, call_id, arguments = "vector_search", None, {"query": step.query, "top_k": len(step.docs)}
        result: Any = [{"id": d.id, "score": d.score, "content": d.content} for d in step.docs]
        tool_type = "datastore"
    else:
        name, call_id, arguments, result, tool_type = step.name, step.call_id, step.arguments, step.result, "function"
    attrs: dict[str, Any] = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
                             "gen_ai.tool.type": tool_type, "gen_ai.tool.call.arguments": _dumps(arguments)}
    if call_id is not None:
        attrs["gen_ai.tool.call.id"] = call_id
    failing = events and step.failed
    if not failing:
        attrs["gen_ai.tool.call.result"] = _dumps(result)
    with r.span(f"execute_tool {name}", attrs, "tool") as span:
        if failing:
            r.fail(span, _failure(step))


def _openllmetry(r: _Recorder, plan: TracePlan) -> None:
    """OpenLLMetry / Traceloop as its SDK and its pre-0.4x OpenAI instrumentation wrote them: `@workflow` /
    `@task` / `@tool` spans with JSON entity input and output, `llm.request.type`, flattened `gen_ai.prompt.*`;
    association properties on every span."""
    assoc = {"traceloop.workflow.name": "support_bot",
             "traceloop.association.properties.user_id": plan.user_id,
             "traceloop.association.properties.session_id": plan.conversation_id}
    root = {**assoc, "traceloop.span.kind": "workflow", "traceloop.entity.name": "support_bot",
            "traceloop.entity.input": _dumps({"args": [plan.question], "kwargs": {}}),
            "traceloop.entity.output": _dumps(plan.answer)}
    with r.span("support_bot.workflow", root, "session"):
        attrs: dict[str, Any]
        for step in plan.steps:
            if isinstance(step, Retrieval):
                attrs = {**assoc, "traceloop.span.kind": "task", "traceloop.entity.name": "retrieve",
                         "traceloop.entity.path": "support_bot",
                         "traceloop.entity.input": _dumps({"args": [step.query], "kwargs": {"k": len(step.docs)}}),
                         "traceloop.entity.output": _docs_json(step.docs)}
                # A task (LangChain's retriever callback writes one too): a chain by rule 5, though a leaf.
                with r.span("retrieve.task", attrs, "chain"):
                    pass
            elif isinstance(step, ModelCall):
                functions: dict[str, Any] = {}
                for i, t in enumerate(TOOLS):
                    f = t["function"]
                    functions[f"llm.request.functions.{i}.name"] = f["name"]
                    functions[f"llm.request.functions.{i}.description"] = f["description"]
                    functions[f"llm.request.functions.{i}.parameters"] = json.dumps(f["parameters"])
                attrs = {
                    **assoc, "llm.request.type": "chat", "gen_ai.system": "OpenAI", "gen_ai.request.model": MODEL,
                    "gen_ai.request.temperature": step.temperature, "gen_ai.request.max_tokens": step.max_tokens,
                    "llm.is_streaming": False, "gen_ai.openai.api_base": "https://api.openai.com/v1/",
                    "llm.headers": "None", **functions, **_flattened("gen_ai.prompt", step.messages),
                    "gen_ai.response.model": RESPONSE_MODEL, "gen_ai.response.id": step.response_id,
                    "llm.usage.total_tokens": step.input_tokens + step.output_tokens,
                    "gen_ai.usage.completion_tokens": step.output_tokens,
                    "gen_ai.usage.prompt_tokens": step.input_tokens,
                    **_flattened("gen_ai.completion", [step.output]),
                    "gen_ai.completion.0.finish_reason": step.finish_reason,
                }
                with r.span("openai.chat", attrs, "model", SpanKind.CLIENT):
                    pass
            else:
                attrs = {**assoc, "traceloop.span.kind": "tool", "traceloop.entity.name": step.name,
                         "traceloop.entity.path": "support_bot",
                         "traceloop.entity.input": _dumps({"args": [], "kwargs": step.arguments}),
                         "traceloop.entity.output": _dumps(step.result)}
                with r.span(f"{step.name}.tool", attrs, "tool"):
                    pass


def _openinference(r: _Recorder, plan: TracePlan) -> None:
    """OpenInference as its OpenAI instrumentation and `using_attributes` write it: the whole request and response
    bodies in `input.value` / `output.value` beside the indexed messages, session and user on every span."""
    ctx = {"session.id": plan.conversation_id, "user.id": plan.user_id}
    root = {**ctx, "openinference.span.kind": "AGENT", "input.value": _dumps({"question": plan.question}),
            "input.mime_type": "application/json", "output.value": plan.answer, "output.mime_type": "text/plain"}
    with r.span("support_bot", root, "session"):
        attrs: dict[str, Any]
        for step in plan.steps:
            if isinstance(step, Retrieval):
                attrs = {**ctx, "openinference.span.kind": "RETRIEVER", "input.value": step.query}
                for i, d in enumerate(step.docs):
                    attrs[f"retrieval.documents.{i}.document.id"] = d.id
                    attrs[f"retrieval.documents.{i}.document.score"] = d.score
                    attrs[f"retrieval.documents.{i}.document.content"] = d.content
                    attrs[f"retrieval.documents.{i}.document.metadata"] = _dumps({"source": d.source})
                with r.span("retrieve", attrs, "tool"):
                    pass
            elif isinstance(step, ModelCall):
                params = {"model": MODEL, "temperature": step.temperature, "max_tokens": step.max_tokens}
                response = {"id": step.response_id, "object": "chat.completion", "created": 1735689600,
                            "model": RESPONSE_MODEL,
                            "choices": [{"index": 0, "finish_reason": step.finish_reason, "logprobs": None,
                                         "message": {"content": None, "refusal": None, **step.output}}],
                            "usage": {"prompt_tokens": step.input_tokens, "completion_tokens": step.output_tokens,
                                      "total_tokens": step.input_tokens + step.output_tokens}}
                attrs = {
                    **ctx, "llm.system": "openai", "llm.provider": "openai",
                    "input.value": json.dumps({**params, "messages": list(step.messages), "tools": TOOLS}),
                    "input.mime_type": "application/json",
                    "output.value": _dumps(response), "output.mime_type": "application/json",
                    **{f"llm.tools.{i}.tool.json_schema": json.dumps(t) for i, t in enumerate(TOOLS)},
                    "llm.invocation_parameters": json.dumps(params),
                    **_oi_messages("llm.input_messages", step.messages),
                    "llm.model_name": RESPONSE_MODEL,
                    "llm.token_count.total": step.input_tokens + step.output_tokens,
                    "llm.token_count.prompt": step.input_tokens,
                    "llm.token_count.completion": step.output_tokens,
                    **_oi_messages("llm.output_messages", [step.output]),
                    "llm.finish_reason": step.finish_reason,
                    "openinference.span.kind": "LLM",
                }
                with r.span("ChatCompletion", attrs, "model"):
                    pass
            else:
                schema = next(t["function"] for t in TOOLS if t["function"]["name"] == step.name)
                attrs = {**ctx, "openinference.span.kind": "TOOL", "tool.name": step.name,
                         "tool.description": schema["description"], "tool.parameters": json.dumps(schema["parameters"]),
                         "input.value": _dumps(step.arguments), "input.mime_type": "application/json",
                         "output.value": _dumps(step.result), "output.mime_type": "application/json"}
                with r.span(step.name, attrs, "tool"):
                    pass


def _honeyhive(r: _Recorder, plan: TracePlan) -> None:
    """HoneyHive's SDK: `@trace` + `enrich_span` flattened buckets, its session (started over the API) on every
    span, so the root is a `chain` under that session rather than the session itself."""
    common = {"honeyhive.session_id": plan.session_uuid, "honeyhive.project": "bench", "honeyhive.source": "bench"}

    def buckets(**values: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for bucket, value in values.items():
            out.update(_flatten(f"honeyhive_{bucket}", value))
        return out

    root = {**common, "honeyhive_event_type": "chain",
            **buckets(inputs={"question": plan.question}, outputs={"answer": plan.answer},
                      metadata={"agent": "support-bot"}, user_properties={"user_id": plan.user_id})}
    with r.span("support_bot", root, "chain"):
        attrs: dict[str, Any]
        for step in plan.steps:
            if isinstance(step, Retrieval):
                docs = [{"id": d.id, "content": d.content, "score": d.score, "source": d.source} for d in step.docs]
                attrs = {**common, "honeyhive_event_type": "tool",
                         **buckets(inputs={"query": step.query, "top_k": len(step.docs)}, outputs={"result": docs},
                                   config={"index": "kb-products"})}
                with r.span("retrieve", attrs, "tool"):
                    pass
            elif isinstance(step, ModelCall):
                attrs = {**common, "honeyhive_event_type": "model", **buckets(
                    config={"model": MODEL, "provider": "openai",
                            "hyperparameters": {"temperature": step.temperature, "max_tokens": step.max_tokens}},
                    inputs={"chat_history": list(step.messages)},
                    outputs={**step.output, "finish_reason": step.finish_reason},
                    metadata={"prompt_tokens": step.input_tokens, "completion_tokens": step.output_tokens,
                              "total_tokens": step.input_tokens + step.output_tokens,
                              "response_model": RESPONSE_MODEL}),
                    "honeyhive_config.tools": json.dumps(TOOLS)}  # JSON, as the SDK may
                with r.span("chat", attrs, "model"):
                    pass
            else:
                attrs = {**common, "honeyhive_event_type": "tool",
                         **buckets(inputs=step.arguments, outputs={"result": step.result},
                                   metadata={"tool_call_id": step.call_id})}
                with r.span(step.name, attrs, "tool"):
                    pass


def _span_events(r: _Recorder, plan: TracePlan, which: int) -> None:
    """GenAI content as span events (no message attributes): per-role `gen_ai.*.message` + `gen_ai.choice`
    events on even traces, OpenLLMetry's `gen_ai.content.prompt` / `gen_ai.content.completion` on odd ones;
    failing tools and retrievers record an `exception` event and an ERROR status."""
    root = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support-bot"}
    with r.span("invoke_agent support-bot", root, "session"):
        for step in plan.steps:
            if not isinstance(step, ModelCall):
                _genai_tool(r, step, events=True)
                continue
            attrs: dict[str, Any] = {
                "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": MODEL,
                "gen_ai.request.temperature": step.temperature, "gen_ai.request.max_tokens": step.max_tokens,
                "gen_ai.response.model": RESPONSE_MODEL, "gen_ai.response.id": step.response_id,
                "gen_ai.response.finish_reasons": (step.finish_reason,),
                "gen_ai.usage.input_tokens": step.input_tokens, "gen_ai.usage.output_tokens": step.output_tokens,
            }
            with r.span(f"chat {MODEL}", attrs, "model", SpanKind.CLIENT) as span:
                if which % 2 == 0:
                    for m in step.messages:
                        event: dict[str, Any] = {"gen_ai.system": "openai"}
                        if m.get("content"):
                            event["content"] = m["content"]
                        if m.get("tool_calls"):
                            event["tool_calls"] = json.dumps(m["tool_calls"])
                        if "tool_call_id" in m:
                            event["id"] = m["tool_call_id"]
                        span.add_event(f"gen_ai.{m['role']}.message", event)
                    span.add_event("gen_ai.choice", {"gen_ai.system": "openai", "index": 0,
                                                     "finish_reason": step.finish_reason,
                                                     "message": json.dumps(step.output)})
                else:
                    span.add_event("gen_ai.content.prompt", {"gen_ai.prompt": json.dumps(list(step.messages))})
                    span.add_event("gen_ai.content.completion", {"gen_ai.completion": json.dumps(
                        [{**step.output, "finish_reason": step.finish_reason}])})


# -- building workloads ----------------------------------------------------------------------------------------------

Renderer = Callable[[_Recorder, TracePlan, int], None]

CONVENTIONS: dict[str, tuple[str, Renderer]] = {
    "genai-parts": ("GenAI semconv, JSON parts format", lambda r, p, i: _genai_parts(r, p)),
    "genai-flattened": ("GenAI semconv ≤1.36, flattened gen_ai.prompt.*", lambda r, p, i: _genai_flattened(r, p)),
    "openllmetry": ("OpenLLMetry / Traceloop", lambda r, p, i: _openllmetry(r, p)),
    "openinference": ("OpenInference", lambda r, p, i: _openinference(r, p)),
    "honeyhive-sdk": ("HoneyHive SDK attributes", lambda r, p, i: _honeyhive(r, p)),
    "span-events": ("GenAI content as span events + exceptions", _span_events),
}
MIXED = "mixed"


def build(name: str, plans: list[TracePlan]) -> Workload:
    """The plan's traces written in convention `name`, recorded by the SDK."""
    description, render = CONVENTIONS[name]
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": f"bench-{name}",
                                                       "deployment.environment": "bench"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    recorder = _Recorder(provider.get_tracer(f"bench.{name}", "1.0"))
    for i, plan in enumerate(plans):
        render(recorder, plan, i)
    provider.shutdown()
    return Workload(name, description, list(memory.get_finished_spans()), recorder.expected, recorder.failed)


def build_mixed(n_spans: int, seed: int = 7) -> Workload:
    """`workload.make_traces` (several conventions on one trace, as bench/exporter_overhead.py sends), whole
    traces only: `make_traces` cuts its last trace, so it is asked for a little more and the cut trace dropped."""
    spans = make_traces(n_spans + 15, seed)
    traces: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        assert span.context is not None
        traces.setdefault(span.context.trace_id, []).append(span)
    kept: list[ReadableSpan] = []
    for group in traces.values():
        if len(kept) >= n_spans:
            break
        if any(s.parent is None for s in group):  # the root ends last: a cut trace lacks it
            kept.extend(group)
    expected: dict[tuple[int, int], str] = {}
    for span in kept:
        assert span.context is not None
        attrs = span.attributes or {}
        if span.parent is None:
            kind = "session"
        elif attrs.get("gen_ai.operation.name") == "chat":
            kind = "model"
        else:
            kind = "tool"  # retriever (OpenInference RETRIEVER) and execute_tool spans
        expected[(span.context.trace_id, span.context.span_id)] = kind
    return Workload(MIXED, "bench/workload.make_traces (mixed conventions)", kept, expected)


def attribute_bytes(span: ReadableSpan) -> int:
    """Keys and values of the span's attributes and of its events' attributes (content may live in either)."""
    def size(attrs: Any) -> int:
        total = 0
        for key, value in (attrs or {}).items():
            total += len(key)
            if isinstance(value, str):
                total += len(value.encode())
            elif isinstance(value, (tuple, list)):
                total += sum(len(str(v)) for v in value)
            else:
                total += len(str(value))
        return total

    return size(span.attributes) + sum(size(e.attributes) for e in span.events)


__all__ = ["CONVENTIONS", "MIXED", "Workload", "attribute_bytes", "build", "build_mixed", "plan_traces"]
