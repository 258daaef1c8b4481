"""Where a spool keeps its records on disk (otel_honeyhive/shipping/segments.py): for tests that look."""

from __future__ import annotations

from pathlib import Path


def pending_files(directory: Path) -> list[Path]:
    """The pending record files of every process's segment in a spool directory, by segment then sequence."""
    return sorted(directory.glob("segments/*/*.rec"))
