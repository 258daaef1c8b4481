"""Format detection from file names, and the names `--from` / `--to` accept."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_honeyhive.core.file_formats import Format, detect_format, is_gzip_name, parse_format


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("events.ndjson", Format.EVENTS_NDJSON),
        ("events.jsonl", Format.EVENTS_NDJSON),
        ("EVENTS.NDJSON.GZ", Format.EVENTS_NDJSON),
        ("events.json", Format.EVENTS_JSON),
        ("batch.json.gz", Format.EVENTS_JSON),
        ("traces.otlp.jsonl", Format.OTLP_JSONL),
        ("traces.otlp.ndjson.gz", Format.OTLP_JSONL),
        ("traces.otlp.json", Format.OTLP_JSON),
        ("traces.otlp.json.gz", Format.OTLP_JSON),
        ("dir.otlp.json/events.ndjson", Format.EVENTS_NDJSON),
    ],
)
def test_suffix_tells_the_format(name: str, fmt: Format) -> None:
    assert detect_format(Path(name)) is fmt


@pytest.mark.parametrize("name", ["events.txt", "events", "events.gz", "otlp.jsonl.bak"])
def test_unknown_suffix_says_how_to_name_the_format(name: str) -> None:
    with pytest.raises(ValueError, match=r"give its format with --from$"):
        detect_format(Path(name))
    with pytest.raises(ValueError, match=r"give its format with --to$"):
        detect_format(Path(name), "--to")


def test_gzip_is_told_by_the_gz_suffix() -> None:
    assert is_gzip_name(Path("a.ndjson.gz"))
    assert is_gzip_name(Path("A.JSON.GZ"))
    assert not is_gzip_name(Path("a.ndjson"))


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("ndjson", Format.EVENTS_NDJSON), ("jsonl", Format.EVENTS_NDJSON), ("json", Format.EVENTS_JSON),
     ("otlp-jsonl", Format.OTLP_JSONL), ("OTLP-NDJSON", Format.OTLP_JSONL), ("otlp-json", Format.OTLP_JSON)],
)
def test_format_names(name: str, fmt: Format) -> None:
    assert parse_format(name) is fmt


def test_unknown_format_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"known: .*ndjson.*otlp-json"):
        parse_format("csv")
