"""What a LangChain application becomes in HoneyHive under OpenInference's and Traceloop's LangChain
instrumentations, field by field.

For each instrumentation, `tests/instrumentors/langchain_app.py` runs in a process of its own: real
`langchain-core` with a scripted chat model (no network), a real `@tool`, a retriever and a chain
(`{notes: retriever | format, question} | prompt | model`), inside one root span, exported by
`HoneyHiveSpanExporter` to a real `otel-honeyhive serve`. The events in the server's store are compared with what
the app sent and what the scripted model answered: the chain asks (the model calls `get_weather`), the tool runs,
the model answers with the tool's result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.instrumentors.langchain_app import (
    ANSWER,
    CITY,
    MAX_TOKENS,
    MODEL,
    NOTES,
    PROVIDER,
    QUESTION,
    REPLIES,
    ROOT_NAME,
    SYSTEM,
    TEMPERATURE,
    TOOL_CALL_ID,
    WEATHER,
    format_notes,
)
from tests.support.server import RunningServer, run_server

pytestmark = pytest.mark.slow  # an app process per instrumentation, and a server

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Variant:
    """One instrumentation, and how it names and records what the app did."""

    id: str
    model_name: str
    """Event name of a chat model call."""
    tool_name: str
    retriever_name: str
    rag_chain_name: str
    """Event name of the chain `{notes, question} | prompt | model`."""
    tool_inputs: Callable[[dict[str, Any]], Any]
    """Where the tool's arguments are in its event's `inputs`."""
    tool_result: Callable[[dict[str, Any]], Any]
    """Where the tool's result is in its event's `outputs` (both record LangChain's ToolMessage)."""
    document_text: str
    """The key of a document's text in `outputs.documents`."""


VARIANTS = [
    Variant(
        "openinference", "ScriptedChatModel", "get_weather", "NotesRetriever", "RunnableSequence",
        # OpenInference records a one-argument tool's input as that argument's value: its name is not kept.
        tool_inputs=lambda inputs: inputs["input"],
        tool_result=lambda outputs: outputs["data"]["content"],
        document_text="content",  # `retrieval.documents.*`
    ),
    Variant(
        "traceloop", "ScriptedChatModel.chat", "execute_tool get_weather", "vector_db_retrieve NotesRetriever",
        "RunnableSequence.workflow",
        # Traceloop records LangChain's callback arguments: the parsed arguments are under `inputs`.
        tool_inputs=lambda inputs: inputs["inputs"],
        tool_result=lambda outputs: outputs["output"]["kwargs"]["content"],
        document_text="page_content",
    ),
]


@dataclass
class Run:
    variant: Variant
    session_id: str
    events: list[dict[str, Any]]

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event_name"] == name]

    def one(self, name: str) -> dict[str, Any]:
        [event] = self.named(name)
        return event

    @property
    def models(self) -> list[dict[str, Any]]:
        """The two model calls, in order (the app makes them one after the other)."""
        models = sorted((e for e in self.events if e["event_type"] == "model"), key=lambda e: e["start_time"])
        assert len(models) == len(REPLIES), [e["event_name"] for e in self.events]
        return models

    def by_id(self, event_id: str) -> dict[str, Any]:
        return next(e for e in self.events if e["event_id"] == event_id)

    @property
    def rag(self) -> dict[str, Any]:
        """The chain the app invoked (OpenInference names the inner `retriever | format` sequence alike)."""
        [chain] = [e for e in self.named(self.variant.rag_chain_name) if e["parent_id"] == self.session_id]
        return chain


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("langchain")) as running:
        yield running


