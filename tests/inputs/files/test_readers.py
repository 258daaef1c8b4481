"""The streaming readers: the JSON array splitter against a real JSON parser, NDJSON and OTLP lines, positions
to resume from, gzip, and errors that name `file:line`."""

from __future__ import annotations

import gzip
import random
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_honeyhive.core.file_formats import Format
from otel_honeyhive.core.spans import as_span_view
from otel_honeyhive.inputs.files import readers
from otel_honeyhive.inputs.files.readers import START, InputError, InputFile, Position
from otel_honeyhive.outputs.files import spans_to_otlp_json
from tests.support.event_files import sdk_spans, session_events

_TEXT = st.text(
    alphabet=st.one_of(st.sampled_from('"\\{}[]:, \n\t\r/éü✓𝄞\x00\x1f'), st.characters(codec="utf-8")),
    max_size=24,
)
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=16,
)
_WS = st.text(alphabet=" \t\r\n", max_size=3)


def event(n: int, **fields: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.UUID(int=n + 1, version=4)), "event_type": "tool", "event_name": f"e{n}",
            **fields}


def read_all(path: Path, start: Position = START, fmt: Format | None = None) -> list[readers.Record[Any]]:
    with InputFile(path, fmt) as f:
        return list(f.requests(start) if f.format.is_otlp else f.events(start))


def error_of(path: Path, fmt: Format | None = None) -> str:
    with pytest.raises(InputError) as info:
        read_all(path, fmt=fmt)
    return str(info.value)


# -- the JSON array splitter --------------------------------------------------------------------------------------


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    payloads=st.lists(_VALUES, max_size=6),
    gaps=st.lists(_WS, min_size=14, max_size=14),
    indent=st.booleans(),
    wrapper=st.booleans(),
    chunk=st.integers(1, 40),
)
def test_array_splitter_agrees_with_a_json_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, payloads: list[Any], gaps: list[str], indent: bool,
    wrapper: bool, chunk: int,
) -> None:
    """Whatever the strings hold, the whitespace between tokens and where the chunks fall, every element comes
    out as the parser reads it, with the line it starts on, and reading again from any element's end position
    gives exactly the elements after it."""
    monkeypatch.setattr(readers, "CHUNK_BYTES", chunk)
    events = [event(i, inputs={"v": p}) for i, p in enumerate(payloads)]
    option = orjson.OPT_INDENT_2 if indent else 0
    text = gaps[0] + ('{"events": {"nested": [{"events": 1}]}, "x": "[{", "events"' + gaps[1] + ":" + gaps[2]
                      if wrapper else "")
    text += "[" + gaps[3]
    starts: list[int] = []
    for i, e in enumerate(events):
        if i:
            text += gaps[4 + i % 3] + "," + gaps[7 + i % 3]
        starts.append(len(text.encode()))
        text += orjson.dumps(e, option=option).decode()
    text += gaps[10] + "]" + (gaps[11] + ', "after": [1, {"a": "}"}]}' if wrapper else "") + gaps[12]
    path = tmp_path / "events.json"
    path.write_text(text)
    data = text.encode()

    records = read_all(path)
    assert [r.value for r in records] == events
    assert [r.line for r in records] == [data[:s].count(b"\n") + 1 for s in starts]
    for k, record in enumerate(records):
        assert data[: record.end.offset].rstrip().endswith(b"}")
        assert record.end.line == data[: record.end.offset].count(b"\n") + 1
        assert [r.value for r in read_all(path, record.end)] == events[k + 1:]


def test_array_splitter_reads_a_batch_request_and_ignores_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "batch.json"
    body = {"is_single_session": True, "session_properties": {"session_name": "]} \" {["},
            "events": [event(1), event(2)], "more": [{"events": []}]}
    path.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    assert [r.value for r in read_all(path)] == [event(1), event(2)]


