"""The file formats `convert` and `replay` read and write, and how a file name says which one it holds.

The suffix decides (after an optional `.gz`, which means gzip), so a file's format is visible in its name;
`--from` / `--to` override it for files named otherwise.
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

    @property
    def is_otlp(self) -> bool:
        return self in (Format.OTLP_JSONL, Format.OTLP_JSON)


ALIASES: dict[str, Format] = {
    **{f.value: f for f in Format},
    "jsonl": Format.EVENTS_NDJSON,
    "events": Format.EVENTS_NDJSON,
    "otlp-ndjson": Format.OTLP_JSONL,
    "otlp": Format.OTLP_JSONL,
}
"""Every name `--from` / `--to` accept."""

_SUFFIXES: tuple[tuple[str, Format], ...] = (
    # Longest first: `.otlp.json` must win over `.json`.
    (".otlp.jsonl", Format.OTLP_JSONL),
    (".otlp.ndjson", Format.OTLP_JSONL),
    (".otlp.json", Format.OTLP_JSON),
    (".ndjson", Format.EVENTS_NDJSON),
    (".jsonl", Format.EVENTS_NDJSON),
    (".json", Format.EVENTS_JSON),
)

FORMAT_HELP = (
    "ndjson (events, one per line: .ndjson, .jsonl), json (a JSON array of events or {\"events\": [...]}: "
    ".json), otlp-jsonl (one OTLP/JSON request per line, the Collector file exporter's format: .otlp.jsonl, "
    ".otlp.ndjson), otlp-json (one OTLP/JSON request: .otlp.json; read whole); any of them gzipped with .gz"
)


def is_gzip_name(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


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
    if name.endswith(".gz"):
        name = name[:-3]
    for suffix, fmt in _SUFFIXES:
        if name.endswith(suffix):
            return fmt
    raise ValueError(
        f"cannot tell the format of {path} from its name (expected .ndjson, .jsonl, .json, .otlp.jsonl, "
        f".otlp.ndjson or .otlp.json, optionally with .gz); give its format with {flag}"
    )


__all__ = ["ALIASES", "FORMAT_HELP", "Format", "detect_format", "is_gzip_name", "parse_format"]
