"""The next start, as a user's own process would be: open `HoneyHiveSpanExporter(spool_dir=D)` on a directory
other processes left records in, let it deliver them (`force_flush`), shut down.

    python -m tests.reliability.workers.sweep --spool-dir D [--timeout 30]

Used by the worker scenarios only when the live processes did not deliver everything within their bound: it
prints what it did, and the scenario's figures say which one delivered.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict

from otel_honeyhive import HoneyHiveSpanExporter


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spool-dir", required=True)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    exporter = HoneyHiveSpanExporter(spool_dir=args.spool_dir)
    flushed = exporter.force_flush(int(args.timeout * 1000))
    print(f"sweep: force_flush {flushed}, {asdict(exporter.stats)}", flush=True)
    exporter.shutdown()
    return 0 if flushed else 1


if __name__ == "__main__":
    raise SystemExit(main())
