"""The readers take every file the Collector's `file` exporter writes: length-prefixed protobuf (`format: proto`),
its per-message zstd (JSON too) and its whole-file zstd, streamed, with positions to resume from, and errors that
name the file and the entry."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from otel_honeyhive.core.file_formats import Format, detect_format
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.inputs.files import readers
from otel_honeyhive.inputs.files.readers import START, InputError, InputFile, Position
from tests.support.collector_files import (
    VARIANTS,
    collector_file,
    framed,
    json_message,
    name_for,
    proto_message,
    write_collector_file,
    write_jsonl,
    zstd,
)
from tests.support.compression import zstd_with_window
from tests.support.event_files import sdk_spans
from tests.support.spans import batches


@pytest.fixture(scope="module")
def spans() -> list[ReadableSpan]:
    return sdk_spans(6, seed=3)


def requests_of(path: Path, start: Position = START, fmt: Format | None = None) -> list[list[SpanView]]:
    with InputFile(path, fmt) as f:
        return [record.value.spans for record in f.requests(start)]


def error_of(path: Path, fmt: Format | None = None) -> str:
    with pytest.raises(InputError) as info:
        requests_of(path, fmt=fmt)
    return str(info.value)


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_collector_variant_gives_the_spans_of_the_same_requests_as_json_lines(
    tmp_path: Path, spans: list[ReadableSpan], variant: str
) -> None:
    chunks = batches(spans, 5)
    expected = requests_of(write_jsonl(tmp_path / "reference.otlp.jsonl", chunks))
    path = write_collector_file(tmp_path, chunks, variant)
    assert requests_of(path) == expected
    assert len(expected) == len(chunks) and sum(map(len, expected)) == len(spans)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_format_is_told_by_the_content_whatever_the_name_says_of_compression(
    tmp_path: Path, spans: list[ReadableSpan], variant: str
) -> None:
    """A whole-file zstd stream is told by its magic bytes, like gzip; per-message compression (a zstd frame after
    each length) and protobuf entries under a JSON name are told by the first bytes too."""
    chunks = batches(spans, 7)
    path = tmp_path / "capture.otlp.jsonl"  # neither .zst nor .binpb
    path.write_bytes(collector_file(chunks, variant))
    with InputFile(path) as f:
        assert f.compression == ("zstd" if variant.endswith("zstd-file") else None)
        assert f.length_prefixed == (variant != "json-zstd-file")
        assert f.unit == ("line" if variant == "json-zstd-file" else "entry")
    assert requests_of(path) == requests_of(write_jsonl(tmp_path / "reference.otlp.jsonl", chunks))


@pytest.mark.parametrize(("name", "fmt"), [
    ("traces.otlp.binpb", Format.OTLP_PROTO), ("traces.otlp.pb", Format.OTLP_PROTO),
    ("traces.otlp.binpb.zst", Format.OTLP_PROTO), ("traces.otlp.jsonl.zst", Format.OTLP_JSONL),
    ("traces.otlp.jsonl.zstd", Format.OTLP_JSONL), ("events.ndjson.zst", Format.EVENTS_NDJSON),
    ("traces.otlp.json.gz", Format.OTLP_JSON),
])
def test_zst_names_work_like_gz_and_binpb_names_length_prefixed_protobuf(name: str, fmt: Format) -> None:
    assert detect_format(Path(name)) is fmt


@pytest.mark.parametrize("variant", ["proto", "proto-zstd-messages", "json-zstd-messages", "proto-zstd-file",
                                     "json-zstd-file"])
def test_reading_again_from_any_end_position_gives_exactly_the_requests_after_it(
    tmp_path: Path, spans: list[ReadableSpan], variant: str
) -> None:
    """Positions of a zstd file are offsets in its decompressed stream, as gzip's are: `replay` resumes there."""
    path = write_collector_file(tmp_path, batches(spans, 3), variant)
    with InputFile(path) as f:
        records = list(f.requests())
    everything = [record.value.spans for record in records]
    for i, record in enumerate(records):
        assert record.line == i + 1
        assert record.end.items == i + 1 and record.end.line == i + 2
        assert requests_of(path, record.end) == everything[i + 1:]


