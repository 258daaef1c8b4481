"""Exporter cost per span: HoneyHiveSpanExporter vs the stock OTLPSpanExporter (HTTP/protobuf).

Both exporters get the same realistic LLM spans, in the BatchSpanProcessor's batch size (512), and ship them to
the same loopback sink (its own process). Cost is the exporting process's CPU time and the wall time from the
first export() to the end of the final flush, divided by the number of spans; the median of several rounds.

    python bench/exporter_overhead.py [--spans 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from rich.console import Console
from rich.table import Table
from workload import Sink, batches, make_traces

from otel_honeyhive import HoneyHiveSpanExporter


def run(make: Callable[[], SpanExporter], spans: Sequence[ReadableSpan], batch_size: int) -> tuple[float, float]:
    exporter = make()
    parts = batches(spans, batch_size)
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for part in parts:
        if exporter.export(part) is not SpanExportResult.SUCCESS:
            raise RuntimeError(f"{type(exporter).__name__} failed to export")
    exporter.force_flush()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    exporter.shutdown()
    n = len(spans)
    return cpu / n * 1e6, wall / n * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args(argv)

    console = Console()
    spans = make_traces(args.spans)
    avg_bytes = sum(len(str(s.attributes)) for s in spans) / len(spans)
    console.print(f"workload: {len(spans)} spans, ~{avg_bytes / 1024:.1f} KiB of attributes per span, "
                  f"batches of {args.batch_size}")
    with Sink() as sink:
        contenders: dict[str, Callable[[], SpanExporter]] = {
            "otel-honeyhive (HoneyHiveSpanExporter)": lambda: HoneyHiveSpanExporter(
                api_key="bench", server_url=sink.url, hold_timeout=60
            ),
            "stock OTLPSpanExporter (HTTP/protobuf)": lambda: OTLPSpanExporter(endpoint=sink.url + "/v1/traces"),
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
        for _ in range(args.rounds):  # interleaved rounds: both see the same machine state
            for name, make in contenders.items():
                results[name].append(run(make, spans, args.batch_size))

    table = Table(title="Exporter cost per span (median of rounds)")
    table.add_column("exporter")
    table.add_column("CPU µs/span", justify="right")
    table.add_column("wall µs/span", justify="right")
    medians = {}
    for name, rows in results.items():
        cpu = statistics.median(r[0] for r in rows)
        wall = statistics.median(r[1] for r in rows)
        medians[name] = (cpu, wall)
        table.add_row(name, f"{cpu:.1f}", f"{wall:.1f}")
    console.print(table)
    ours, stock = medians.values()
    console.print(f"ratio ours/stock: CPU {ours[0] / stock[0]:.2f}×, wall {ours[1] / stock[1]:.2f}× (target ≤ 0.30×)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