@pytest.fixture(scope="module", params=[pytest.param(v, id=v.id) for v in VARIANTS])
def run(request: pytest.FixtureRequest, server: RunningServer) -> Run:
    variant: Variant = request.param
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_", "OPENAI_", "TRACELOOP_"))}
    env.update(HH_API_URL=server.url, HH_PROJECT="langchain", OTEL_METRICS_EXPORTER="none",
               OTEL_LOGS_EXPORTER="none")
    done = subprocess.run([sys.executable, "-m", "tests.instrumentors.langchain_app", variant.id], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    session_id = json.loads(done.stdout.strip().splitlines()[-1])["session_id"]
    with server.store() as store:
        events = store.session_events(session_id)
    return Run(variant, session_id, events)


def as_json(value: Any) -> Any:
    """Tool-call arguments compared as JSON values (OpenInference records a JSON string, Traceloop an object)."""
    if isinstance(value, dict):
        return {k: json.loads(v) if k == "arguments" and isinstance(v, str) else as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return value


PROMPT = [
    {"role": "system", "content": SYSTEM.format(notes=format_notes(NOTES))},
    {"role": "user", "content": QUESTION},
]
TOOL_CALL = {"id": TOOL_CALL_ID, "type": "function", "function": {"name": "get_weather", "arguments": {"city": CITY}}}


# -- structure -----------------------------------------------------------------------------------------------


def test_one_session_whose_every_parent_is_inside_it(run: Run) -> None:
    [session] = [e for e in run.events if e["event_type"] == "session"]
    assert (session["event_id"], session["event_name"], session["parent_id"]) == (run.session_id, ROOT_NAME, None)
    ids = {e["event_id"] for e in run.events}
    assert all(e["session_id"] == run.session_id for e in run.events)
    assert all(e["parent_id"] in ids for e in run.events if e is not session)


def test_the_chain_steps_are_chain_events_under_the_chain(run: Run) -> None:
    rag = run.rag
    assert rag["event_type"] == "chain"
    first, second = run.models
    assert first["parent_id"] == rag["event_id"]  # the chain's last step
    assert second["parent_id"] == run.session_id  # asked directly by the app
    steps = [e for e in run.events if e["parent_id"] == rag["event_id"]]
    assert {e["event_type"] for e in steps} == {"chain", "model"}
    assert len(steps) == 3  # {notes, question}, the prompt, the model
    retriever = run.one(run.variant.retriever_name)
    ancestor = run.by_id(retriever["parent_id"])
    while ancestor["event_id"] != rag["event_id"]:
        assert ancestor["event_type"] == "chain"
        ancestor = run.by_id(ancestor["parent_id"])


def test_the_chain_carries_the_question_it_was_given(run: Run) -> None:
    assert QUESTION in json.dumps(run.rag["inputs"])


# -- model events ----------------------------------------------------------------------------------------------


def test_model_events_have_the_model_and_the_provider(run: Run) -> None:
    for event in run.models:
        assert event["event_name"] == run.variant.model_name
        assert event["config"]["model"] == MODEL
        assert event["config"]["provider"] == PROVIDER


def test_sampling_parameters_are_the_hyperparameters(run: Run) -> None:
    for event in run.models:
        hyperparameters = event["config"]["hyperparameters"]
        assert hyperparameters["temperature"] == TEMPERATURE
        assert hyperparameters["max_tokens"] == MAX_TOKENS


def test_hyperparameters_hold_only_sampling_parameters(run: Run) -> None:
    for event in run.models:
        assert set(event["config"]["hyperparameters"]) <= {"temperature", "max_tokens", "stop"}


def test_the_offered_tool_is_the_config_tools(run: Run) -> None:
    for event in run.models:
        [tool] = event["config"]["tools"]
        definition = tool.get("function", tool)  # OpenAI's shape, or the GenAI conventions' flat one
        assert definition["name"] == "get_weather"
        assert definition["parameters"]["properties"] == {"city": {"type": "string"}}


def test_the_messages_sent_are_the_chat_history(run: Run) -> None:
    first, second = run.models
    assert first["inputs"] == {"chat_history": PROMPT}
    assert as_json(second["inputs"]["chat_history"][:3]) == [*PROMPT, {"role": "assistant", "tool_calls": [TOOL_CALL]}]
    tool_message = second["inputs"]["chat_history"][3]
    assert tool_message["role"] == "tool"
    assert (tool_message["tool_call_id"], tool_message["content"]) == (TOOL_CALL_ID, WEATHER)


def test_the_answers_are_the_outputs(run: Run) -> None:
    first, second = run.models
    assert first["outputs"]["role"] == "assistant"
    assert as_json(first["outputs"]["tool_calls"]) == [TOOL_CALL]
    assert not first["outputs"].get("content")
    assert second["outputs"]["role"] == "assistant"
    assert second["outputs"]["content"] == ANSWER
    assert "tool_calls" not in second["outputs"]


def test_a_finish_reason_is_one_the_model_gave(run: Run) -> None:
    """OpenInference records the reasons the model gave; Traceloop records "" here (it reads them from
    `generation_info`, which a chat model that puts them in `response_metadata` leaves empty): none."""
    for event, reply in zip(run.models, REPLIES, strict=True):
        assert event["outputs"].get("finish_reason") in (None, reply.response_metadata["finish_reason"])


def test_token_counts_are_the_usage_the_model_reported(run: Run) -> None:
    for event, reply in zip(run.models, REPLIES, strict=True):
        usage, metadata = reply.usage_metadata, event["metadata"]
        assert usage is not None
        assert metadata["prompt_tokens"] == usage["input_tokens"]
        assert metadata["completion_tokens"] == usage["output_tokens"]
        assert metadata["total_tokens"] == usage["total_tokens"]


def test_model_metadata_does_not_repeat_the_messages(run: Run) -> None:
    for event in run.models:
        assert "input.value" not in event["metadata"] and "output.value" not in event["metadata"]


def test_langchain_run_metadata_is_not_a_user_property(run: Run) -> None:
    """LangChain passes its LangSmith parameters (`ls_provider`, `ls_model_name`, ...) as run metadata, which
    Traceloop records as association properties: they describe the model, not the user."""
    for event in run.events:
        assert not [k for k in event["user_properties"] if k.startswith(("ls_", "lc_"))], event["event_name"]


# -- the tool and the retriever -----------------------------------------------------------------------------


def test_the_tool_is_a_tool_event_with_its_arguments_and_result(run: Run) -> None:
    tool = run.one(run.variant.tool_name)
    assert tool["event_type"] == "tool" and tool["parent_id"] == run.session_id
    expected = CITY if run.variant.id == "openinference" else {"city": CITY}
    assert run.variant.tool_inputs(tool["inputs"]) == expected
    assert run.variant.tool_result(tool["outputs"]) == WEATHER


def test_the_retriever_is_a_tool_event_with_the_documents(run: Run) -> None:
    retriever = run.one(run.variant.retriever_name)
    assert retriever["event_type"] == "tool"
    assert QUESTION in json.dumps(retriever["inputs"])
    documents = retriever["outputs"]["documents"]
    assert [d[run.variant.document_text] for d in documents] == [n.page_content for n in NOTES]
    assert [d["metadata"] for d in documents] == [n.metadata for n in NOTES]


def test_the_documents_are_not_repeated_in_metadata(run: Run) -> None:
    retriever = run.one(run.variant.retriever_name)
    assert not [k for k in retriever["metadata"] if "documents" in k or k.endswith(("output", "output.value"))]
