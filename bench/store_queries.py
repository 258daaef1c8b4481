"""The local store at scale: how fast `list_sessions` / `count_sessions` answer the viewer and the CLI over many
sessions, and how fast the store takes events.

A store is filled with `--sessions` sessions (default 100,000) of five events each — the session, a model call
with tokens, a tool, a retriever, a chain; one session in fifty has an error; a user id on one in three — with
~1 KB bodies (the listing reads the per-session summary rows, so body size matters to the fill, not to the
queries), written through `SQLiteStore.send` in batches of `--batch` events, as the receiver writes them. Then
each query runs `--rounds` times on the filled store (a fresh connection, warm OS cache, as a viewer sees it);
the median and the slowest are reported, in milliseconds.

Last, retention: the older half of the sessions is pruned (`SQLiteStore.prune`, what `serve --retention` runs)
while a writer keeps sending batches of new sessions; how long it took, the body segments it gave back, and the
writer's send times before and during it.

Ingestion through the whole receiver (OTLP in, events committed) is `receiver_throughput.py`'s store row; the
fill rate here is the store alone, one writer.

    python bench/store_queries.py [--sessions 100000] [--batch 500] [--rounds 7] [--json PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rich.console import Console
from rich.table import Table
from workload import save

from otel_honeyhive.outputs.store import SQLiteStore

START_MS = 1_790_000_000_000.0
_PROMPT = "Summarise the incident report and list the three actions the on-call engineer took. " * 12


def _session(i: int, rng_ids: Iterator[uuid.UUID]) -> list[dict[str, Any]]:
    sid = str(next(rng_ids))
    start = START_MS + i * 1000.0
    user = {"user_id": f"user-{i % 977}"} if i % 3 == 0 else {}

    def child(kind: str, name: str, offset: float, **fields: Any) -> dict[str, Any]:
        return {"event_id": str(next(rng_ids)), "session_id": sid, "parent_id": sid, "event_type": kind,
                "event_name": name, "source": "bench", "start_time": start + offset,
                "end_time": start + offset + 100.0, "duration": 100.0, "inputs": {}, "outputs": {},
                "metadata": {}, **fields}

    return [
        {"event_id": sid, "session_id": sid, "parent_id": None, "event_type": "session",
         "event_name": f"support-chat-{i % 50}", "source": "bench", "start_time": start, "end_time": start + 900.0,
         "duration": 900.0, "inputs": {"question": _PROMPT[:200]}, "outputs": {}, "metadata": {},
         "user_properties": user},
        child("model", "chat gpt-4o-mini", 100.0, config={"model": "gpt-4o-mini"},
              inputs={"chat_history": [{"role": "user", "content": _PROMPT}]},
              outputs={"role": "assistant", "content": _PROMPT[:300]},
              metadata={"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160}),
        child("tool", "search", 300.0, inputs={"query": "incident"}, outputs={"hits": 3},
              error="timeout" if i % 50 == 0 else None),
        child("tool", "retrieve documents", 450.0, outputs={"documents": [{"content": _PROMPT[:150]}]}),
        child("chain", "answer", 600.0),
    ]


def fill(store: SQLiteStore, sessions: int, batch: int) -> float:
    """Write every session's events, `batch` events per send; returns events per second."""
    ids = (uuid.UUID(int=n, version=4) for n in range(1, 1 << 62))
    pending: list[dict[str, Any]] = []
    written = 0
    started = time.perf_counter()
    for i in range(sessions):
        pending.extend(_session(i, ids))
        if len(pending) >= batch:
            result = store.send(pending)
            if not result.ok:
                raise RuntimeError(f"the store refused a batch: {result.detail}")
            written += len(pending)
            pending = []
    if pending:
        store.send(pending)
        written += len(pending)
    return written / (time.perf_counter() - started)


