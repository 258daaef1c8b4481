"""`HoneyHiveSpanExporter`: the OpenTelemetry SDK as an input.

export() hands spans to the trace assembler; every trace whose local root has ended is mapped and delivered
before export() returns (so the BatchSpanProcessor's worker, not the application, carries the cost, and the
result it gets is meaningful). A background thread releases traces that outlive the hold time. Nothing here
raises into the application: failures are logged (never with the API key) and counted.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_honeyhive.config import DEFAULT_SERVER_URL, HoneyHiveSettings, spool_path
from otel_honeyhive.encoded import batch_of
from otel_honeyhive.events import Event
from otel_honeyhive.mapper.rules import Ruleset
from otel_honeyhive.mapper.trace import TraceMapper
from otel_honeyhive.outputs.base import Output, SendResult
from otel_honeyhive.shipping.delivery import Delivery
from otel_honeyhive.shipping.retry import RetryPolicy
from otel_honeyhive.spans.assembly import Trace, TraceAssembler
from otel_honeyhive.spans.view import SpanView, from_readable_span

logger = logging.getLogger("otel_honeyhive.exporter")

DEFAULT_SPOOL_MAX_BYTES = 1024 * 1024 * 1024


@dataclass
class ExporterStats:
    spans_received: int = 0
    spans_invalid: int = 0
    events_delivered: int = 0
    events_failed: int = 0
    export_errors: int = 0


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}: expected a number, got {raw!r}") from None


class HoneyHiveSpanExporter(SpanExporter):
    """Maps spans into HoneyHive events and ships them to `/events/batch`.

    Keywords fall back to `HH_*` environment variables (see the README's configuration table). `rules` adds
    routing rules or whole conventions (see `otel_honeyhive.mapper.rules`); `output` replaces the HoneyHive
    client with another `Output` (the local store, a test double)."""

    def __init__(
        self,
        api_key: str | None = None,
        server_url: str | None = None,
        project: str | None = None,
        source: str | None = None,
        *,
        timeout: float | None = None,
        compression: str | None = None,
        batch_mode: str | None = None,
        max_events_per_request: int | None = None,
        max_request_bytes: int | None = None,
        headers: dict[str, str] | None = None,
        verify: bool | str = True,
        spool_dir: str | os.PathLike[str] | None = None,
        spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES,
        hold_timeout: float | None = None,
        max_held_spans: int = 20_000,
        rules: Sequence[Any] = (),
        ruleset: Ruleset | None = None,
        retry_policy: RetryPolicy | None = None,
        output: Output | None = None,
    ) -> None:
        self.settings = HoneyHiveSettings.resolve(
            source_label="HoneyHiveSpanExporter",
            api_key=api_key,
            server_url=server_url,
            project=project,
            source=source,
            timeout=timeout,
            compression=compression,
            batch_mode=batch_mode,
            max_events_per_request=max_events_per_request,
            max_request_bytes=max_request_bytes,
            headers=headers,
            verify=verify,
        )
        if self.settings.api_key is None and self.settings.server_url == DEFAULT_SERVER_URL and output is None:
            logger.warning(
                "otel-honeyhive: no API key (api_key= or HH_API_KEY) for %s: HoneyHive will refuse the events; "
                "set HH_API_URL to a local `otel-honeyhive serve` to work offline",
                DEFAULT_SERVER_URL,
            )
        hold = hold_timeout if hold_timeout is not None else _env_float("HH_HOLD_TIMEOUT", 30.0)
        self._assembler = TraceAssembler(hold_seconds=hold, max_spans=max_held_spans)
        base = ruleset or Ruleset.default()
        self._mapper = TraceMapper(
            base.extend(*rules) if rules else base, project=self.settings.project, source=self.settings.source
        )
        policy = retry_policy or RetryPolicy(deadline=self.settings.timeout)
        if output is None:
            from otel_honeyhive.outputs.honeyhive import HoneyHiveOutput

            output = HoneyHiveOutput(self.settings, policy)
        self._output = output
        directory = spool_path(spool_dir)
        self._delivery = (
            Delivery.spooled(output, directory, policy, spool_max_bytes)
            if directory is not None
            else Delivery.direct(output, policy)
        )
        self.stats = ExporterStats()
        self._map_lock = threading.Lock()
        self._stop = threading.Event()
        self._shutdown = False
        self._reaper = threading.Thread(target=self._reap, name="otel-honeyhive-hold", daemon=True)
        self._reaper_interval = max(0.05, min(1.0, hold / 4)) if hold > 0 else 0.05
        self._reaper.start()

    def __repr__(self) -> str:
        return f"HoneyHiveSpanExporter({self.settings!r})"

    # -- SpanExporter -----------------------------------------------------------------------------------------

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        try:
            views = self._views(spans)
            return self._deliver(self._assembler.add(views))
        except Exception:  # export() must never raise into the application
            self.stats.export_errors += 1
            logger.exception("otel-honeyhive: export failed")
            return SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        try:
            delivered = self._deliver(self._assembler.drain()) is SpanExportResult.SUCCESS
            return self._delivery.flush(timeout_millis / 1000) and delivered
        except Exception:
            logger.exception("otel-honeyhive: force_flush failed")
            return False

    def shutdown(self) -> None:
        if self._shutdown:
            return
        self._shutdown = True
        self._stop.set()  # wakes the hold thread; interrupts a backoff in progress
        try:
            self._deliver(self._assembler.drain())
        except Exception:
            logger.exception("otel-honeyhive: shutdown flush failed")
        finally:
            self._delivery.close(self.settings.timeout)  # closes the output too
        self._reaper.join(timeout=1.0)

    # -- internals --------------------------------------------------------------------------------------------

    def _views(self, spans: Sequence[ReadableSpan]) -> list[SpanView]:
        views: list[SpanView] = []
        for span in spans:
            try:
                views.append(span if isinstance(span, SpanView) else from_readable_span(span))
            except Exception as exc:
                self.stats.spans_invalid += 1
                logger.warning("otel-honeyhive: skipped a span that cannot be mapped: %s", exc)
        self.stats.spans_received += len(views)
        return views

    def _map(self, traces: list[Trace]) -> Sequence[Event]:
        with self._map_lock:
            return batch_of((self._mapper.map_trace(t) for t in traces), encode=self._delivery.takes_encoded)

    def _deliver(self, traces: list[Trace]) -> SpanExportResult:
        if not traces:
            return SpanExportResult.SUCCESS
        events = self._map(traces)
        if not events:
            return SpanExportResult.SUCCESS
        result: SendResult = self._delivery.submit_events(events, stop=self._stop)
        if result.ok:
            self.stats.events_delivered += len(events)
            return SpanExportResult.SUCCESS
        self.stats.events_failed += len(events)
        logger.warning("otel-honeyhive: %d events not delivered: %s", len(events), result.detail)
        return SpanExportResult.FAILURE

    def _reap(self) -> None:
        while not self._stop.wait(self._reaper_interval):
            try:
                self._deliver(self._assembler.expired())
            except Exception:
                logger.exception("otel-honeyhive: releasing held traces failed")
