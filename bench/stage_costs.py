"""Where the time goes: CPU per span of each stage of the two hot paths, measured one stage at a time on the
benchmark workload, in this process (no sampling, so no attribution guesswork).

- exporter: SDK span → `SpanView` · trace assembly · mapping (`TraceMapper`) · encoding `/events/batch` bodies ·
  HTTP to a loopback sink (the bodies posted with the exporter's own `requests` session); and, for comparison,
  the whole `export()` of `HoneyHiveSpanExporter`.
- receiver: protobuf parsing and decoding to `SpanView` · trace assembly · mapping · the SQLite store (JSON and
  SQL); the rest of the server's CPU per span (HTTP server, event loop, threads) is the difference with what
  `receiver_throughput.py` measures for the whole server.

Each figure is the minimum over rounds of CPU time per span (the least disturbed run of identical work).
`--flamegraph DIR` also records py-spy flame graphs of both paths (SVG), for a closer look.

    python bench/stage_costs.py [--spans 10000] [--rounds 5] [--flamegraph DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from rich.console import Console
from rich.table import Table
from workload import Sink, batches, make_traces, save

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.config import HoneyHiveSettings
from otel_honeyhive.inputs.otlp.decode_proto import decode_protobuf
from otel_honeyhive.mapper.trace import TraceMapper
from otel_honeyhive.outputs.honeyhive import HoneyHiveOutput
from otel_honeyhive.outputs.honeyhive.payload import encode
from otel_honeyhive.outputs.store import SQLiteStore
from otel_honeyhive.spans.assembly import TraceAssembler
from otel_honeyhive.spans.view import from_readable_span

HERE = Path(__file__).resolve().parent


def cpu_per_span(stages: dict[str, Callable[[], object]], n_spans: int, rounds: int) -> dict[str, float]:
    """Min CPU µs per span of each stage; rounds interleave the stages, so a slow moment of the machine hits
    them all alike rather than one."""
    best = dict.fromkeys(stages, float("inf"))
    for _ in range(rounds):
        for name, work in stages.items():
            cpu0 = time.process_time()
            work()
            best[name] = min(best[name], time.process_time() - cpu0)
    return {name: value / n_spans * 1e6 for name, value in best.items()}


def assemble(views: list[Any]) -> list[Any]:
    assembler = TraceAssembler(hold_seconds=60, max_spans=1_000_000)
    traces = []
    for part in batches(views, 512):
        traces.extend(assembler.add(part))
    return traces + assembler.drain()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--flamegraph", help="directory for py-spy flame graphs (SVG) of both paths")
    parser.add_argument("--json", help="also write the figures to this file (bench/report.py reads it)")
    args = parser.parse_args(argv)
    console = Console(width=140)
    spans = make_traces(args.spans)
    n = len(spans)
    views = [from_readable_span(s) for s in spans]
    traces = assemble(views)
    mapper = TraceMapper()
    events = [e for t in traces for e in mapper.map_trace(t)]
    settings = HoneyHiveSettings.resolve(api_key="bench", server_url="http://127.0.0.1:9", environ={})
    bodies = [b.data for b in encode(events, settings.batch_mode, settings.max_events_per_request,
                                     settings.max_request_bytes)]
    protobuf = [encode_spans(part).SerializeToString() for part in batches(spans, 512)]
    workdir = Path(tempfile.mkdtemp(prefix="otel-honeyhive-stages-"))
    try:
        with Sink() as sink:
            output = HoneyHiveOutput(HoneyHiveSettings.resolve(api_key="bench", server_url=sink.url, environ={}))
            session, url = output._session, sink.url + "/events/batch"
            store = SQLiteStore(workdir / "stages.db")
            chunks = [events[i : i + 512] for i in range(0, len(events), 512)]

            def post_all() -> None:
                for body in bodies:
                    session.post(url, data=body, timeout=30).raise_for_status()

            def store_all() -> None:
                for chunk in chunks:
                    store.send(chunk)

            def export_all() -> None:
                exporter = HoneyHiveSpanExporter(api_key="bench", server_url=sink.url, hold_timeout=60)
                for part in batches(spans, 512):
                    exporter.export(part)
                exporter.shutdown()

            figures = cpu_per_span({
                "SDK span → SpanView": lambda: [from_readable_span(s) for s in spans],
                "protobuf → SpanView": lambda: [decode_protobuf(b) for b in protobuf],
                "trace assembly": lambda: assemble(views),
                "mapping (TraceMapper)": lambda: [mapper.map_trace(t) for t in traces],
                "encoding /events/batch bodies": lambda: list(encode(events, "multi", 500, 5 << 20)),
                "HTTP to the sink": post_all,
                "SQLite store (JSON + upsert)": store_all,
                "the whole export()": export_all,
            }, n, args.rounds)
            output.close()
            store.close()
        if args.flamegraph:
            flamegraphs(Path(args.flamegraph), workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    exporter_rows = [(k, figures[k]) for k in ("SDK span → SpanView", "trace assembly", "mapping (TraceMapper)",
                                               "encoding /events/batch bodies", "HTTP to the sink")]
    whole = ("the whole export()", figures["the whole export()"])
    receiver_rows = [(k, figures[k]) for k in ("protobuf → SpanView", "trace assembly", "mapping (TraceMapper)",
                                               "SQLite store (JSON + upsert)")]

    table = Table(title=f"Exporter: CPU µs per span by stage ({n:,} spans, batches of 512, min of {args.rounds})")
    table.add_column("stage")
    table.add_column("CPU µs/span", justify="right")
    table.add_column("share", justify="right")
    total = sum(v for _, v in exporter_rows)
    for name, value in exporter_rows:
        table.add_row(name, f"{value:.1f}", f"{value / total * 100:.0f} %")
    table.add_row("sum of the stages", f"{total:.1f}", "")
    table.add_row(*whole[:1], f"{whole[1]:.1f}", "")
    console.print(table)
    table = Table(title="Receiver: CPU µs per span by stage (the HTTP server is the rest of receiver_throughput's "
                        "server CPU)")
    table.add_column("stage")
    table.add_column("CPU µs/span", justify="right")
    for name, value in receiver_rows:
        table.add_row(name, f"{value:.1f}")
    table.add_row("sum of the stages", f"{sum(v for _, v in receiver_rows):.1f}")
    console.print(table)
    save(args.json, {"script": "stage_costs", "spans": n, "rounds": args.rounds,
                     "exporter": [{"stage": k, "cpu_us_per_span": v} for k, v in exporter_rows],
                     "exporter_whole": whole[1],
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
                        sys.executable, "-c", code], check=True, capture_output=True)
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
