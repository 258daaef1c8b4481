"""A plain process exporting to a spool directory that other processes may use too.

    python -m tests.reliability.workers.spool_process --spool-dir D --name p1 --traces N --out p1.json [--hang]

It builds `HoneyHiveSpanExporter(spool_dir=D)` (HH_API_URL, HH_API_KEY from the environment), exports N agent
traces (tests/support/spans.llm_traces) in batches of whole traces, as a BatchSpanProcessor hands them over,
and writes to `--out` the event ids of every batch `export()` acknowledged (SUCCESS: on disk in the spool).
Then, without `--hang`, it calls `force_flush()` (which waits for the spool to drain) and adds its result and
the exporter's stats to `--out`, waits for its standard input to close (alive meanwhile, so it can deliver what
other processes left in the directory), and shuts down. With `--hang`, it waits to be killed after writing
`--out`.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict

from opentelemetry.sdk.trace.export import SpanExportResult

from otel_honeyhive import HoneyHiveSpanExporter
from tests.reliability.workers.traces import write_json
from tests.support.spans import SPANS_PER_TRACE, batches, event_ids, llm_traces

TRACES_PER_BATCH = 10


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spool-dir", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--traces", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--hang", action="store_true")
    args = parser.parse_args()

    exporter = HoneyHiveSpanExporter(spool_dir=args.spool_dir)
    spans = llm_traces(args.traces, name=args.name)
    acked: list[str] = []
    refused = 0
    for batch in batches(spans, TRACES_PER_BATCH * SPANS_PER_TRACE):  # whole traces: nothing is held back
        if exporter.export(batch) is SpanExportResult.SUCCESS:
            acked += sorted(event_ids(batch))
        else:
            refused += len(batch)
    result: dict[str, object] = {"spans": len(spans), "acked": acked, "refused_spans": refused}
    write_json(args.out, result)
    print(f"spool_process {args.name}: {len(acked)} events acknowledged, {refused} spans refused", flush=True)
    if args.hang:
        time.sleep(300)  # until the test kills this process
        return 1
    result["flushed"] = exporter.force_flush(30_000)
    result["stats"] = asdict(exporter.stats)
    write_json(args.out, result)
    print(f"spool_process {args.name}: force_flush {result['flushed']}, {result['stats']}", flush=True)
    sys.stdin.read()  # alive until the test closes our standard input
    exporter.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
