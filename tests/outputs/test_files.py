"""The streaming writers: atomic output files, incremental arrays, OTLP/JSON with hex ids."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import orjson
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from otel_honeyhive.core.file_formats import Format
from otel_honeyhive.inputs.otlp.decode_json import decode_json
from otel_honeyhive.inputs.otlp.decode_proto import decode_protobuf
from otel_honeyhive.outputs.files import OutputFile, event_writer, otlp_writer, spans_to_otlp_json
from tests.support.event_files import sdk_spans


def test_output_appears_only_on_commit_and_an_abort_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "out.ndjson"
    target.write_bytes(b"old\n")
    with pytest.raises(RuntimeError), OutputFile(target) as out:
        out.write(b"new\n")
        assert out.tmp_path.exists()
        raise RuntimeError("conversion failed")
    assert target.read_bytes() == b"old\n"
    assert list(tmp_path.iterdir()) == [target]
    with OutputFile(target) as out:
        out.write(b"new\n")
        assert target.read_bytes() == b"old\n"
    assert target.read_bytes() == b"new\n"
    assert list(tmp_path.iterdir()) == [target]


def test_gz_names_are_compressed(tmp_path: Path) -> None:
    target = tmp_path / "out.json.gz"
    with OutputFile(target) as out:
        writer = event_writer(out, Format.EVENTS_JSON)
        for i in range(3):
            writer.write({"i": i})
        writer.finish()
    assert orjson.loads(gzip.decompress(target.read_bytes())) == [{"i": 0}, {"i": 1}, {"i": 2}]


@pytest.mark.parametrize("count", [0, 1, 5])
def test_json_array_is_valid_json_with_one_event_per_line(tmp_path: Path, count: int) -> None:
    target = tmp_path / "out.json"
    with OutputFile(target) as out:
        writer = event_writer(out, Format.EVENTS_JSON)
        for i in range(count):
            writer.write({"i": i, "s": "a\nb"})
        writer.finish()
    data = target.read_bytes()
    assert orjson.loads(data) == [{"i": i, "s": "a\nb"} for i in range(count)]
    assert data.count(b"\n") == (count + 2 if count else 1)


def test_otlp_json_has_hex_ids_and_says_what_the_protobuf_says(tmp_path: Path) -> None:
    """MessageToDict writes ids as base64; OTLP/JSON needs hex. Decoded back, the JSON must give the same spans
    as the protobuf encoding of the same SDK spans."""
    spans = sdk_spans(3)
    request = spans_to_otlp_json(spans)
    for rs in request["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                assert re.fullmatch(r"[0-9a-f]{32}", span["traceId"])
                assert re.fullmatch(r"[0-9a-f]{16}", span["spanId"])
                assert "parentSpanId" not in span or re.fullmatch(r"[0-9a-f]{16}", span["parentSpanId"])
                assert isinstance(span["kind"], int)
                for link in span.get("links", ()):
                    assert re.fullmatch(r"[0-9a-f]{16}", link["spanId"])
    assert decode_json(orjson.dumps(request)).spans == decode_protobuf(encode_spans(spans).SerializeToString()).spans


def test_one_otlp_document_gathers_every_request(tmp_path: Path) -> None:
    spans = sdk_spans(4)
    target = tmp_path / "out.otlp.json"
    with OutputFile(target) as out:
        writer = otlp_writer(out, Format.OTLP_JSON)
        writer.write(spans_to_otlp_json(spans[:5]))
        writer.write(spans_to_otlp_json(spans[5:]))
        writer.finish()
    assert len(decode_json(target.read_bytes()).spans) == len(spans)
