"""Masking's cost in the exporter: spans/s with masking off against masking on, on the same spans.

Contenders, each a `HoneyHiveSpanExporter` shipping the exporter benchmark's realistic LLM spans
(`workload.make_traces`: 5–15 spans per trace, 2–20 KB prompts, JSON message attributes) to a loopback sink in
its own process:

- masking off (no `redact=`, no `mask=`): the pipeline has no masker at all;
- `redact=["all"]`: the default redactors (email, credit_card, api_key, ip) over every string value, JSON
  strings parsed and masked leaf by leaf;
- `mask=` alone, a function that returns its value: what walking every value costs, without any pattern.

The workload holds no secrets, so the figures are the scanning cost every span pays (replacements are rare and
cheap next to it). Cost is the exporting process's CPU time and the wall time of export() and of the final flush,
per span; the median of several rounds, the contenders taking turns batch by batch within a round
(`exporter_overhead.paired_round`), so each sees the same machine state.

    python bench/masking.py [--spans 20000] [--rounds 5] [--batch-size 512] [--json PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from exporter_overhead import paired_round
from opentelemetry.sdk.trace.export import SpanExporter
from rich.console import Console
from rich.table import Table
from workload import Sink, make_traces, save

from otel_honeyhive import HoneyHiveSpanExporter

OFF = "masking off"
REDACT_ALL = 'redact=["all"] (email, credit_card, api_key, ip)'
MASK_ONLY = "mask=<identity function> (the walk alone)"


def _unchanged(value: str) -> str:
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--json", help="also write the figures to this file (bench/report.py reads it)")
    args = parser.parse_args(argv)

    console = Console(width=140)
    spans = make_traces(args.spans)
    avg_kib = sum(len(str(s.attributes)) for s in spans) / len(spans) / 1024
    console.print(f"workload: {len(spans)} spans, ~{avg_kib:.1f} KiB of attributes per span, "
                  f"batches of {args.batch_size}")
    with Sink() as sink:
        makers: dict[str, Callable[[], SpanExporter]] = {
            OFF: lambda: HoneyHiveSpanExporter(api_key="bench", server_url=sink.url, hold_timeout=60),
            REDACT_ALL: lambda: HoneyHiveSpanExporter(api_key="bench", server_url=sink.url, hold_timeout=60,
                                                      redact=["all"]),
            MASK_ONLY: lambda: HoneyHiveSpanExporter(api_key="bench", server_url=sink.url, hold_timeout=60,
                                                     mask=_unchanged),
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in makers}
        for _ in range(args.rounds):
            for name, figures in paired_round(makers, spans, args.batch_size).items():
                results[name].append(figures)

    medians = {
        name: (statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows))
        for name, rows in results.items()
    }
    off_cpu = medians[OFF][0]
    table = Table(title=f"Masking in the exporter, batches of {args.batch_size} (median of {args.rounds} rounds)")
    for column in ("exporter", "CPU µs/span", "wall µs/span", "spans/s (CPU)", "spans/s (wall)", "CPU vs off",
                   "CPU vs off per round"):
        table.add_column(column, justify="left" if column == "exporter" else "right")
    rows = []
    for name, (cpu, wall) in medians.items():
        per_round = sorted(t[0] / o[0] for o, t in zip(results[OFF], results[name], strict=True))
        table.add_row(name, f"{cpu:.1f}", f"{wall:.1f}", f"{1e6 / cpu:,.0f}", f"{1e6 / wall:,.0f}",
                      f"{cpu / off_cpu:.2f}×", f"{per_round[0]:.2f}–{per_round[-1]:.2f}×")
        rows.append({"exporter": name, "cpu_us_per_span": cpu, "wall_us_per_span": wall,
                     "spans_per_s_cpu": 1e6 / cpu, "spans_per_s_wall": 1e6 / wall, "ratio_cpu_vs_off": cpu / off_cpu,
                     "ratio_cpu_rounds": per_round})
    console.print(table)
    on_cpu = medians[REDACT_ALL][0]
    console.print(f"spans/s (CPU): off {1e6 / off_cpu:,.0f}, default redactors on {1e6 / on_cpu:,.0f} "
                  f"({on_cpu / off_cpu:.2f}× the CPU per span)")
    save(args.json, {"script": "masking", "spans": len(spans), "rounds": args.rounds, "batch_size": args.batch_size,
                     "attr_kib_per_span": avg_kib, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
