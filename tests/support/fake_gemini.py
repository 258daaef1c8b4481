"""A deterministic Gemini-API-compatible server on a real loopback socket, for the real `google-genai` client.

    with run_fake_gemini() as fake:
        client = genai.Client(api_key="test",
                              http_options=types.HttpOptions(base_url=fake.base_url, api_version="v1beta"))

Routes (the Gemini Developer API the client calls, https://ai.google.dev/api/generate-content), under `/v1beta`
and `/v1` (google-genai 3.x asks `v1` of a custom `base_url` unless `api_version` says otherwise):
`POST /v1beta/models/{model}:generateContent` (one answer) and `POST /v1beta/models/{model}:streamGenerateContent
?alt=sse` (the same answer cut into `STREAM_PIECES` server-sent events, each a `GenerateContentResponse` holding
one piece of the text; only the last carries the finish reason and the full `usageMetadata`, as Gemini streams).
A request offering `functionDeclarations` whose last turn is not a `functionResponse` is answered with a
`functionCall` of the first declared function; otherwise with text derived from the last user turn.

Every answer carries `usageMetadata` (token counts: whitespace words of the request's texts and the answer;
`thoughtsTokenCount` when the request sets a thinking budget; `cachedContentTokenCount`, the system instruction's
words, when it has one, as Gemini's implicit caching reports a repeated prefix), a `modelVersion` and a
`responseId`. Every exchange is recorded (`fake.exchanges`) so tests compare what reached
HoneyHive with what the app sent and what this server answered.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

API_VERSIONS = ("v1beta", "v1")
"""The versions served: the client asks `v1beta` by default, `HttpOptions(api_version=...)` changes it."""
MODEL_VERSIONS = {"gemini-2.0-flash": "gemini-2.0-flash-001"}
"""The `modelVersion` Gemini answers with, for a requested model (others answer with their own name)."""
_ROUTE = re.compile(r"/(?P<version>[^/]+)/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)")
THOUGHT_TOKENS = 7
"""Thinking tokens of an answer whose request sets a thinking budget (at most the budget)."""
STREAM_PIECES = 4
"""A streamed answer is cut into this many chunks, so assembling them is exercised."""
LATENCY = 0.005
"""Seconds every answer takes: each call's span lasts over a millisecond, so events sort in call order."""


def _texts(contents: list[dict[str, Any]]) -> list[str]:
    return [str(p["text"]) for c in contents for p in c.get("parts") or () if isinstance(p, dict) and "text" in p]


def count_tokens(text: str) -> int:
    return len(text.split())


def answer_for(contents: list[dict[str, Any]]) -> str:
    """The text answer to a conversation: deterministic, and different for different questions."""
    last = contents[-1] if contents else {}
    for part in last.get("parts") or ():
        if "functionResponse" in part:
            response = part["functionResponse"].get("response")
            return f"According to the tool: {orjson.dumps(response).decode()}."
    return f"Gemini says: {' '.join(_texts([last]))} The answer is 42."


def function_arguments(declaration: dict[str, Any]) -> dict[str, Any]:
    """Arguments for a call to `declaration`: every required parameter gets a deterministic value of its type. The
    schema is `parameters`, or `parametersJsonSchema` (how the client declares a Python function it calls itself;
    it spells the key `parameters_json_schema`)."""
    schema = (declaration.get("parameters") or declaration.get("parametersJsonSchema")
              or declaration.get("parameters_json_schema") or {})
    properties = schema.get("properties") or {}
    arguments: dict[str, Any] = {}
    for name in schema.get("required") or list(properties):
        kind = str((properties.get(name) or {}).get("type", "STRING")).lower()
        arguments[name] = {"integer": 1, "number": 1.5, "boolean": True}.get(kind, "Paris")
    return arguments


@dataclass
class Exchange:
    path: str
    model: str
    request: dict[str, Any]
    response: dict[str, Any]
    """The JSON answer; for a stream, the whole answer its chunks add up to."""
    chunks: list[dict[str, Any]] = field(default_factory=list)
    """For a stream: every chunk sent, in order."""

    @property
    def text(self) -> str:
        """The answer's text (empty for a function call)."""
        return "".join(_texts([self.response["candidates"][0]["content"]]))

    @property
    def function_call(self) -> dict[str, Any] | None:
        for part in self.response["candidates"][0]["content"]["parts"]:
            if "functionCall" in part:
                call: dict[str, Any] = part["functionCall"]
                return call
        return None


