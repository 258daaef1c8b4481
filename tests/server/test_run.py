"""How `serve` stops: a real server process, told to stop by signals as a process manager tells it."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from tests.support.fake_honeyhive import FakeHoneyHive, Reply
from tests.support.server import start_server
from tests.support.spans import traces
from tests.support.waiting import wait_until

FLUSH_DELAY = 3.0
"""Seconds HoneyHive takes to answer: the shutdown's flush of held spans is under way that long."""


def test_a_second_sigterm_during_the_shutdown_flush_does_not_cut_it_short(
    tmp_path: Path, honeyhive: FakeHoneyHive
) -> None:
    """Without a spool, spans waiting for their root are in memory: shutdown ships them. A process manager that
    sends SIGTERM again (or a second Ctrl-C) while they are on their way used to kill the process there (status
    -15, the spans never shipped)."""
    honeyhive.default = Reply(200, delay=FLUSH_DELAY)
    server = start_server(tmp_path, "--api-key", "hh-key", "--server-url", honeyhive.url, "--grpc-port", "0",
                          "--hold-timeout", "60")
    try:
        (spans,) = traces(1, 3)
        children = [s for s in spans if s.parent is not None]
        answer = requests.post(server.url + "/v1/traces", data=encode_spans(children).SerializeToString(),
                               headers={"Content-Type": "application/x-protobuf"}, timeout=10)
        assert answer.status_code == 200  # held, waiting for a root that never comes
        server.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: honeyhive.requests, 10, explain="the held spans on their way at shutdown",
                   diagnose=server.stderr)
        time.sleep(FLUSH_DELAY / 3)
        server.proc.send_signal(signal.SIGTERM)
        assert server.stop() == 0, server.stderr()
    finally:
        server.stop()
    assert len(honeyhive.events) == len(children)
