"""Span events: GenAI message events, OpenLLMetry content events, exceptions, and everything else kept."""

from __future__ import annotations

import json

from opentelemetry.trace import Status, StatusCode

from tests.mapper.otel import Otel, child_event, error_status

CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}


# -- message events ---------------------------------------------------------------------------------------------


def test_openllmetry_content_events_give_chat_history_and_outputs() -> None:
    event = child_event(
        CHAT,
        events=[
            ("gen_ai.content.prompt", {"gen_ai.prompt": json.dumps([{"role": "user", "content": "hi"}])}),
            ("gen_ai.content.completion", {"gen_ai.completion": json.dumps([{"role": "assistant", "content": "yo"}])}),
        ],
    )
    assert event["inputs"] == {"chat_history": [{"role": "user", "content": "hi"}]}
    assert event["outputs"] == {"role": "assistant", "content": "yo"}
    assert "events" not in event["metadata"]


def test_role_message_events_build_the_chat_history_in_order() -> None:
    event = child_event(
        CHAT,
        events=[
            ("gen_ai.system.message", {"content": "Be terse."}),
            ("gen_ai.user.message", {"content": "Weather?"}),
            ("gen_ai.assistant.message", {"tool_calls": json.dumps([{"id": "c1", "type": "function",
                                                                     "function": {"name": "w", "arguments": "{}"}}])}),
            ("gen_ai.tool.message", {"id": "c1", "content": "rain"}),
        ],
    )
    assert event["inputs"]["chat_history"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Weather?"},
        {"role": "assistant",
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "rain"},
    ]


def test_choice_events_give_the_outputs_sorted_by_index() -> None:
    event = child_event(
        CHAT,
        events=[
            ("gen_ai.choice", {"index": 1, "finish_reason": "stop", "message": json.dumps({"content": "B"})}),
            ("gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": json.dumps({"content": "A"})}),
        ],
    )
    assert event["outputs"]["content"] == "A"
    assert event["outputs"]["role"] == "assistant"
    assert [c["content"] for c in event["outputs"]["choices"]] == ["A", "B"]
    assert "index" not in event["outputs"] and not [c for c in event["outputs"]["choices"] if "index" in c]


def _call(i: int) -> dict[str, object]:
    return {"id": f"call_{i}", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}


def _tool_call_choices(indexes: tuple[int, ...]) -> list[tuple[str, dict[str, object]]]:
    """One `gen_ai.choice` event per choice, each an assistant message with only a tool call (the shape
    opentelemetry-instrumentation-openai-v2's legacy events give `n=2` with tools)."""
    return [("gen_ai.choice", {"index": i, "finish_reason": "tool_calls",
                               "message": json.dumps({"role": "assistant", "tool_calls": [_call(n)]})})
            for n, i in enumerate(indexes)]


def test_choice_events_of_a_span_that_asked_for_several_choices_stay_choices() -> None:
    """As `gen_ai.output.messages` with `gen_ai.request.choice.count` > 1: each message is a choice of its own,
    not a parallel tool call of one answer."""
    event = child_event({**CHAT, "gen_ai.request.choice.count": 2}, events=_tool_call_choices((0, 1)))
    assert event["outputs"]["tool_calls"] == [_call(0)]
    assert [c["tool_calls"] for c in event["outputs"]["choices"]] == [[_call(0)], [_call(1)]]


def test_choice_events_at_different_indexes_stay_choices() -> None:
    event = child_event(CHAT, events=_tool_call_choices((0, 1)))
    assert [c["tool_calls"] for c in event["outputs"]["choices"]] == [[_call(0)], [_call(1)]]


def test_choice_events_at_one_index_are_one_answer_s_tool_calls() -> None:
    event = child_event(CHAT, events=_tool_call_choices((0, 0)))
    assert event["outputs"] == {"role": "assistant", "tool_calls": [_call(0), _call(1)], "finish_reason": "tool_calls"}


def test_a_details_event_s_output_messages_are_read_with_the_choice_count() -> None:
    output = [{"role": "assistant", "parts": [{"type": "tool_call", "id": f"call_{i}", "name": "get_weather",
                                               "arguments": {"city": "Paris"}}], "finish_reason": "tool_call"}
              for i in (0, 1)]
    details = ("gen_ai.client.inference.operation.details", {"gen_ai.output.messages": json.dumps(output)})
    asked = child_event({**CHAT, "gen_ai.request.choice.count": 2}, events=[details])
    as_attributes = child_event({**CHAT, "gen_ai.request.choice.count": 2,
                                 "gen_ai.output.messages": json.dumps(output)})
    assert asked["outputs"] == as_attributes["outputs"]
    assert len(asked["outputs"]["choices"]) == 2
    merged = child_event(CHAT, events=[details])
    assert len(merged["outputs"]["tool_calls"]) == 2 and "choices" not in merged["outputs"]


