"""Load generator for the receiver benchmarks: a process of its own, posting OTLP requests as fast as the server
answers them, over several keep-alive connections.

Requests are made from a pool of pre-encoded bodies (`--pool`, written by `receiver_throughput.py`): each
request is a pool body whose trace ids get a fresh salt in place (the byte offsets of every trace id are found
once), so every request carries new traces at the cost of one copy, and a million spans need the memory of the
pool only. Prints one JSON line: wall seconds, per-request latencies, spans sent.

    python bench/loadgen.py --pool FILE --protocol http-protobuf|http-json|grpc --target URL_OR_HOSTPORT
                            --requests N [--connections 2]
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


class Pool:
    """Bodies with the offsets of their trace ids, and how to write a salt over the first bytes of each."""

    def __init__(self, bodies: list[bytes], offsets: list[list[int]], salt_width: int, encode: Callable[[int], bytes],
                 spans_per_body: list[int]) -> None:
        self.bodies, self.offsets, self.salt_width, self.encode = bodies, offsets, salt_width, encode
        self.spans_per_body = spans_per_body

    def stream(self, n: int) -> Iterator[tuple[bytes, int]]:
        for i in range(n):
            k = i % len(self.bodies)
            salt = self.encode(i // len(self.bodies) + 1)
            body = bytearray(self.bodies[k])
            for at in self.offsets[k]:
                body[at : at + self.salt_width] = salt
            yield bytes(body), self.spans_per_body[k]


def load_pool(path: str, protocol: str) -> Pool:
    with open(path, "rb") as f:
        data: dict[str, Any] = pickle.load(f)
    if protocol == "http-json":
        return Pool(data["json"], data["json_offsets"], 8, lambda n: f"{n:08x}".encode(), data["spans"])
    return Pool(data["protobuf"], data["protobuf_offsets"], 4, lambda n: n.to_bytes(4, "big"), data["spans"])


def run(pool: Pool, protocol: str, target: str, n_requests: int, connections: int) -> dict[str, Any]:
    latencies: list[float] = []
    sent = [0]
    lock = threading.Lock()
    stream = pool.stream(n_requests)
    errors: list[str] = []

    def next_body() -> tuple[bytes, int] | None:
        with lock:
            return next(stream, None)

    def http_worker() -> None:
        session = requests.Session()
        ctype = "application/json" if protocol == "http-json" else "application/x-protobuf"
        while (item := next_body()) is not None:
            body, spans = item
            t0 = time.perf_counter()
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
        while (item := next_body()) is not None:
            body, spans = item
            t0 = time.perf_counter()
            try:
                export(body, timeout=120)
            except grpc.RpcError as exc:
                errors.append(f"gRPC {exc.code()}: {exc.details()}")
                return
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                sent[0] += spans
        channel.close()

    worker = grpc_worker if protocol == "grpc" else http_worker
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
    parser.add_argument("--protocol", choices=("http-protobuf", "http-json", "grpc"), required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--connections", type=int, default=2)
    args = parser.parse_args(argv)
    result = run(load_pool(args.pool, args.protocol), args.protocol, args.target, args.requests, args.connections)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
