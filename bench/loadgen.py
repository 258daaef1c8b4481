"""Load generator for the receiver benchmarks: a process of its own, posting OTLP requests as fast as the server
answers them, over several keep-alive connections.

Requests are made from a pool of pre-encoded bodies (`--pool`, written by `receiver_throughput.py`): each
request is a pool body whose trace ids get a fresh salt in place (the byte offsets of every trace id are found
once), so every request carries new traces at the cost of one copy, and a million spans need the memory of the
pool only. Prints one JSON line: wall seconds, per-request latencies, spans sent.

The `logs-` protocols send GenAI log records with their spans, as an app in EVENT_ONLY mode does: each request
is the pool's logs body (posted to `--logs-target`, gRPC `LogsService/Export`) followed by the trace body of the
same traces, salted alike, so the records wait for their spans and join them; the latency is the pair's, and
what is counted is log records.

    python bench/loadgen.py --pool FILE --protocol [logs-]http-protobuf|[logs-]http-json|[logs-]grpc
                            --target URL_OR_HOSTPORT [--logs-target URL] --requests N [--connections 2]
"""

from __future__ import annotations

import argparse
import json
import pickle
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

TRACE_SERVICE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS_SERVICE_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
PROTOCOLS = ("http-protobuf", "http-json", "grpc", "logs-http-protobuf", "logs-http-json", "logs-grpc")


class Pool:
    """Bodies with the offsets of their trace ids, and how to write a salt over the first bytes of each."""

    def __init__(self, bodies: list[bytes], offsets: list[list[int]], salt_width: int, encode: Callable[[int], bytes],
                 spans_per_body: list[int], logs: tuple[list[bytes], list[list[int]]] | None = None) -> None:
        """`logs`: the log bodies sent before each body (same traces), and their trace ids' offsets; with them,
        `spans_per_body` counts the log records."""
        self.bodies, self.offsets, self.salt_width, self.encode = bodies, offsets, salt_width, encode
        self.spans_per_body = spans_per_body
        self.logs = logs

    def _salted(self, body: bytes, offsets: list[int], salt: bytes) -> bytes:
        salted = bytearray(body)
        for at in offsets:
            salted[at : at + self.salt_width] = salt
        return bytes(salted)

    def stream(self, n: int) -> Iterator[tuple[bytes, bytes | None, int]]:
        for i in range(n):
            k = i % len(self.bodies)
            salt = self.encode(i // len(self.bodies) + 1)
            logs = None if self.logs is None else self._salted(self.logs[0][k], self.logs[1][k], salt)
            yield self._salted(self.bodies[k], self.offsets[k], salt), logs, self.spans_per_body[k]


def load_pool(path: str, protocol: str) -> Pool:
    with open(path, "rb") as f:
        data: dict[str, Any] = pickle.load(f)
    if protocol.startswith("logs-"):
        encoding = "json" if protocol == "logs-http-json" else "protobuf"
        logs = (data[f"logs_{encoding}"], data[f"logs_{encoding}_offsets"])
        bodies, offsets = data[f"event_only_{encoding}"], data[f"event_only_{encoding}_offsets"]
        if encoding == "json":
            return Pool(bodies, offsets, 8, lambda n: f"{n:08x}".encode(), data["records"], logs)
        return Pool(bodies, offsets, 4, lambda n: n.to_bytes(4, "big"), data["records"], logs)
    if protocol == "http-json":
        return Pool(data["json"], data["json_offsets"], 8, lambda n: f"{n:08x}".encode(), data["spans"])
    return Pool(data["protobuf"], data["protobuf_offsets"], 4, lambda n: n.to_bytes(4, "big"), data["spans"])


def run(pool: Pool, protocol: str, target: str, n_requests: int, connections: int,
        logs_target: str | None = None) -> dict[str, Any]:
    latencies: list[float] = []
    sent = [0]
    lock = threading.Lock()
    stream = pool.stream(n_requests)
    errors: list[str] = []

    def next_body() -> tuple[bytes, bytes | None, int] | None:
        with lock:
            return next(stream, None)

    def http_worker() -> None:
        session = requests.Session()
        ctype = "application/json" if protocol.endswith("http-json") else "application/x-protobuf"
        while (item := next_body()) is not None:
            body, logs, spans = item
            t0 = time.perf_counter()
            if logs is not None:
                response = session.post(str(logs_target), data=logs, headers={"Content-Type": ctype}, timeout=120)
                if response.status_code != 200:
                    errors.append(f"HTTP {response.status_code} (logs): {response.text[:200]}")
                    return
            response = session.post(target, data=body, headers={"Content-Type": ctype}, timeout=120)
            elapsed = time.perf_counter() - t0
            if response.status_code != 200:
                errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
                return
            with lock:
                latencies.append(elapsed)
                sent[0] += spans

    def grpc_worker() -> None:
        import grpc

        channel = grpc.insecure_channel(target, options=[("grpc.max_send_message_length", -1)])
        export = channel.unary_unary(TRACE_SERVICE_EXPORT)  # bytes in, bytes out: the pool is already encoded
        export_logs = channel.unary_unary(LOGS_SERVICE_EXPORT)
        while (item := next_body()) is not None:
            body, logs, spans = item
            t0 = time.perf_counter()
            try:
                if logs is not None:
                    export_logs(logs, timeout=120)
                export(body, timeout=120)
            except grpc.RpcError as exc:
                errors.append(f"gRPC {exc.code()}: {exc.details()}")
                return
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                sent[0] += spans
        channel.close()

    worker = grpc_worker if protocol.endswith("grpc") else http_worker
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors:
        raise SystemExit(f"load generator: {errors[0]}")
    return {"wall": wall, "latencies": latencies, "spans": sent[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", required=True)
    parser.add_argument("--protocol", choices=PROTOCOLS, required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--logs-target", help="where the logs- protocols post log records (OTLP/HTTP /v1/logs)")
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--connections", type=int, default=2)
    args = parser.parse_args(argv)
    result = run(load_pool(args.pool, args.protocol), args.protocol, args.target, args.requests, args.connections,
                 args.logs_target)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
