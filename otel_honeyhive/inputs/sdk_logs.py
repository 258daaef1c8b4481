"""`HoneyHiveLogExporter`: the OpenTelemetry SDK's log records as an input, feeding the span exporter's pipeline.

GenAI instrumentations can put prompts and completions only in log records (the `gen_ai.client.inference.
operation.details` record and its kin), emitted with the model call's span ids. Given to the same pipeline as
that span, such a record joins the span's event (docs/mapping.md#genai-content-in-log-records); ordinary logs
are counted and nothing else. One bridge per process: the pipeline is the one the process's
`HoneyHiveSpanExporter` registered (inputs/bridge.py), whichever of the two was built first; with no span exporter
when the first GenAI record comes, the log exporter builds one from the same keywords and `HH_*` settings and uses
its pipeline, until the application makes a span exporter of its own (then that one's). export() never raises.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
else:
    try:
        from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
    except ImportError:  # SDKs before 1.39 name them LogExporter / LogExportResult (and export `LogData`)
        from opentelemetry.sdk._logs.export import LogExporter as LogRecordExporter
        from opentelemetry.sdk._logs.export import LogExportResult as LogRecordExportResult

from otel_honeyhive.core.log_records import LogRecordView, event_name_of
from otel_honeyhive.core.spans import attribute_dict
from otel_honeyhive.inputs import bridge
from otel_honeyhive.inputs.sdk import AutoConfiguredSpanExporter, HoneyHiveSpanExporter
from otel_honeyhive.mapper.log_records import kind_of
from otel_honeyhive.pipeline.pipeline import Pipeline

logger = logging.getLogger("otel_honeyhive.exporter")

RECORDS_INVALID = "otel_honeyhive_exporter_log_records_invalid"
LOG_EXPORT_ERRORS = "otel_honeyhive_exporter_log_export_errors"


def _number(value: Any) -> int:
    """A severity number: the SDK's `SeverityNumber` enum, or a plain int."""
    raw = getattr(value, "value", value)
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else 0


def _plain(value: Any) -> Any:
    """The SDK keeps sequences as tuples (and maps as its own mappings); the OTLP inputs give lists and dicts."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _plain_attributes(attributes: Any) -> dict[str, Any]:
    if not attributes:
        return {}
    return {key: _plain(value) if isinstance(value, (list, tuple, Mapping)) else value
            for key, value in attribute_dict(attributes).items()}


def _sampled(record: Any) -> bool:
    """The sampled bit of the record's trace flags; True when it names no span or has no flags."""
    flags = getattr(record, "trace_flags", None)
    if flags is None or not record.span_id:
        return True
    return bool(int(flags) & 0x01)


def from_sdk_record(item: Any) -> LogRecordView:
    """An SDK log record as a `LogRecordView`: `ReadableLogRecord` (SDK 1.39+: `log_record`, `resource`,
    `instrumentation_scope`) or the older `LogData` (`log_record` carrying its own `resource`)."""
    record = getattr(item, "log_record", item)
    attributes = _plain_attributes(record.attributes)
    resource = getattr(item, "resource", None) or getattr(record, "resource", None)
    scope = getattr(item, "instrumentation_scope", None)
    return LogRecordView(
        trace_id=record.trace_id or 0,
        span_id=record.span_id or 0,
        event_name=event_name_of(getattr(record, "event_name", None), attributes),
        time_ns=record.timestamp or record.observed_timestamp or 0,
        body=_plain(record.body),
        attributes=attributes,
        severity_number=_number(record.severity_number),
        severity_text=record.severity_text or None,
        resource=attribute_dict(resource.attributes) if resource is not None else {},
        scope_name=scope.name if scope is not None else None,
        sampled=_sampled(record),
    )


