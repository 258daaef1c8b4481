"""Where a spool keeps its records on disk (otel_honeyhive/shipping/segments.py): for tests that look."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from otel_honeyhive.shipping.retry import RetryPolicy
from otel_honeyhive.shipping.shipper import SpoolShipper
from otel_honeyhive.shipping.spool import Spool


def pending_files(directory: Path) -> list[Path]:
    """The pending record files of every process's segment in a spool directory, by segment then sequence."""
    return sorted(directory.glob("segments/*/*.rec"))


def flush_and_close(spool: Spool, output: Any, policy: RetryPolicy, *, name: str) -> None:
    """Ship everything `spool` holds through `output` (a real one: a fake HoneyHive behind it), then close the
    shipper, the spool and the output, as a process ending would."""
    shipper = SpoolShipper(spool, output, policy, name=name)
    try:
        assert shipper.flush(10)
    finally:
        shipper.close(2)
        spool.close()
        output.close()
