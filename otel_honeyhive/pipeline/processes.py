"""The process hooks every live pipeline needs, registered once per process: after a fork, in the child; at an
exit without `close()`, whether by the interpreter's exit (atexit) or by `os._exit` after a `multiprocessing` or
Celery prefork child's work (docs/delivery.md#forks-and-exits).

Pipelines are known here weakly, through the few methods the hooks call (`Tracked`), so this module knows nothing
of assembly, mapping or delivery. At exit, the SDK's global logger and tracer providers are flushed first: their
batch queues would otherwise die with the process, unexported, instead of reaching the pipelines.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import weakref
from typing import Protocol

from otel_honeyhive.shipping.journal import Journal

logger = logging.getLogger("otel_honeyhive.pipeline")


class Tracked(Protocol):
    """What the hooks need of a pipeline (`pipeline.Pipeline`)."""

    exit_timeout: float
    journal: Journal | None

    @property
    def closed(self) -> bool: ...

    def after_fork_in_child(self) -> None: ...

    def drain_at_exit(self) -> None: ...


class _Hooks:
    """What multiprocessing's after-fork registry refers to (weakly: this module keeps it alive)."""


_live: weakref.WeakSet[Tracked] = weakref.WeakSet()
_hooks_lock = threading.Lock()
_hooks = _Hooks()
_hooked: set[str] = set()
"""What is registered once, for this process and its children: "process" (atexit, os.register_at_fork),
"multiprocessing", "celery"."""
_EXIT_PRIORITY = 100
"""A multiprocessing finalizer's priority: run before those of lower priority (queues, pools) are."""


def track(pipeline: Tracked) -> None:
    with _hooks_lock:
        _live.add(pipeline)
        if "process" in _hooked:
            return
        _hooked.add("process")
    atexit.register(_at_exit)
    if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
        os.register_at_fork(before=_hook_workers, after_in_child=_after_fork_in_child)
    _hook_workers()


def _hook_workers() -> None:
    """When the first pipeline is made, and in the parent before every fork: when multiprocessing (or billiard,
    which shares its registries) or Celery is in use, make their children run `_at_exit`: they leave by
    `os._exit`, so atexit does not run there. Looked up in `sys.modules`, never imported: a process that forks
    through them has imported them. A pipeline made in such a child (a pool's initializer) hooks that child."""
    try:
        if "multiprocessing" not in _hooked and (util := sys.modules.get("multiprocessing.util")) is not None:
            _hooked.add("multiprocessing")
            util.register_after_fork(_hooks, _in_multiprocessing_child)
            if sys.modules["multiprocessing.process"].parent_process() is not None:
                _in_multiprocessing_child(_hooks)
        if "celery" not in _hooked and (signals := sys.modules.get("celery.signals")) is not None:
            _hooked.add("celery")
            signals.worker_process_shutdown.connect(_at_celery_child_exit, weak=False)
    except Exception:
        logger.exception("otel-honeyhive: cannot register the exit hook for worker processes")


def _after_fork_in_child() -> None:
    global _hooks_lock
    _hooks_lock = threading.Lock()
    for pipeline in list(_live):
        try:
            pipeline.after_fork_in_child()
        except Exception:
            logger.exception("otel-honeyhive: making the pipeline usable after fork failed")


def _in_multiprocessing_child(_: object) -> None:
    """Run by multiprocessing in a child it forked, after it cleared the parent's finalizers: run `_at_exit` when
    the child's `run()` returns (its `util._exit_function` runs finalizers; then it leaves by `os._exit`)."""
    util = sys.modules["multiprocessing.util"]
    util.Finalize(None, _at_exit, exitpriority=_EXIT_PRIORITY)


def _at_celery_child_exit(**_: object) -> None:
    """Celery's `worker_process_shutdown`: a prefork child about to leave by `os._exit`."""
    _at_exit()


def _at_exit() -> None:
    """Hand on what live pipelines hold, after flushing the SDK's global tracer provider (whose batch queue
    would otherwise die with the process, unexported) into them; bounded by their `exit_timeout`."""
    pipelines = [pipeline for pipeline in list(_live) if not pipeline.closed and pipeline.journal is None]
    if not pipelines:
        return
    timeout = max(pipeline.exit_timeout for pipeline in pipelines)
    try:
        _flush_sdk_logger_provider(timeout)  # first: its records wait for spans the tracer provider still has
    except Exception:
        logger.exception("otel-honeyhive: flushing the logger provider at exit failed")
    try:
        _flush_sdk_provider(timeout)
    except Exception:
        logger.exception("otel-honeyhive: flushing the tracer provider at exit failed")
    for pipeline in pipelines:
        try:
            pipeline.drain_at_exit()
        except Exception:
            logger.exception("otel-honeyhive: handing on held spans at exit failed")


def _flush_sdk_provider(timeout: float) -> None:
    api, sdk = sys.modules.get("opentelemetry.trace"), sys.modules.get("opentelemetry.sdk.trace")
    if api is None or sdk is None:
        return  # no SDK provider in this process
    provider = api.get_tracer_provider()
    if isinstance(provider, sdk.TracerProvider):
        provider.force_flush(int(timeout * 1000))


def _flush_sdk_logger_provider(timeout: float) -> None:
    """Flush the SDK's global logger provider (a `HoneyHiveLogExporter` behind it hands its records to a
    pipeline); nothing when this process has none, or has not imported the SDK's logs."""
    api, sdk = sys.modules.get("opentelemetry._logs"), sys.modules.get("opentelemetry.sdk._logs")
    if api is None or sdk is None:
        return
    provider = api.get_logger_provider()
    if isinstance(provider, sdk.LoggerProvider):
        provider.force_flush(int(timeout * 1000))


__all__ = ["Tracked", "track"]
