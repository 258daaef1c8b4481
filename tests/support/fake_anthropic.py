"""A deterministic Anthropic-compatible server on a real loopback socket, for the real `anthropic` client.

    with run_fake_anthropic() as fake:
        client = anthropic.Anthropic(base_url=fake.base_url, api_key="test")

Route: `POST /v1/messages` (the Messages API, https://docs.anthropic.com/en/api/messages). A plain answer is one
`text` block; a request offering `tools` whose last message carries no `tool_result` is answered with a short
text block and a `tool_use` block (`stop_reason: "tool_use"`); `stream: true` sends the same message as
server-sent events exactly as Anthropic streams them (https://docs.anthropic.com/en/docs/build-with-claude/streaming):
`message_start`, then per content block `content_block_start`, `content_block_delta` (`text_delta` or
`input_json_delta`, in pieces) and `content_block_stop`, a `ping`, then `message_delta` (stop reason, cumulative
usage) and `message_stop`. A request without `max_tokens` is refused with Anthropic's 400 error body.

Usage is derived from the request (a whitespace word count). Prompt caching is simulated the way the API
accounts for it: the tokens of system blocks marked `cache_control` are `cache_creation_input_tokens` the first
time that text is seen with that API key (a cache is per organization) and `cache_read_input_tokens` after, and
`input_tokens` counts only the rest. Aliases answer with their dated model, as Anthropic does.

Every exchange is recorded (`fake.exchanges`): tests compare what reached HoneyHive with what the app sent and
what this server answered, rather than with constants copied into the test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

RESPONSE_MODELS = {
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
}
STREAM_PIECES = 4
"""A streamed text (or tool input JSON) is cut into this many deltas, so assembling is exercised."""
LATENCY = 0.005
"""Seconds every answer takes: sequential calls then start in distinct milliseconds and events sort in call
order."""
TOOL_PREAMBLE = "Let me check that."
"""The text Claude typically writes before a `tool_use` block."""


def _text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text of its blocks (tool results included)."""
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for block in content or ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_result":
            texts.append(_text_of(block.get("content")))
    return " ".join(texts)


def answer_for(messages: list[dict[str, Any]]) -> str:
    """The text answer to a conversation: deterministic, and different for different questions."""
    last = messages[-1] if messages else {}
    content = last.get("content")
    if _tool_result(last) is not None:
        return f"According to the tool: {_text_of(_tool_result(last))}."
    return f"You asked: {_text_of(content)}. The answer is 42."


def _tool_result(message: dict[str, Any]) -> Any:
    """The content of a user message's `tool_result` block, or None when it carries none."""
    content = message.get("content")
    if message.get("role") != "user" or not isinstance(content, list):
        return None
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            return block.get("content", "")
    return None


def count_tokens(text: str) -> int:
    return len(text.split())


def tool_input(tool: dict[str, Any]) -> dict[str, Any]:
    """The `input` of a call to `tool`: every required property of its `input_schema` gets a value of its type."""
    schema = tool.get("input_schema") or {}
    properties = schema.get("properties") or {}
    arguments: dict[str, Any] = {}
    for name in schema.get("required") or list(properties):
        kind = (properties.get(name) or {}).get("type", "string")
        arguments[name] = {"integer": 1, "number": 1.5, "boolean": True}.get(kind, "Paris")
    return arguments


def _system_blocks(system: Any) -> list[dict[str, Any]]:
    if isinstance(system, str):
        return [{"type": "text", "text": system}]
    return [b for b in system or () if isinstance(b, dict)]


@dataclass
class Exchange:
    path: str
    request: dict[str, Any]
    response: dict[str, Any]
    """The message answered; for a stream, the message its events add up to."""
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """For a stream: every (event name, data) sent, in order."""
    api_key: str = ""
    """The key the client sent: apps running at the same time tell their exchanges apart by it."""


