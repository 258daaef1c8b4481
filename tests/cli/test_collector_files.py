"""`convert` and `replay` take the files the Collector's `file` exporter writes (length-prefixed protobuf, per-message
and whole-file zstd) and give the events the same requests give as OTLP/JSON lines; `replay` resumes in the middle
of them; bad ones stop with one line naming the file and the entry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan

from otel_honeyhive import spans_to_events
from otel_honeyhive.cli.main import main
from tests.support.collector_files import (
    VARIANTS,
    collector_file,
    framed,
    json_message,
    proto_message,
    write_collector_file,
    write_jsonl,
)
from tests.support.event_files import assert_same_events, read_ndjson, run_cli, sdk_spans
from tests.support.fake_honeyhive import FakeHoneyHive, Reply
from tests.support.spans import batches


@pytest.fixture(scope="module")
def spans() -> list[ReadableSpan]:
    return sdk_spans(10, seed=8)


def by_trace(spans: list[ReadableSpan]) -> list[list[ReadableSpan]]:
    """One request per trace, in the order the SDK ended them: every entry ends where nothing is held."""
    traces: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        assert span.context is not None
        traces.setdefault(span.context.trace_id, []).append(span)
    return list(traces.values())


def state_of(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.mark.parametrize("variant", VARIANTS)
def test_convert_gives_the_events_the_same_requests_give_as_json_lines(
    tmp_path: Path, spans: list[ReadableSpan], variant: str
) -> None:
    chunks = batches(spans, 4)  # requests cut through traces: spans are held across entries
    reference = write_jsonl(tmp_path / "reference.otlp.jsonl", chunks)
    path = write_collector_file(tmp_path, chunks, variant)
    assert main(["convert", "--quiet", str(reference), str(tmp_path / "reference.ndjson")]) == 0
    assert main(["convert", "--quiet", str(path), str(tmp_path / "out.ndjson")]) == 0
    assert read_ndjson(tmp_path / "out.ndjson") == read_ndjson(tmp_path / "reference.ndjson")
    assert_same_events(read_ndjson(tmp_path / "out.ndjson"), spans_to_events(spans))


@pytest.mark.parametrize("variant", ["proto", "proto-zstd-messages", "proto-zstd-file", "json-zstd-messages"])
def test_convert_to_otlp_json_lines_gives_the_same_requests_in_json(
    tmp_path: Path, spans: list[ReadableSpan], variant: str
) -> None:
    chunks = batches(spans, 6)
    path = write_collector_file(tmp_path, chunks, variant)
    assert main(["convert", "--quiet", str(path), str(tmp_path / "out.otlp.jsonl")]) == 0
    got = [orjson.loads(line) for line in (tmp_path / "out.otlp.jsonl").read_bytes().splitlines()]
    assert got == [orjson.loads(json_message(chunk)) for chunk in chunks]


def test_from_reads_a_collector_file_named_otherwise(tmp_path: Path, spans: list[ReadableSpan]) -> None:
    """The exporter's `path` is anything (`./foo` in its README): `--from otlp-proto` says what it holds."""
    path = tmp_path / "foo"
    path.write_bytes(collector_file(batches(spans, 5), "proto-zstd-file"))
    assert main(["convert", "--quiet", str(path), str(tmp_path / "out.ndjson")]) == 2
    assert main(["convert", "--quiet", "--from", "otlp-proto", str(path), str(tmp_path / "out.ndjson")]) == 0
    assert_same_events(read_ndjson(tmp_path / "out.ndjson"), spans_to_events(spans))


@pytest.mark.parametrize(("output", "message"), [
    ("out.otlp.binpb", "otlp-proto is read, not written; write out.otlp.binpb as otlp-jsonl (.otlp.jsonl) or "
                       "otlp-json (.otlp.json)"),
    ("out.ndjson.zst", "out.ndjson.zst: zstd files are read, not written; name the output .gz for gzip, or give it "
                       "no compression suffix"),
])
def test_the_read_only_format_and_compression_are_refused_as_outputs(
    tmp_path: Path, spans: list[ReadableSpan], output: str, message: str
) -> None:
    write_jsonl(tmp_path / "in.otlp.jsonl", [spans])
    result = run_cli("convert", "in.otlp.jsonl", output, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, f"otel-honeyhive convert: {message}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.otlp.jsonl"]


