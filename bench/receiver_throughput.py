"""Receiver throughput: sustained spans/s through `otel-honeyhive serve`, end to end, per protocol and output.

The server runs pinned to one core (taskset, when there are two); the load generator (`loadgen.py`, its own
process) and the HoneyHive sink are pinned to the other. The load is OTLP requests of 512 realistic LLM spans
(`workload.make_traces`), each with fresh trace ids, over `--connections` keep-alive connections, as fast as the
server answers: OTLP/HTTP protobuf, OTLP/HTTP JSON, and OTLP/gRPC. Outputs: the local SQLite store (the embedded
default: a 200 means committed) and forwarding to HoneyHive (a loopback sink speaking `/events/batch`: the
sidecar). Reported per row: spans/s, the server's CPU per span (and so spans per CPU-second: what one core
sustains), request latency p50/p99, and the server's peak RSS.

The logs rows (`logs-http-protobuf`, `logs-http-json`, `logs-grpc`) measure GenAI log records through the receiver
as an app in EVENT_ONLY mode sends them: the same traces with each model call's messages moved off its span into a
`gen_ai.client.inference.operation.details` log record (plus one ordinary log per trace), each request the logs
body followed by the spans of the same traces, so every record waits for its span and joins it. Their rate is log
records per second (the "spans" figures of those rows count records), with the spans' cost included.

This machine's speed drifts by tens of percent from minute to minute, so every row is measured `--rounds` times,
rounds interleaved (each round runs every row once), and the round with the median spans/s is reported, with
the range of all rounds, and the share of the server core's time the hypervisor stole (`/proc/stat`) in each.

    python bench/receiver_throughput.py [--protocols http-protobuf,http-json,grpc,logs-http-protobuf]
                                        [--outputs store,honeyhive]
                                        [--requests 200] [--rounds 3] [--connections 2] [--spool] [--json PATH]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
import requests
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from rich.console import Console
from rich.table import Table
from workload import Sink, batches, free_port, make_traces, peak_rss_mib, save

from otel_honeyhive.outputs.files import spans_to_otlp_json

HERE = Path(__file__).resolve().parent
PROTOCOLS = ("http-protobuf", "http-json", "grpc")
LOG_PROTOCOLS = ("logs-http-protobuf", "logs-http-json", "logs-grpc")
"""GenAI log records with their spans (EVENT_ONLY); by default only over OTLP/HTTP protobuf: one logs row."""
DEFAULT_PROTOCOLS = (*PROTOCOLS, "logs-http-protobuf")
DETAILS = "gen_ai.client.inference.operation.details"
CONTENT = ("gen_ai.input.messages", "gen_ai.output.messages")
"""What an EVENT_ONLY instrumentation puts in the details record instead of on the span."""
OUTPUTS = ("store", "honeyhive", "honeyhive-spool")
SPOOLED = "honeyhive-spool"
"""Forwarding to HoneyHive with `--spool-dir`, the durable sidecar: measured over OTLP/HTTP protobuf only (what the
spool costs does not depend on the input protocol)."""
LABELS = {"store": "SQLite store", "honeyhive": "HoneyHive (sink)", SPOOLED: "HoneyHive, --spool-dir"}
TWO_CORES = shutil.which("taskset") is not None and (os.cpu_count() or 1) > 1
SERVER_CORE, LOAD_CORE = "0", "1"


def pin(core: str) -> list[str]:
    return ["taskset", "-c", core] if TWO_CORES else []


def cpu_times(core: str) -> tuple[int, int]:
    """(steal, total) jiffies of the server's core (or all cores) from /proc/stat; (0, 0) where there is none.

    Steal is time the hypervisor ran something else while this VM's CPU wanted to run: it shows whether a slow
    round was this VM being starved rather than the code."""
    name = f"cpu{core}" if TWO_CORES else "cpu"
    try:
        with open("/proc/stat") as f:
            for line in f:
                fields = line.split()
                if fields and fields[0] == name:
                    ticks = [int(x) for x in fields[1:9]]  # user nice system idle iowait irq softirq steal
                    return ticks[7], sum(ticks)
    except OSError:
        pass
    return 0, 0


def event_only(spans: ExportTraceServiceRequest) -> tuple[ExportTraceServiceRequest, ExportLogsServiceRequest, int]:
    """The request as an EVENT_ONLY instrumentation sends it: each model call's messages moved off its span into a
    details log record with the span's ids, and an ordinary log line per trace (on its root); and the count of
    records."""
    spans_only = ExportTraceServiceRequest()
    spans_only.CopyFrom(spans)
    logs = ExportLogsServiceRequest()
    records = 0
    for rs in spans_only.resource_spans:
        rl = logs.resource_logs.add()
        rl.resource.CopyFrom(rs.resource)
        for ss in rs.scope_spans:
            sl = rl.scope_logs.add()
            sl.scope.name = "opentelemetry.instrumentation.genai"
            for span in ss.spans:
                if not span.parent_span_id:
                    sl.log_records.add(time_unix_nano=span.start_time_unix_nano, trace_id=span.trace_id,
                                       span_id=span.span_id, severity_number=9, severity_text="INFO",
                                       body=AnyValue(string_value=f"handling {span.name}"))
                    records += 1
                content = [kv for kv in span.attributes if kv.key in CONTENT]
                if not content:
                    continue
                kept = [kv for kv in span.attributes if kv.key not in CONTENT]
                del span.attributes[:]
                span.attributes.extend(kept)
                record = sl.log_records.add(time_unix_nano=span.end_time_unix_nano, trace_id=span.trace_id,
                                            span_id=span.span_id, event_name=DETAILS)
                record.attributes.extend([KeyValue(key="gen_ai.operation.name", value=AnyValue(string_value="chat")),
                                          *content])
                records += 1
    return spans_only, logs, records


def _hex_ids(doc: Any) -> Any:
    """MessageToDict's base64 ids as the hex OTLP/JSON wants, throughout a document."""
    if isinstance(doc, list):
        return [_hex_ids(item) for item in doc]
    if isinstance(doc, dict):
        return {key: base64.b64decode(value).hex() if key in ("traceId", "spanId", "parentSpanId") and value
                else _hex_ids(value) for key, value in doc.items()}
    return doc