def test_empty_array_and_empty_batch(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(b" [ \n ] \n")
    (tmp_path / "b.json").write_bytes(b'{"events": []}')
    assert read_all(tmp_path / "a.json") == []
    assert read_all(tmp_path / "b.json") == []


def test_a_large_element_across_many_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "CHUNK_BYTES", 1000)
    big = event(1, inputs={"text": "\\\"" * 200_000 + "é" * 1000})
    (tmp_path / "big.json").write_bytes(b"[" + orjson.dumps(big) + b"," + orjson.dumps(event(2)) + b"]")
    assert [r.value for r in read_all(tmp_path / "big.json")] == [big, event(2)]


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ('[\n{"event_type": "tool"},\n 3]', 2, "not a HoneyHive event: event_id must be a UUID, got none"),
        ("[\n\n 1]", 3, "not a JSON object"),
        ('[\n"x"]', 2, "not a JSON object"),
        ("[\n[]]", 2, "not a JSON object"),
        ("[E1,\n null]", 2, "not a JSON object"),
        ("[E1\n E1]", 2, "expected ',' between events"),
        ("[E1,\n]", 2, "trailing ',' before ']'"),
        ("[E1,\n{\"a\": tru}]", 2, "not JSON (invalid literal, expected 'true', column 7)"),
        ("[E1,\n{\n\"a\":\n tru}]", 4, "not JSON (invalid literal, expected 'true', column 2)"),
        ("[E1,\n{\"a\": \"open", 2, "unexpected end of file inside a string"),
        ("[E1,\n{\"a\": {}\n", 3, "unexpected end of file inside the event starting at line 2"),
        ("[E1\n", 2, "unexpected end of file inside the array"),
        ("[E1]\n\nx", 3, "unexpected data after the JSON array"),
        ('{"a": 1}', 1, 'not a JSON array of events (nor an object with an "events" array)'),
        ('{"events": 3}', 1, 'not a JSON array of events (nor an object with an "events" array)'),
        ("3", 1, "not a JSON array of events"),
        ("x [E1]", 1, "not a JSON array of events"),
        ("", 1, "not a JSON array of events"),
    ],
)
def test_array_errors_name_the_line(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = tmp_path / "events.json"
    path.write_text(text.replace("E1", orjson.dumps(event(1)).decode()))
    message = error_of(path)
    assert message.startswith(f"{path}:{line}: {problem}"), message


@pytest.mark.parametrize("lines", [1, 3])
def test_otlp_json_named_json_says_which_format_to_give(tmp_path: Path, lines: int) -> None:
    """The Collector's file exporter writes OTLP/JSON lines under any name its `path` gives, `.json` included,
    which reads as an events file: the refusal says what it holds and what to give."""
    request = orjson.dumps(spans_to_otlp_json(sdk_spans(1)))
    path = tmp_path / "filename.json"
    path.write_bytes(b"\n".join([request] * lines) + b"\n")
    assert error_of(path) == (f"{path}:1: not a JSON array of events: this looks like OTLP/JSON (resourceSpans): "
                              "give --from otlp-jsonl (a request per line, as the Collector's file exporter "
                              "writes) or otlp-json (one request)")
    assert len(list(InputFile(path, Format.OTLP_JSONL).requests())) == lines


# -- NDJSON --------------------------------------------------------------------------------------------------------


def test_ndjson_lines_positions_and_blank_lines(tmp_path: Path) -> None:
    lines = [orjson.dumps(event(1)), b"", b"  ", orjson.dumps(event(2)), orjson.dumps(event(3))]
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\n".join(lines))  # no newline after the last line
    records = read_all(path)
    assert [r.value["event_name"] for r in records] == ["e1", "e2", "e3"]
    assert [r.line for r in records] == [1, 4, 5]
    assert records[-1].end.offset == path.stat().st_size
    assert [r.value["event_name"] for r in read_all(path, records[0].end)] == ["e2", "e3"]
    assert [r.line for r in read_all(path, records[0].end)] == [4, 5]


@pytest.mark.parametrize("name", ["events.ndjson", "traces.otlp.jsonl"])
def test_a_line_file_that_begins_with_a_byte_order_mark_is_read_as_without_one(tmp_path: Path, name: str) -> None:
    """Editors on Windows (and PowerShell's `Out-File`) begin UTF-8 files with a BOM; the one-document formats
    already read past it, the line formats do too, and resume at the same offsets."""
    if name.endswith(".ndjson"):
        lines = [orjson.dumps(event(1)), orjson.dumps(event(2))]
    else:
        spans = sdk_spans(1)
        lines = [orjson.dumps(spans_to_otlp_json(spans[:2])), orjson.dumps(spans_to_otlp_json(spans[2:]))]
    plain, marked = tmp_path / name, tmp_path / f"bom-{name}"
    plain.write_bytes(b"\n".join(lines) + b"\n")
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    read = read_all(marked)
    assert [r.value for r in read] == [r.value for r in read_all(plain)]
    assert [r.line for r in read] == [1, 2] and read[-1].end.offset == marked.stat().st_size
    assert [r.value for r in read_all(marked, read[0].end)] == [read[1].value]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"[1, 2]", "not a JSON object"),
        (b'{"event_id": "nope"', "not JSON (unexpected end of data, column 20)"),
        (b'{"event_type": "span", "event_id": "x"}', "not a HoneyHive event: event_type must be one of session, "
                                                     "model, tool, chain, got 'span'"),
        (b'{"event_type": "model", "event_id": 12}', "not a HoneyHive event: event_id must be a UUID, got 12"),
    ],
)
def test_ndjson_errors_name_the_line(tmp_path: Path, line: bytes, problem: str) -> None:
    path = tmp_path / "events.ndjson"
    path.write_bytes(orjson.dumps(event(1)) + b"\n\n" + line + b"\n")
    assert error_of(path) == f"{path}:3: {problem}"