@pytest.mark.parametrize(("tail", "problem"), [
    (b"\x00\x00\x00", "entry 3: file cut short: 3 of the 4 bytes of the entry's length"),
    (b"\x00\x00\x10\x00\x0a\x0a", "entry 3: file cut short: 2 of the entry's 4096 bytes"),
    (b"\x7f\xff\xff\xff", "entry 3: length 2147483647 is more than an entry may hold (64 MiB): not a "
                          "length-prefixed OTLP file, or a corrupt one (byte "),
])
def test_a_bad_entry_stops_convert_with_one_line_and_no_output(
    tmp_path: Path, spans: list[ReadableSpan], tail: bytes, problem: str
) -> None:
    (tmp_path / "in.otlp.binpb").write_bytes(framed(proto_message(spans[:5])) + framed(proto_message(spans[5:]))
                                             + tail)
    result = run_cli("convert", "in.otlp.binpb", "out.ndjson", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"otel-honeyhive convert: in.otlp.binpb: {problem}"), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.otlp.binpb"]


# -- replay -----------------------------------------------------------------------------------------------------------


def _ends(chunks: list[list[ReadableSpan]], variant: str) -> list[int]:
    """Where each entry ends in the stream as read: the file, or, for a zstd file, its decompressed content."""
    inner = variant.removesuffix("-zstd-file")
    return [len(collector_file(chunks[:k + 1], inner)) for k in range(len(chunks))]


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["proto", "proto-zstd-messages", "proto-zstd-file", "json-zstd-file"])
def test_replay_stopped_in_the_middle_resumes_there_and_every_event_arrives(
    tmp_path: Path, spans: list[ReadableSpan], honeyhive: FakeHoneyHive, variant: str
) -> None:
    chunks = by_trace(spans)
    path = write_collector_file(tmp_path, chunks, variant)
    honeyhive.then(Reply(200), Reply(200))
    honeyhive.default = Reply(400, body=b'{"error": "quota exceeded"}')
    args = ("replay", str(path), "--to", "honeyhive", "--server-url", honeyhive.url, "--batch-size", "4")
    first = run_cli(*args)
    assert first.returncode == 1, first.stderr
    unit = "line" if variant.startswith("json") else "entry"
    state = state_of(Path(f"{path}.replay-state.json"))
    done = state["items"]
    assert 0 < done < len(chunks)
    assert (state["line"], state["offset"]) == (done + 1, _ends(chunks, variant)[done - 1])
    assert state["events_sent"] == len(spans_to_events([s for chunk in chunks[:done] for s in chunk]))
    assert f"records where to continue ({path} {unit} {done + 1}, byte {state['offset']})" in first.stderr

    honeyhive.default = Reply(200)
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr
    assert (f"resuming {path} at byte {state['offset']} ({unit} {done + 1}, {state['events_sent']} events already "
            "delivered)") in second.stderr
    expected = spans_to_events(spans)
    resent = [e for r in honeyhive.batches[3:] for e in r.body["events"]]
    assert len(resent) == len(expected) - state["events_sent"]  # nothing before the stored position again
    assert_same_events({e["event_id"]: e for e in honeyhive.events}.values(), expected)


def test_replay_of_a_file_cut_short_names_the_entry_after_what_was_delivered(
    tmp_path: Path, spans: list[ReadableSpan], honeyhive: FakeHoneyHive
) -> None:
    chunks = by_trace(spans)
    whole = collector_file(chunks, "proto")
    path = tmp_path / "traces.otlp.binpb"
    path.write_bytes(whole[:-10])
    result = run_cli("replay", str(path), "--to", "honeyhive", "--server-url", honeyhive.url, "--batch-size", "1000")
    assert result.returncode == 1
    entry = len(chunks)
    assert f"{path}: entry {entry}: file cut short: " in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