def test_inference_operation_details_event_carries_messages_and_instructions() -> None:
    details = {
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]),
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be kind."}]),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": "hello"}], "finish_reason": "stop"}]
        ),
    }
    event = child_event(CHAT, events=[("gen_ai.client.inference.operation.details", details)])
    assert event["inputs"]["chat_history"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "hi"},
    ]
    assert event["outputs"] == {"role": "assistant", "content": "hello", "finish_reason": "stop"}


def test_span_attributes_win_over_message_events() -> None:
    event = child_event(
        {**CHAT, "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "from attributes"},
        events=[("gen_ai.user.message", {"content": "from event"})],
    )
    assert event["inputs"]["chat_history"] == [{"role": "user", "content": "from attributes"}]
    assert event["metadata"]["event:gen_ai.*.message"] == [{"role": "user", "content": "from event"}]


def test_event_sources_in_the_order_of_the_routing_table() -> None:
    event = child_event(
        CHAT,
        events=[
            ("gen_ai.user.message", {"content": "role event"}),
            ("gen_ai.content.prompt", {"gen_ai.prompt": json.dumps([{"role": "user", "content": "content event"}])}),
        ],
    )
    assert event["inputs"]["chat_history"] == [{"role": "user", "content": "content event"}]


def test_malformed_content_event_is_kept_in_metadata_events() -> None:
    event = child_event(CHAT, events=[("gen_ai.content.prompt", {"gen_ai.prompt": '[{"role": "us'})])
    assert "chat_history" not in event["inputs"]
    (record,) = event["metadata"]["events"]
    assert record["name"] == "gen_ai.content.prompt"
    assert record["attributes"] == {"gen_ai.prompt": '[{"role": "us'}


def test_other_events_are_kept_in_metadata_with_name_time_and_attributes() -> None:
    otel = Otel()
    with otel.span("root", root=True), otel.span("step") as span:
        span.add_event("cache.miss", {"key": "abc", "size": 3}, timestamp=1_700_000_000_123_456_789)
        span.add_event("retry")
    step = otel.by_name()["step"]
    assert step["metadata"]["events"] == [
        {"name": "cache.miss", "time_ms": 1_700_000_000_123, "attributes": {"key": "abc", "size": 3}},
        {"name": "retry", "time_ms": step["metadata"]["events"][1]["time_ms"]},
    ]


# -- errors -----------------------------------------------------------------------------------------------------


def _raised(exc: Exception) -> Exception:
    try:
        raise exc
    except Exception as caught:
        return caught


def test_recorded_exception_gives_type_and_message() -> None:
    event = child_event(exception=_raised(ValueError("bad input")), status=error_status())
    assert event["error"] == "ValueError: bad input"
    (record,) = event["metadata"]["events"]
    assert record["name"] == "exception"
    assert record["attributes"]["exception.type"] == "ValueError"
    assert record["attributes"]["exception.message"] == "bad input"
    assert "Traceback" in record["attributes"]["exception.stacktrace"]


def test_status_description_wins_over_the_exception() -> None:
    event = child_event(exception=KeyError("k"), status=error_status("request failed"))
    assert event["error"] == "request failed"
    # The exception is still there, in metadata.events.
    assert event["metadata"]["events"][0]["attributes"]["exception.type"] == "KeyError"


def test_first_exception_wins() -> None:
    otel = Otel()
    with otel.span("root", root=True), otel.span("step") as span:
        span.record_exception(ValueError("first"))
        span.record_exception(TypeError("second"))
        span.set_status(Status(StatusCode.ERROR))
    assert otel.by_name()["step"]["error"] == "ValueError: first"


def test_exception_wins_over_honeyhive_error() -> None:
    event = child_event({"honeyhive_error": "sdk text"}, exception=RuntimeError("boom"), status=error_status())
    assert event["error"] == "RuntimeError: boom"
    assert event["metadata"]["honeyhive_error"] == "sdk text"


def test_error_status_without_description_or_exception_still_marks_an_error() -> None:
    event = child_event(status=error_status())
    assert event["error"]
    assert isinstance(event["error"], str)


def test_an_error_type_names_a_failure_that_has_no_description() -> None:
    """The anthropic client's own spans: ERROR status with no description and no exception event, the semantic
    conventions' `error.type` and the HTTP status."""
    event = child_event({**CHAT, "error.type": "overloaded_error", "http.response.status_code": 529},
                        status=error_status())
    assert event["error"] == "overloaded_error (HTTP 529)"
    assert (event["metadata"]["error.type"], event["metadata"]["http.response.status_code"]) == (
        "overloaded_error", 529)
    assert child_event({**CHAT, "error.type": "ValueError"}, status=error_status())["error"] == "ValueError"


def test_an_http_status_alone_names_a_failure_once() -> None:
    """HTTP instrumentations set `error.type` to the status code itself."""
    assert child_event({"error.type": "503", "http.response.status_code": 503}, status=error_status())["error"] == (
        "HTTP 503")
    assert child_event({"http.status_code": "502"}, status=error_status())["error"] == "HTTP 502"
    assert child_event({"http.response.status_code": 200}, status=error_status())["error"] == "error"


def test_an_error_type_comes_after_the_description_the_exception_and_honeyhive_error() -> None:
    typed = {"error.type": "overloaded_error", "http.response.status_code": 529}
    assert child_event(typed, status=error_status("529 Overloaded"))["error"] == "529 Overloaded"
    assert child_event(typed, exception=_raised(RuntimeError("busy")), status=error_status())["error"] == (
        "RuntimeError: busy")
    assert child_event({**typed, "honeyhive_error": "sdk text"}, status=error_status())["error"] == "sdk text"


def test_an_error_type_without_an_error_status_is_no_error() -> None:
    assert child_event({"error.type": "overloaded_error"})["error"] is None


TRACEBACK = 'Traceback (most recent call last):\n  File "tool.py", line 29, in run\nValueError: tool exploded\n'


def test_a_description_that_is_a_traceback_comes_after_the_exception() -> None:
    """OpenInference's LangChain instrumentation describes the status with the exception's repr and the whole
    traceback; the exception event says the same in one line (and carries the traceback)."""
    event = child_event({"openinference.span.kind": "TOOL", "tool.name": "broken"},
                        exception=_raised(ValueError("tool exploded")),
                        status=error_status("ValueError('tool exploded')" + TRACEBACK.replace("\n", "\n\n\n")))
    assert event["error"] == "ValueError: tool exploded"
    (record,) = event["metadata"]["events"]
    assert "Traceback" in record["attributes"]["exception.stacktrace"]
    assert "status.description" not in event["metadata"]  # the traceback is in the exception event


def test_a_traceback_description_is_kept_when_the_exception_event_has_no_traceback() -> None:
    description = "ValueError('tool exploded')" + TRACEBACK
    event = child_event(events=[("exception", {"exception.type": "ValueError", "exception.message": "tool exploded"})],
                        status=error_status(description))
    assert event["error"] == "ValueError: tool exploded"
    assert event["metadata"]["status.description"] == description


def test_a_traceback_description_without_an_exception_event_is_the_error() -> None:
    assert child_event(status=error_status(TRACEBACK))["error"] == TRACEBACK


def test_exception_on_an_unset_status_is_still_reported() -> None:
    event = child_event(exception=ValueError("handled but recorded"))
    assert event["error"] == "ValueError: handled but recorded"


def test_ok_status_has_no_error_even_with_a_recorded_exception() -> None:
    event = child_event(exception=ValueError("retried"), status=Status(StatusCode.OK))
    assert event["error"] is None
    assert event["metadata"]["events"][0]["name"] == "exception"


def test_span_without_error_has_null_error() -> None:
    assert child_event()["error"] is None


def test_session_error_from_root_status(otel: Otel) -> None:
    with otel.span("root", root=True) as root:
        root.set_status(Status(StatusCode.ERROR, "session failed"))
    (event,) = otel.events()
    assert event["event_type"] == "session"
    assert event["error"] == "session failed"


def test_details_event_keeps_its_other_attributes_in_metadata_events() -> None:
    details = {
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]),
        "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "te',  # cut by a length limit
        "gen_ai.response.id": "resp-1",
    }
    event = child_event(CHAT, events=[("gen_ai.client.inference.operation.details", details)])
    assert event["inputs"]["chat_history"] == [{"role": "user", "content": "hi"}]
    assert event["outputs"] == {}
    (record,) = event["metadata"]["events"]
    assert record["name"] == "gen_ai.client.inference.operation.details"
    assert record["attributes"] == {
        "gen_ai.output.messages": details["gen_ai.output.messages"],
        "gen_ai.response.id": "resp-1",
    }


def test_output_attributes_win_over_completion_and_choice_events() -> None:
    completion = json.dumps([{"role": "assistant", "content": "from event"}])
    event = child_event(
        {**CHAT, "gen_ai.completion.0.content": "from attributes"},
        events=[
            ("gen_ai.content.completion", {"gen_ai.completion": completion}),
            ("gen_ai.choice", {"index": 0, "message": json.dumps({"content": "from choice"})}),
        ],
    )
    assert event["outputs"] == {"role": "assistant", "content": "from attributes"}
    assert event["metadata"]["event:gen_ai.content.completion"] == {"role": "assistant", "content": "from event"}
    assert event["metadata"]["event:gen_ai.choice"] == {"role": "assistant", "content": "from choice"}


def test_message_events_on_a_workflow_span_lose_to_its_entity_output() -> None:
    event = child_event(
        {"traceloop.span.kind": "workflow", "traceloop.entity.output": json.dumps({"answer": 42})},
        events=[("gen_ai.choice", {"index": 0, "message": json.dumps({"content": "x"})})],
    )
    assert event["outputs"] == {"answer": 42}