def test_an_entry_holding_several_zstd_frames_is_one_request(tmp_path: Path, spans: list[ReadableSpan]) -> None:
    message = proto_message(spans)
    cut = len(message) // 2
    path = tmp_path / "traces.otlp.binpb"
    path.write_bytes(framed(zstd.compress(message[:cut]) + zstd.compress(message[cut:])))
    assert requests_of(path) == [requests_of(write_jsonl(tmp_path / "one.otlp.jsonl", [spans]))[0]]


@pytest.mark.parametrize("name", ["request.otlp.pb", "request.otlp.binpb"])
def test_a_file_of_one_bare_protobuf_request_is_that_request(
    tmp_path: Path, spans: list[ReadableSpan], name: str
) -> None:
    """One `ExportTraceServiceRequest` as protobuf, no length before it (as `explain` reads, and as other tools
    write a single request): its first byte, a field tag, is no length a Collector entry could have."""
    expected = requests_of(write_jsonl(tmp_path / "reference.otlp.jsonl", [spans]))
    path = tmp_path / name
    path.write_bytes(proto_message(spans))
    assert requests_of(path) == expected
    with InputFile(path) as f:
        (record,) = list(f.requests())
    assert requests_of(path, start=record.end) == []


def test_an_empty_length_prefixed_file_holds_no_request(tmp_path: Path) -> None:
    path = tmp_path / "traces.otlp.binpb"
    path.write_bytes(b"")
    assert requests_of(path) == []


def test_a_protobuf_request_keeps_its_bytes_for_otlp_to_otlp_conversion(
    tmp_path: Path, spans: list[ReadableSpan]
) -> None:
    path = tmp_path / "traces.otlp.binpb"
    path.write_bytes(framed(proto_message(spans[:4])) + framed(zstd.compress(json_message(spans[4:8]))))
    with InputFile(path) as f:
        first, second = (record.value for record in f.requests())
    assert first.protobuf and first.body == proto_message(spans[:4])
    assert not second.protobuf and second.body == json_message(spans[4:8])


# -- bad input: one line naming the file and the entry ----------------------------------------------------------


def _two_good_entries(spans: Sequence[ReadableSpan]) -> bytes:
    return framed(proto_message(spans[:3])) + framed(proto_message(spans[3:6]))


@pytest.mark.parametrize(("tail", "problem"), [
    (b"\x00\x00", "entry 3: file cut short: 2 of the 4 bytes of the entry's length"),
    (b"\x00\x00\x01\x00" + b"\x0a" * 10, "entry 3: file cut short: 10 of the entry's 256 bytes"),
    (b"\xff\xff\xff\xf0" + b"\x0a" * 10, "entry 3: length 4294967280 is more than an entry may hold (64 MiB): not a "
                                         "length-prefixed OTLP file, or a corrupt one (byte "),
    (framed(b"\x0a\x05\x0a\x03\xff\xff\xff"), "entry 3: not an OTLP protobuf ExportTraceServiceRequest: invalid"),
    (framed(zstd.compress(b"x" * 100)[:-6]), "entry 3: zstd frame cut short"),
    (framed(b"\x28\xb5\x2f\xfd\x08" + b"\x00" * 20), "entry 3: not a readable zstd frame ("),
    (framed(zstd.compress(b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 1}]}]}]}')),
     "entry 3: not an OTLP/JSON ExportTraceServiceRequest"),
])
def test_bad_entries_are_named_by_their_number(
    tmp_path: Path, spans: list[ReadableSpan], tail: bytes, problem: str
) -> None:
    path = tmp_path / "traces.otlp.binpb"
    path.write_bytes(_two_good_entries(spans) + tail)
    message = error_of(path)
    assert message.startswith(f"{path}: {problem}"), message
    assert "\n" not in message


def test_an_entry_that_decompresses_past_the_limit_is_refused_without_decompressing_it_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "MAX_ENTRY_BYTES", 1 << 20)
    path = tmp_path / "traces.otlp.binpb"
    path.write_bytes(framed(zstd.compress(b"\x00" * (64 << 20))))
    assert error_of(path) == f"{path}: entry 1: decompresses to more than 1 MiB, more than an entry may hold"


