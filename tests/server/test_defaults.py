"""One default `source` everywhere: what the exporter sets, the receiver sets on spans that arrive over OTLP, the
HoneyHive-compatible API sets on events without one, and every command's help says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.core.events import DEFAULT_SOURCE
from otel_honeyhive.mapper.identity import session_id_for_trace
from tests.support.server import run_server
from tests.support.spans import Recorder


def test_the_default_source_is_the_exporters() -> None:
    exporter = HoneyHiveSpanExporter(server_url="http://127.0.0.1:9")
    try:
        assert exporter.settings.source == DEFAULT_SOURCE == "dev"
    finally:
        exporter.shutdown()


def test_spans_over_otlp_and_events_over_the_api_get_the_same_default_source(tmp_path: Path) -> None:
    recorder = Recorder("defaults")
    with recorder.tracer.start_as_current_span("root"):
        pass
    (span,) = recorder.spans()
    with run_server(tmp_path, env={"HH_SOURCE": ""}) as server:
        OTLPSpanExporter(endpoint=server.url + "/v1/traces").export([span])
        created = requests.post(server.url + "/events", json={"event": {"event_type": "tool", "inputs": {}}},
                                timeout=10).json()
        with server.store() as store:
            (session,) = store.session_events(session_id_for_trace(span.context.trace_id))
            tool = store.get_event(created["event_id"])
    assert session["source"] == DEFAULT_SOURCE
    assert tool is not None and tool["source"] == DEFAULT_SOURCE


def test_every_command_names_the_same_default_source() -> None:
    for command in ("serve", "convert", "replay"):
        shown = subprocess.run([sys.executable, "-m", "otel_honeyhive.cli", command, "--help"],
                               capture_output=True, text=True, timeout=30).stdout
        assert f"'{DEFAULT_SOURCE}'" in shown and "'unknown'" not in shown, command