class HoneyHiveLogExporter(LogRecordExporter):
    """A `LogRecordExporter` for the SDK's `BatchLogRecordProcessor`: hands the records to the pipeline of this
    process's `HoneyHiveSpanExporter` (or of `span_exporter`, when given), where GenAI records join their spans.

    The keywords are `HoneyHiveSpanExporter`'s; they are used only when no span exporter exists at the first
    export, to build one (its pipeline then serves both; it is shut down with this exporter)."""

    def __init__(self, span_exporter: HoneyHiveSpanExporter | None = None, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._lock = threading.Lock()
        self._fixed: Pipeline | None = None
        self._own: HoneyHiveSpanExporter | None = None
        self._build_failed = False
        self._shutdown = False
        self._said_closed = False
        if span_exporter is not None:
            self._fixed = span_exporter.pipeline
            self._fixed.expect_records()
        bridge.expect_logs()

    def __repr__(self) -> str:
        return "HoneyHiveLogExporter()"

    # -- LogRecordExporter ------------------------------------------------------------------------------------

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        if self._shutdown:
            return LogRecordExportResult.FAILURE
        try:
            views, unreadable = self._views(batch)
            pipeline = self._pipeline(needed=any(kind_of(view) is not None for view in views))
            if pipeline is None:
                if self._build_failed:
                    return LogRecordExportResult.FAILURE  # said once, when the build failed
                if self._fixed is None and not bridge.ever_registered():
                    return LogRecordExportResult.SUCCESS  # ordinary logs, before any bridge exists: nothing to do
                if any(kind_of(view) is not None and view.names_a_span for view in views):
                    self._say_closed()
                return LogRecordExportResult.FAILURE  # the span exporter has shut down: nowhere to go
            if unreadable:
                pipeline.counters.add(RECORDS_INVALID, unreadable)
            result = pipeline.accept_records(views)
        except Exception:  # export() must never raise into the application
            logger.exception("otel-honeyhive: log export failed")
            return LogRecordExportResult.FAILURE
        return LogRecordExportResult.SUCCESS if result.ok else LogRecordExportResult.FAILURE

    def _say_closed(self) -> None:
        """GenAI records came after the span exporter shut down: said once (they cannot join anything now)."""
        if self._said_closed:
            return
        self._said_closed = True
        logger.warning("otel-honeyhive: GenAI log records came after the span exporter shut down and were not "
                       "exported; shut the LoggerProvider down before the TracerProvider")

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Records are handed on as they are exported; what is left is the delivery's to finish."""
        pipeline = self._fixed or bridge.current()
        try:
            return pipeline is None or pipeline.delivery.flush(timeout_millis / 1000)
        except Exception:
            logger.exception("otel-honeyhive: log force_flush failed")
            return False

    def shutdown(self) -> None:
        """Stop taking records. The span exporter's pipeline is its to close; one built here is closed here."""
        if self._shutdown:
            return
        self._shutdown = True
        own, self._own = self._own, None
        if own is not None:
            own.shutdown()

    # -- internals --------------------------------------------------------------------------------------------

    def _pipeline(self, *, needed: bool) -> Pipeline | None:
        """The pipeline to hand records to. One of our own is built only when `needed` (GenAI records came and
        no span exporter exists: plain logs before tracing is set up build nothing), and given up for the
        application's span exporter as soon as it registers one."""
        if self._fixed is not None:
            return None if self._fixed.closed else self._fixed
        replaced: HoneyHiveSpanExporter | None = None
        with self._lock:
            pipeline = bridge.current()
            own = self._own
            if own is not None and (pipeline is None or pipeline is own.pipeline):
                return None if own.pipeline.closed else own.pipeline
            if own is not None:  # the application made its span exporter after all: one bridge, its
                replaced, self._own = own, None
            elif pipeline is None and needed and not (
                    bridge.ever_registered() or self._shutdown or self._build_failed):
                self._own = self._build()
                self._build_failed = self._own is None  # said once; the records are refused from now on
                pipeline = self._own.pipeline if self._own is not None else None
        if replaced is not None:
            replaced.shutdown()
        return pipeline  # None: the span exporter has shut down (the process is ending), or nothing is needed

    def _build(self) -> HoneyHiveSpanExporter | None:
        """No span exporter in this process yet: one from the same settings, whose pipeline both use."""
        try:
            exporter = HoneyHiveSpanExporter(**self._kwargs)
        except Exception as exc:
            logger.error("otel-honeyhive: %s; log records are not exported until that is fixed", exc)
            return None
        exporter.pipeline.expect_records()
        return exporter

    @staticmethod
    def _views(batch: Sequence[Any]) -> tuple[list[LogRecordView], int]:
        """The records as views, and how many could not be read (each said by its exception's type only: the
        message may quote a value masking would have hidden)."""
        views: list[LogRecordView] = []
        unreadable = 0
        for item in batch:
            try:
                views.append(from_sdk_record(item))
            except Exception as exc:
                unreadable += 1
                logger.warning("otel-honeyhive: skipped a log record that cannot be read: %s", type(exc).__name__)
        return views, unreadable


class AutoConfiguredLogExporter(HoneyHiveLogExporter):
    """What `OTEL_LOGS_EXPORTER=honeyhive` builds (the `opentelemetry_logs_exporter` entry point): the span
    exporter's pipeline, else one configured from the `HH_*` environment alone, built as
    `OTEL_TRACES_EXPORTER=honeyhive` builds its own (a bad variable is one error line, never a traceback)."""

    def _build(self) -> HoneyHiveSpanExporter | None:
        exporter = AutoConfiguredSpanExporter(**self._kwargs)
        if exporter.off:
            return None
        exporter.pipeline.expect_records()
        return exporter


__all__ = ["AutoConfiguredLogExporter", "HoneyHiveLogExporter", "from_sdk_record"]
