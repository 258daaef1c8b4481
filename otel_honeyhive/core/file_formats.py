"""The file formats `convert` and `replay` read and write, and how a file name says which one it holds.

The suffix decides (after an optional `.gz` or `.zst`, which mean gzip and zstd), so a file's format is visible in
its name; `--from` / `--to` override it for files named otherwise. Compression is read from the content too (its magic
bytes), and only read: `convert` and `export` write gzip, never zstd.

The OpenTelemetry Collector's `file` exporter writes OTLP in four ways
(https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/exporter/fileexporter): JSON, one
request per line; `format: proto`, each request as a 4-byte big-endian length and the protobuf message; with
`compression: zstd`, each of those entries compressed on its own and length-prefixed (JSON too), or, with the
`exporter.file.nativeCompression` feature gate, the whole file one zstd stream with the usual framing inside.
`otlp-jsonl` and `otlp-proto` read all of them (the framing inside is told by the content). Its logs pipeline
writes `ExportLogsServiceRequest`s the same ways: the OTLP formats name a `--logs` file's framing too.
"""

from __future__ import annotations

import enum
from pathlib import Path


class Format(enum.Enum):
    """Each value is the name `--from` / `--to` accept."""

    EVENTS_NDJSON = "ndjson"
    """HoneyHive events, one JSON object per line (`.ndjson`, `.jsonl`)."""
    EVENTS_JSON = "json"
    """HoneyHive events as one JSON array, or a batch request `{"events": [...]}` (`.json`)."""
    OTLP_JSONL = "otlp-jsonl"
    """One OTLP/JSON `ExportTraceServiceRequest` per line: the Collector `file` exporter's format
    (`.otlp.jsonl`, `.otlp.ndjson`)."""
    OTLP_JSON = "otlp-json"
    """One OTLP/JSON `ExportTraceServiceRequest` (`.otlp.json`): one request, so it is read whole."""
    OTLP_PROTO = "otlp-proto"
    """Length-prefixed OTLP requests, the Collector `file` exporter's `format: proto` (`.otlp.binpb`, `.otlp.pb`):
    each a 4-byte big-endian length and an `ExportTraceServiceRequest` in protobuf (or, as that exporter writes
    `format: json` with per-message compression, a zstd frame holding the protobuf or JSON request); or one bare
    protobuf request, the whole file. Read only."""

    @property
    def is_otlp(self) -> bool:
        return self in (Format.OTLP_JSONL, Format.OTLP_JSON, Format.OTLP_PROTO)

    @property
    def writable(self) -> bool:
        """Whether `convert` / `export` write it: the length-prefixed protobuf framing is read, never written."""
        return self is not Format.OTLP_PROTO


ALIASES: dict[str, Format] = {
    **{f.value: f for f in Format},
    "jsonl": Format.EVENTS_NDJSON,
    "events": Format.EVENTS_NDJSON,
    "otlp-ndjson": Format.OTLP_JSONL,
    "otlp": Format.OTLP_JSONL,
    "otlp-pb": Format.OTLP_PROTO,
    "otlp-binpb": Format.OTLP_PROTO,
}
"""Every name `--from` / `--to` accept."""

_SUFFIXES: tuple[tuple[str, Format], ...] = (
    # Longest first: `.otlp.json` must win over `.json`.
    (".otlp.binpb", Format.OTLP_PROTO),
    (".otlp.jsonl", Format.OTLP_JSONL),
    (".otlp.ndjson", Format.OTLP_JSONL),
    (".otlp.json", Format.OTLP_JSON),
    (".otlp.pb", Format.OTLP_PROTO),
    (".ndjson", Format.EVENTS_NDJSON),
    (".jsonl", Format.EVENTS_NDJSON),
    (".json", Format.EVENTS_JSON),
)

_WRITABLE = (
    "ndjson (events, one per line: .ndjson, .jsonl), json (a JSON array of events or {\"events\": [...]}: "
    ".json), otlp-jsonl (one OTLP/JSON request per line, the Collector file exporter's format: .otlp.jsonl, "
    ".otlp.ndjson), otlp-json (one OTLP/JSON request: .otlp.json; read whole)"
)
FORMAT_HELP = (
    _WRITABLE + ", otlp-proto (read only: "
    "length-prefixed OTLP protobuf requests, the file exporter's format: proto, and its per-message zstd, or one "
    "bare protobuf request: "
    ".otlp.binpb, .otlp.pb); any of them gzipped with .gz; read also zstd-compressed (.zst, .zstd). A --logs "
    "file holds OTLP logs requests in any of the OTLP formats"
)
WRITABLE_FORMAT_HELP = _WRITABLE + "; any of them gzipped with .gz"
"""The formats of an output (`export`, `convert --to`): what is only read is not offered."""

_COMPRESSED = (".gz", ".zst", ".zstd")
"""Suffixes that name a compression, not a format: what comes before them says the format."""


def is_gzip_name(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def is_zstd_name(path: Path) -> bool:
    return path.name.lower().endswith((".zst", ".zstd"))


def check_writable(fmt: Format, path: Path) -> None:
    """ValueError when `convert` / `export` cannot write `fmt` to `path`: the formats and the compression that are
    read only."""
    if not fmt.writable:
        raise ValueError(f"{fmt.value} is read, not written; write {path} as otlp-jsonl (.otlp.jsonl) or "
                         "otlp-json (.otlp.json)")
    if is_zstd_name(path):
        raise ValueError(f"{path}: zstd files are read, not written; name the output .gz for gzip, or give it no "
                         "compression suffix")


def parse_format(name: str) -> Format:
    """A `--from` / `--to` value; ValueError listing the known names otherwise."""
    found = ALIASES.get(name.strip().lower())
    if found is None:
        raise ValueError(f"unknown format {name!r}; known: {', '.join(sorted(ALIASES))}")
    return found


def detect_format(path: Path, flag: str = "--from") -> Format:
    """The format a file name announces; ValueError when the suffix says nothing, naming `flag` (the option that
    states the format of this file instead)."""
    name = path.name.lower()
    for compressed in _COMPRESSED:
        if name.endswith(compressed):
            name = name[: -len(compressed)]
            break
    for suffix, fmt in _SUFFIXES:
        if name.endswith(suffix):
            return fmt
    raise ValueError(
        f"cannot tell the format of {path} from its name (expected .ndjson, .jsonl, .json, .otlp.jsonl, "
        f".otlp.ndjson, .otlp.json, .otlp.binpb or .otlp.pb, optionally with .gz or .zst); give its format with "
        f"{flag}"
    )


__all__ = ["ALIASES", "FORMAT_HELP", "WRITABLE_FORMAT_HELP", "Format", "check_writable", "detect_format",
           "is_gzip_name", "is_zstd_name", "parse_format"]
