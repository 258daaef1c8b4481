"""A `multiprocessing` job as users write one: the parent sets tracing up (the README's snippet, with
`spool_dir`) before it creates a `fork` pool with `maxtasksperchild=1`, and the tasks trace their work with the
OpenTelemetry API and never flush (each task runs in a fresh child that exits when it is done).

    python -m tests.reliability.workers.pool_job --spool-dir D --tasks N --out results.json --victim victim.json

Task number `--victim-at` is the victim: it waits for the file `<--victim>.go` (the test makes it during the
outage), traces its work, calls `force_flush()` (so its spans are acknowledged: on disk in its process's spool,
undeliverable while HoneyHive is down), writes its report and pid to `--victim`, and waits to be killed.
When every other task has answered and the children have exited, the parent writes every report to `--out`,
then waits for its standard input to close (it stays alive meanwhile, as an application's main process does),
shuts the provider down and exits. HH_API_URL, HH_API_KEY, HH_PROJECT come from the environment.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from multiprocessing.pool import AsyncResult

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_honeyhive import HoneyHiveSpanExporter
from tests.reliability.workers.traces import Report, make_trace, traced_and_killed, write_json

TASK_SECONDS = 0.25
tracer = trace.get_tracer("tests.reliability.workers.pool_job")


def task(label: str) -> Report:
    return make_trace(tracer, label, work_seconds=TASK_SECONDS)


def victim(label: str, path: str) -> None:
    traced_and_killed(label, path)


def gone(pid: int) -> bool:
    """The process has exited (reaped, or a zombie the pool has yet to reap)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spool-dir", required=True)
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--victim-at", type=int, default=3)
    parser.add_argument("--victim", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    provider = TracerProvider(resource=Resource.create({"service.name": "pool-job"}))
    provider.add_span_processor(BatchSpanProcessor(HoneyHiveSpanExporter(spool_dir=args.spool_dir)))
    trace.set_tracer_provider(provider)
    parent = make_trace(tracer, "parent")

    pool = multiprocessing.get_context("fork").Pool(processes=4, maxtasksperchild=1)
    pending: list[AsyncResult[Report]] = []
    for i in range(args.tasks):
        if i == args.victim_at:
            pool.apply_async(victim, ("victim", args.victim))  # its answer never comes: it is killed
        pending.append(pool.apply_async(task, (f"task-{i}",)))
    reports = [result.get(timeout=120) for result in pending]
    pool.close()
    # Each task's child exits after its task: wait for them all, so none is cut short by terminate() below,
    # which only ends the children spawned since (idle: the pool keeps replacing children while the victim's
    # task is outstanding, and a killed child's task never completes, so close() + join() alone would hang).
    deadline = time.monotonic() + 60
    while not all(gone(report["pid"]) for report in reports) and time.monotonic() < deadline:
        time.sleep(0.05)
    pool.terminate()
    pool.join()
    write_json(args.out, {"parent": parent, "tasks": reports, "children": len({r["pid"] for r in reports})})
    print(f"pool_job: {len(reports)} tasks done in {len({r['pid'] for r in reports})} children", flush=True)
    sys.stdin.read()  # alive, as a main process is, until the test closes our standard input
    provider.shutdown()
    print("pool_job: provider shut down", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
