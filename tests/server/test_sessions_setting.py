"""The `sessions` setting (docs/identity-and-assembly.md#conversations): `serve --sessions`, `HH_SESSIONS` and the
exporter's `sessions=` keyword; `trace` is the default, a flag or keyword wins over the variable, and an unknown
mode is one line naming the valid ones. What the `conversation` mode does is in tests/mapper/test_conversations.py
and tests/instrumentors/test_conversations.py."""

from __future__ import annotations

import pytest

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.cli.main import main
from otel_honeyhive.outputs.memory import MemoryOutput
from otel_honeyhive.server.config import ServerConfig


def test_serve_takes_the_mode_from_the_flag_or_the_environment_trace_by_default() -> None:
    assert ServerConfig.resolve(environ={}).sessions == "trace"
    assert ServerConfig.resolve(environ={"HH_SESSIONS": "conversation"}).sessions == "conversation"
    assert ServerConfig.resolve(sessions="trace", environ={"HH_SESSIONS": "conversation"}).sessions == "trace"
    with pytest.raises(ValueError, match=r"^environment variable HH_SESSIONS: sessions must be one of trace, "
                       r"conversation, not 'chat'$"):
        ServerConfig.resolve(environ={"HH_SESSIONS": "chat"})


def test_an_unknown_mode_on_serve_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--sessions", "chat"])
    assert exited.value.code == 2
    assert "--sessions" in capsys.readouterr().err


def test_the_exporter_takes_the_keyword_else_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = HoneyHiveSpanExporter(output=MemoryOutput())
    assert exporter.pipeline.mapper.sessions == "trace" and exporter.pipeline.mapper.conversations is None
    exporter.shutdown()
    monkeypatch.setenv("HH_SESSIONS", "conversation")
    exporter = HoneyHiveSpanExporter(output=MemoryOutput())
    assert exporter.pipeline.mapper.sessions == "conversation"
    exporter.shutdown()
    exporter = HoneyHiveSpanExporter(output=MemoryOutput(), sessions="trace")
    assert exporter.pipeline.mapper.sessions == "trace"
    exporter.shutdown()
    monkeypatch.setenv("HH_SESSIONS", "turns")
    with pytest.raises(ValueError, match=r"^environment variable HH_SESSIONS: sessions must be one of"):
        HoneyHiveSpanExporter(output=MemoryOutput())
    with pytest.raises(ValueError, match=r"^sessions must be one of trace, conversation, not 'chat'$"):
        HoneyHiveSpanExporter(output=MemoryOutput(), sessions="chat")