class FakeAnthropic:
    def __init__(self, latency: float = LATENCY) -> None:
        self.latency = latency
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._counter = 0
        self._cached: set[tuple[str, str]] = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                time.sleep(outer.latency)
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = orjson.loads(self.rfile.read(length))
                except orjson.JSONDecodeError:
                    self._error(400, "invalid_request_error", "invalid JSON")
                    return
                if not self.path.rstrip("/").endswith("/v1/messages"):
                    self._error(404, "not_found_error", f"no route {self.path}")
                    return
                if not isinstance(body, dict) or "max_tokens" not in body:
                    self._error(400, "invalid_request_error", "max_tokens: Field required")
                    return
                # The client sends its key as `x-api-key`, or (2.17) as a bearer token.
                key = self.headers.get("x-api-key") or self.headers.get("authorization") or ""
                message, events = outer._messages(self.path, body, key.removeprefix("Bearer "))
                if events is None:
                    self._json(200, message)
                else:
                    self._stream(events)

            def _error(self, status: int, kind: str, text: str) -> None:
                self._json(status, {"type": "error", "error": {"type": kind, "message": text}})

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = orjson.dumps(payload)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("request-id", "req_fake")
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, events: list[tuple[str, dict[str, Any]]]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                for name, data in events:
                    self.wfile.write(b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n")
                    self.wfile.flush()
                self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-anthropic",
                                        daemon=True)

    @property
    def base_url(self) -> str:
        """What `ANTHROPIC_BASE_URL` / `anthropic.Anthropic(base_url=...)` takes (the client adds `/v1/...`)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- answers ----------------------------------------------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            return f"{prefix}_fake{self._counter:04d}"

    def _usage(self, body: dict[str, Any], output_tokens: int, api_key: str) -> dict[str, Any]:
        """Anthropic's accounting: cached system blocks count as cache creation (first sight) or cache read;
        `input_tokens` is everything else."""
        created = read = uncached = 0
        for block in _system_blocks(body.get("system")):
            tokens = count_tokens(str(block.get("text", "")))
            if block.get("cache_control"):
                key = (api_key, str(block.get("text", "")))
                with self._lock:
                    seen = key in self._cached
                    self._cached.add(key)
                if seen:
                    read += tokens
                else:
                    created += tokens
            else:
                uncached += tokens
        for message in body.get("messages") or ():
            uncached += 3 + count_tokens(orjson.dumps(message.get("content") or "").decode())
        for tool in body.get("tools") or ():
            uncached += count_tokens(orjson.dumps(tool).decode())
        return {
            "input_tokens": uncached,
            "cache_creation_input_tokens": created,
            "cache_read_input_tokens": read,
            "output_tokens": output_tokens,
            "service_tier": "standard",
        }

    def _messages(self, path: str, body: dict[str, Any],
                  api_key: str) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]] | None]:
        """The message, and for a stream the events to send instead."""
        messages: list[dict[str, Any]] = body.get("messages") or []
        model = str(body.get("model", "claude-haiku-4-5"))
        tools = body.get("tools") or []
        content: list[dict[str, Any]]
        if tools and not (messages and _tool_result(messages[-1]) is not None):
            tool = tools[0]
            call = {"type": "tool_use", "id": self._next_id("toolu"), "name": tool["name"],
                    "input": tool_input(tool)}
            content = [{"type": "text", "text": TOOL_PREAMBLE}, call]
            stop_reason = "tool_use"
            output_tokens = count_tokens(TOOL_PREAMBLE) + 10 + count_tokens(orjson.dumps(call["input"]).decode())
        else:
            text = answer_for(messages)
            content = [{"type": "text", "text": text}]
            stop_reason = "end_turn"
            output_tokens = count_tokens(text)
        message = {
            "id": self._next_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": RESPONSE_MODELS.get(model, model),
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": self._usage(body, output_tokens, api_key),
        }
        events = _stream_events(message) if body.get("stream") else None
        with self._lock:
            self.exchanges.append(Exchange(path, body, message, events or [], api_key))
        return message, events


def _pieces(text: str) -> list[str]:
    step = max(1, -(-len(text) // STREAM_PIECES))
    return [text[i : i + step] for i in range(0, len(text), step)]


def _stream_events(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The server-sent events Anthropic streams for `message`."""
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**usage, "output_tokens": 1}}
    events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            opening: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in _pieces(block["text"])]
        else:
            opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": ""}]
            deltas += [{"type": "input_json_delta", "partial_json": piece}
                       for piece in _pieces(orjson.dumps(block["input"]).decode())]
        events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                               "content_block": opening}))
        if index == 0:
            events.append(("ping", {"type": "ping"}))
        events.extend(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
                      for delta in deltas)
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    final_usage = {k: v for k, v in usage.items() if k != "service_tier"}
    events.append(("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                                     "usage": final_usage}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


@contextmanager
def run_fake_anthropic() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic()
    fake.start()
    try:
        yield fake
    finally:
        fake.close()
