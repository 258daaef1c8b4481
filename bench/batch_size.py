"""Exporter cost per span against batch size, ours and the stock OTLP/HTTP exporter, and the chart of it.

The SDK's BatchSpanProcessor hands exporters up to 512 spans at a time, but a quiet service exports a handful at
a time, and `SimpleSpanProcessor` one. Per-request overhead dominates small batches; this shows how each
exporter amortises it. Ours holds spans until their trace's root has ended, so with tiny batches it still sends
one request per trace rather than per batch. Same workload and sinks as exporter_overhead.py.

    python bench/batch_size.py [--sizes 1,4,16,64,256,512,2048] [--spans 8000] [--rounds 3] [--png PATH]
                               [--json PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from exporter_overhead import OURS, STOCK_HTTP, paired_round
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from rich.console import Console
from rich.table import Table
from workload import Sink, make_traces, save

from otel_honeyhive import HoneyHiveSpanExporter

RESULTS = Path(__file__).resolve().parent / "results"


def chart(sizes: list[int], series: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: render straight to a file
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for (name, values), marker in zip(series.items(), ("o", "s"), strict=False):
        ax.plot(sizes, values, marker=marker, label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set_xlabel("spans per export() call (batch size)")
    ax.set_ylabel("CPU µs per span (log)")
    ax.set_title("Exporter cost per span against batch size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,4,16,64,256,512,2048")
    parser.add_argument("--spans", type=int, default=8000, help="spans per point (fewer for tiny batches)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--png", default=str(RESULTS / "batch_size.png"))
    parser.add_argument("--json", help="also write the figures to this file (bench/report.py reads it)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    console = Console(width=140)
    pool = make_traces(args.spans)
    series: dict[str, list[float]] = {OURS: [], STOCK_HTTP: []}
    rows = []
    with Sink() as sink:
        makers = {
            OURS: lambda: HoneyHiveSpanExporter(api_key="bench", server_url=sink.url, hold_timeout=60),
            STOCK_HTTP: lambda: OTLPSpanExporter(endpoint=sink.url + "/v1/traces"),
        }
        for size in sizes:
            spans = pool[: min(len(pool), max(size * 40, 1000))]  # a request per span costs ~1 ms: bound the time
            measured = [paired_round(makers, spans, size) for _ in range(args.rounds)]
            for name in makers:
                cpu = statistics.median(m[name][0] for m in measured)
                series[name].append(cpu)
                rows.append({"batch_size": size, "exporter": name, "spans": len(spans), "cpu_us_per_span": cpu})
    table = Table(title=f"CPU µs per span against batch size (median of {args.rounds} rounds)")
    table.add_column("batch size", justify="right")
    for name in series:
        table.add_column(name, justify="right")
    table.add_column("ratio", justify="right")
    for i, size in enumerate(sizes):
        ours, stock = series[OURS][i], series[STOCK_HTTP][i]
        table.add_row(str(size), f"{ours:.1f}", f"{stock:.1f}", f"{ours / stock:.2f}×")
    console.print(table)
    png = Path(args.png)
    png.parent.mkdir(parents=True, exist_ok=True)
    chart(sizes, series, png)
    console.print(f"chart: {png}")
    save(args.json, {"script": "batch_size", "rounds": args.rounds, "rows": rows, "png": png.name})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
