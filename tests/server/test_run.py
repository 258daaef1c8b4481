"""How `serve` stops: a real server process, told to stop by signals as a process manager tells it."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from otel_honeyhive.core.secrets import Secret
from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
from otel_honeyhive.server.config import ServerConfig
from otel_honeyhive.server.run import exposure_warning
from tests.support.fake_honeyhive import FakeHoneyHive, Reply
from tests.support.server import start_server
from tests.support.spans import traces
from tests.support.waiting import wait_until

FLUSH_DELAY = 3.0
"""Seconds HoneyHive takes to answer: the shutdown's flush of held spans is under way that long."""


@pytest.mark.slow
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


@pytest.mark.parametrize(
    ("host", "token", "output", "warned"),
    [
        ("127.0.0.1", None, "store", None),
        ("localhost", None, "store", None),
        ("::1", None, "store", None),
        ("0.0.0.0", "s3cret", "store", None),
        ("0.0.0.0", None, "store", "read every stored session in the viewer"),
        ("::", None, "store", "read every stored session in the viewer"),
        ("10.1.2.3", None, "honeyhive", "forwarded under this server's credentials"),
    ],
)
def test_a_server_bound_beyond_this_machine_without_a_token_warns_once_at_start(
    tmp_path: Path, host: str, token: str | None, output: str, warned: str | None
) -> None:
    """Bound to loopback (the default) only this machine reaches the ports; bound wider with no token, anyone
    who can reach them can send, and read what the store holds: the start-up says so, and how to close it.
    (Decided from the configuration: the tests bind nothing but 127.0.0.1.)"""
    honeyhive = HoneyHiveSettings.resolve(api_key="k", server_url="http://127.0.0.1:9", environ={})
    config = ServerConfig(host=host, auth_token=Secret(token) if token else None, db_path=tmp_path / "e.db",
                          honeyhive=honeyhive if output == "honeyhive" else None)
    warning = exposure_warning(config)
    if warned is None:
        assert warning is None
    else:
        assert warning is not None and warned in warning
        assert f"listening on {host} (beyond this machine) with no --auth-token" in warning
        assert "set --auth-token (or $OTEL_HONEYHIVE_AUTH_TOKEN), or bind 127.0.0.1" in warning
