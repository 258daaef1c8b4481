"""A small WSGI app, traced with the OpenTelemetry API only: gunicorn serves it under `opentelemetry-instrument`
with `OTEL_TRACES_EXPORTER=honeyhive`, so the tracer provider and its exporter are the ones the environment
configures (HH_*), as in the README's no-code recipe.

`GET /job?id=<label>` makes one agent trace (traces.make_trace) whose root carries the label, then calls the
provider's `force_flush()` before answering: the documented way to make what a request traced durable before
the client is told it succeeded (with `HH_SPOOL_DIR`, the exporter has it fsynced when `force_flush` returns;
it does not wait for HoneyHive). The answer is the trace's ids as JSON, and the worker's pid.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from opentelemetry import trace

from tests.reliability.workers.traces import flush_provider, make_trace

tracer = trace.get_tracer("tests.reliability.workers.wsgi_app")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    query = parse_qs(environ.get("QUERY_STRING", ""))
    label = query.get("id", ["unnamed"])[0]
    report = make_trace(tracer, label)
    report["flushed"] = flush_provider()
    body = json.dumps(report).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
