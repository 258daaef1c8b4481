"""Realistic LLM traces made by the real OpenTelemetry SDK, and a loopback sink in its own process.

Shared by the bench scripts so every comparison runs on the same spans against the same sink.
"""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

WORDS = ("telemetry", "span", "model", "retrieval", "context", "answer", "token", "latency", "agent", "tool")


def _text(rng: random.Random, size: int) -> str:
    out: list[str] = []
    n = 0
    while n < size:
        w = rng.choice(WORDS)
        out.append(w)
        n += len(w) + 1
    return " ".join(out)[:size]


def make_traces(n_spans: int, seed: int = 7) -> list[ReadableSpan]:
    """Traces of 5–15 spans: an agent root, retriever tools, model calls with 2–20 KB prompts, tool calls."""
    rng = random.Random(seed)
    memory = InMemorySpanExporter()
    resource = Resource.create({"service.name": "bench-rag", "deployment.environment": "bench"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench.llm", "1.0")
    made = 0
    while made < n_spans:
        size = rng.randint(5, 15)
        with tracer.start_as_current_span("agent.run") as root:
            root.set_attribute("gen_ai.operation.name", "invoke_agent")
            root.set_attribute("gen_ai.agent.name", "support-bot")
            root.set_attribute("traceloop.entity.input", json.dumps({"args": [_text(rng, 200)], "kwargs": {}}))
            for i in range(size - 1):
                kind = i % 3
                if kind == 0:
                    with tracer.start_as_current_span("retrieve") as s:
                        s.set_attribute("openinference.span.kind", "RETRIEVER")
                        s.set_attribute("input.value", _text(rng, 120))
                        for d in range(3):
                            s.set_attribute(f"retrieval.documents.{d}.document.content", _text(rng, 600))
                            s.set_attribute(f"retrieval.documents.{d}.document.score", rng.random())
                elif kind == 1:
                    with tracer.start_as_current_span("chat gpt-4o") as s:
                        prompt = _text(rng, rng.randint(2_000, 20_000))
                        s.set_attribute("gen_ai.operation.name", "chat")
                        s.set_attribute("gen_ai.request.model", "gpt-4o")
                        s.set_attribute("gen_ai.provider.name", "openai")
                        s.set_attribute("gen_ai.request.temperature", 0.2)
                        s.set_attribute("gen_ai.request.max_tokens", 512)
                        s.set_attribute(
                            "gen_ai.input.messages",
                            json.dumps([
                                {"role": "system", "parts": [{"type": "text", "content": "Answer from context."}]},
                                {"role": "user", "parts": [{"type": "text", "content": prompt}]},
                            ]),
                        )
                        s.set_attribute(
                            "gen_ai.output.messages",
                            json.dumps([{"role": "assistant", "finish_reason": "stop",
                                         "parts": [{"type": "text", "content": _text(rng, 400)}]}]),
                        )
                        s.set_attribute("gen_ai.usage.input_tokens", len(prompt) // 4)
                        s.set_attribute("gen_ai.usage.output_tokens", 100)
                        s.set_attribute("gen_ai.response.model", "gpt-4o-2024-08-06")
                else:
                    with tracer.start_as_current_span("execute_tool search") as s:
                        s.set_attribute("gen_ai.operation.name", "execute_tool")
                        s.set_attribute("gen_ai.tool.name", "search")
                        s.set_attribute("gen_ai.tool.call.arguments", json.dumps({"q": _text(rng, 80)}))
                        s.set_attribute("gen_ai.tool.call.result", json.dumps({"hits": [_text(rng, 200)]}))
        made += size
    provider.shutdown()
    return list(memory.get_finished_spans())[:n_spans]


def batches(spans: Sequence[ReadableSpan], size: int) -> list[Sequence[ReadableSpan]]:
    return [spans[i : i + size] for i in range(0, len(spans), size)]


# -- the sink ---------------------------------------------------------------------------------------------------


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b"" if self.path == "/v1/traces" else b'{"success":true}'
        ctype = "application/x-protobuf" if self.path == "/v1/traces" else "application/json"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(port: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Sink)
    server.serve_forever()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sink:
    """An HTTP sink answering 200 to `/v1/traces` and `/events/batch`, in a separate process so its work is
    not billed to the exporter being measured."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Sink:
        self._proc = subprocess.Popen([sys.executable, __file__, "sink", str(self.port)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("sink did not start")

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(5)


__all__ = ["Sink", "batches", "make_traces", "trace"]

if __name__ == "__main__" and sys.argv[1:2] == ["sink"]:
    _serve(int(sys.argv[2]))
