"""Where the time goes: CPU per span of each stage of the two hot paths, timed one stage at a time on the
benchmark workload, in this process (no sampling, so no attribution guesswork).

- exporter: SDK span → `SpanView` · trace assembly · mapping (`TraceMapper`) · encoding `/events/batch` bodies ·
  HTTP to a loopback sink (the bodies posted with the exporter's own `requests` session); and, for comparison,
  the whole `export()` of `HoneyHiveSpanExporter`.
- receiver: protobuf parsing and decoding to `SpanView` · trace assembly · mapping · the SQLite store (JSON and
  SQL, new rows); what the server spends beyond these (HTTP, the event loop, thread hand-offs) is the difference
  with its CPU per span in `receiver_throughput.py`.

Every round works on fresh traces (the pool relabelled with new trace ids, as a real stream brings), in batches
of 512 as the BatchSpanProcessor and OTLP clients send them, so caches and the store see what they would see in
production. The copies are made between the timed stages, and the garbage collector is run after each batch's
copies are made, outside the clocks: otherwise the collections their allocations bring on land on whichever
stage happens to be running (the mapping, mostly), and double its figure. Each figure is the minimum over rounds
of the stage's CPU time per span; `--flamegraph DIR` also records py-spy flame graphs of both paths (SVG), for a
closer look.

    python bench/stage_costs.py [--spans 10000] [--rounds 5] [--flamegraph DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from rich.console import Console
from rich.table import Table
from workload import Sink, make_traces, relabelled, save

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.core.encoded import batch_of
from otel_honeyhive.core.spans import from_readable_span
from otel_honeyhive.inputs.otlp.decode_proto import decode_protobuf
from otel_honeyhive.mapper.trace import TraceMapper
from otel_honeyhive.outputs.honeyhive import HoneyHiveOutput
from otel_honeyhive.outputs.honeyhive.payload import encode
from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
from otel_honeyhive.outputs.store import SQLiteStore
from otel_honeyhive.pipeline.assembly import TraceAssembler

HERE = Path(__file__).resolve().parent

EXPORTER_STAGES = ("SDK span → SpanView", "trace assembly", "mapping (TraceMapper)", "encoding /events/batch bodies",
                   "HTTP to the sink")
RECEIVER_STAGES = ("protobuf → SpanView", "trace assembly", "mapping (TraceMapper)", "SQLite store (JSON + upsert)")
WHOLE = "the whole export()"


class Clock:
    """CPU time per stage, summed over the batches of one round: `with clock("stage"): ...`."""

    def __init__(self) -> None:
        self.spent: defaultdict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        cpu0 = time.process_time()
        yield
        self.spent[stage] += time.process_time() - cpu0


def one_round(pool: list[Any], n: int, salt: int, sink_url: str, output: HoneyHiveOutput, store: SQLiteStore,
              mapper: TraceMapper) -> dict[str, float]:
    clock = Clock()
    s = output.settings
    assembler = TraceAssembler(hold_seconds=60, max_spans=1_000_000)
    http, url = output._http, sink_url + "/events/batch"
    for part in relabelled(pool, n, 512, salt=salt):
        gc.collect()  # the relabelled copies' debt to the collector is the bench's, not the next stage's
        with clock("SDK span → SpanView"):
            views = [from_readable_span(span) for span in part]
        with clock("trace assembly"):
            traces = assembler.add(views)
        with clock("mapping (TraceMapper)"):
            mapped = [mapper.map_trace(t) for t in traces]
        with clock("encoding /events/batch bodies"):  # as the exporter does: each trace, then the bodies
            events = batch_of(mapped, encode=True)
            bodies = list(encode(events, s.batch_mode, s.max_events_per_request, s.max_request_bytes))
        with clock("HTTP to the sink"):
            for body in bodies:
                http.request("POST", url, data=body, timeout=30).raise_for_status()
        request = encode_spans(part).SerializeToString()
        with clock("protobuf → SpanView"):
            received = decode_protobuf(request).spans
        held = TraceAssembler(hold_seconds=60, max_spans=1_000_000)
        events = [e for t in held.add(received) + held.drain() for e in mapper.map_trace(t)]
        with clock("SQLite store (JSON + upsert)"):
            store.send(events)
    exporter = HoneyHiveSpanExporter(api_key="bench", server_url=sink_url, hold_timeout=60)
    for part in relabelled(pool, n, 512, salt=salt + 1000):
        gc.collect()
        with clock(WHOLE):
            exporter.export(part)
    with clock(WHOLE):
        exporter.shutdown()
    return {stage: spent / n * 1e6 for stage, spent in clock.spent.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--flamegraph", help="directory for py-spy flame graphs (SVG) of both paths")
    parser.add_argument("--json", help="also write the figures to this file (bench/report.py reads it)")
    args = parser.parse_args(argv)
    console = Console(width=140)
    pool = make_traces(args.spans)
    n = len(pool)
    mapper = TraceMapper()
    best: dict[str, float] = {}
    workdir = Path(tempfile.mkdtemp(prefix="otel-honeyhive-stages-"))
    try:
        with Sink() as sink:
            output = HoneyHiveOutput(HoneyHiveSettings.resolve(api_key="bench", server_url=sink.url, environ={}))
            store = SQLiteStore(workdir / "stages.db")
            for salt in range(1, args.rounds + 1):
                for stage, value in one_round(pool, n, salt, sink.url, output, store, mapper).items():
                    best[stage] = min(best.get(stage, float("inf")), value)
            output.close()
            store.close()
        if args.flamegraph:
            flamegraphs(Path(args.flamegraph), workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    exporter_rows = [(k, best[k]) for k in EXPORTER_STAGES]
    receiver_rows = [(k, best[k]) for k in RECEIVER_STAGES]

    table = Table(title=f"Exporter: CPU µs per span by stage ({n:,} fresh spans a round, batches of 512, "
                        f"min of {args.rounds})")
    table.add_column("stage")
    table.add_column("CPU µs/span", justify="right")
    table.add_column("share", justify="right")
    total = sum(v for _, v in exporter_rows)
    for name, value in exporter_rows:
        table.add_row(name, f"{value:.1f}", f"{value / total * 100:.0f} %")
    table.add_row("sum of the stages", f"{total:.1f}", "")
    table.add_row(WHOLE, f"{best[WHOLE]:.1f}", "")
    console.print(table)
    table = Table(title="Receiver: CPU µs per span by stage (the rest of the server's CPU is HTTP, the event "
                        "loop, threads)")
    table.add_column("stage")
    table.add_column("CPU µs/span", justify="right")
    for name, value in receiver_rows:
        table.add_row(name, f"{value:.1f}")
    table.add_row("sum of the stages", f"{sum(v for _, v in receiver_rows):.1f}")
    console.print(table)
    save(args.json, {"script": "stage_costs", "spans": n, "rounds": args.rounds,
                     "exporter": [{"stage": k, "cpu_us_per_span": v} for k, v in exporter_rows],
                     "exporter_whole": best[WHOLE],
                     "receiver": [{"stage": k, "cpu_us_per_span": v} for k, v in receiver_rows]})
    return 0


def flamegraphs(out: Path, workdir: Path) -> None:
    """py-spy flame graphs: the exporter loop, and a server taking OTLP/HTTP into its store."""
    if shutil.which("py-spy") is None:
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
    out.mkdir(parents=True, exist_ok=True)
    with Sink() as sink:
        code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); from workload import batches, make_traces; "
                "from otel_honeyhive import HoneyHiveSpanExporter; spans = make_traces(10000); "
                f"e = HoneyHiveSpanExporter(api_key='bench', server_url={sink.url!r}, hold_timeout=60)\n"
                "for _ in range(3):\n    [e.export(p) for p in batches(spans, 512)]\ne.shutdown()")
        subprocess.run(["py-spy", "record", "--rate", "250", "--output", str(out / "exporter.svg"), "--",
                        sys.executable, "-c", code], check=True, capture_output=True, cwd=HERE)
    from receiver_throughput import generate, server, write_pool

    pool = workdir / "pool.pickle"
    write_pool(pool, 10, 512)
    with server(workdir, "store", None, False) as srv:
        generate(pool, "http-protobuf", srv.http, 5, 2)
        spy = subprocess.Popen(["py-spy", "record", "--rate", "250", "--output", str(out / "receiver.svg"),
                                "--pid", str(srv.proc.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        generate(pool, "http-protobuf", srv.http, 60, 2)
        spy.send_signal(2)
        spy.wait(60)


if __name__ == "__main__":
    raise SystemExit(main())
