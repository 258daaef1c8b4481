"""A LangChain app (a retriever, a prompt | model chain, a tool) traced by OpenInference's or Traceloop's LangChain
instrumentation, exported to HoneyHive.

    pip install otel-honeyhive langchain-core openinference-instrumentation-langchain
    HH_API_KEY=... HH_PROJECT=my-project python examples/langchain_app.py            # OpenInference
    pip install opentelemetry-instrumentation-langchain
    HH_API_KEY=... HH_PROJECT=my-project python examples/langchain_app.py traceloop  # Traceloop

It runs offline: the chat model is langchain-core's fake, answering a tool call and then the answer, with the
token usage a provider reports. Put your own model in its place (e.g. `ChatOpenAI(model="gpt-4o-mini")
.bind_tools([get_weather])`). Each chain step becomes a `chain` event, the model calls `model` events (model,
provider, messages, answer, tokens), the tool and the retriever `tool` events. `HH_API_URL` points elsewhere, e.g.
at a local `otel-honeyhive serve`. Prints the session id.
"""

import sys

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from langchain_core.tools import tool
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.mapper.identity import session_id_for_trace

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(HoneyHiveSpanExporter()))
trace.set_tracer_provider(provider)
if sys.argv[1:] == ["traceloop"]:
    from opentelemetry.instrumentation.langchain import LangchainInstrumentor

    LangchainInstrumentor().instrument()
else:
    from openinference.instrumentation.langchain import LangChainInstrumentor

    LangChainInstrumentor().instrument()


class FakeChat(GenericFakeChatModel):
    """The fake with a model name (LangChain reports it, and the provider "fake" from the class name)."""

    model_name: str = "fake-chat-1"


class Handbook(BaseRetriever):
    """A retriever: returns the handbook's pages (a vector store's retriever in a real app)."""

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [Document(page_content="Spans become HoneyHive events.", metadata={"page": 1})]


def join_pages(documents: list[Document]) -> str:
    """The pages as the prompt's context."""
    return "\n".join(d.page_content for d in documents)


@tool
def word_count(text: str) -> int:
    """Count the words of a text."""
    return len(text.split())


usage = {"input_tokens": 24, "output_tokens": 8, "total_tokens": 32}
model = FakeChat(messages=iter([
    AIMessage(content="", tool_calls=[{"name": "word_count", "args": {"text": "Spans become HoneyHive events."},
                                       "id": "call_1"}], usage_metadata=usage),
    AIMessage(content="The page has 4 words.", usage_metadata=usage),
]))
prompt = ChatPromptTemplate.from_messages([("system", "Context: {context}"), ("human", "{question}")])

context = Handbook() | RunnableLambda(join_pages)
chain = {"context": context, "question": RunnablePassthrough()} | prompt | model

with trace.get_tracer("handbook-bot").start_as_current_span("answer-question") as root:  # the session
    question = "How many words does the handbook page have?"
    asked = chain.invoke(question)
    results = [word_count.invoke(call) for call in asked.tool_calls]
    model.invoke([*prompt.invoke({"context": "...", "question": question}).to_messages(), asked, *results])
    session_id = session_id_for_trace(root.get_span_context().trace_id)

provider.shutdown()  # flushes: the session and its events are delivered before the process exits
print(session_id)
