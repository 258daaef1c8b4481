"""OpenInference's LangChain instrumentation (openinference-instrumentation-langchain 0.1.80): what its spans
carry, and where that lands. The attributes are those a real run recorded (`tests/instrumentors/langchain_app.py`).
"""

from __future__ import annotations

import json

from tests.mapper.otel import child_event

NOTES = [
    {"id": None, "metadata": {"source": "atlas", "page": 12}, "page_content": "Paris is the capital of France.",
     "type": "Document"},
    {"id": None, "metadata": {"source": "almanac", "page": 3}, "page_content": "The weather changes daily.",
     "type": "Document"},
]
RETRIEVER = {
    "input.value": "What is the weather in Paris?",
    "output.value": json.dumps({"documents": NOTES}),
    "output.mime_type": "application/json",
    "retrieval.documents.0.document.content": "Paris is the capital of France.",
    "retrieval.documents.0.document.metadata": json.dumps({"source": "atlas", "page": 12}),
    "retrieval.documents.1.document.content": "The weather changes daily.",
    "retrieval.documents.1.document.metadata": json.dumps({"source": "almanac", "page": 3}),
    "metadata": json.dumps({"ls_retriever_name": "notes"}),
    "openinference.span.kind": "RETRIEVER",
}


def test_a_retriever_s_documents_are_the_outputs_once() -> None:
    event = child_event(RETRIEVER, name="NotesRetriever")
    assert event["event_type"] == "tool"
    assert event["inputs"] == {"input": "What is the weather in Paris?"}
    assert event["outputs"] == {
        "documents": [
            {"content": "Paris is the capital of France.", "metadata": {"source": "atlas", "page": 12}},
            {"content": "The weather changes daily.", "metadata": {"source": "almanac", "page": 3}},
        ]
    }
    assert not [k for k in event["metadata"] if k.startswith(("retrieval.", "output."))]


def test_what_else_the_output_value_holds_stays_beside_the_documents() -> None:
    event = child_event({**RETRIEVER, "output.value": json.dumps({"documents": NOTES, "query_id": "q1"})})
    assert event["outputs"]["query_id"] == "q1"
    assert [d["content"] for d in event["outputs"]["documents"]] == [n["page_content"] for n in NOTES]


def test_documents_only_in_the_output_value_are_the_outputs() -> None:
    attrs = {k: v for k, v in RETRIEVER.items() if not k.startswith("retrieval.")}
    assert child_event(attrs)["outputs"] == {"documents": NOTES}
