"""The pure mapper's cost per span, split by instrumentation convention.

One seed-driven plan of LLM traces (5–15 spans each: an agent/workflow root, then retriever, model and tool
spans; 2–20 KB prompts) is written by the real OpenTelemetry SDK once per convention (bench/conventions_workload.py):
GenAI semconv in the JSON parts format and in the older flattened keys, OpenLLMetry/Traceloop, OpenInference,
HoneyHive SDK attributes, GenAI content as span events (with exceptions on some spans), plus the mixed workload of
bench/workload.make_traces. Every workload holds whole traces only.

Measured: one `otel_honeyhive.spans_to_events(spans)` call on all of a workload's spans at once (one ruleset for
the call, so its per-layout plans are worked out once and replayed, as in the exporter's and the receiver's
long-lived mapper; `--per-trace` instead calls it once per trace). Wall time (`time.perf_counter`) and CPU time
(`time.process_time`) per span, the median of `--rounds` rounds; rounds are interleaved across conventions so
all see the same machine state. Before timing, each workload's events are checked once: exactly one event per
span, each of the type its convention says, model events with `config.model`, failing spans with an `error`; a
broken mapping raises instead of being measured. Fields a convention carries but its events lack are listed
under the table as mapping gaps.

    python bench/mapper_conventions.py [--spans 5000] [--rounds 5] [--per-trace] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conventions_workload import CONVENTIONS, Workload, attribute_bytes, build, build_mixed, plan_traces
from opentelemetry.sdk.trace import ReadableSpan
from rich.console import Console
from rich.table import Table
from workload import save

from otel_honeyhive import spans_to_events


def _key(event: dict[str, Any]) -> tuple[int, int]:
    meta = event["metadata"]
    return int(meta["trace_id"], 16), int(meta["span_id"], 16)


def check(workload: Workload) -> Counter[str]:
    """Raise if the mapping is broken; return the gaps (fields the spans carry that the events lack)."""
    events = spans_to_events(workload.spans)
    name = workload.name
    if len(events) != len(workload.spans):
        raise RuntimeError(f"{name}: {len(workload.spans)} spans became {len(events)} events")
    by_span = {_key(e): e for e in events}
    if by_span.keys() != workload.expected.keys():
        raise RuntimeError(f"{name}: events do not map one-to-one onto the spans")
    wrong = Counter(f"{workload.expected[k]}→{e['event_type']}" for k, e in by_span.items()
                    if e["event_type"] != workload.expected[k])
    if wrong:
        raise RuntimeError(f"{name}: misclassified events: {dict(wrong)}")
    gaps: Counter[str] = Counter()
    for key, event in by_span.items():
        kind, span_name = event["event_type"], event["event_name"]
        if kind == "model":
            if not event["config"].get("model"):
                raise RuntimeError(f"{name}: model event {span_name!r} without config.model")
            # Content and usage are in every model span of these workloads: their absence is a mapping gap.
            if not event["inputs"].get("chat_history"):
                gaps[f"model events ({span_name}) without inputs.chat_history"] += 1
            if not event["outputs"]:
                gaps[f"model events ({span_name}) without outputs"] += 1
            if "prompt_tokens" not in event["metadata"]:
                gaps[f"model events ({span_name}) without metadata.prompt_tokens"] += 1
        elif kind == "tool":
            if not event["inputs"]:
                gaps[f"tool events ({span_name}) without inputs"] += 1
            if not event["outputs"] and key not in workload.failed:
                gaps[f"tool events ({span_name}) without outputs"] += 1
        if key in workload.failed and not event["error"]:
            raise RuntimeError(f"{name}: event {span_name!r} of a failing span without an error")
    return gaps


def traces_of(spans: Sequence[ReadableSpan]) -> list[list[ReadableSpan]]:
    traces: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        assert span.context is not None
        traces.setdefault(span.context.trace_id, []).append(span)
    return list(traces.values())


def measure(calls: Sequence[Sequence[ReadableSpan]], n_spans: int) -> tuple[float, float]:
    """(CPU µs, wall µs) per span for mapping every batch in `calls`."""
    gc.collect()  # the previous round's garbage is not billed to this one
    cpu0, wall0 = time.process_time(), time.perf_counter()
    events = [spans_to_events(batch) for batch in calls]
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    del events  # freed outside the timing
    return cpu / n_spans * 1e6, wall / n_spans * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=5_000, help="spans per convention (whole traces, so a few more)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-trace", action="store_true", help="one spans_to_events call per trace")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)

    console = Console(width=140)
    started = time.perf_counter()
    plans = plan_traces(args.spans, args.seed)
    workloads = [build(name, plans) for name in CONVENTIONS]
    workloads.append(build_mixed(args.spans, args.seed))
    gaps = {w.name: check(w) for w in workloads}  # once, outside the timing
    mode = "per-trace" if args.per_trace else "all-at-once"
    calls = {w.name: traces_of(w.spans) if args.per_trace else [w.spans] for w in workloads}
    console.print(f"{len(workloads)} workloads of ~{args.spans} spans built and checked in "
                  f"{time.perf_counter() - started:.1f} s; spans_to_events {mode}, {args.rounds} rounds")

    # The bench holds every workload at once; frozen, they are not traversed by the collections a round
    # triggers, so a round's GC cost is its own (and does not grow with the number of workloads held).
    gc.collect()
    gc.freeze()
    results: dict[str, list[tuple[float, float]]] = {w.name: [] for w in workloads}
    for _ in range(args.rounds):  # interleaved: every convention sees the same machine state
        for w in workloads:
            results[w.name].append(measure(calls[w.name], len(w.spans)))

    table = Table(title=f"spans_to_events per span by convention ({mode}, median of {args.rounds} rounds)")
    table.add_column("convention")
    for column in ("spans", "attr KiB/span", "CPU µs/span", "wall µs/span"):
        table.add_column(column, justify="right")
    rows = []
    for w in workloads:
        kib = sum(attribute_bytes(s) for s in w.spans) / len(w.spans) / 1024
        cpu = statistics.median(r[0] for r in results[w.name])
        wall = statistics.median(r[1] for r in results[w.name])
        table.add_row(w.name, str(len(w.spans)), f"{kib:.1f}", f"{cpu:.1f}", f"{wall:.1f}")
        rows.append({"convention": w.name, "spans": len(w.spans), "attr_kib_per_span": round(kib, 2),
                     "cpu_us_per_span": round(cpu, 2), "wall_us_per_span": round(wall, 2)})
    console.print(table)
    for w in workloads:
        console.print(f"[dim]{w.name}: {w.description}[/dim]")
    for name, found in gaps.items():
        for gap, count in sorted(found.items()):
            console.print(f"[yellow]mapping gap[/yellow] {name}: {count} {gap}")

    save(str(args.json) if args.json else None,
         {"script": "mapper_conventions", "mode": mode, "rounds": args.rounds, "rows": rows,
          "gaps": {name: found for name, found in gaps.items() if found}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
