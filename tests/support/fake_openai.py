"""A deterministic OpenAI-compatible server on a real loopback socket, for the real `openai` client.

    with run_fake_openai() as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="test")

Routes: `POST /v1/chat/completions` (a plain answer; a `tool_calls` answer when the request offers `tools` and its
last message is not a tool result; `stream: true` as server-sent events ending with `data: [DONE]`, preceded by a
usage chunk when `stream_options.include_usage`), `POST /v1/embeddings` (floats or base64, as asked) and
`POST /v1/responses` (the Responses API, which the OpenAI Agents SDK uses: a `function_call` item when the request
offers function `tools` and its last input item is not a `function_call_output`, else an assistant `message`;
`stream: true` as the Responses API's typed server-sent events, ending with `response.completed`).
Every answer carries a `usage` block with token counts derived from the request (a whitespace word count, plus
OpenAI's per-message overhead), and a dated response `model` as OpenAI returns.

Every exchange is recorded (`fake.exchanges`): tests compare what reached HoneyHive with what the app sent and
what this server answered, rather than with constants copied into the test.
"""

from __future__ import annotations

import base64
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z: fixed, so answers are byte-for-byte reproducible
RESPONSE_MODELS = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
}
EMBEDDING_DIMENSIONS = 8
STREAM_PIECES = 4
"""A streamed answer is cut into this many content chunks (each one a `delta`), so assembling is exercised."""
LATENCY = 0.005
"""Seconds every answer takes. Besides being realistic, it makes each call's span last longer than a millisecond,
so sequential calls have distinct millisecond start times and events sort in call order."""


def answer_for(messages: list[dict[str, Any]]) -> str:
    """The text answer to a conversation: deterministic, and different for different questions."""
    last: dict[str, Any] = next((m for m in reversed(messages) if m.get("role") in ("user", "tool")), {})
    content = last.get("content")
    if last.get("role") == "tool":
        return f"According to the tool: {content}."
    if isinstance(content, list):  # multimodal parts
        content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return f"You asked: {content!s}. The answer is 42."


def count_tokens(text: str) -> int:
    return len(text.split())


def prompt_tokens_for(messages: list[dict[str, Any]]) -> int:
    """~OpenAI's accounting: 3 tokens of overhead per message, 3 to prime the answer, plus the words."""
    total = 3
    for message in messages:
        total += 3 + count_tokens(orjson.dumps(message.get("content") or "").decode())
        for call in message.get("tool_calls") or ():
            total += count_tokens(orjson.dumps(call).decode())
    return total


def tool_arguments(tool: dict[str, Any]) -> dict[str, Any]:
    """Arguments for a call to `tool`: every required parameter gets a deterministic value of its type."""
    schema = tool.get("function", {}).get("parameters") or {}
    properties = schema.get("properties") or {}
    arguments: dict[str, Any] = {}
    for name in schema.get("required") or list(properties):
        kind = (properties.get(name) or {}).get("type", "string")
        arguments[name] = {"integer": 1, "number": 1.5, "boolean": True}.get(kind, "Paris")
    return arguments


def embedding_for(text: str) -> list[float]:
    """A fixed-size vector from the text's bytes, exactly representable as float32."""
    raw = text.encode()
    return [((sum(raw[i::EMBEDDING_DIMENSIONS]) % 256) - 128) / 128 for i in range(EMBEDDING_DIMENSIONS)]


@dataclass
class Exchange:
    path: str
    request: dict[str, Any]
    response: dict[str, Any]
    """The JSON answer; for a stream, the completion the chunks add up to (content, tool calls, usage)."""
    chunks: list[dict[str, Any]] = field(default_factory=list)
    """For a stream: every chunk sent, in order."""