def test_gzip_is_told_by_its_bytes_and_resumes_at_an_uncompressed_offset(tmp_path: Path) -> None:
    rng = random.Random(1)
    events = [e for i in range(30) for e in session_events(rng, i)]
    path = tmp_path / "events.ndjson.gz"
    with gzip.open(path, "wb") as f:
        f.writelines(orjson.dumps(e) + b"\n" for e in events)
    renamed = tmp_path / "events-without-suffix.ndjson"
    renamed.write_bytes(path.read_bytes())
    for p in (path, renamed):
        with InputFile(p) as f:
            assert f.compressed
            records = list(f.events())
            assert f.bytes_read == f.size
        assert [r.value for r in records] == events
        assert [r.value for r in read_all(p, records[99].end)] == events[100:]


@pytest.mark.parametrize("name", ["events.ndjson.gz", "events.json.gz", "traces.otlp.jsonl.gz", "traces.otlp.json.gz"])
@pytest.mark.parametrize("damage", ["magic only", "cut short", "corrupt"])
def test_a_cut_or_corrupt_gzip_file_is_an_input_error_naming_the_line(tmp_path: Path, name: str,
                                                                       damage: str) -> None:
    if ".otlp." in name:
        spans = sdk_spans(2)
        body = b"".join(orjson.dumps(spans_to_otlp_json(spans[i:i + 2])) + b"\n" for i in range(0, len(spans), 2))
        if name.endswith(".json.gz"):
            body = orjson.dumps(spans_to_otlp_json(spans))
    else:
        events = [event(i) for i in range(400)]
        body = (orjson.dumps(events) if name.endswith(".json.gz")
                else b"".join(orjson.dumps(e) + b"\n" for e in events))
    whole = gzip.compress(body)
    damaged = {"magic only": whole[:2], "cut short": whole[: len(whole) * 2 // 3],
               "corrupt": whole[:10] + bytes(b ^ 0x55 for b in whole[10:-8]) + whole[-8:]}[damage]
    path = tmp_path / name
    path.write_bytes(damaged)
    message = error_of(path)
    assert message.startswith(f"{path}:") and "not a complete gzip file (" in message, message


# -- OTLP ----------------------------------------------------------------------------------------------------------


def test_otlp_lines_decode_like_the_sdk_spans(tmp_path: Path) -> None:
    spans = sdk_spans(3)
    path = tmp_path / "traces.otlp.jsonl"
    path.write_bytes(b"".join(orjson.dumps(spans_to_otlp_json(spans[i:i + 4])) + b"\n"
                              for i in range(0, len(spans), 4)))
    records = read_all(path)
    views = [v for r in records for v in r.value.spans]
    assert views == [as_span_view(s) for s in spans]
    assert [r.line for r in records] == list(range(1, len(records) + 1))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"not json", "not an OTLP/JSON ExportTraceServiceRequest: invalid JSON"),
        (b"[]", "not an OTLP/JSON ExportTraceServiceRequest: expected a JSON object"),
        (orjson.dumps(event(1)), "not an OTLP/JSON ExportTraceServiceRequest: no resourceSpans"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "00f067aa0ba902b7"}]}]}]}',
         "unusable span: span '': trace_id must be 32 hex digits"),
        (b'{"resourceSpans": 1}', "not an OTLP/JSON ExportTraceServiceRequest: resourceSpans: expected an array"),
    ],
)
def test_otlp_line_errors_name_the_line(tmp_path: Path, line: bytes, problem: str) -> None:
    path = tmp_path / "traces.otlp.jsonl"
    path.write_bytes(b'{"resourceSpans": []}\n' + line + b"\n")
    assert error_of(path).startswith(f"{path}:2: {problem}"), error_of(path)


def test_a_single_otlp_document_is_one_request(tmp_path: Path) -> None:
    spans = sdk_spans(2)
    path = tmp_path / "traces.otlp.json"
    path.write_bytes(orjson.dumps(spans_to_otlp_json(spans), option=orjson.OPT_INDENT_2))
    (record,) = read_all(path)
    assert record.value.spans == [as_span_view(s) for s in spans]
    assert record.end.offset == path.stat().st_size
    assert read_all(path, record.end) == []


def test_a_reader_refuses_the_other_kind_of_file(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    path.write_bytes(orjson.dumps(event(1)) + b"\n")
    with InputFile(path) as f, pytest.raises(ValueError, match="holds events"):
        list(f.requests())
    with InputFile(path, Format.OTLP_JSONL) as f, pytest.raises(ValueError, match="holds OTLP requests"):
        list(f.events())
