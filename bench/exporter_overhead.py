"""Exporter cost per span: HoneyHiveSpanExporter against what a user would run instead, on the same spans.

Contenders, each shipping the same realistic LLM spans (`workload.make_traces`: 5–15 spans per trace, 2–20 KB
prompts) in the BatchSpanProcessor's batch size to a loopback sink in its own process:

- `HoneyHiveSpanExporter` (ours): maps spans to HoneyHive events and posts `/events/batch` JSON;
- the stock `OTLPSpanExporter` over HTTP/protobuf, and over gRPC;
- HoneyHive's own SDK export path (`OTLPJSONExporter` of honeyhive 1.7.0, OTLP/JSON; in a virtual environment
  of its own, see `honeyhive_sdk_export.py`), when it can be installed.

Cost is the exporting process's CPU time (every thread: gRPC's included) and the wall time of export() and of
the final flush, per span; the median of several rounds. Within a round the in-process exporters take turns
batch by batch, so each sees the same machine state (HoneyHive's SDK, in its own process, runs between rounds).

    python bench/exporter_overhead.py [--spans 20000] [--rounds 5] [--batch-size 512] [--no-honeyhive-sdk]
                                      [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from honeyhive_sdk_export import SDK, sdk_python
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from rich.console import Console
from rich.table import Table
from workload import Sink, batches, make_traces, save

from otel_honeyhive import HoneyHiveSpanExporter

OURS = "otel-honeyhive HoneyHiveSpanExporter"
STOCK_HTTP = "stock OTLPSpanExporter, HTTP/protobuf"
STOCK_GRPC = "stock OTLPSpanExporter, gRPC"
HONEYHIVE_SDK = f"HoneyHive SDK OTLPJSONExporter ({SDK})"


def paired_round(makers: dict[str, Callable[[], SpanExporter]], spans: Sequence[ReadableSpan],
                 batch_size: int) -> dict[str, tuple[float, float]]:
    """(CPU µs, wall µs) per span for each exporter, over one pass of `spans` through a new instance of each.

    The exporters take turns batch by batch (who goes first rotates), so a change in the machine's speed during
    the round (on a shared VM it swings ±20–40 % within a minute) falls on all of them alike, and the ratios
    measure the exporters rather than the moment each one happened to run in."""
    exporters = {name: make() for name, make in makers.items()}
    names = list(exporters)
    cpu = dict.fromkeys(names, 0.0)
    wall = dict.fromkeys(names, 0.0)
    gc.collect()
    for i, part in enumerate(batches(spans, batch_size)):
        for name in names[i % len(names):] + names[: i % len(names)]:
            cpu0, wall0 = time.process_time(), time.perf_counter()
            if exporters[name].export(part) is not SpanExportResult.SUCCESS:
                raise RuntimeError(f"{name} failed to export")
            cpu[name] += time.process_time() - cpu0
            wall[name] += time.perf_counter() - wall0
    for name, exporter in exporters.items():  # what is still held (our hold buffer) is part of the cost
        cpu0, wall0 = time.process_time(), time.perf_counter()
        exporter.force_flush()
        cpu[name] += time.process_time() - cpu0
        wall[name] += time.perf_counter() - wall0
    for exporter in exporters.values():
        exporter.shutdown()
    n = len(spans)
    return {name: (cpu[name] / n * 1e6, wall[name] / n * 1e6) for name in names}


def run_sdk(python: Path, url: str, n_spans: int, batch_size: int) -> tuple[float, float]:
    script = Path(__file__).resolve().parent / "honeyhive_sdk_export.py"
    out = subprocess.run(
        [str(python), str(script), "--url", url, "--spans", str(n_spans), "--batch-size", str(batch_size)],
        check=True, capture_output=True, text=True, timeout=900,
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    return float(figures["cpu_us"]), float(figures["wall_us"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--no-honeyhive-sdk", action="store_true", help="skip HoneyHive's own SDK")
    parser.add_argument("--json", help="also write the figures to this file (bench/report.py reads it)")
    args = parser.parse_args(argv)

    console = Console(width=140)
    spans = make_traces(args.spans)
    avg_kib = sum(len(str(s.attributes)) for s in spans) / len(spans) / 1024
    console.print(f"workload: {len(spans)} spans, ~{avg_kib:.1f} KiB of attributes per span, "
                  f"batches of {args.batch_size}")
    sdk, why_not = (None, "skipped (--no-honeyhive-sdk)") if args.no_honeyhive_sdk else sdk_python()
    if sdk is None:
        console.print(f"[yellow]{HONEYHIVE_SDK}: {why_not}[/yellow]")
    with Sink() as sink, Sink("grpc") as grpc_sink:
        makers: dict[str, Callable[[], SpanExporter]] = {
            OURS: lambda: HoneyHiveSpanExporter(api_key="bench", server_url=sink.url, hold_timeout=60),
            STOCK_HTTP: lambda: OTLPSpanExporter(endpoint=sink.url + "/v1/traces"),
            STOCK_GRPC: lambda: GrpcSpanExporter(endpoint=grpc_sink.url, insecure=True),
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in makers}
        if sdk is not None:
            results[HONEYHIVE_SDK] = []
        for _ in range(args.rounds):
            for name, figures in paired_round(makers, spans, args.batch_size).items():
                results[name].append(figures)
            if sdk is not None:  # a process of its own (its own dependencies): rounds interleave, batches cannot
                results[HONEYHIVE_SDK].append(run_sdk(sdk, sink.url, args.spans, args.batch_size))

    medians = {
        name: (statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows))
        for name, rows in results.items()
    }
    ours_cpu, ours_wall = medians[OURS]
    table = Table(title=f"Exporter cost per span, batches of {args.batch_size} (median of {args.rounds} rounds)")
    for column in ("exporter", "CPU µs/span", "wall µs/span", "ours / this (CPU)", "ours / this (wall)"):
        table.add_column(column, justify="left" if column == "exporter" else "right")
    table.add_column("ours / this per round (CPU)", justify="right")
    rows = []
    for name, (cpu, wall) in medians.items():
        # Each round's ratio, ours against this contender in the same round: the spread the machine gives.
        per_round = sorted(o[0] / t[0] for o, t in zip(results[OURS], results[name], strict=True))
        table.add_row(name, f"{cpu:.1f}", f"{wall:.1f}", f"{ours_cpu / cpu:.2f}×", f"{ours_wall / wall:.2f}×",
                      f"{per_round[0]:.2f}–{per_round[-1]:.2f}×")
        rows.append({"exporter": name, "cpu_us_per_span": cpu, "wall_us_per_span": wall,
                     "ratio_cpu": ours_cpu / cpu, "ratio_wall": ours_wall / wall, "ratio_cpu_rounds": per_round})
    console.print(table)
    console.print(f"ours / stock HTTP/protobuf: CPU {ours_cpu / medians[STOCK_HTTP][0]:.2f}× (target ≤ 0.30×)")
    save(args.json, {"script": "exporter_overhead", "spans": len(spans), "rounds": args.rounds,
                     "batch_size": args.batch_size, "attr_kib_per_span": avg_kib, "rows": rows,
                     "honeyhive_sdk": why_not or "measured"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
