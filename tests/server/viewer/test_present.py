"""What the pages are made of, on their own: the session's rows (tree order, depth, bar geometry), messages,
JSON as escaped HTML with long values collapsed, and JSON Pointers into an event."""

from __future__ import annotations

import orjson
import pytest

from otel_honeyhive.server.viewer.present import (
    LONG_LIST,
    LONG_TEXT,
    MAX_DEPTH,
    JsonHtml,
    answers,
    conversation,
    format_duration,
    format_span,
    pointer,
    resolve,
    session_rows,
)
from otel_honeyhive.server.viewer.queries import OutlineEvent


def outline(event_id: str, parent_id: str | None, start: float | None, duration: float | None,
            kind: str = "tool") -> OutlineEvent:
    end = start + duration if start is not None and duration is not None else None
    return OutlineEvent(event_id, parent_id, kind, event_id, start, end, duration, False, None, None)


def test_rows_are_depth_first_with_children_in_start_order_and_bars_on_the_sessions_scale() -> None:
    events = [
        outline("s", None, 1000, 100, "session"),
        outline("b", "s", 1050, 50),
        outline("a", "s", 1000, 40, "chain"),
        outline("a1", "a", 1010, 10),
    ]
    rows = session_rows("s", events)
    assert [(r.event.event_id, r.depth) for r in rows] == [("s", 0), ("a", 1), ("a1", 2), ("b", 1)]
    assert [(r.left, r.width) for r in rows] == [(0.0, 100.0), (0.0, 40.0), (10.0, 10.0), (50.0, 50.0)]
    assert [r.has_children for r in rows] == [True, True, False, False]


def test_orphans_cycles_and_events_without_times_are_shown_not_lost() -> None:
    events = [
        outline("s", None, 0, 10, "session"),
        outline("orphan", "missing-parent", 2, 1),
        outline("x", "y", 3, 1), outline("y", "x", 4, 1),  # a parent cycle
        outline("timeless", "s", None, None),
    ]
    rows = session_rows("s", events)
    assert sorted(r.event.event_id for r in rows) == ["orphan", "s", "timeless", "x", "y"]
    assert next(r for r in rows if r.event.event_id == "orphan").depth == 1  # under the session
    assert next(r for r in rows if r.event.event_id == "timeless").width == 0.0


def test_a_session_without_its_session_event_still_has_rows() -> None:
    rows = session_rows("s", [outline("a", "s", 0, 5), outline("b", "a", 1, 1)])
    assert [(r.event.event_id, r.depth) for r in rows] == [("a", 0), ("b", 1)]


def test_messages_carry_tool_calls_with_parsed_arguments_and_tool_results() -> None:
    event = {"event_type": "model", "inputs": {"chat_history": [
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                              "function": {"name": "f", "arguments": "{\"x\": 1}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "2"},
        "not a message",
    ]}, "outputs": {"choices": [{"role": "assistant", "content": "a"}, {"role": "assistant", "content": "b"}]}}
    first, result = conversation(event)
    assert first.tool_calls[0].name == "f" and first.tool_calls[0].arguments == {"x": 1}
    assert resolve(event, first.tool_calls[0].at + "/x") == 1  # a pointer into the arguments' JSON string
    assert result.tool_call_id == "c1" and result.content == "2" and result.role_class == "m-tool"
    assert [m.content for m in answers(event)] == ["a", "b"]


def test_content_parts_read_as_text_reasoning_and_labelled_media_and_the_rest_stays_json() -> None:
    """Multimodal content is a list of parts in each convention's shape (the GenAI conventions' `{type, content}`,
    OpenAI's `{type: text, text}` and `image_url`, Anthropic's `image` and `thinking`): text reads as text,
    reasoning as such, media as a label (never loaded: the viewer works offline and fetches nothing a prompt
    names; inline data is never shown), and what no rule knows stays JSON."""
    inline = "A" * 4000
    event = {"event_type": "model", "inputs": {"chat_history": [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "blob", "modality": "image", "mime_type": "image/png", "content": inline},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": inline}},
        "and this one?",
        {"type": "custom", "payload": 1},
    ]}]}, "outputs": {"role": "assistant", "content": [
        {"type": "reasoning", "content": "The user shows a cat."},
        {"type": "text", "content": "A cat."},
    ]}}
    (question,) = conversation(event)
    assert [(p.kind, p.text) for p in question.parts] == [
        ("text", "What is in this picture?"),
        ("media", "image · https://example.com/cat.png"),
        ("media", "image · image/png · 3,000 bytes inline, not shown"),
        ("media", "image · image/jpeg · 3,000 bytes inline, not shown"),
        ("text", "and this one?"),
    ]
    assert resolve(event, question.parts[0].at) == "What is in this picture?"
    assert resolve(event, question.parts[4].at) == "and this one?"
    assert question.content is None and question.other == {"content": [{"type": "custom", "payload": 1}]}
    (answer,) = answers(event)
    assert [(p.kind, p.text) for p in answer.parts] == [("reasoning", "The user shows a cat."), ("text", "A cat.")]
    assert answer.other == {}


