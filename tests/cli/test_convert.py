"""`otel-honeyhive convert`: every format pair round-trips, OTLP → events equals `spans_to_events`, bad input
is named by file and line and leaves no output, and 100,000 events convert in bounded memory.

The round-trip matrix calls the CLI's `main` in-process (the same code path, without a Python start-up per
conversion); error handling and memory are checked on the real command in a subprocess.
"""

from __future__ import annotations

import gzip
import itertools
import random
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from otel_honeyhive import spans_to_events
from otel_honeyhive.cli.main import main
from otel_honeyhive.outputs.files import spans_to_otlp_json
from tests.support.event_files import (
    assert_same_events,
    read_events,
    read_ndjson,
    run_cli,
    sdk_spans,
    stream_events,
    write_json_array,
    write_ndjson,
)
from tests.support.spans import Recorder

FORMATS = ("events.ndjson", "events.json", "traces.otlp.jsonl", "traces.otlp.json")


def convert(*args: str) -> None:
    assert main(["convert", "--quiet", *args]) == 0


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~1,300 events in ~260 sessions: enough for several OTLP requests (512 events each)."""
    path = tmp_path_factory.mktemp("base") / "base.ndjson"
    write_ndjson(path, stream_events(1300, seed=11))
    return path


@pytest.mark.slow
@pytest.mark.parametrize(("first", "second"), list(itertools.product(FORMATS, FORMATS)))
def test_every_format_pair_round_trips(tmp_path: Path, base: Path, first: str, second: str) -> None:
    """events → FIRST → SECOND → events gives back every event, field by field."""
    a = tmp_path / f"a.{first}"
    b = tmp_path / f"b.{second}"
    back = tmp_path / "back.json"
    convert(str(base), str(a))
    convert(str(a), str(b))
    convert(str(b), str(back))
    assert_same_events(read_events(back), read_ndjson(base))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["events.ndjson.gz", "events.json.gz", "traces.otlp.jsonl.gz", "traces.otlp.json.gz"])
def test_gzip_files_round_trip(tmp_path: Path, base: Path, name: str) -> None:
    packed = tmp_path / name
    convert(str(base), str(packed))
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    back = tmp_path / "back.ndjson"
    convert(str(packed), str(back))
    assert_same_events(read_ndjson(back), read_ndjson(base))


@pytest.mark.slow
def test_from_and_to_override_the_names(tmp_path: Path, base: Path) -> None:
    odd = tmp_path / "traces.data"
    convert(str(base), str(odd), "--to", "otlp-jsonl")
    back = tmp_path / "back.txt"
    convert(str(odd), str(back), "--from", "otlp-jsonl", "--to", "ndjson")
    assert_same_events(read_ndjson(back), read_ndjson(base))


def test_project_and_source_fill_only_events_without_one(tmp_path: Path) -> None:
    events = list(stream_events(3))
    del events[0]["project"], events[0]["source"]
    path = tmp_path / "in.ndjson"
    write_ndjson(path, events)
    out = tmp_path / "out.ndjson"
    convert(str(path), str(out), "--project", "p2", "--source", "s2")
    got = read_ndjson(out)
    assert (got[0]["project"], got[0]["source"]) == ("p2", "s2")
    assert [(e["project"], e["source"]) for e in got[1:]] == [("replay", "files-test")] * 2


@pytest.mark.parametrize("seed", range(4))
def test_otlp_to_events_equals_spans_to_events_whatever_the_line_boundaries(tmp_path: Path, seed: int) -> None:
    """SDK spans, in export order, cut into requests at random places (one span per line, all in one, and
    anything between): the events are exactly `spans_to_events` of the same spans."""
    spans = sdk_spans(8, seed=seed)
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(spans)), k=[len(spans) - 1, 0, 3, 9][seed]))
    lines = [spans[i:j] for i, j in zip([0, *cuts], [*cuts, len(spans)], strict=True)]
    path = tmp_path / "traces.otlp.jsonl"
    path.write_bytes(b"".join(orjson.dumps(spans_to_otlp_json(part)) + b"\n" for part in lines))
    out = tmp_path / "events.ndjson"
    convert(str(path), str(out), "--project", "proj", "--source", "ci")
    expected = spans_to_events(spans, project="proj", source="ci")
    assert_same_events(read_ndjson(out), expected)
    assert len({e["session_id"] for e in expected}) == 8


def test_a_single_otlp_document_gives_the_same_events(tmp_path: Path) -> None:
    spans = sdk_spans(5)
    path = tmp_path / "traces.otlp.json.gz"
    path.write_bytes(gzip.compress(orjson.dumps(spans_to_otlp_json(spans), option=orjson.OPT_INDENT_2)))
    out = tmp_path / "events.json"
    convert(str(path), str(out))
    assert_same_events(read_events(out), spans_to_events(spans))


def test_a_tight_hold_cap_still_leaves_no_event_dangling(tmp_path: Path) -> None:
    """With fewer held spans allowed than a trace has, traces are mapped in parts; every parent an event
    points at is still an event of the output (docs/identity-and-assembly.md: the root is also emitted as the
    chain event its early children point at)."""
    spans = sdk_spans(6)
    path = tmp_path / "traces.otlp.jsonl"
    path.write_bytes(b"".join(orjson.dumps(spans_to_otlp_json([s])) + b"\n" for s in spans))
    out = tmp_path / "events.ndjson"
    convert(str(path), str(out), "--max-held-spans", "2")
    events = read_ndjson(out)
    ids = {e["event_id"] for e in events}
    sessions = {e["session_id"] for e in events}
    assert all(e["parent_id"] is None or e["parent_id"] in ids | sessions for e in events)
    assert {e["event_id"] for e in spans_to_events(spans)} <= ids


# -- bad input ----------------------------------------------------------------------------------------------------


def test_a_session_cut_between_two_requests_stays_one_trace(tmp_path: Path) -> None:
    """Events are written 512 to a request: events posted under a session made from spans, past the first
    request, still join the spans' trace under their parent's span."""
    session, step = _traced_session()
    added = [{"event_id": str(uuid.uuid4()), "session_id": session["session_id"], "parent_id": step["event_id"],
              "event_type": "tool", "event_name": f"tool-{i}", "inputs": {}} for i in range(600)]
    source, traces = tmp_path / "in.ndjson", tmp_path / "out.otlp.jsonl"
    write_ndjson(source, [session, step, *added])
    convert(str(source), str(traces))
    requests = [orjson.loads(line) for line in traces.read_bytes().splitlines()]
    spans = [s for r in requests for rs in r["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert len(requests) == 2
    assert {s["traceId"] for s in spans} == {step["metadata"]["trace_id"]}
    assert {s.get("parentSpanId") for s in spans if s["name"].startswith("tool-")} == {step["metadata"]["span_id"]}


def _traced_session() -> list[dict[str, Any]]:
    recorder = Recorder(scope="tests.convert")
    with recorder.tracer.start_as_current_span("agent"), recorder.tracer.start_as_current_span("step"):
        pass
    return spans_to_events(recorder.spans())


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("events.ndjson", b'{"event_type": "tool", "event_id": "%s"}\n\n[1]\n', "events.ndjson:3: not a JSON object"),
        ("events.ndjson", b'{"event_type": "tool", "event_id": "%s"}\n{"a": \n', "events.ndjson:2: not JSON ("),
        ("events.json", b'[{"event_type": "tool", "event_id": "%s"},\n\n 7]', "events.json:3: not a JSON object"),
        ("events.json", b'[{"event_type": "tool", "event_id": "%s"},\n{"event_type": "x"}]',
         "events.json:2: not a HoneyHive event: event_type must be one of"),
        ("traces.otlp.jsonl", b'{"resourceSpans": []}\n{"event_type": "tool", "event_id": "%s"}\n',
         "traces.otlp.jsonl:2: not an OTLP/JSON ExportTraceServiceRequest: no resourceSpans"),
        ("events.ndjson.gz", b'{"event_type": "tool", "event_id": "%s"}\nnot json\n', "events.ndjson.gz:2: not JSON ("),
    ],
)
def test_bad_input_names_file_and_line_and_leaves_no_output(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    data = content.replace(b"%s", b"00000000-0000-4000-8000-000000000001")
    (tmp_path / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    result = run_cli("convert", name, "out.otlp.jsonl" if "events" in name else "out.ndjson", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"otel-honeyhive convert: {message}"), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_failed_conversion_keeps_an_existing_output(tmp_path: Path) -> None:
    (tmp_path / "in.ndjson").write_bytes(b"[]\n")
    (tmp_path / "out.json").write_bytes(b"precious")
    result = run_cli("convert", "in.ndjson", "out.json", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (1, "otel-honeyhive convert: in.ndjson:1: not a JSON object\n")
    assert (tmp_path / "out.json").read_bytes() == b"precious"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["in.txt", "out.ndjson"], "cannot tell the format of in.txt"),
        (["in.ndjson", "out.ndjson", "--to", "csv"], "unknown format 'csv'"),
        (["missing.ndjson", "out.json"], "cannot read missing.ndjson: No such file or directory"),
        (["in.ndjson", "in.ndjson"], "INPUT and OUTPUT are the same file"),
        (["in.ndjson", "-"], "argument OUTPUT: '-' (stdin or stdout) is not supported here: give a file path"),
        (["-", "out.ndjson"], "argument INPUT: '-' (stdin or stdout) is not supported here"),
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "in.ndjson").write_bytes(b"")
    (tmp_path / "in.txt").write_bytes(b"")
    result = run_cli("convert", *args, cwd=tmp_path)
    assert result.returncode in (1, 2)
    assert message in result.stderr
    assert not (tmp_path / "-").exists()


# -- 100,000 events in bounded memory -------------------------------------------------------------------------------


@pytest.mark.slow  # 100,000 events converted
def test_100k_event_json_array_converts_in_bounded_memory(tmp_path: Path) -> None:
    """A ~190 MB JSON array of 100,000 events (written as a stream) becomes NDJSON event by event: the
    converter's peak memory stays far below the file's size."""
    count = 100_000
    source = tmp_path / "big.json"
    assert write_json_array(source, stream_events(count, seed=5, payload=1500)) == count
    size = source.stat().st_size
    assert size > 150 * 1024 * 1024

    result = run_cli("convert", str(source), str(tmp_path / "big.ndjson"), timeout=60)
    assert result.returncode == 0, result.stderr
    print(f"\nconvert 100k events: file {size / 2**20:.0f} MiB, peak RSS {result.peak_rss / 2**20:.0f} MiB")
    assert result.peak_rss < 0.4 * size
    assert result.peak_rss < 300 * 1024 * 1024

    n = 0
    with (tmp_path / "big.ndjson").open("rb") as f:
        for n, (line, expected) in enumerate(zip(f, stream_events(count, seed=5, payload=1500), strict=True), 1):
            if n % 997 == 1 or n == count:  # spot checks: parsing all 100,000 again would only cost time
                assert orjson.loads(line) == expected
    assert n == count
