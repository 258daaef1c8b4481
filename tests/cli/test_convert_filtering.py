"""`convert` filters spans as the exporter and `serve` do, when OTLP input becomes events: `--drop-scope`,
`--drop-span`, `--span-filter`, children moved up to the nearest kept ancestor, including when traces reach the
mapper in parts."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan

from otel_honeyhive import spans_to_events
from otel_honeyhive.cli.main import main
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.outputs.files import spans_to_otlp_json
from tests.support.event_files import assert_same_events, read_ndjson, sdk_spans, write_ndjson


def write_otlp(path: Path, parts: list[list[ReadableSpan]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(spans_to_otlp_json(part)) + b"\n" for part in parts))


def assert_every_parent_exists(events: list[Event]) -> None:
    ids = {event["event_id"] for event in events}
    for event in events:
        if event["event_type"] != "session":
            assert event["parent_id"] in ids or event["parent_id"] == event["session_id"], event["event_name"]


def kept(span: SpanView | ReadableSpan) -> bool:
    """The span filter under test, also asked of the SDK spans themselves (both have a name)."""
    return not span.name.startswith("step-")


def test_otlp_to_events_drops_the_spans_asked_as_spans_to_events_does(tmp_path: Path) -> None:
    spans = sdk_spans()
    source, out = tmp_path / "traces.otlp.jsonl", tmp_path / "events.ndjson"
    write_otlp(source, [spans])
    assert main(["convert", "-q", str(source), str(out), "--drop-span", "step-*"]) == 0
    events = read_ndjson(out)
    assert_same_events(events, spans_to_events(spans, span_filter=kept))
    assert not [event for event in events if event["event_name"].startswith("step-")]
    assert_every_parent_exists(events)


def test_traces_mapped_in_parts_still_leave_no_parent_missing(tmp_path: Path) -> None:
    """One span per line and a cap of 3 held spans: traces reach the mapper in parts, a span's children often
    before it."""
    spans = sdk_spans()
    source, out = tmp_path / "traces.otlp.jsonl", tmp_path / "events.ndjson"
    write_otlp(source, [[span] for span in spans])
    assert main(["convert", "-q", str(source), str(out), "--drop-span", "step-*", "--max-held-spans", "3"]) == 0
    events = read_ndjson(out)
    steps = [event for event in events if event["event_name"].startswith("step-")]
    # A step is kept only when its children were shipped first, pointing at it (children end before their parent)
    assert all(step["children_ids"] for step in steps)
    assert len(steps) < sum(1 for span in spans if not kept(span))
    assert {e["event_id"] for e in events} >= {e["event_id"] for e in spans_to_events(spans, span_filter=kept)}
    assert_every_parent_exists(events)


def test_filter_flags_that_would_do_nothing_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "events.ndjson"
    write_ndjson(source, [])
    assert main(["convert", str(source), str(tmp_path / "out.otlp.json"), "--drop-scope", "x"]) == 2
    assert capsys.readouterr().err == ("otel-honeyhive convert: --drop-scope: spans are filtered when OTLP input is "
                                       "converted to events; this is ndjson to otlp-json\n")


def test_a_bad_preset_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "traces.otlp.jsonl"
    source.write_bytes(b"")
    assert main(["convert", str(source), str(tmp_path / "out.ndjson"), "--span-filter", "everything"]) == 2
    assert capsys.readouterr().err == ("otel-honeyhive convert: --span-filter: unknown preset 'everything'; valid "
                                       "presets: genai\n")
