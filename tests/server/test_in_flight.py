"""How many requests `serve` takes at once (server/in_flight.py): requests past the limit are refused at once,
503 with Retry-After, retryable by every OTLP client; idle connections count for nothing, and `/healthz` is
never refused, so a burst or a few dozen silent sockets never get a sidecar restarted."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from starlette.types import Message

from otel_honeyhive.server.in_flight import MAX_IN_FLIGHT, InFlightLimit
from tests.support.server import run_server
from tests.support.spans import llm_traces


@pytest.mark.slow
def test_idle_connections_take_no_request_slot_and_health_stays_green(tmp_path: Path) -> None:
    with run_server(tmp_path) as server:
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        idle = [socket.create_connection((host, int(port))) for _ in range(2 * MAX_IN_FLIGHT)]
        try:
            assert requests.get(server.url + "/healthz", timeout=5).status_code == 200
            body = encode_spans(llm_traces(1)).SerializeToString()
            answer = requests.post(server.url + "/v1/traces", data=body, timeout=10,
                                   headers={"Content-Type": "application/x-protobuf"})
            assert answer.status_code == 200, answer.text
        finally:
            for sock in idle:
                sock.close()


def test_a_request_past_the_limit_is_refused_at_once_with_retry_after_but_health_never() -> None:
    release = asyncio.Event()

    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def call(limit: InFlightLimit, path: str) -> tuple[int, dict[bytes, bytes]]:
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        await limit({"type": "http", "path": path}, _no_body, send)
        return sent[0]["status"], dict(sent[0]["headers"])

    async def scenario() -> list[tuple[int, dict[bytes, bytes]]]:
        limit = InFlightLimit(slow_app, limit=2)
        held = [asyncio.ensure_future(call(limit, "/v1/traces")) for _ in range(2)]
        await asyncio.sleep(0)
        refused = await call(limit, "/v1/traces")
        health = asyncio.ensure_future(call(limit, "/healthz"))
        await asyncio.sleep(0)
        release.set()
        answers = [refused, *(await asyncio.gather(*held, health))]
        assert limit.in_flight == 0
        return answers

    refused, first, second, health = asyncio.run(scenario())
    assert refused[0] == 503 and refused[1][b"retry-after"] == b"1"
    assert (first[0], second[0], health[0]) == (200, 200, 200)


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def test_the_connection_cap_leaves_descriptors_for_the_store_and_the_spool() -> None:
    """uvicorn's own cap is half the process's open-file limit when that is lower than MAX_CONNECTIONS."""
    import subprocess
    import sys

    code = ("import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit("
            "resource.RLIMIT_NOFILE)[1])); from otel_honeyhive.server.run import connection_limit; "
            "print(connection_limit())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "128"
