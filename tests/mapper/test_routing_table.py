"""The routing table of conventions.md, row by row: within a row the earlier source wins, and a losing value
that differs from the winner is kept in metadata under its key.

Each row lists its sources best first. For every position i, a span carrying sources i..n must take source i's
value, so every adjacent pair of the row is checked."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import pytest

from tests.mapper.otel import child_event

MODEL = {"gen_ai.operation.name": "chat"}
TASK = {"traceloop.span.kind": "task"}


def _parts(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


class Source(NamedTuple):
    attrs: dict[str, Any]
    expected: Any
    loser_key: str | None
    """Where the value is found in metadata when a better source wins (None: not kept, e.g. merged)."""


class Row(NamedTuple):
    target: str
    base: dict[str, Any]
    sources: list[Source]


ROWS = [
    Row("config.model", MODEL, [
        Source({"gen_ai.request.model": "m1"}, "m1", "gen_ai.request.model"),
        Source({"llm.request.model_name": "m2"}, "m2", "llm.request.model_name"),
        # OpenInference's `llm.model_name` names the model that answered when another key names the one asked for.
        Source({"llm.model_name": "m3"}, "m3", "response_model"),
        Source({"embedding.model_name": "m4"}, "m4", "embedding.model_name"),
    ]),
    Row("metadata.response_model", MODEL, [
        Source({"gen_ai.response.model": "r1"}, "r1", "gen_ai.response.model"),
        Source({"llm.response.model_name": "r2"}, "r2", "llm.response.model_name"),
    ]),
    Row("config.provider", MODEL, [
        Source({"gen_ai.provider.name": "p1"}, "p1", "gen_ai.provider.name"),
        Source({"gen_ai.system": "p2"}, "p2", "gen_ai.system"),
        Source({"llm.provider": "p3"}, "p3", "llm.provider"),
        Source({"llm.system": "p4"}, "p4", "llm.system"),
    ]),
    Row("config.template", MODEL, [
        Source({"llm.prompt_template.template": "t1"}, "t1", "llm.prompt_template.template"),
        Source({"traceloop.prompt.template": "t2"}, "t2", "traceloop.prompt.template"),
    ]),
    Row("config.tools", MODEL, [
        Source({"gen_ai.tool.definitions": '[{"name": "a"}]'}, [{"name": "a"}], "gen_ai.tool.definitions"),
        Source({"llm.tools.0.tool.json_schema": '{"name": "b"}'}, [{"name": "b"}], "llm.tools.*"),
        Source({"llm.request.functions.0.name": "c"}, [{"name": "c"}], "llm.request.functions.*"),
    ]),
    Row("inputs.chat_history", MODEL, [
        Source({"gen_ai.input.messages": _parts("user", "h1")}, [{"role": "user", "content": "h1"}],
               "gen_ai.input.messages"),
        Source({"llm.input_messages.0.message.role": "user", "llm.input_messages.0.message.content": "h2"},
               [{"role": "user", "content": "h2"}], "llm.input_messages.*"),
        Source({"gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "h3"},
               [{"role": "user", "content": "h3"}], "gen_ai.prompt.*"),
    ]),
    Row("inputs", TASK, [
        Source({"traceloop.entity.input": '{"from": "entity"}'}, {"from": "entity"}, "traceloop.entity.input"),
        Source({"input.value": '{"from": "value"}', "input.mime_type": "application/json"}, {"from": "value"},
               "input.value"),
        Source({"gen_ai.tool.call.arguments": '{"from": "arguments"}'}, {"from": "arguments"},
               "gen_ai.tool.call.arguments"),
    ]),
    Row("outputs", MODEL, [
        Source({"gen_ai.output.messages": _parts("assistant", "o1")}, {"role": "assistant", "content": "o1"},
               "gen_ai.output.messages"),
        Source({"llm.output_messages.0.message.role": "assistant", "llm.output_messages.0.message.content": "o2"},
               {"role": "assistant", "content": "o2"}, "llm.output_messages.*"),
        Source({"gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "o3"},
               {"role": "assistant", "content": "o3"}, "gen_ai.completion.*"),
    ]),
    Row("outputs", TASK, [
        Source({"traceloop.entity.output": '{"from": "entity"}'}, {"from": "entity"}, "traceloop.entity.output"),
        Source({"output.value": '{"from": "value"}', "output.mime_type": "application/json"}, {"from": "value"},
               "output.value"),
        Source({"gen_ai.tool.call.result": '{"from": "result"}'}, {"from": "result"}, "gen_ai.tool.call.result"),
        Source({"gen_ai.output.messages": _parts("assistant", "msg")}, {"role": "assistant", "content": "msg"},
               "gen_ai.output.messages"),
    ]),
    Row("metadata.prompt_tokens", MODEL, [
        Source({"gen_ai.usage.input_tokens": 11}, 11, "gen_ai.usage.input_tokens"),
        Source({"gen_ai.usage.prompt_tokens": 12}, 12, "gen_ai.usage.prompt_tokens"),
        Source({"llm.token_count.prompt": 13}, 13, "llm.token_count.prompt"),
    ]),
    Row("metadata.completion_tokens", MODEL, [
        Source({"gen_ai.usage.output_tokens": 21}, 21, "gen_ai.usage.output_tokens"),
        Source({"gen_ai.usage.completion_tokens": 22}, 22, "gen_ai.usage.completion_tokens"),
        Source({"llm.token_count.completion": 23}, 23, "llm.token_count.completion"),
    ]),
    Row("metadata.total_tokens", {**MODEL, "gen_ai.usage.input_tokens": 1, "gen_ai.usage.output_tokens": 2}, [
        Source({"llm.token_count.total": 31}, 31, "llm.token_count.total"),
        Source({"gen_ai.usage.total_tokens": 32}, 32, "gen_ai.usage.total_tokens"),
        Source({"llm.usage.total_tokens": 33}, 33, "llm.usage.total_tokens"),
        Source({}, 3, None),  # prompt + completion
    ]),
    Row("metadata.cost", MODEL, [
        Source({"llm.cost.total": 0.5}, 0.5, "llm.cost.total"),
        Source({"gen_ai.usage.cost": 0.25}, 0.25, "gen_ai.usage.cost"),
    ]),
    Row("user_properties.user_id", TASK, [
        Source({"user.id": "u1"}, "u1", "user.id"),
        Source({"gen_ai.user": "u2"}, "u2", "gen_ai.user"),
        Source({"traceloop.association.properties.user_id": "u3"}, "u3", "traceloop.association.properties.user_id"),
    ]),
    Row("metadata.conversation_id", TASK, [
        Source({"session.id": "c1"}, "c1", "session.id"),
        Source({"gen_ai.conversation.id": "c2"}, "c2", "gen_ai.conversation.id"),
        Source({"traceloop.association.properties.session_id": "c3"}, "c3",
               "traceloop.association.properties.session_id"),
    ]),
]

CASES = [
    pytest.param(row, i, id=f"{row.target}[{'task' if row.base is TASK else 'model'}]#{i}")
    for row in ROWS
    for i in range(len(row.sources))
]


def _at(event: dict[str, Any], path: str) -> Any:
    node: Any = event
    for part in path.split("."):
        node = node[part]
    return node


@pytest.mark.parametrize(("row", "position"), CASES)
def test_earlier_source_wins_and_every_later_one_is_kept(row: Row, position: int) -> None:
    attrs = dict(row.base)
    # Later sources first, so attribute order never favours the expected winner.
    for source in reversed(row.sources[position:]):
        attrs.update(source.attrs)
    event = child_event(attrs)
    winner = row.sources[position]
    assert _at(event, row.target) == winner.expected
    for loser in row.sources[position + 1 :]:
        if loser.loser_key is not None:
            assert event["metadata"][loser.loser_key] == loser.expected
    if winner.loser_key is not None:
        assert winner.loser_key not in event["metadata"]
