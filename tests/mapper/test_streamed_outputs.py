"""A streamed answer recorded one message per chunk becomes one assembled answer (docs/mapping.md, "Value
normalisation": messages).

`opentelemetry-instrumentation-google-genai` 1.1b1 records a streamed `generate_content_stream` call with one
assistant message per chunk in `gen_ai.output.messages`: every chunk's text is a message of its own, and only the
last has a finish reason (the others an empty one). The attributes below are dumped from a real run of that
instrumentation against tests/support/fake_gemini.py (SPAN_ONLY on the span; EVENT_ONLY in the
`gen_ai.client.inference.operation.details` record). The answer must be the whole text, not its first chunk; and
the same when the chunks arrive as log records, as a details record or as one `gen_ai.choice` record per chunk
(older instrumentations).
"""

from __future__ import annotations

import json
from typing import Any

from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.mapper.log_records import join
from otel_honeyhive.mapper.messages import json_messages, output_from_messages
from otel_honeyhive.mapper.trace import TraceMapper
from tests.mapper.otel import child_event

CHUNKS = ["Gemini says: Te", "ll me a very sh", "ort story. The ", "answer is 42."]
ANSWER = "".join(CHUNKS)
OUTPUT_MESSAGES = [
    {"role": "assistant", "parts": [{"content": chunk, "type": "text"}], "finish_reason": "stop" if last else ""}
    for chunk, last in zip(CHUNKS, (False, False, False, True), strict=True)
]
INPUT_MESSAGES = [{"role": "user", "parts": [{"content": "Tell me a very short story.", "type": "text"}]}]
SPAN_ATTRIBUTES: dict[str, Any] = {
    "gen_ai.operation.name": "generate_content",
    "gen_ai.request.model": "gemini-2.0-flash",
    "gen_ai.provider.name": "gemini",
    "server.address": "127.0.0.1",
    "gen_ai.response.finish_reasons": ("stop",),
    "gen_ai.response.model": "gemini-2.0-flash-001",
    "gen_ai.response.id": "fake-gemini-0004",
    "gen_ai.usage.input_tokens": 6,
    "gen_ai.usage.output_tokens": 12,
    "gen_ai.response.time_to_first_chunk": 0.0070610959992336575,
}
"""What the instrumentation puts on the stream's span besides the messages (the same in every mode)."""
ASSEMBLED = {"role": "assistant", "content": ANSWER, "finish_reason": "stop"}

TRACE, ROOT, CALL = 0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, 0x00F067AA0BA902B7
MS = 1_000_000


def test_chunks_of_one_answer_are_assembled() -> None:
    assert output_from_messages(json_messages(OUTPUT_MESSAGES)) == ASSEMBLED


def test_the_span_s_streamed_answer_is_the_whole_text() -> None:
    """SPAN_ONLY: the messages are JSON strings on the span."""
    event = child_event({**SPAN_ATTRIBUTES, "gen_ai.input.messages": json.dumps(INPUT_MESSAGES),
                         "gen_ai.output.messages": json.dumps(OUTPUT_MESSAGES)})
    assert event["outputs"] == ASSEMBLED
    assert event["inputs"]["chat_history"] == [{"role": "user", "content": "Tell me a very short story."}]


def test_choices_that_all_finished_stay_choices() -> None:
    """Several candidates (`n` > 1) each end with a finish reason: they are alternatives, not chunks."""
    out = output_from_messages([{"role": "assistant", "content": "a", "finish_reason": "stop"},
                                {"role": "assistant", "content": "b", "finish_reason": "stop"}])
    assert out["content"] == "a"
    assert [c["content"] for c in out["choices"]] == ["a", "b"]


def test_chunks_of_a_function_call_keep_the_call() -> None:
    messages = [
        {"role": "assistant", "parts": [{"content": "Let me look.", "type": "text"}], "finish_reason": ""},
        {"role": "assistant", "parts": [{"arguments": {"city": "Paris"}, "name": "get_weather", "id": "get_weather_0",
                                         "type": "tool_call"}], "finish_reason": "stop"},
    ]
    assert output_from_messages(json_messages(messages)) == {
        "role": "assistant", "content": "Let me look.", "finish_reason": "stop",
        "tool_calls": [{"id": "get_weather_0", "type": "function",
                        "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
    }


def _mapped(span: SpanView, records: list[LogRecordView]) -> dict[str, Any]:
    root = SpanView(TRACE, ROOT, "ask-gemini", 0, 100 * MS)
    events = TraceMapper().map_trace([root, join(span, records)])
    (event,) = [e for e in events if e["event_type"] == "model"]
    return event


def _call_span() -> SpanView:
    return SpanView(TRACE, CALL, "generate_content gemini-2.0-flash", 10 * MS, 90 * MS, parent_span_id=ROOT,
                    kind="client", attributes=dict(SPAN_ATTRIBUTES))


def test_chunks_in_a_details_record_are_assembled() -> None:
    """EVENT_ONLY: the messages are structured lists in the `gen_ai.client.inference.operation.details` record."""
    details = LogRecordView(TRACE, CALL, "gen_ai.client.inference.operation.details", 89 * MS, None, {
        **SPAN_ATTRIBUTES, "gen_ai.input.messages": INPUT_MESSAGES, "gen_ai.output.messages": OUTPUT_MESSAGES})
    event = _mapped(_call_span(), [details])
    assert event["outputs"] == ASSEMBLED
    assert event["inputs"]["chat_history"] == [{"role": "user", "content": "Tell me a very short story."}]


def test_one_choice_record_per_chunk_is_assembled() -> None:
    choices = [
        LogRecordView(TRACE, CALL, "gen_ai.choice", (20 + i) * MS, {
            "index": 0, "finish_reason": "stop" if i == len(CHUNKS) - 1 else "",
            "message": {"role": "assistant", "content": chunk}}, {"gen_ai.system": "gemini"})
        for i, chunk in enumerate(CHUNKS)
    ]
    outputs = _mapped(_call_span(), choices)["outputs"]
    assert {k: v for k, v in outputs.items() if k != "index"} == ASSEMBLED  # `index`: the lead's target 5