class FakeOpenAI:
    def __init__(self, latency: float = LATENCY) -> None:
        self.latency = latency
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._counter = 0
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
                    self._json(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
                    return
                if self.path.rstrip("/").endswith("/chat/completions"):
                    completion, chunks = outer._chat(self.path, body)
                    if chunks is None:
                        self._json(200, completion)
                    else:
                        self._stream(chunks)
                elif self.path.rstrip("/").endswith("/embeddings"):
                    self._json(200, outer._embeddings(self.path, body))
                elif self.path.rstrip("/").endswith("/responses"):
                    response, events = outer._responses(self.path, body)
                    if events is None:
                        self._json(200, response)
                    else:
                        self._typed_stream(events)
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = orjson.dumps(payload)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, chunks: list[dict[str, Any]]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in chunks:
                    self.wfile.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _typed_stream(self, events: list[dict[str, Any]]) -> None:
                """The Responses API's server-sent events: `event: <type>` lines, and no `[DONE]`."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                for event in events:
                    self.wfile.write(f"event: {event['type']}\n".encode() + b"data: " + orjson.dumps(event) + b"\n\n")
                    self.wfile.flush()
                self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-openai",
                                        daemon=True)

    @property
    def base_url(self) -> str:
        """What `OPENAI_BASE_URL` / `openai.OpenAI(base_url=...)` takes."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def by_path(self, suffix: str) -> list[Exchange]:
        return [e for e in self.exchanges if e.path.rstrip("/").endswith(suffix)]

    # -- answers ----------------------------------------------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            return f"{prefix}-fake{self._counter:04d}"

    def _record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    def _chat(self, path: str, body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
        """The completion, and for a stream the chunks to send instead."""
        messages: list[dict[str, Any]] = body.get("messages") or []
        model = str(body.get("model", "gpt-4o-mini"))
        tools = body.get("tools") or []
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if tools and not (messages and messages[-1].get("role") == "tool"):
            tool = tools[0]
            arguments = orjson.dumps(tool_arguments(tool)).decode()
            call = {
                "id": self._next_id("call"),
                "type": "function",
                "function": {"name": tool["function"]["name"], "arguments": arguments},
            }
            message["tool_calls"] = [call]
            finish_reason = "tool_calls"
            completion_tokens = 10 + count_tokens(arguments)
        else:
            message["content"] = answer_for(messages)
            finish_reason = "stop"
            completion_tokens = count_tokens(message["content"])
        prompt_tokens = prompt_tokens_for(messages)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        completion = {
            "id": self._next_id("chatcmpl"),
            "object": "chat.completion",
            "created": CREATED,
            "model": RESPONSE_MODELS.get(model, model),
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
            "usage": usage,
        }
        chunks = None
        if body.get("stream"):
            chunks = _stream_chunks(completion, bool((body.get("stream_options") or {}).get("include_usage")))
        self._record(Exchange(path, body, completion, chunks or []))
        return completion, chunks

    def _embeddings(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        raw_input = body.get("input", "")
        inputs = [raw_input] if isinstance(raw_input, str) else [str(i) for i in raw_input]
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(inputs):
            vector = embedding_for(text)
            encoded: Any = (
                base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode() if as_base64 else vector
            )
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        tokens = sum(count_tokens(t) for t in inputs)
        model = str(body.get("model", "text-embedding-3-small"))
        response = {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        self._record(Exchange(path, body, response))
        return response

    def _responses(self, path: str, body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
        """A Responses API answer, and for a stream the events to send instead."""
        messages = _response_messages(body)
        model = str(body.get("model", "gpt-4o-mini"))
        tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
        item: dict[str, Any]
        if tools and not (messages and messages[-1]["role"] == "tool"):
            tool = tools[0]
            arguments = orjson.dumps(tool_arguments({"function": tool})).decode()
            item = {"type": "function_call", "id": self._next_id("fc"), "call_id": self._next_id("call"),
                    "name": tool["name"], "arguments": arguments, "status": "completed"}
            output_tokens = 10 + count_tokens(arguments)
        else:
            text = answer_for(messages)
            item = {"type": "message", "id": self._next_id("msg"), "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}
            output_tokens = count_tokens(text)
        input_tokens = prompt_tokens_for(messages)
        response = {
            "id": self._next_id("resp"),
            "object": "response",
            "created_at": CREATED,
            "status": "completed",
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": RESPONSE_MODELS.get(model, model),
            "output": [item],
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None},
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation", "disabled"),
            "usage": {
                "input_tokens": input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": input_tokens + output_tokens,
            },
            "user": None,
            "metadata": {},
        }
        events = _response_stream_events(response) if body.get("stream") else None
        self._record(Exchange(path, body, response, events or []))
        return response, events


def _response_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A Responses API request's `instructions` and `input` items as chat messages (for `answer_for` and the token
    count): message items keep their role and text, a `function_call_output` is a tool message."""
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    raw = body.get("input") or []
    for item in [{"role": "user", "content": raw}] if isinstance(raw, str) else raw:
        kind = item.get("type", "message")
        if kind == "message":
            content = item.get("content")
            if isinstance(content, list):  # input_text / output_text parts
                content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            messages.append({"role": item.get("role", "user"), "content": content})
        elif kind == "function_call_output":
            messages.append({"role": "tool", "content": item.get("output")})
        elif kind == "function_call":
            messages.append({"role": "assistant", "content": None,
                             "tool_calls": [{"function": {"name": item.get("name"),
                                                          "arguments": item.get("arguments")}}]})
    return messages


def _response_stream_events(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The typed events the Responses API streams for `response`: created, in progress, each output item added,
    its text (or arguments) in deltas, done, and `response.completed` carrying the whole response."""
    events: list[dict[str, Any]] = []
    pending = {**response, "status": "in_progress", "output": [], "usage": None}
    events.append({"type": "response.created", "response": pending})
    events.append({"type": "response.in_progress", "response": pending})
    for index, item in enumerate(response["output"]):
        events.append({"type": "response.output_item.added", "output_index": index,
                       "item": {**item, "status": "in_progress",
                                **({"content": []} if item["type"] == "message" else {"arguments": ""})}})
        if item["type"] == "message":
            part = item["content"][0]
            text: str = part["text"]
            ids = {"item_id": item["id"], "output_index": index, "content_index": 0}
            events.append({"type": "response.content_part.added", **ids, "part": {**part, "text": ""}})
            step = -(-len(text) // STREAM_PIECES)
            events.extend({"type": "response.output_text.delta", **ids, "delta": text[i : i + step], "logprobs": []}
                          for i in range(0, len(text), step))
            events.append({"type": "response.output_text.done", **ids, "text": text, "logprobs": []})
            events.append({"type": "response.content_part.done", **ids, "part": part})
        else:
            ids = {"item_id": item["id"], "output_index": index}
            events.append({"type": "response.function_call_arguments.delta", **ids, "delta": item["arguments"]})
            events.append({"type": "response.function_call_arguments.done", **ids, "arguments": item["arguments"]})
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    events.append({"type": "response.completed", "response": response})
    return [{**event, "sequence_number": i} for i, event in enumerate(events)]


def _stream_chunks(completion: dict[str, Any], include_usage: bool) -> list[dict[str, Any]]:
    """The chunks OpenAI streams for `completion`: the role first, then content (or tool call) deltas, then the
    finish reason, then (when asked) a usage chunk with no choices."""
    choice = completion["choices"][0]
    message = choice["message"]
    base = {k: completion[k] for k in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    if message.get("tool_calls"):
        for i, call in enumerate(message["tool_calls"]):
            chunks.append(chunk({"tool_calls": [{"index": i, **call}]}))
    else:
        content: str = message["content"]
        step = -(-len(content) // STREAM_PIECES)
        chunks.extend(chunk({"content": content[i : i + step]}) for i in range(0, len(content), step))
    chunks.append(chunk({}, choice["finish_reason"]))
    if include_usage:
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    return chunks


@contextmanager
def run_fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    fake.start()
    try:
        yield fake
    finally:
        fake.close()
