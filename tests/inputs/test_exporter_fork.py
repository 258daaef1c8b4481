"""HoneyHiveSpanExporter across processes: a real `os.fork` after spans are held in the parent, a script that exits
without `shutdown()`, and a `multiprocessing` pool whose workers are recycled after one task, all against the fake
HoneyHive over real HTTP. Every span made arrives once (duplicates only by deterministic id), and no process prints
a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.pipeline.pipeline import EXIT_SHIP_SECONDS
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.support.fake_honeyhive import FakeHoneyHive, Reply
from tests.support.forking import in_child
from tests.support.waiting import wait_until

FAST = RetryPolicy(deadline=3.0, initial_backoff=0.05, max_backoff=0.2)


def names(server: FakeHoneyHive) -> Counter[str]:
    return Counter(str(event["event_name"]) for event in server.events)


def run_script(tmp_path: Path, source: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(source))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=timeout,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.mark.parametrize("spooled", [False, True], ids=["direct", "spooled"])
def test_a_forked_child_ships_its_spans_and_the_parents_held_spans_ship_once_from_the_parent(
    honeyhive: FakeHoneyHive, tmp_path: Path, spooled: bool
) -> None:
    exporter = HoneyHiveSpanExporter(api_key="k", server_url=honeyhive.url, retry_policy=FAST, hold_timeout=60,
                                     spool_dir=tmp_path / "spool" if spooled else None)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.fork")
    with tracer.start_as_current_span("warm-up"):
        pass
    assert exporter.force_flush(5_000)  # shipped: the parent's keep-alive connection is in its pool now
    root = tracer.start_span("parent")
    for i in range(2):
        tracer.start_span(f"parent-step-{i}", context=trace.set_span_in_context(root)).end()
    assert exporter._pipeline.held_spans == 2
    parent_session = exporter._output._http.session  # type: ignore[attr-defined]

    def child() -> dict[str, Any]:
        with tracer.start_as_current_span("child"), tracer.start_as_current_span("child-step"):
            pass
        flushed = exporter.force_flush(5_000)
        stats = exporter.stats
        return {"flushed": flushed, "delivered": stats.events_delivered, "spooled": stats.spooled,
                "new_session": exporter._output._http.session is not parent_session}  # type: ignore[attr-defined]

    seen = in_child(child)
    assert seen == {"flushed": True, "delivered": 2, "spooled": spooled, "new_session": True}
    assert names(honeyhive) == {"warm-up": 1, "child": 1, "child-step": 1}, "the child shipped its trace only"
    root.end()
    exporter.shutdown()
    if spooled:  # shutdown leaves what is spooled on disk: the next exporter on the directory ships it
        later = HoneyHiveSpanExporter(api_key="k", server_url=honeyhive.url, retry_policy=FAST,
                                      spool_dir=tmp_path / "spool")
        assert later.force_flush(5_000)
        later.shutdown()
    assert names(honeyhive) == {"warm-up": 1, "child": 1, "child-step": 1, "parent": 1, "parent-step-0": 1,
                                "parent-step-1": 1}


def test_a_child_forked_while_the_exporter_is_busy_does_not_deadlock(honeyhive: FakeHoneyHive) -> None:
    exporter = HoneyHiveSpanExporter(api_key="k", server_url=honeyhive.url, retry_policy=FAST)
    pipeline = exporter._pipeline
    locks = [pipeline.assembler._lock, pipeline._map_lock, pipeline._stats_lock, pipeline.delivery._lock,
             exporter._output._acknowledged_lock]  # type: ignore[attr-defined]
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        for lock in locks:
            lock.acquire()
        holding.set()
        done.wait(10)
        for lock in reversed(locks):
            lock.release()

    threading.Thread(target=hold, daemon=True).start()
    assert holding.wait(5)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.fork")
    try:
        def child() -> dict[str, Any]:
            with tracer.start_as_current_span("in-child"):
                pass
            return {"flushed": exporter.force_flush(3_000), "delivered": exporter.stats.events_delivered}

        assert in_child(child, timeout=5.0) == {"flushed": True, "delivered": 1}
    finally:
        done.set()
    exporter.shutdown()
    assert names(honeyhive) == {"in-child": 1}


def test_a_forked_child_goes_on_with_its_parents_conversation_and_counts_its_own_turns(
    honeyhive: FakeHoneyHive,
) -> None:
    exporter = HoneyHiveSpanExporter(api_key="k", server_url=honeyhive.url, retry_policy=FAST,
                                     sessions="conversation")
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.fork")

    def turn(name: str) -> None:
        with tracer.start_as_current_span(name, attributes={"gen_ai.conversation.id": "chat-42"}):
            pass

    turn("turn 1")
    assert exporter.force_flush(5_000)
    parent = exporter.stats
    assert (parent.conversation_sessions_started, parent.conversation_turns) == (1, 1)

    def child() -> dict[str, Any]:
        turn("turn 2")
        flushed = exporter.force_flush(5_000)
        stats = exporter.stats
        return {"flushed": flushed, "started": stats.conversation_sessions_started,
                "turns": stats.conversation_turns}

    assert in_child(child) == {"flushed": True, "started": 0, "turns": 1}, "the parent started the session"
    exporter.shutdown()
    sessions = [e for e in honeyhive.events if e["event_type"] == "session"]
    assert len(sessions) == 1 and sessions[0]["event_name"] == "turn 1"
    updates = [r for r in honeyhive.requests if r.method == "PUT"]
    assert [r.body["event_id"] for r in updates] == [sessions[0]["event_id"]]
    assert names(honeyhive) == {"turn 1": 2, "turn 2": 1}  # the session event is named from turn 1


SCRIPT_HEADER = """\
    import json, sys
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from otel_honeyhive import HoneyHiveSpanExporter
    from otel_honeyhive.shipping.retry import RetryPolicy
