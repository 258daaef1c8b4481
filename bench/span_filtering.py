"""Span filtering's cost in the exporter: CPU per span with filtering off against each kind of filter, on the same
spans.

Contenders, each a `HoneyHiveSpanExporter` shipping the exporter benchmark's realistic LLM spans
(`workload.make_traces`: 5–15 spans per trace, 2–20 KB prompts) to a loopback sink in its own process:

- filtering off (no `span_filter=`, `drop_scopes=`, `drop_spans=`): the mapper has no filter at all;
- `drop_scopes=["opentelemetry.instrumentation.http*"]`: a glob that matches nothing here, so every span is
  checked and none dropped (what a scope rule costs on a trace it does not touch);
- `span_filter="genai"`: the preset; every span of this workload is a GenAI one, so all are recognised and kept;
- `drop_spans=["retrieve"]`: a third of the spans dropped (their events are neither built nor sent);
- `span_filter=<predicate>`: a Python function called once per span (keeps everything).

Cost is the exporting process's CPU time and the wall time of export() and of the final flush, per span (a dropped
span counts as a span exported); the median of several rounds, the contenders taking turns batch by batch within a
round (`exporter_overhead.paired_round`), so each sees the same machine state.

    python bench/span_filtering.py [--spans 20000] [--rounds 5] [--batch-size 512] [--json PATH]
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
from otel_honeyhive.core.spans import SpanView

OFF = "filtering off"
SCOPE_GLOB = 'drop_scopes=["opentelemetry.instrumentation.http*"] (matches none)'
GENAI = 'span_filter="genai" (keeps all: every span is GenAI)'
DROP_THIRD = 'drop_spans=["retrieve"] (drops a third)'
PREDICATE = "span_filter=<predicate> (keeps all)"


def _keep(span: SpanView) -> bool:
    return not span.name.startswith("GET ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    console = Console(width=140)
    spans = make_traces(args.spans)
    console.print(f"workload: {len(spans)} spans, batches of {args.batch_size}")
    with Sink() as sink:
        def exporter(**kwargs: object) -> Callable[[], SpanExporter]:
            return lambda: HoneyHiveSpanExporter(api_key="bench", server_url=sink.url, hold_timeout=60,
                                                 **kwargs)  # type: ignore[arg-type]

        makers: dict[str, Callable[[], SpanExporter]] = {
            OFF: exporter(),
            SCOPE_GLOB: exporter(drop_scopes=["opentelemetry.instrumentation.http*"]),
            GENAI: exporter(span_filter="genai"),
            DROP_THIRD: exporter(drop_spans=["retrieve"]),
            PREDICATE: exporter(span_filter=_keep),
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
    table = Table(title=f"Span filtering in the exporter, batches of {args.batch_size} "
                  f"(median of {args.rounds} rounds)")
    for column in ("exporter", "CPU µs/span", "wall µs/span", "CPU vs off", "CPU vs off per round"):
        table.add_column(column, justify="left" if column == "exporter" else "right")
    rows = []
    for name, (cpu, wall) in medians.items():
        per_round = sorted(t[0] / o[0] for o, t in zip(results[OFF], results[name], strict=True))
        table.add_row(name, f"{cpu:.1f}", f"{wall:.1f}", f"{cpu / off_cpu:.2f}×",
                      f"{per_round[0]:.2f}–{per_round[-1]:.2f}×")
        rows.append({"exporter": name, "cpu_us_per_span": cpu, "wall_us_per_span": wall,
                     "ratio_cpu_vs_off": cpu / off_cpu, "ratio_cpu_rounds": per_round})
    console.print(table)
    save(args.json, {"script": "span_filtering", "spans": len(spans), "rounds": args.rounds,
                     "batch_size": args.batch_size, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