def write_pool(path: Path, n_bodies: int, batch: int, logs: bool = False) -> float:
    """Encode `n_bodies` requests of `batch` spans both ways, with the offsets of every trace id in each body (and,
    with `logs`, the same requests as EVENT_ONLY log records and spans); returns the mean protobuf body size in
    KiB."""
    pool: dict[str, Any] = {"protobuf": [], "protobuf_offsets": [], "json": [], "json_offsets": [], "spans": [],
                            "records": []}
    for part in batches(make_traces(n_bodies * batch), batch):
        trace_ids = {span.context.trace_id for span in part}
        binary_ids = [t.to_bytes(16, "big") for t in trace_ids]
        hex_ids = [f"{t:032x}".encode() for t in trace_ids]
        request = encode_spans(part)
        proto = request.SerializeToString()
        text = orjson.dumps(spans_to_otlp_json(part))
        pool["protobuf"].append(proto)
        pool["protobuf_offsets"].append(_offsets(proto, binary_ids))
        pool["json"].append(text)
        pool["json_offsets"].append(_offsets(text, hex_ids))
        pool["spans"].append(len(part))
        if logs:
            spans_only, records, count = event_only(request)
            for name, message in (("event_only", spans_only), ("logs", records)):
                binary = message.SerializeToString()
                as_json = orjson.dumps(_hex_ids(MessageToDict(message)))
                pool.setdefault(f"{name}_protobuf", []).append(binary)
                pool.setdefault(f"{name}_protobuf_offsets", []).append(_offsets(binary, binary_ids))
                pool.setdefault(f"{name}_json", []).append(as_json)
                pool.setdefault(f"{name}_json_offsets", []).append(_offsets(as_json, hex_ids))
            pool["records"].append(count)
    with path.open("wb") as f:
        pickle.dump(pool, f)
    os.sync()  # the pool's ~100 MB of writeback would otherwise land on the first row's store writes
    return sum(len(b) for b in pool["protobuf"]) / len(pool["protobuf"]) / 1024