@pytest.mark.parametrize("variant", ["proto-zstd-file", "json-zstd-file"])
def test_a_zstd_file_cut_short_or_corrupt_names_the_unit_reading_had_reached(
    tmp_path: Path, spans: list[ReadableSpan], variant: str
) -> None:
    whole = collector_file(batches(spans, 3), variant, frame_every=100)  # one frame: nothing before the cut ends
    unit = "entry" if variant.startswith("proto") else "line"
    path = tmp_path / ("traces.otlp.binpb.zst" if unit == "entry" else "traces.otlp.jsonl.zst")
    path.write_bytes(whole[: len(whole) - 40])
    message = error_of(path)
    where = f"{path}: entry 1: " if unit == "entry" else f"{path}:1: "
    assert message.startswith(where + "not a complete zstd file ("), message
    path.write_bytes(whole[:20] + bytes(b ^ 0x5A for b in whole[20:60]) + whole[60:])
    assert error_of(path).startswith(where + "not a complete zstd file ("), error_of(path)
    path.write_bytes(whole[:4])  # the magic bytes only
    assert error_of(path).startswith(where + "not a complete zstd file ("), error_of(path)


@pytest.mark.parametrize("variant", ["proto-zstd-file", "json-zstd-file"])
def test_a_zstd_file_asking_for_a_window_over_128_mib_says_so_not_that_it_is_cut_short(
    tmp_path: Path, spans: list[ReadableSpan], variant: str
) -> None:
    """A whole file in one frame as `zstd --long=28` writes it is complete: the refusal names the window."""
    plain = collector_file(batches(spans, 3), variant.removesuffix("-zstd-file"))
    path = tmp_path / name_for(variant)
    path.write_bytes(zstd_with_window(plain, 28))
    where = f"{path}: entry 1: " if variant.startswith("proto") else f"{path}:1: "
    assert error_of(path) == (where + "not a readable zstd file: its frame needs a 256 MiB window, more than the "
                              "128 MiB read here (zstd -d --long=28 decompresses it)")


def test_json_lines_given_as_otlp_proto_say_which_format_they_are(tmp_path: Path, spans: list[ReadableSpan]) -> None:
    path = write_jsonl(tmp_path / "traces.otlp.binpb", batches(spans, 5))
    assert error_of(path).endswith("; this looks like JSON text: give --from otlp-jsonl or otlp-json")


_WITHOUT_ZSTD = """
import sys
sys.modules["backports.zstd"] = sys.modules["compression.zstd"] = None
from otel_honeyhive.inputs.files.readers import InputError, InputFile
try:
    with InputFile(__import__("pathlib").Path(sys.argv[1])) as f:
        list(f.requests())
except InputError as exc:
    print(exc)
"""
"""Reading in a Python that cannot import the zstd module (< 3.14 without the server extra's backports.zstd)."""


@pytest.mark.parametrize("variant", ["json-zstd-file", "proto-zstd-messages"])
def test_a_zstd_file_without_the_zstd_module_is_one_line(
    tmp_path: Path, spans: list[ReadableSpan], variant: str
) -> None:
    path = write_collector_file(tmp_path, batches(spans, 5), variant)
    where = f"{path}:1:" if variant == "json-zstd-file" else f"{path}: entry 1:"
    result = subprocess.run([sys.executable, "-c", _WITHOUT_ZSTD, str(path)], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout == (f"{where} zstd-compressed, and reading zstd needs the zstd module: install the server "
                             "extra (pip install 'otel-honeyhive[server]', which brings backports.zstd) or use "
                             "Python 3.14+\n")


def test_importing_the_readers_does_not_import_zstd_nor_protobuf() -> None:
    """The in-process exporter's install has neither: they are imported when a file needs them."""
    code = ("import sys, otel_honeyhive.inputs.files.readers; "
            "print(sorted(m for m in ('backports.zstd', 'compression.zstd', 'google.protobuf') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", ["traces.json", "traces.ndjson", "traces.otlp.json"])
def test_a_protobuf_collector_file_under_a_json_name_says_to_give_otlp_proto(
    tmp_path: Path, spans: list[ReadableSpan], name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(collector_file(batches(spans, 5), "proto"))
    with pytest.raises(InputError) as info:
        InputFile(path)
    assert str(info.value).endswith("looks like a length-prefixed OTLP protobuf file (the Collector file exporter's "
                                    "format: proto): give --from otlp-proto")
    assert str(info.value).startswith(f"{path}:1: not ")
