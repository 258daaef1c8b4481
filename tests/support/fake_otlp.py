"""A small real OTLP/HTTP receiver that answers on cue, and the HoneyHive events the OTLP-output tests send.

It runs on a real loopback socket (stdlib `ThreadingHTTPServer`), so the output's real HTTP client, retries and
timeouts are what gets tested. Tests script its answers (status, headers, body) and read back every request,
decompressed and decoded with `opentelemetry.proto`.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

OK_BODY = ExportTraceServiceResponse().SerializeToString()


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = OK_BODY
    content_type: str = "application/x-protobuf"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    """Decompressed."""
    at: float
    status: int

    def request(self) -> ExportTraceServiceRequest:
        return ExportTraceServiceRequest.FromString(self.body)

    def spans(self) -> list[Span]:
        return [s for rs in self.request().resource_spans for ss in rs.scope_spans for s in ss.spans]


class FakeOtlpHttp:
    def __init__(self, port: int = 0, *, max_body_bytes: int | None = None) -> None:
        """`max_body_bytes`: a body longer than this (as received) is answered 413 before the script is
        consulted, as a gateway's limit would (None: no limit)."""
        self.max_body_bytes = max_body_bytes
        self.requests: list[Received] = []
        self.script: list[Reply] = []
        self.default = Reply()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                data = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                with outer._lock:
                    if outer.max_body_bytes is not None and len(raw) > outer.max_body_bytes:
                        reply = Reply(413, body=b"request entity too large", content_type="text/plain")
                    else:
                        reply = outer.script.pop(0) if outer.script else outer.default
                    outer.requests.append(
                        Received(self.path, dict(self.headers), data, time.monotonic(), reply.status)
                    )
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(reply.body)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def start(self) -> FakeOtlpHttp:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def then(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    @property
    def too_large(self) -> int:
        """Requests answered 413."""
        with self._lock:
            return sum(1 for r in self.requests if r.status == 413)

    def spans(self) -> list[Span]:
        """Every span of every request answered 2xx, in arrival order."""
        with self._lock:
            accepted = [r for r in self.requests if r.status < 300]
        return [s for r in accepted for s in r.spans()]


@contextmanager
def fake_otlp_http(port: int = 0, *, max_body_bytes: int | None = None) -> Iterator[FakeOtlpHttp]:
    server = FakeOtlpHttp(port, max_body_bytes=max_body_bytes).start()
    try:
        yield server
    finally:
        server.stop()


def attribute(span: Span, key: str) -> Any:
    """A span attribute's value (string, int, double or bool), None when absent."""
    for kv in span.attributes:
        if kv.key == key:
            value: AnyValue = kv.value
            kind = value.WhichOneof("value")
            return getattr(value, kind) if kind else None
    return None


def low64(event_id: str) -> int:
    """The span id an event id becomes when the event carries no OpenTelemetry ids: its UUID's low 64 bits."""
    return uuid.UUID(event_id).int & 0xFFFF_FFFF_FFFF_FFFF


def sample_session(source: str, t0: float = 1_760_000_000_000.125) -> list[dict[str, Any]]:
    """One session as the HoneyHive-compatible API would hand it to an output: a session, a chain under it, a
    model call (messages, tool calls, tokens) and a failed tool under the chain. Fresh ids on every call;
    values chosen to catch lossy conversions (fractional milliseconds, unicode, nulls, nested lists, bools)."""
    sid, chain, model, tool = (str(uuid.uuid4()) for _ in range(4))
    common = {"session_id": sid, "source": source, "project": "otlp-tests"}
    return [
        {
            **common, "event_id": sid, "parent_id": None, "event_type": "session", "event_name": "support-chat",
            "inputs": {"user": "Zoë", "tags": ["a", "b"]}, "outputs": {"answer": "done"},
            "metadata": {"customer": "acme", "nested": {"list": [1, 2.5, None, True]}},
            "user_properties": {"plan": "pro"}, "start_time": t0, "end_time": t0 + 1500.5, "duration": 1500.5,
            "children_ids": [chain],
        },
        {
            **common, "event_id": chain, "parent_id": sid, "event_type": "chain", "event_name": "agent",
            "inputs": {"question": "what is 2+2?"}, "outputs": {"answer": "4"}, "config": {"max_steps": 3},
            "metrics": {"score": 0.9}, "feedback": {"rating": 5, "comment": "très bien"}, "error": None,
            "start_time": t0 + 10, "end_time": t0 + 1400.25, "duration": 1390.25, "children_ids": [model, tool],
        },
        {
            **common, "event_id": model, "parent_id": chain, "event_type": "model", "event_name": "openai.chat",
            "config": {"model": "gpt-4o", "provider": "openai", "temperature": 0.2},
            "inputs": {"chat_history": [{"role": "system", "content": "be brief"},
                                        {"role": "user", "content": "what is 2+2?"}]},
            "outputs": {"role": "assistant", "content": "4", "finish_reason": "stop",
                        "tool_calls": [{"id": "call_1", "type": "function",
                                        "function": {"name": "calc", "arguments": "{\"x\": 2}"}}]},
            "metadata": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
            "start_time": t0 + 20, "end_time": t0 + 820, "duration": 800, "children_ids": [],
        },
        {
            **common, "event_id": tool, "parent_id": chain, "event_type": "tool", "event_name": "search",
            "inputs": {"query": "2+2"}, "outputs": {}, "error": "search backend timed out",
            "start_time": t0 + 900, "end_time": t0 + 1300, "duration": 400, "children_ids": [],
        },
    ]