def _offsets(body: bytes, needles: list[bytes]) -> list[int]:
    found = []
    for needle in needles:
        at = body.find(needle)
        while at >= 0:
            found.append(at)
            at = body.find(needle, at + 1)
    return found


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    http: str
    grpc: str

    @property
    def logs(self) -> str:
        return self.http.removesuffix("/v1/traces") + "/v1/logs"

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@contextmanager
def server(workdir: Path, output: str, sink_url: str | None, spool: bool) -> Iterator[Server]:
    http_port, grpc_port = free_port(), free_port()
    cmd = [*pin(SERVER_CORE), sys.executable, "-m", "otel_honeyhive.cli", "serve", "--http-port", str(http_port),
           "--grpc-port", str(grpc_port)]
    cmd += ["--db", str(workdir / "bench.db")] if output == "store" else ["--api-key", "bench", "--server-url",
                                                                           str(sink_url)]
    if spool:
        cmd += ["--spool-dir", str(workdir / "spool")]
    # From bench/, so `-m` does not put the source tree (pure Python) ahead of the installed, compiled package.
    # Its stderr goes to a file (a pipe nobody reads could fill and stall it), shown if it does not start.
    log = workdir / f"serve-{http_port}.log"
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(cmd, stderr=stderr, cwd=HERE)
    try:
        url = f"http://127.0.0.1:{http_port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url + "/healthz", timeout=0.5)
                break
            except requests.RequestException:
                if time.monotonic() > deadline or proc.poll() is not None:
                    said = log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"server did not start ({' '.join(cmd)}):\n{said}") from None
                time.sleep(0.05)
        yield Server(proc, url + "/v1/traces", f"127.0.0.1:{grpc_port}")
    finally:
        proc.terminate()
        proc.wait(60)


