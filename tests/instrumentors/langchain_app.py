"""The LangChain application the LangChain instrumentor tests run, each time in a process of its own (both
instrumentations register a callback handler in `langchain_core` globally).

    python -m tests.instrumentors.langchain_app openinference|traceloop

Real `langchain-core`, no network: a scripted chat model (langchain-core's `GenericFakeChatModel`, given tool
binding, a model name and the usage a provider reports), a real `@tool`, a small retriever, and a chain
(`{notes: retriever | format, question} | prompt | model`) inside one root span, exported by
`HoneyHiveSpanExporter` in a `BatchSpanProcessor` (`HH_API_URL`, `HH_PROJECT`). It prints one JSON line:
`{"session_id": ...}`.

The workload, in order: the chain retrieves notes, fills the prompt and asks the model, which answers with a call
of the `get_weather` tool; the tool runs on that call; the model, given the tool's result, answers in text. The call
comes as `langchain-anthropic`'s chat model gives it: a `tool_use` content block, and the same call in `tool_calls`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.base import LangSmithParams
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda, RunnableParallel, RunnablePassthrough
from langchain_core.tools import BaseTool, tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.mapper.identity import session_id_for_trace

ROOT_NAME = "answer-question"
MODEL = "scripted-chat-1"
PROVIDER = "scripted"
TEMPERATURE = 0.2
MAX_TOKENS = 64
QUESTION = "What is the weather in Paris?"
SYSTEM = "Answer from the notes; call a tool when they do not say.\nNotes:\n{notes}"
NOTES = [
    Document(page_content="Paris is the capital of France.", metadata={"source": "atlas", "page": 12}),
    Document(page_content="The weather changes daily.", metadata={"source": "almanac", "page": 3}),
]
CITY = "Paris"
TOOL_CALL_ID = "call_weather_1"
WEATHER = "sunny, 21 C"
ANSWER = "It is sunny and 21 C in Paris."
REPLIES = [
    AIMessage(
        content=[{"type": "tool_use", "id": TOOL_CALL_ID, "name": "get_weather", "input": {"city": CITY}}],
        tool_calls=[{"name": "get_weather", "args": {"city": CITY}, "id": TOOL_CALL_ID, "type": "tool_call"}],
        usage_metadata={"input_tokens": 42, "output_tokens": 9, "total_tokens": 51},
        response_metadata={"model_name": MODEL, "finish_reason": "tool_calls"},
    ),
    AIMessage(
        content=ANSWER,
        usage_metadata={"input_tokens": 60, "output_tokens": 11, "total_tokens": 71},
        response_metadata={"model_name": MODEL, "finish_reason": "stop"},
    ),
]
"""What the model answers, in order: a tool call, then the text. Usage as providers report it on the message."""


class ScriptedChatModel(GenericFakeChatModel):
    """langchain-core's fake chat model with what a provider's model has and the fake lacks: tool binding, a
    model name and sampling parameters in its invocation parameters, and LangSmith's provider/model params
    (which both instrumentations read)."""

    model_name: str = MODEL
    temperature: float = TEMPERATURE
    max_tokens: int = MAX_TOKENS

    @property
    def _llm_type(self) -> str:
        return "scripted-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "temperature": self.temperature, "max_tokens": self.max_tokens}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = PROVIDER
        params["ls_model_name"] = self.model_name
        params["ls_temperature"] = self.temperature
        params["ls_max_tokens"] = self.max_tokens
        return params

    def bind_tools(
        self, tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool], **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)


class NotesRetriever(BaseRetriever):
    """Returns the notes that share a word with the query (all of them here: deterministic, no index)."""

    notes: list[Document]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return list(self.notes)


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return WEATHER


def format_notes(documents: list[Document]) -> str:
    return "\n".join(d.page_content for d in documents)


def workload(model: ScriptedChatModel) -> str:
    """The chain asks (tool call), the tool answers, the model answers with the tool's result."""
    with_tools = model.bind_tools([get_weather])
    prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", "{question}")])
    retriever = NotesRetriever(notes=NOTES)
    notes = retriever | RunnableLambda(format_notes)
    rag: Runnable[str, AIMessage] = (
        RunnableParallel(notes=notes, question=RunnablePassthrough()) | prompt | with_tools
    )
    asked = rag.invoke(QUESTION)
    results: list[BaseMessage] = [get_weather.invoke(call) for call in asked.tool_calls]
    assert all(isinstance(r, ToolMessage) for r in results)
    history = [*prompt.invoke({"notes": format_notes(NOTES), "question": QUESTION}).to_messages(), asked, *results]
    answer = with_tools.invoke(history)
    return str(answer.content)


def instrument(name: str, provider: TracerProvider) -> None:
    if name == "openinference":
        from openinference.instrumentation.langchain import LangChainInstrumentor

        LangChainInstrumentor().instrument(tracer_provider=provider)
    elif name == "traceloop":
        from opentelemetry.instrumentation.langchain import LangchainInstrumentor

        LangchainInstrumentor().instrument(tracer_provider=provider)
    else:
        raise SystemExit(f"unknown instrumentor {name!r}")


def run(name: str, exporter: SpanExporter) -> str:
    """Instrument with `name`, run the workload in a root span, flush; the session id."""
    provider = TracerProvider(resource=Resource.create({"service.name": f"langchain-{name}"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    instrument(name, provider)
    tracer = provider.get_tracer("tests.instrumentors.langchain_app")
    with tracer.start_as_current_span(ROOT_NAME) as root:
        assert workload(ScriptedChatModel(messages=iter(REPLIES))) == ANSWER
        trace_id = root.get_span_context().trace_id
    provider.shutdown()
    return session_id_for_trace(trace_id)


def main(name: str) -> None:
    print(json.dumps({"session_id": run(name, HoneyHiveSpanExporter())}))


if __name__ == "__main__":
    main(sys.argv[1])
