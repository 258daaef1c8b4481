"""One bridge per process: the pipeline the span exporter built, which the log exporter feeds too.

GenAI log records join the events of the spans they name only when both reach the same pipeline. The SDK's
configurator builds the span exporter and the log exporter separately (traces first, but an application may
build them in any order), so they meet here: every `HoneyHiveSpanExporter` registers its pipeline, and a
`HoneyHiveLogExporter` uses the one registered (inputs/sdk_logs.py). Knowing that logs are expected, a pipeline
remembers the spans it ships, so a record that comes after its span still reaches the event; without a log
exporter nothing of this costs anything per span.
"""

from __future__ import annotations

import logging
import sys
import threading

from otel_honeyhive.pipeline.pipeline import Pipeline

logger = logging.getLogger("otel_honeyhive.exporter")

_lock = threading.Lock()
_pipeline: Pipeline | None = None
_logs_expected = False
_ever_registered = False


def register(pipeline: Pipeline) -> None:
    """A span exporter's pipeline: the one this process's log exporters feed from now on (the latest wins)."""
    global _pipeline, _ever_registered
    with _lock:
        _pipeline = pipeline
        _ever_registered = True
        if _logs_expected:
            pipeline.expect_records()


def unregister(pipeline: Pipeline) -> None:
    """The span exporter is shutting down: log exporters stop feeding its pipeline."""
    global _pipeline
    with _lock:
        if _pipeline is pipeline:
            _pipeline = None


def expect_logs() -> Pipeline | None:
    """A log exporter is attached in this process: the registered pipeline (and any registered later) remembers
    the spans it ships from now on. The registered pipeline, or None when there is none yet."""
    global _logs_expected
    with _lock:
        _logs_expected = True
        pipeline = _pipeline
    if pipeline is not None:
        pipeline.expect_records()
    return pipeline


def current() -> Pipeline | None:
    """The pipeline a log exporter feeds: the registered one, unless it is closed."""
    with _lock:
        pipeline = _pipeline
    return pipeline if pipeline is not None and not pipeline.closed else None


def ever_registered() -> bool:
    """Whether a span exporter was made in this process (a log exporter then never builds its own pipeline: once
    the span exporter has shut down, records have nowhere to go, as spans do not)."""
    with _lock:
        return _ever_registered


def logs_expected() -> bool:
    with _lock:
        return _logs_expected


def flush_logs(timeout: float) -> None:
    """Flush the SDK's global logger provider into the pipeline (before a span exporter closes it): records
    still queued in its `BatchLogRecordProcessor` join their spans instead of finding the pipeline closed.
    Nothing when no log exporter was made here, or the process has no SDK logger provider."""
    if not logs_expected():
        return
    api, sdk = sys.modules.get("opentelemetry._logs"), sys.modules.get("opentelemetry.sdk._logs")
    if api is None or sdk is None:
        return
    try:
        provider = api.get_logger_provider()
        if isinstance(provider, sdk.LoggerProvider):
            provider.force_flush(int(timeout * 1000))
    except Exception:
        logger.exception("otel-honeyhive: flushing the logger provider failed")


def _reset_for_tests() -> None:
    global _pipeline, _logs_expected, _ever_registered
    with _lock:
        _pipeline = None
        _logs_expected = _ever_registered = False


__all__ = ["current", "ever_registered", "expect_logs", "flush_logs", "logs_expected", "register", "unregister"]