def generate(pool: Path, protocol: str, target: str, n_requests: int, connections: int,
             logs_target: str | None = None) -> dict[str, Any]:
    out = subprocess.run(
        [*pin(LOAD_CORE), sys.executable, str(HERE / "loadgen.py"), "--pool", str(pool), "--protocol", protocol,
         "--target", target, "--requests", str(n_requests), "--connections", str(connections),
         *(["--logs-target", logs_target] if logs_target else [])],
        capture_output=True, text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"loadgen {protocol} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure(pool: Path, workdir: Path, protocol: str, output: str, n_requests: int, connections: int,
            spool: bool) -> dict[str, Any]:
    with ExitStack() as stack:
        sink_url = None
        spool = spool or output == SPOOLED
        if output != "store":
            sink = stack.enter_context(Sink())
            if TWO_CORES and sink._proc is not None:
                os.sched_setaffinity(sink._proc.pid, {int(LOAD_CORE)})
            sink_url = sink.url
        srv = stack.enter_context(server(workdir, output, sink_url, spool))
        target = srv.grpc if protocol.endswith("grpc") else srv.http
        logs_target = srv.logs if protocol.startswith("logs-http") else None
        generate(pool, protocol, target, max(2, n_requests // 20), connections, logs_target)  # warm-up
        drain(workdir, spool)
        cpu0 = srv.cpu_seconds()
        steal0, total0 = cpu_times(SERVER_CORE)
        result = generate(pool, protocol, target, n_requests, connections, logs_target)
        drain_s = drain(workdir, spool)  # what was acknowledged onto the spool is shipped within the measurement
        cpu = srv.cpu_seconds() - cpu0
        steal1, total1 = cpu_times(SERVER_CORE)
        rss = peak_rss_mib(srv.proc.pid)
    shutil.rmtree(workdir / "spool", ignore_errors=True)
    shutil.rmtree(workdir / "bench.db-bodies", ignore_errors=True)  # the store's body segments
    for name in ("bench.db", "bench.db-wal", "bench.db-shm"):
        (workdir / name).unlink(missing_ok=True)
    latencies = sorted(result["latencies"])
    spans = int(result["spans"])
    cpu_us = cpu / spans * 1e6
    return {
        "protocol": protocol, "output": output, "requests": len(latencies), "spans": spans,
        "spans_per_s": spans / (result["wall"] + drain_s), "server_cpu_us_per_span": cpu_us, "drain_s": drain_s,
        "spans_per_cpu_second": 1e6 / cpu_us if cpu_us else float("inf"),
        "p50_ms": latencies[len(latencies) // 2] * 1e3,
        "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1e3, "peak_rss_mib": rss,
        "steal_pct": 100 * (steal1 - steal0) / (total1 - total0) if total1 > total0 else 0.0,
    }


def drain(workdir: Path, spool: bool, timeout: float = 120.0) -> float:
    """Seconds until the outbox holds no record (0 without a spool)."""
    if not spool:
        return 0.0
    started = time.monotonic()
    outbox = workdir / "spool" / "outbox"
    while any(outbox.glob("*.rec")):
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"the outbox did not drain within {timeout:.0f} s")
        time.sleep(0.01)
    return time.monotonic() - started


def median_round(measured: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median spans/s (the lower middle one of an even count), with every round's rate."""
    ordered = sorted(measured, key=lambda r: r["spans_per_s"])
    row = dict(ordered[(len(ordered) - 1) // 2])
    row["rounds_spans_per_s"] = [r["spans_per_s"] for r in measured]
    row["rounds_steal_pct"] = [r["steal_pct"] for r in measured]
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocols", default=",".join(DEFAULT_PROTOCOLS),
                        help=f"of {', '.join(PROTOCOLS + LOG_PROTOCOLS)}")
    parser.add_argument("--outputs", default=",".join(OUTPUTS))
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--pool", type=int, default=20, help="distinct request bodies the load is made from")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median round is reported")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--spool", action="store_true", help="journal held spans and queue events (--spool-dir)")
    parser.add_argument("--json", help="also write the figures to this file (bench/report.py reads it)")
    args = parser.parse_args(argv)
    console = Console(width=140)
    workdir = Path(tempfile.mkdtemp(prefix="otel-honeyhive-bench-"))
    try:
        pool = workdir / "pool.pickle"
        console.print(f"preparing a pool of {args.pool} requests of {args.batch} spans …")
        protocols = args.protocols.split(",")
        unknown = set(protocols) - set(PROTOCOLS + LOG_PROTOCOLS)
        if unknown:
            parser.error(f"unknown protocol {sorted(unknown)[0]!r}; choose from {', '.join(PROTOCOLS + LOG_PROTOCOLS)}")
        body_kib = write_pool(pool, args.pool, args.batch, logs=any(p in LOG_PROTOCOLS for p in protocols))
        cases = [(protocol, output) for output in args.outputs.split(",") for protocol in protocols
                 if output != SPOOLED or protocol == "http-protobuf"]
        rounds: dict[tuple[str, str], list[dict[str, Any]]] = {case: [] for case in cases}
        for _ in range(args.rounds):
            for protocol, output in cases:
                rounds[(protocol, output)].append(
                    measure(pool, workdir, protocol, output, args.requests, args.connections, args.spool))
        rows = [median_round(rounds[case]) for case in cases]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    table = Table(title=f"otel-honeyhive serve: {args.requests} requests of {args.batch} spans "
                        f"(~{body_kib:.0f} KiB protobuf), {args.connections} connections, server on "
                        f"{'one core' if TWO_CORES else 'any core'}{', --spool-dir' if args.spool else ''}; "
                        f"median of {args.rounds} rounds")
    for column in ("input", "output", "spans (records)", "spans/s (records/s)", "rounds' range", "server CPU µs/span",
                   "spans per CPU-s",
                   "p50 ms", "p99 ms", "peak RSS MiB", "steal %"):
        table.add_column(column, justify="left" if column in ("input", "output") else "right")
    for r in rows:
        table.add_row(r["protocol"], LABELS[r["output"]],
                      f"{r['spans']:,}", f"{r['spans_per_s']:,.0f}",
                      f"{min(r['rounds_spans_per_s']):,.0f}–{max(r['rounds_spans_per_s']):,.0f}",
                      f"{r['server_cpu_us_per_span']:.1f}",
                      f"{r['spans_per_cpu_second']:,.0f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}",
                      f"{r['peak_rss_mib']:.0f}", f"{r['steal_pct']:.1f}")
    console.print(table)
    console.print("target: ≥ 30,000 spans/s on one core; logs- rows: GenAI log records sent with their spans "
                  "(EVENT_ONLY), counted in records")
    save(args.json, {"script": "receiver_throughput", "batch": args.batch, "connections": args.connections,
                     "requests": args.requests, "rounds": args.rounds, "body_kib": body_kib, "spool": args.spool,
                     "server_cores": 1 if TWO_CORES else None, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
