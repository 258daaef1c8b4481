"""Which `/events/batch` shape to send: several sessions per request, or one session per request.

Same spans, same loopback sink; counts requests and measures cost per span for each `batch_mode`.

    python bench/payload_modes.py [--spans 10000] [--json PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rich.console import Console
from rich.table import Table
from workload import Sink, batches, make_traces, save

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.outputs.honeyhive import HoneyHiveOutput


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=10_000)
    parser.add_argument("--json", help="also write the figures to this file (bench/report.py reads it)")
    args = parser.parse_args(argv)
    rows = []
    spans = make_traces(args.spans)
    table = Table(title=f"batch_mode on {len(spans)} spans, batches of 512")
    for column in ("batch_mode", "requests", "spans/request", "CPU µs/span", "wall µs/span"):
        table.add_column(column, justify="right")
    with Sink() as sink:
        for mode in ("multi", "session"):
            exporter = HoneyHiveSpanExporter(api_key="bench", server_url=sink.url, batch_mode=mode, hold_timeout=60)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for part in batches(spans, 512):
                exporter.export(part)
            exporter.force_flush()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            output = exporter._output
            assert isinstance(output, HoneyHiveOutput)
            requests = output.requests_sent
            exporter.shutdown()
            n = len(spans)
            table.add_row(mode, str(requests), f"{n / requests:.1f}", f"{cpu / n * 1e6:.1f}", f"{wall / n * 1e6:.1f}")
            rows.append({"batch_mode": mode, "spans": n, "requests": requests, "cpu_us_per_span": cpu / n * 1e6,
                         "wall_us_per_span": wall / n * 1e6})
    Console(width=140).print(table)
    save(args.json, {"script": "payload_modes", "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
