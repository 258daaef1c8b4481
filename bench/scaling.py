"""Scaling: 1k, 10k, 100k and 1M spans through the exporter and through the receiver. The cost per span must stay
flat and the memory bounded however long the stream.

- Exporter (ours, and the stock OTLP/HTTP exporter for reference): each size in a fresh process, fed batches of
  512 spans made from a pool of real SDK spans given fresh trace ids (`workload.relabelled`), so a million spans
  cost the memory of the pool; only the export() calls are timed. Memory: the process's peak RSS above what it
  held once the pool was built.
- Receiver: `receiver_throughput.measure` (OTLP/HTTP protobuf, server on one core, into the SQLite store and
  forwarding to a HoneyHive sink) with as many 512-span requests as the size needs; its peak RSS is the whole
  server process. (A million spans make a 5 GB store.)

    python bench/scaling.py [--sizes 1000,10000,100000,1000000] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rich.console import Console
from rich.table import Table
from workload import Sink, make_traces, peak_rss_mib, relabelled, save

POOL_SPANS = 5000


def one_exporter_run(kind: str, n_spans: int, url: str) -> dict[str, Any]:
    """In this process: stream `n_spans` through one exporter; CPU/wall per span and memory growth."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from otel_honeyhive import HoneyHiveSpanExporter

    pool = make_traces(POOL_SPANS)
    exporter: SpanExporter = (
        HoneyHiveSpanExporter(api_key="bench", server_url=url, hold_timeout=60) if kind == "ours"
        else OTLPSpanExporter(endpoint=url + "/v1/traces")
    )
    gc.collect()
    baseline = peak_rss_mib()
    cpu = wall = 0.0
    for part in relabelled(pool, n_spans, 512):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if exporter.export(part) is not SpanExportResult.SUCCESS:
            raise RuntimeError(f"{kind} exporter failed")
        cpu += time.process_time() - cpu0
        wall += time.perf_counter() - wall0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    exporter.force_flush()
    cpu += time.process_time() - cpu0
    wall += time.perf_counter() - wall0
    exporter.shutdown()
    return {"cpu_us_per_span": cpu / n_spans * 1e6, "wall_us_per_span": wall / n_spans * 1e6,
            "rss_growth_mib": peak_rss_mib() - baseline, "pool_rss_mib": baseline}


def exporter_run(kind: str, n_spans: int, url: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--one", kind, str(n_spans), url], check=True,
                         capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--json", help="also write the figures to this file (bench/report.py reads it)")
    parser.add_argument("--one", nargs=3, metavar=("KIND", "SPANS", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one_exporter_run(args.one[0], int(args.one[1]), args.one[2])))
        return 0
    from receiver_throughput import measure, write_pool

    sizes = [int(s) for s in args.sizes.split(",")]
    console = Console(width=140)
    exporter_rows: list[dict[str, Any]] = []
    with Sink() as sink:
        for size in sizes:
            for kind in ("ours", "stock"):
                exporter_rows.append({"exporter": kind, "spans": size, **exporter_run(kind, size, sink.url)})
    workdir = Path(tempfile.mkdtemp(prefix="otel-honeyhive-scaling-"))
    try:
        pool = workdir / "pool.pickle"
        write_pool(pool, 20, 512)
        receiver_rows = [
            {"spans": size, **measure(pool, workdir, "http-protobuf", output, max(2, -(-size // 512)), 2, False)}
            for output in ("store", "honeyhive")
            for size in sizes
        ]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    table = Table(title="Exporter: cost per span and memory growth against stream length (batches of 512)")
    for column in ("spans", "ours CPU µs/span", "ours RSS growth MiB", "stock CPU µs/span", "stock RSS growth MiB"):
        table.add_column(column, justify="right")
    for size in sizes:
        ours = next(r for r in exporter_rows if r["spans"] == size and r["exporter"] == "ours")
        stock = next(r for r in exporter_rows if r["spans"] == size and r["exporter"] == "stock")
        table.add_row(f"{size:,}", f"{ours['cpu_us_per_span']:.1f}", f"{ours['rss_growth_mib']:.0f}",
                      f"{stock['cpu_us_per_span']:.1f}", f"{stock['rss_growth_mib']:.0f}")
    console.print(table)
    table = Table(title="Receiver (OTLP/HTTP protobuf, server on one core) against stream length")
    for column in ("output", "spans", "spans/s", "server CPU µs/span", "p99 ms", "server peak RSS MiB"):
        table.add_column(column, justify="right")
    for r in receiver_rows:
        table.add_row(r["output"], f"{r['spans']:,}", f"{r['spans_per_s']:,.0f}", f"{r['server_cpu_us_per_span']:.1f}",
                      f"{r['p99_ms']:.1f}", f"{r['peak_rss_mib']:.0f}")
    console.print(table)
    save(args.json, {"script": "scaling", "exporter": exporter_rows, "receiver": receiver_rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
