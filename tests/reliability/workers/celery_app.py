"""A Celery app run offline: kombu's filesystem transport as the broker (a directory, no server), no result
backend. The test starts a prefork worker on it (`celery -A tests.reliability.workers.celery_app worker`) and
publishes tasks with `make_app(...).send_task`.

Tracing follows Celery's advice for resources that must not cross a fork: each pool child sets up its own
tracer provider in `worker_process_init` (the README's snippet; the spool directory is `HH_SPOOL_DIR`, shared by
every child), as OpenTelemetry's Celery instrumentation shows it. With `WORKERS_CELERY_SHUTDOWN_HOOK=1` the
child also shuts its provider down in `worker_process_shutdown`; without it, what the child still holds when it
is recycled (it leaves by `os._exit`, no atexit handler runs, and billiard sends it SIGTERM once it reports its
exit) is the exporter's own exit hook's to save.

Tasks trace their work and never flush. Each writes its report (traces.Report) to `$WORKERS_REPORT_DIR`, as a
result backend would keep it. The `victim` task waits for the test's go (`victim.json.go`), traces, flushes (its
spans are then acknowledged: on disk in its process's spool), writes its report and pid, and waits to be killed.

Environment: WORKERS_BROKER_DIR (the broker's directory, with `queue/` and `processed/` made by the test),
WORKERS_REPORT_DIR, WORKERS_CELERY_SHUTDOWN_HOOK, and the HH_* settings.
"""

from __future__ import annotations

import faulthandler
import os
import signal
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_honeyhive import HoneyHiveSpanExporter
from tests.reliability.workers.traces import make_trace, traced_and_killed, write_json

TASK_SECONDS = 0.25
MAX_TASKS_PER_CHILD = 2
CONCURRENCY = 4


def make_app(broker_dir: str | os.PathLike[str]) -> Celery:
    """The app, its broker a directory (`queue/` for messages, `processed/`: they must exist; `control/` for
    the exchange tables, made by kombu, which would otherwise write them to the working directory), tasks
    acknowledged on receipt and fetched one at a time per child."""
    queue = Path(broker_dir) / "queue"
    processed = Path(broker_dir) / "processed"
    app = Celery("reliability_workers", broker="filesystem://", set_as_current=False)
    app.conf.update(
        broker_transport_options={"data_folder_in": str(queue), "data_folder_out": str(queue),
                                  "processed_folder": str(processed), "store_processed": False,
                                  "control_folder": str(Path(broker_dir) / "control"),
                                  "polling_interval": 0.1},
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_max_tasks_per_child=MAX_TASKS_PER_CHILD,
        worker_concurrency=CONCURRENCY,
        worker_hijack_root_logger=False,
    )
    return app


app = make_app(os.environ.get("WORKERS_BROKER_DIR", "."))
# Every thread's stack on SIGUSR2 (Celery leaves that signal alone), for a worker that does not stop in time.
faulthandler.register(signal.SIGUSR2, all_threads=True)
tracer = trace.get_tracer("tests.reliability.workers.celery_app")
_provider: TracerProvider | None = None


@worker_process_init.connect(weak=False)
def start_tracing(**_: Any) -> None:
    global _provider
    _provider = TracerProvider(resource=Resource.create({"service.name": "celery-worker"}))
    _provider.add_span_processor(BatchSpanProcessor(HoneyHiveSpanExporter()))
    trace.set_tracer_provider(_provider)


def stop_tracing(**_: Any) -> None:
    if _provider is not None:
        _provider.shutdown()


if os.environ.get("WORKERS_CELERY_SHUTDOWN_HOOK") == "1":
    worker_process_shutdown.connect(stop_tracing, weak=False)


def _report_path(label: str) -> Path:
    return Path(os.environ["WORKERS_REPORT_DIR"]) / f"{label}.json"


@app.task(name="reliability.job")
def job(label: str) -> None:
    report = make_trace(tracer, label, work_seconds=TASK_SECONDS)
    write_json(_report_path(label), report)


@app.task(name="reliability.victim")
def victim(label: str) -> None:
    traced_and_killed(label, _report_path(label))
