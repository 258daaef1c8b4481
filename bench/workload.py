"""Realistic LLM traces made by the real OpenTelemetry SDK, and a loopback sink in its own process.

Shared by the bench scripts so every comparison runs on the same spans against the same sink.
"""

from __future__ import annotations

import json
import os
import platform
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext

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

    do_PUT = do_POST  # `PUT /events`: the updates late log records become


def _serve(port: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Sink)
    server.serve_forever()


def _serve_grpc(port: int) -> None:
    """OTLP/gRPC sink: takes `TraceService/Export` without decoding it (raw bytes in, an empty response out)."""
    from concurrent import futures

    import grpc

    def export(request: bytes, context: Any) -> bytes:
        return b""  # an empty ExportTraceServiceResponse

    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {"Export": grpc.unary_unary_rpc_method_handler(export)},  # no (de)serializers: bytes as they are
    )
    server = grpc.server(futures.ThreadPoolExecutor(4), handlers=[handler],
                         options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)])
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sink:
    """A loopback sink in a separate process, so its work is not billed to the exporter being measured: HTTP
    answering 200 to `/v1/traces`, `/events/batch` and anything else (`kind="http"`), or OTLP/gRPC
    (`kind="grpc"`, `url` is then `127.0.0.1:port`)."""

    def __init__(self, kind: str = "http") -> None:
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}" if kind == "http" else f"127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Sink:
        command = "sink" if self.kind == "http" else "grpc-sink"
        self._proc = subprocess.Popen([sys.executable, __file__, command, str(self.port)])
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


def relabelled(pool: Sequence[ReadableSpan], total: int, batch: int, salt: int = 0) -> Iterator[list[ReadableSpan]]:
    """`total` spans in batches of `batch`, made from `pool` by giving each pass over it fresh trace ids, so a
    million distinct traces cost the memory of one pool (the scaling runs). Different `salt`s give different
    trace ids for the same pass."""
    made = 0
    round_ = salt << 20
    while made < total:
        salt = (round_ + 1) << 96
        out: list[ReadableSpan] = []
        for span in pool:
            if made >= total:
                break
            out.append(_with_trace_id(span, span.context.trace_id ^ salt))
            made += 1
            if len(out) == batch:
                yield out
                out = []
        if out:
            yield out
        round_ += 1


def _with_trace_id(span: ReadableSpan, trace_id: int) -> ReadableSpan:
    ctx = span.context
    parent = span.parent
    return ReadableSpan(
        name=span.name,
        context=SpanContext(trace_id, ctx.span_id, False, ctx.trace_flags, ctx.trace_state),
        parent=SpanContext(trace_id, parent.span_id, parent.is_remote, parent.trace_flags) if parent else None,
        resource=span.resource,
        # The SDK's own containers, as a real span carries them (the public properties return copies).
        attributes=getattr(span, "_attributes", None) or span.attributes,
        events=getattr(span, "_events", None) or span.events,
        links=getattr(span, "_links", None) or span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import otel_honeyhive

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "build": "compiled (mypyc)" if otel_honeyhive.compiled() else "pure Python",
    }


def peak_rss_mib(pid: int | None = None) -> float:
    """A process's peak resident memory (VmHWM), MiB; this process by default."""
    path = Path(f"/proc/{pid}/status" if pid else "/proc/self/status")
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def save(path: str | None, result: dict[str, Any]) -> None:
    """Write a script's figures as JSON (bench/report.py renders BENCHMARKS.md from them)."""
    if path:
        result = {**result, "machine": machine(), "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        with open(path, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=2)
            out.write("\n")


__all__ = ["Sink", "batches", "free_port", "machine", "make_traces", "peak_rss_mib", "relabelled", "save", "trace"]

if __name__ == "__main__" and sys.argv[1:2] == ["sink"]:
    _serve(int(sys.argv[2]))
elif __name__ == "__main__" and sys.argv[1:2] == ["grpc-sink"]:
    _serve_grpc(int(sys.argv[2]))