class FakeGemini:
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
                    self._json(400, {"error": {"code": 400, "message": "invalid JSON", "status": "INVALID_ARGUMENT"}})
                    return
                route = _ROUTE.fullmatch(unquote(urlsplit(self.path).path))
                if route is None or route["version"] not in API_VERSIONS:
                    self._json(404, {"error": {"code": 404, "message": f"no route {self.path}", "status": "NOT_FOUND"}})
                    return
                answer, chunks = outer._generate(self.path, route["model"], body,
                                                 route["method"] == "streamGenerateContent")
                if chunks is None:
                    self._json(200, answer)
                else:
                    self._stream(chunks)

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = orjson.dumps(payload)
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, chunks: list[dict[str, Any]]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in chunks:
                    self.wfile.write(b"data: " + orjson.dumps(chunk) + b"\r\n\r\n")
                    self.wfile.flush()
                self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-gemini",
                                        daemon=True)

    @property
    def base_url(self) -> str:
        """What `types.HttpOptions(base_url=...)` takes (the client adds `/{api_version}/models/...`)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- answers ----------------------------------------------------------------------------------------------

    def _next_id(self) -> str:
        with self._lock:
            self._counter += 1
            return f"fake-gemini-{self._counter:04d}"

    def _generate(self, path: str, model: str, body: dict[str, Any], stream: bool
                  ) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
        """The answer, and for a stream the chunks to send instead."""
        contents: list[dict[str, Any]] = body.get("contents") or []
        declarations = [d for t in body.get("tools") or () for d in t.get("functionDeclarations") or ()]
        last_parts = (contents[-1].get("parts") or []) if contents else []
        if declarations and not any("functionResponse" in p for p in last_parts):
            declaration = declarations[0]
            part: dict[str, Any] = {"functionCall": {"name": declaration["name"],
                                                     "args": function_arguments(declaration)}}
            output_tokens = 10
        else:
            part = {"text": answer_for(contents)}
            output_tokens = count_tokens(part["text"])
        system = body.get("systemInstruction")
        prompt_tokens = sum(count_tokens(t) for t in _texts(contents + ([system] if system else [])))
        thinking = (body.get("generationConfig") or {}).get("thinkingConfig") or {}
        budget = thinking.get("thinkingBudget", thinking.get("thinking_budget"))  # proto JSON takes both spellings
        thoughts = min(int(budget), THOUGHT_TOKENS) if budget else 0
        usage = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": output_tokens,
                 "totalTokenCount": prompt_tokens + output_tokens + thoughts}
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        if system:  # implicit caching: a system instruction is a prefix Gemini has seen before
            usage["cachedContentTokenCount"] = sum(count_tokens(t) for t in _texts([system]))
        answer = {
            "candidates": [{"content": {"parts": [part], "role": "model"}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": usage,
            "modelVersion": MODEL_VERSIONS.get(model, model),
            "responseId": self._next_id(),
        }
        chunks = _stream_chunks(answer) if stream else None
        with self._lock:
            self.exchanges.append(Exchange(path, model, body, answer, chunks or []))
        return answer, chunks


def _stream_chunks(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The chunks Gemini streams for `answer`: text in pieces, each chunk a whole response with one candidate;
    the last one has the finish reason and the complete usage (earlier ones only the prompt's count)."""
    candidate = answer["candidates"][0]
    (part,) = candidate["content"]["parts"]
    if "text" in part:
        text: str = part["text"]
        step = -(-len(text) // STREAM_PIECES)
        pieces: list[dict[str, Any]] = [{"text": text[i : i + step]} for i in range(0, len(text), step)]
    else:
        pieces = [part]
    usage = answer["usageMetadata"]
    chunks = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        chunk_candidate: dict[str, Any] = {"content": {"parts": [piece], "role": "model"}, "index": 0}
        if last:
            chunk_candidate["finishReason"] = candidate["finishReason"]
        chunks.append({
            "candidates": [chunk_candidate],
            "usageMetadata": usage if last else {"promptTokenCount": usage["promptTokenCount"],
                                                 "totalTokenCount": usage["promptTokenCount"]},
            "modelVersion": answer["modelVersion"],
            "responseId": answer["responseId"],
        })
    return chunks


@contextmanager
def run_fake_gemini() -> Iterator[FakeGemini]:
    fake = FakeGemini()
    fake.start()
    try:
        yield fake
    finally:
        fake.close()