def retention(store: SQLiteStore, sessions: int, batch: int) -> dict[str, Any]:
    """Prune the older half of the sessions (`SQLiteStore.prune`, what `serve --retention` runs) while a writer
    goes on sending batches of new sessions; what went, how long it took, and how long the writer's sends took
    before and during it."""
    ids = (uuid.UUID(int=n, version=4) for n in range(1 << 40, 1 << 62))
    latencies: list[float] = []
    stop = threading.Event()

    def write() -> None:
        number = sessions
        while not stop.is_set():
            pending = [e for i in range(batch // 5) for e in _session(number + i, ids)]
            number += batch // 5
            started = time.perf_counter()
            if not store.send(pending).ok:
                raise RuntimeError("the store refused a batch while pruning")
            latencies.append((time.perf_counter() - started) * 1000)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    time.sleep(2.0)
    before = list(latencies)
    started = time.perf_counter()
    pruned = store.prune(START_MS + sessions / 2 * 1000.0)
    seconds = time.perf_counter() - started
    during = latencies[len(before):]
    stop.set()
    writer.join()
    def spread(times: list[float]) -> dict[str, float]:
        return {"median": statistics.median(times) if times else 0.0, "max": max(times, default=0.0),
                "sends": len(times)}

    return {"sessions": pruned.sessions, "events": pruned.events, "segments": pruned.segments,
            "freed_mib": pruned.bytes_freed / 2**20, "seconds": seconds,
            "send_ms_before": spread(before), "send_ms_during": spread(during)}


def queries(sessions: int) -> list[tuple[str, Callable[[SQLiteStore], Any]]]:
    last_hour = START_MS + sessions * 1000.0 - 3_600_000
    return [
        ("newest 50 sessions (the viewer's first page)", lambda s: s.list_sessions(50)),
        ("page 1,000 (offset 49,950)", lambda s: s.list_sessions(50, offset=49_950)),
        ("count all sessions", lambda s: s.count_sessions()),
        ("search a name part (`chat-7`)", lambda s: s.list_sessions(50, search="chat-7")),
        ("search a session id prefix", lambda s: s.list_sessions(50, search="00000000-0000-4000-8000-00000001")),
        ("search a user id", lambda s: s.list_sessions(50, search="user-42")),
        ("sessions with errors, newest 50", lambda s: s.list_sessions(50, errors_only=True)),
        ("count sessions with errors", lambda s: s.count_sessions(errors_only=True)),
        ("the last hour, newest 50", lambda s: s.list_sessions(50, since=last_hour)),
        ("one session's events", lambda s: s.session_events(str(uuid.UUID(int=1, version=4)))),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500, help="events per send while filling")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        path = Path(tmp) / "bench.db"
        with SQLiteStore(path) as store:
            fill_rate = fill(store, args.sessions, args.batch)
        size_mib = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 2**20
        rows: list[dict[str, Any]] = []
        with SQLiteStore(path, readonly=True) as reader:
            for name, query in queries(args.sessions):
                times = []
                for _ in range(args.rounds):
                    started = time.perf_counter()
                    found = query(reader)
                    times.append((time.perf_counter() - started) * 1000)
                size = found if isinstance(found, int) else len(found)
                rows.append({"query": name, "median_ms": statistics.median(times), "max_ms": max(times),
                             "result": size})
        with SQLiteStore(path) as store:
            pruning = retention(store, args.sessions, args.batch)

    table = Table(title=f"{args.sessions:,} sessions ({args.sessions * 5:,} events, {size_mib:,.0f} MiB): "
                        f"filled at {fill_rate:,.0f} events/s")
    for column in ("query", "median ms", "slowest ms", "rows / count"):
        table.add_column(column, justify="left" if column == "query" else "right")
    for row in rows:
        table.add_row(row["query"], f"{row['median_ms']:.1f}", f"{row['max_ms']:.1f}", f"{row['result']:,}")
    Console().print(table)
    Console().print(
        f"retention: pruned the older half, {pruning['sessions']:,} sessions ({pruning['events']:,} events), in "
        f"{pruning['seconds']:.1f} s, freeing {pruning['segments']} body segments ({pruning['freed_mib']:,.0f} MiB), "
        f"while a writer sent {pruning['send_ms_during']['sends']} batches of {args.batch} events: "
        f"{pruning['send_ms_during']['median']:.1f} ms median, {pruning['send_ms_during']['max']:.0f} ms slowest "
        f"(before: {pruning['send_ms_before']['median']:.1f} / {pruning['send_ms_before']['max']:.0f} ms)")
    save(args.json, {"script": "store_queries", "sessions": args.sessions, "events": args.sessions * 5,
                     "batch": args.batch, "rounds": args.rounds, "fill_events_per_s": fill_rate,
                     "size_mib": size_mib, "rows": rows, "retention": pruning})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