def test_json_is_escaped_and_long_values_are_collapsed_with_a_link_to_the_whole() -> None:
    html = str(JsonHtml("/v").json({"<b>": "<script>", "long": "x" * (LONG_TEXT + 10),
                                    "many": list(range(LONG_LIST + 1))}, ""))
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;" in html
    assert 'href="/v?at=%2Flong" data-more>show all (10 more characters)' in html
    assert 'href="/v?at=%2Fmany" data-more>show all 101 items' in html
    assert "x" * (LONG_TEXT + 1) not in html


def test_an_object_with_many_keys_is_collapsed_as_a_long_array_is() -> None:
    """An output of 100,000 keys was a 10 MB page that took 1.5 s to render."""
    wide = {f"key{i}": i for i in range(LONG_LIST * 10)}
    html = str(JsonHtml("/v").json({"out": wide}, ""))
    assert html.count('<span class="j-key">&#34;key') == LONG_LIST and "key100" not in html
    assert 'href="/v?at=%2Fout" data-more>show all 1,000 keys' in html


def test_json_nested_past_the_depth_shown_is_collapsed_behind_a_link() -> None:
    """Tool-call arguments are JSON strings of any depth orjson reads (1,024 levels): rendered whole, they
    overflowed Python's recursion limit and the event's page was a 500."""
    deep = orjson.loads("[" * 1000 + '"leaf"' + "]" * 1000)
    html = str(JsonHtml("/v").json(deep, ""))
    assert html.count('<div class="j-item">') == MAX_DEPTH and "leaf" not in html
    assert f'href="/v?at={"%2F0" * MAX_DEPTH}" data-more>show the rest (nested past {MAX_DEPTH} levels)' in html


def test_pointers_escape_slashes_and_tildes_and_resolve_back() -> None:
    event = {"a/b": {"c~d": ["zero", "one"]}}
    at = pointer("a/b", "c~d", 1)
    assert at == "/a~1b/c~0d/1" and resolve(event, at) == "one"
    for missing in ("/a~1b/c~0d/2", "/nope", "no-slash", "/a~1b/c~0d/x", "/a~1b/c~0d/\u00b2", "/a~1b/c~0d/\u0661"):
        with pytest.raises(KeyError):
            resolve(event, missing)


@pytest.mark.parametrize(("ms", "shown"), [(None, "–"), (4.21, "4.2 ms"), (380.3, "380 ms"), (1234, "1.23 s"),
                                           (125_000, "2m 05s"), (7_380_000, "2h 03m")])
def test_durations_read_as_in_the_terminal(ms: float | None, shown: str) -> None:
    assert format_duration(ms) == shown


def test_a_settings_length_is_said_in_its_largest_whole_unit() -> None:
    assert [format_span(s) for s in (7 * 86_400, 86_400, 36 * 3_600, 5_400, 90, 1, 2.5)] == [
        "7 days", "1 day", "36 hours", "90 minutes", "90 seconds", "1 second", "2.5 seconds"]