"""


@pytest.mark.parametrize("spooled", [False, True], ids=["direct", "spooled"])
def test_a_script_exiting_without_shutdown_ships_the_spans_it_held(
    honeyhive: FakeHoneyHive, tmp_path: Path, spooled: bool
) -> None:
    spool = str(tmp_path / "spool") if spooled else None
    run_script(tmp_path, SCRIPT_HEADER + f"""\
    exporter = HoneyHiveSpanExporter(api_key="k", server_url={honeyhive.url!r}, hold_timeout=60,
                                     spool_dir={spool!r}, retry_policy=RetryPolicy(deadline=3.0))
    provider = TracerProvider(shutdown_on_exit=False)  # nobody calls shutdown(): only the exit hook can help
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("script")
    root = tracer.start_span("never-ends")
    for i in range(3):
        tracer.start_span(f"step-{{i}}", context=trace.set_span_in_context(root)).end()
    assert exporter.stats.events_delivered == 0, "held, waiting for a root that never ends"
    """)
    if spooled:  # spooled at exit: on disk for whoever uses the directory next
        later = HoneyHiveSpanExporter(api_key="k", server_url=honeyhive.url, retry_policy=FAST, spool_dir=spool)
        assert later.force_flush(5_000)
        later.shutdown()
    assert names(honeyhive) == {"step-0": 1, "step-1": 1, "step-2": 1}


@pytest.mark.parametrize("exporter_first", [True, False], ids=["exporter-first", "provider-first"])
def test_a_script_with_a_spool_sends_its_last_spans_before_it_exits(
    honeyhive: FakeHoneyHive, tmp_path: Path, exporter_first: bool
) -> None:
    """Whichever exit hook runs first, the provider's `shutdown()` or the pipeline's own, the spooled spans are
    sent before the process is gone, not left for the next run (a cron job's next run may be a day later)."""
    spool = tmp_path / "spool"
    make_exporter = f"""exporter = HoneyHiveSpanExporter(api_key="k", server_url={honeyhive.url!r}, hold_timeout=60,
                                     spool_dir={str(spool)!r}, retry_policy=RetryPolicy(deadline=3.0))"""
    make_provider = "provider = TracerProvider()  # shut down at exit by the SDK's own atexit hook"
    first, second = (make_exporter, make_provider) if exporter_first else (make_provider, make_exporter)
    run_script(tmp_path, SCRIPT_HEADER + textwrap.indent(f"""{first}
{second}
provider.add_span_processor(BatchSpanProcessor(exporter))
tracer = provider.get_tracer("script")
with tracer.start_as_current_span("job"):
    tracer.start_span("step").end()
root = tracer.start_span("never-ends")
tracer.start_span("held", context=trace.set_span_in_context(root)).end()
""", "    "))
    assert names(honeyhive) == {"job": 1, "step": 1, "held": 1}
    assert not list(spool.rglob("*.rec")), "nothing left on disk for the next run"


@pytest.mark.slow  # waits out the 2 s an exit gives the spool
def test_a_script_exiting_during_an_outage_waits_for_its_spool_once_not_once_per_exit_hook(
    honeyhive: FakeHoneyHive, tmp_path: Path
) -> None:
    """Without `shutdown()`, the pipeline's exit hook hands on what is held and gives the spool its 2 s; the SDK's
    own exit hook then shuts the exporter down, which must not wait 2 s more for a HoneyHive that is down (a pool
    of workers recycled together stalls its clients for the sum)."""
    honeyhive.default = Reply(503)
    spool = tmp_path / "spool"
    done = run_script(tmp_path, SCRIPT_HEADER + f"""\
    import atexit, time
    ended = []
    atexit.register(lambda: print(f"exit hooks took {{time.monotonic() - ended[0]:.2f}}s"))  # first in: runs last
    provider = TracerProvider()  # shut down at exit by the SDK's own atexit hook
    exporter = HoneyHiveSpanExporter(api_key="k", server_url={honeyhive.url!r}, spool_dir={str(spool)!r},
                                     timeout=10)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    with trace.get_tracer("script").start_as_current_span("job"):
        pass
    ended.append(time.monotonic())
    """)
    took = float(done.stdout.split("exit hooks took ")[1].split("s")[0])
    assert EXIT_SHIP_SECONDS <= took < EXIT_SHIP_SECONDS + 1.0, done.stdout
    assert list(spool.rglob("*.rec")), "kept on disk for a later process"
    assert honeyhive.requests, "tried before exiting"


def test_a_multiprocessing_pool_recycling_its_workers_loses_no_span(honeyhive: FakeHoneyHive, tmp_path: Path) -> None:
    """The workers leave by `os._exit` after one task each: neither the SDK's batch queue nor the held spans would
    be flushed by anything but the exit hook multiprocessing runs."""
    done = run_script(tmp_path, SCRIPT_HEADER + f"""\
    import multiprocessing

    exporter = HoneyHiveSpanExporter(api_key="k", server_url={honeyhive.url!r}, hold_timeout=60,
                                     retry_policy=RetryPolicy(deadline=3.0))
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
    trace.set_tracer_provider(provider)

    def task(n):
        tracer = trace.get_tracer("task")
        with tracer.start_as_current_span(f"task-{{n}}"):
            for i in range(2):
                with tracer.start_as_current_span(f"task-{{n}}-step-{{i}}"):
                    pass
        root = tracer.start_span(f"open-{{n}}")  # never ends: its child is held at exit
        tracer.start_span(f"open-{{n}}-step", context=trace.set_span_in_context(root)).end()
        return multiprocessing.current_process().pid

    if __name__ == "__main__":
        pool = multiprocessing.get_context("fork").Pool(2, maxtasksperchild=1)
        pids = pool.map(task, range(6), chunksize=1)
        pool.close()
        pool.join()
        print(json.dumps(pids))
    """)
    assert len(set(json.loads(done.stdout))) == 6, "every task ran in a worker of its own"
    expected = Counter({f"task-{n}": 1 for n in range(6)})
    expected.update({f"task-{n}-step-{i}": 1 for n in range(6) for i in range(2)})
    expected.update({f"open-{n}-step": 1 for n in range(6)})
    wait_until(lambda: names(honeyhive) == expected, 5.0, explain="every span of every worker",
               diagnose=lambda: f"got {sorted(names(honeyhive).items())}")


def test_an_exporter_made_in_each_worker_ships_everything_when_the_worker_is_recycled(
    honeyhive: FakeHoneyHive, tmp_path: Path
) -> None:
    """The other way to set up a pool: the tracer provider and exporter made by the pool's initializer, in the
    worker, after the fork."""
    run_script(tmp_path, SCRIPT_HEADER + f"""\
    import multiprocessing

    def setup():
        exporter = HoneyHiveSpanExporter(api_key="k", server_url={honeyhive.url!r}, hold_timeout=60,
                                         retry_policy=RetryPolicy(deadline=3.0))
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
        trace.set_tracer_provider(provider)

    def task(n):
        tracer = trace.get_tracer("task")
        with tracer.start_as_current_span(f"task-{{n}}"):
            pass
        root = tracer.start_span(f"open-{{n}}")
        tracer.start_span(f"open-{{n}}-step", context=trace.set_span_in_context(root)).end()

    if __name__ == "__main__":
        pool = multiprocessing.get_context("fork").Pool(2, initializer=setup, maxtasksperchild=1)
        pool.map(task, range(4), chunksize=1)
        pool.close()
        pool.join()
    """)
    expected = Counter({f"task-{n}": 1 for n in range(4)})
    expected.update({f"open-{n}-step": 1 for n in range(4)})
    wait_until(lambda: names(honeyhive) == expected, 5.0, explain="every span of every worker",
               diagnose=lambda: f"got {sorted(names(honeyhive).items())}")


CELERY_APP = """\
    import os
    from celery import Celery
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from otel_honeyhive import HoneyHiveSpanExporter

    broker = {broker!r}
    app = Celery("fork_tests", broker="filesystem://", set_as_current=False)
    app.conf.update(
        broker_transport_options={{"data_folder_in": broker, "data_folder_out": broker, "polling_interval": 0.05}},
        task_ignore_result=True, worker_prefetch_multiplier=1, worker_max_tasks_per_child=1, worker_concurrency=2,
        worker_hijack_root_logger=False, broker_connection_retry_on_startup=True,
    )
    if os.environ.get("IN_WORKER") == "1":  # made in the worker's main process, before the pool forks
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(HoneyHiveSpanExporter(hold_timeout=60),
                                                       schedule_delay_millis=60_000))
        trace.set_tracer_provider(provider)

    @app.task(name="work")
    def work(n):
        tracer = trace.get_tracer("task")
        with tracer.start_as_current_span(f"task-{{n}}"):
            pass
        root = tracer.start_span(f"open-{{n}}")
        tracer.start_span(f"open-{{n}}-step", context=trace.set_span_in_context(root)).end()
"""


@pytest.mark.slow
def test_celery_prefork_children_recycled_after_each_task_lose_no_span(
    honeyhive: FakeHoneyHive, tmp_path: Path
) -> None:
    """The children leave by `os._exit` from inside billiard's worker loop: only `worker_process_shutdown` runs."""
    pytest.importorskip("celery")
    broker = tmp_path / "broker"
    broker.mkdir()
    (tmp_path / "fork_tests_app.py").write_text(textwrap.dedent(CELERY_APP.format(broker=str(broker))))
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "HH_API_KEY": "k", "HH_API_URL": honeyhive.url}
    publish = "from fork_tests_app import app\nfor n in range(4):\n    app.send_task('work', args=[n])\n"
    subprocess.run([sys.executable, "-c", publish], env=env, cwd=tmp_path, check=True, timeout=60)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "fork_tests_app", "worker", "--pool", "prefork", "-l", "warning"],
        env={**env, "IN_WORKER": "1"}, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    expected = Counter({f"task-{n}": 1 for n in range(4)})
    expected.update({f"open-{n}-step": 1 for n in range(4)})
    try:
        wait_until(lambda: names(honeyhive) == expected, 30.0, explain="every span of every recycled child",
                   diagnose=lambda: f"got {sorted(names(honeyhive).items())}")
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert "Traceback" not in output, output
