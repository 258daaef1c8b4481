"""Receiver throughput: sustained spans/s through `otel-honeyhive serve`, end to end, and its peak memory.

The server runs pinned to one core (taskset, when available) with the local SQLite store as its output, so a
200 means the events are committed. A load generator in another process, pinned to the other core, posts
OTLP/HTTP protobuf requests of 512 realistic LLM spans (pre-encoded; fresh trace ids every request) over
`--connections` keep-alive connections. Reported: spans/s, request latency p50/p99, the server's peak RSS.

    python bench/receiver_throughput.py [--requests 200] [--connections 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from rich.console import Console
from rich.table import Table
from workload import batches, free_port, make_traces

ROOT = Path(__file__).resolve().parent.parent


def request_bodies(n_requests: int, batch: int) -> list[bytes]:
    """`n_requests` distinct protobuf bodies: a pool of real spans re-labelled with fresh trace ids."""
    pool = [encode_spans(part) for part in batches(make_traces(20 * batch), batch)]
    bodies = []
    for i in range(n_requests):
        request = ExportTraceServiceRequest()
        request.CopyFrom(pool[i % len(pool)])
        salt = (i // len(pool)).to_bytes(4, "big")
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    span.trace_id = salt + span.trace_id[4:]
        bodies.append(request.SerializeToString())
    return bodies


def load(url: str, bodies: list[bytes], connections: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    queue = list(reversed(bodies))

    def worker() -> None:
        session = requests.Session()
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            t0 = time.perf_counter()
            response = session.post(url, data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=60)
            elapsed = time.perf_counter() - t0
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--spool", action="store_true", help="also journal held spans (--spool-dir)")
    args = parser.parse_args(argv)
    console = Console()
    console.print(f"preparing {args.requests} requests of {args.batch} spans …")
    bodies = request_bodies(args.requests, args.batch)
    mean_kib = statistics.mean(len(b) for b in bodies) / 1024
    workdir = Path(tempfile.mkdtemp(prefix="otel-honeyhive-bench-"))
    port = free_port()
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
    cmd = [*pin, sys.executable, "-m", "otel_honeyhive.cli", "serve", "--http-port", str(port), "--grpc-port", "0",
           "--db", str(workdir / "bench.db")]
    if args.spool:
        cmd += ["--spool-dir", str(workdir / "spool")]
    server = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                requests.get(url + "/healthz", timeout=0.5)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.05)
        if pin:
            os.sched_setaffinity(0, {1})
        load(url + "/v1/traces", bodies[: max(2, args.requests // 20)], args.connections)  # warm-up
        wall, latencies = load(url + "/v1/traces", bodies, args.connections)
        rss = peak_rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)
    spans = len(bodies) * args.batch
    latencies.sort()
    table = Table(title="OTLP/HTTP protobuf → otel-honeyhive serve → SQLite store (acknowledged = committed)")
    for column in ("requests", "spans", "body KiB", "server cores", "spans/s", "p50 ms", "p99 ms", "peak RSS MiB"):
        table.add_column(column, justify="right")
    table.add_row(
        str(len(bodies)), str(spans), f"{mean_kib:.0f}", "1" if pin else "any", f"{spans / wall:,.0f}",
        f"{latencies[len(latencies) // 2] * 1e3:.1f}", f"{latencies[int(len(latencies) * 0.99) - 1] * 1e3:.1f}",
        f"{rss:.0f}",
    )
    console.print(table)
    console.print("target: ≥ 30,000 spans/s on one core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
