"""`convert` and `replay` mask as the exporter and `serve` do (`--redact`, `--redact-regex`, else `$HH_REDACT`):
every string value of the spans or events that go through them, before anything is written or sent, so a file
converted to be shared holds no address, key or number that was asked to be masked."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from otel_honeyhive.cli.main import main
from otel_honeyhive.outputs.files import spans_to_otlp_json
from tests.support.event_files import read_ndjson, write_ndjson
from tests.support.server import run_server
from tests.support.spans import Recorder

EMAIL = "ada@example.com"
KEY = "sk-proj-" + "Ab3dEf5hIj7lMn9pQr1sTu3wXy5z0123"
TICKET = "TICKET-48213"


def otlp_file(path: Path) -> None:
    recorder = Recorder("masking-test")
    with recorder.tracer.start_as_current_span("chat") as span:
        span.set_attribute("gen_ai.request.model", "gpt-4o")
        span.set_attribute("input.value", f"mail {EMAIL} about {TICKET}, key {KEY}")
    path.write_bytes(orjson.dumps(spans_to_otlp_json(recorder.memory.get_finished_spans())) + b"\n")


def events_file(path: Path) -> None:
    sid = "5e551011-0000-4000-8000-000000000001"
    write_ndjson(path, [{"event_id": sid, "session_id": sid, "parent_id": None, "event_type": "session",
                         "event_name": "chat", "inputs": {"question": f"reach me at {EMAIL} re {TICKET}"},
                         "metadata": {"note": KEY}}])


def test_otlp_to_events_masks_every_value_the_redactors_find(tmp_path: Path) -> None:
    source, out = tmp_path / "traces.otlp.jsonl", tmp_path / "events.ndjson"
    otlp_file(source)
    assert main(["convert", "-q", str(source), str(out), "--redact", "email,api_key",
                 "--redact-regex", r"TICKET-\d+"]) == 0
    written = out.read_text()
    assert EMAIL not in written and KEY not in written and TICKET not in written
    [event] = read_ndjson(out)
    assert "<email>" in str(event["inputs"]) and "<redacted>" in str(event["inputs"])
    assert event["config"]["model"] == "gpt-4o"  # what decides the event, never masked


@pytest.mark.parametrize("target", ["events.ndjson", "traces.otlp.json"])
def test_events_converted_to_events_or_to_otlp_are_masked(tmp_path: Path, target: str) -> None:
    source, out = tmp_path / "in.ndjson", tmp_path / target
    events_file(source)
    assert main(["convert", "-q", str(source), str(out), "--redact", "all", "--redact-regex", r"TICKET-\d+"]) == 0
    written = out.read_text()
    assert EMAIL not in written and KEY not in written and TICKET not in written
    assert "<email>" in written


def test_hh_redact_applies_when_no_flag_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, out = tmp_path / "in.ndjson", tmp_path / "out.ndjson"
    events_file(source)
    monkeypatch.setenv("HH_REDACT", "email")
    assert main(["convert", "-q", str(source), str(out)]) == 0
    assert EMAIL not in out.read_text()


def test_otlp_to_otlp_refuses_to_copy_what_it_was_asked_to_mask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source, out = tmp_path / "traces.otlp.jsonl", tmp_path / "copy.otlp.json"
    otlp_file(source)
    assert main(["convert", str(source), str(out), "--redact", "email"]) == 2
    assert "--redact: values are masked when a file is converted to or from events" in capsys.readouterr().err
    monkeypatch.setenv("HH_REDACT", "email")
    assert main(["convert", str(source), str(out)]) == 2
    assert "$HH_REDACT" in capsys.readouterr().err
    assert not out.exists()


def test_an_unknown_redactor_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.ndjson"
    events_file(source)
    assert main(["convert", str(source), str(tmp_path / "out.ndjson"), "--redact", "passport"]) == 2
    assert "--redact" in capsys.readouterr().err


@pytest.mark.slow
def test_replay_masks_the_events_it_sends(tmp_path: Path) -> None:
    source = tmp_path / "events.ndjson"
    events_file(source)
    with run_server(tmp_path) as server:
        assert main(["replay", "-q", str(source), "--to", "honeyhive", "--server-url", server.url,
                     "--redact", "email", "--redact-regex", r"TICKET-\d+"]) == 0
        stored = (tmp_path / "stored.ndjson")
        assert main(["export", "-q", "--db", str(server.db_path), str(stored)]) == 0
    [event] = read_ndjson(stored)
    assert event["inputs"]["question"] == "reach me at <email> re <redacted>"
    assert EMAIL not in (tmp_path / "events.ndjson.replay-state.json").read_text()
