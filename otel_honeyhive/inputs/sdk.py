"""`HoneyHiveSpanExporter`: the OpenTelemetry SDK as an input, a thin `SpanExporter` shell over the pipeline.

export() hands spans to the pipeline, which maps and delivers every trace whose local root has ended before
export() returns (so the BatchSpanProcessor's worker, not the application, carries the cost, and the result it
gets is meaningful); the pipeline's own thread releases traces that outlive the hold time. Nothing here raises
into the application: failures are logged (never with the API key) and counted. A spool directory that cannot
be used is one error line, and the exporter ships directly (docs/delivery.md#forks-and-exits covers forks,
workers and exits).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_honeyhive._version import VERSION, compiled
from otel_honeyhive.core import environment as env_names
from otel_honeyhive.core.counters import SPANS_DROPPED, SPANS_FILTERED
from otel_honeyhive.core.environment import checked_number, env_value, spool_path
from otel_honeyhive.core.protocols import Output
from otel_honeyhive.core.redactors import Redactor, parse_names, resolve
from otel_honeyhive.core.routing import RoutingTable
from otel_honeyhive.core.spans import SpanView, from_readable_span
from otel_honeyhive.inputs import bridge
from otel_honeyhive.mapper.conversations import check_sessions_mode
from otel_honeyhive.mapper.filtering import SpanFilter, SpanPredicate, split_list
from otel_honeyhive.mapper.ruleset import Ruleset
from otel_honeyhive.outputs.honeyhive.settings import DEFAULT_SERVER_URL, HoneyHiveSettings
from otel_honeyhive.pipeline import PipelineSettings, build_pipeline
from otel_honeyhive.pipeline.masking import Mask
from otel_honeyhive.pipeline.pipeline import EXIT_SHIP_SECONDS, Pipeline
from otel_honeyhive.shipping.locking import LockingUnavailable
from otel_honeyhive.shipping.retry import RetryPolicy
from otel_honeyhive.shipping.spool import DEFAULT_MAX_BYTES, SpoolError, fix_for

logger = logging.getLogger("otel_honeyhive.exporter")

DEFAULT_HOLD_SECONDS = 30.0
DEFAULT_MAX_HELD_SPANS = 20_000
LOGS_FLUSH_SECONDS = 1.0
"""How long an export that completes traces waits for the SDK's logger provider to hand on the GenAI records it
still queues (a `BatchLogRecordProcessor` exports every second by default)."""
SPANS_INVALID = "otel_honeyhive_exporter_spans_invalid"
EXPORT_ERRORS = "otel_honeyhive_exporter_export_errors"
"""Counted in the pipeline's counters, which start from zero in a forked child like every other figure."""


@dataclass(frozen=True)
class ExporterStats:
    """Counts since the exporter was made, or, in a forked child, since the fork."""

    spans_received: int = 0
    spans_invalid: int = 0
    events_delivered: int = 0
    events_failed: int = 0
    export_errors: int = 0
    spooled: bool = False
    """Whether batches go through a spool now (False when `spool_dir` was given but cannot be used)."""
    spool_fallbacks: int = 0
    """Batches the spool could not take (unusable, full) that were sent directly instead."""
    spool_error: str | None = None
    """Why the spool asked for is not in use."""
    spans_filtered: int = 0
    """Spans the span filter dropped (`span_filter`, `drop_scopes`, `drop_spans`); their children were
    re-attached to the nearest kept ancestor."""
    spans_unrouted: int = 0
    """Spans of traces the routing table (`routes=`) refused: no rule matched and `unrouted` is "refuse"."""
    conversation_sessions_started: int = 0
    """Conversations whose session event this process made (`sessions="conversation"`); a conversation a forked
    child goes on with was started by its parent, and counts there."""
    conversation_turns: int = 0
    """Traces mapped into a conversation's session (`sessions="conversation"`; a retried hand-off counts
    again)."""


def _report_unusable_spool(directory: Path, exc: SpoolError) -> None:
    """One line: the directory, the OS error and the path it is about (`DIR/outbox` may be what is wrong, not
    `DIR`), and the fix."""
    cause = exc.__cause__
    why = str(exc)
    if isinstance(cause, OSError) and cause.strerror:
        why = f"[Errno {cause.errno}] {cause.strerror}"
        if cause.filename is not None and Path(os.fsdecode(cause.filename)) != directory:
            why += f": {os.fsdecode(cause.filename)}"
    if isinstance(cause, LockingUnavailable):
        fix = "no directory can help on this platform: leave HH_SPOOL_DIR / spool_dir= unset"
    elif isinstance(cause, OSError) and cause.errno in _NO_LOCKS:
        fix = "set HH_SPOOL_DIR / spool_dir= to a directory on a local file system, which has file locks"
    else:
        seen = fix_for(cause, directory) if isinstance(cause, OSError) else None
        fix = f"{seen}; or set HH_SPOOL_DIR / spool_dir= to another directory" if seen else (
            "set HH_SPOOL_DIR / spool_dir= to a writable directory")
    logger.error("otel-honeyhive: cannot use spool directory %s: %s; shipping directly without a spool (%s)",
                 directory, why, fix)


_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})
"""What a file system without working locks (some network file systems) answers `flock` with."""


def _redactors(redact: Sequence[str | re.Pattern[str] | Redactor] | None) -> tuple[Redactor, ...]:
    """`redact=` when given (even empty: masking off), else `HH_REDACT`; ValueError names the one at fault."""
    if redact is not None:
        if isinstance(redact, str):
            redact = parse_names(redact)
        return resolve(redact)
    raw = env_names.env_value(env_names.HH_REDACT)
    if raw is None:
        return ()
    try:
        return resolve(parse_names(raw))
    except ValueError as exc:
        raise ValueError(f"environment variable {env_names.HH_REDACT}: {exc}") from None


def _sessions(sessions: str | None) -> str:
    """The keyword when given, else `HH_SESSIONS`, else "trace"; ValueError naming the valid modes."""
    from_env = sessions is None
    chosen = env_names.env_value(env_names.HH_SESSIONS) if from_env else sessions
    try:
        return check_sessions_mode(chosen or "trace")
    except ValueError as exc:
        raise ValueError(f"environment variable {env_names.HH_SESSIONS}: {exc}" if from_env else str(exc)) from None


def _span_filter(span_filter: SpanPredicate | str | Sequence[str] | None, drop_scopes: Sequence[str] | None,
                 drop_spans: Sequence[str] | None) -> SpanFilter | None:
    """The keywords when given (an empty list turns that part off), else `HH_SPAN_FILTER`, `HH_DROP_SCOPES`,
    `HH_DROP_SPANS`; None when nothing is asked (filtering off costs nothing). ValueError names an unknown preset
    and lists the valid ones."""
    from_env = span_filter is None
    return SpanFilter.build(
        env_names.env_value(env_names.HH_SPAN_FILTER) if from_env else span_filter,
        drop_scopes if drop_scopes is not None else split_list(env_names.env_value(env_names.HH_DROP_SCOPES)),
        drop_spans if drop_spans is not None else split_list(env_names.env_value(env_names.HH_DROP_SPANS)),
        option=f"environment variable {env_names.HH_SPAN_FILTER}" if from_env else "span_filter",
    )


class HoneyHiveSpanExporter(SpanExporter):
    """Maps spans into HoneyHive events and ships them to `/v1/events/batch` or the legacy `/events/batch`
    (`api_version`: "auto", the default, "v1" or "legacy"; else `HH_API_VERSION`; docs/honeyhive-api.md).

    Keywords fall back to `HH_*` environment variables (see the README's configuration table). `rules` adds
    routing rules or whole conventions (see `otel_honeyhive.mapper.rules`); `output` replaces the HoneyHive
    client with another `Output` (the local store, a test double). `redact` (built-in redactor names, `all`,
    compiled patterns; else `HH_REDACT`) and `mask` (a function from a string value to the string to ship) mask
    every string value before anything is written or sent (docs/privacy.md). `span_filter` (a predicate over the
    `SpanView`, True keeps; or the preset `"genai"`; else `HH_SPAN_FILTER`), `drop_scopes` and `drop_spans`
    (instrumentation scope or span names, globs allowed: a list, or one comma-separated string; else
    `HH_DROP_SCOPES`, `HH_DROP_SPANS`) drop spans, their children re-attached to the nearest kept ancestor
    (docs/identity-and-assembly.md#span-filtering). `routes`
    (a routing table, as `serve --config`'s `[routing]`: a mapping or a `RoutingTable`) sends each trace to the
    project its attributes choose, each project's events with its own key (docs/routing.md). `sessions`
    ("trace", the default, or "conversation"; else `HH_SESSIONS`): with "conversation", the traces carrying the
    same conversation id (`session.id`, `gen_ai.conversation.id` …) form one session
    (docs/identity-and-assembly.md#conversations)."""

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
        api_version: str | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
        spool_max_bytes: int = DEFAULT_MAX_BYTES,
        hold_timeout: float | None = None,
        max_held_spans: int = DEFAULT_MAX_HELD_SPANS,
        rules: Sequence[Any] = (),
        ruleset: Ruleset | None = None,
        retry_policy: RetryPolicy | None = None,
        output: Output | None = None,
        mask: Mask | None = None,
        redact: Sequence[str | re.Pattern[str] | Redactor] | None = None,
        span_filter: SpanPredicate | str | Sequence[str] | None = None,
        drop_scopes: Sequence[str] | None = None,
        drop_spans: Sequence[str] | None = None,
        routes: RoutingTable | Mapping[str, Any] | None = None,
        sessions: str | None = None,
    ) -> None:
        sessions_mode = _sessions(sessions)  # a bad mode fails before any I/O
        span_filters = _span_filter(span_filter, drop_scopes, drop_spans)  # a bad preset fails before any I/O
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
            api_version=api_version,
        )
        if (self.settings.api_key is None and self.settings.server_url == DEFAULT_SERVER_URL and output is None
                and routes is None):
            logger.warning(
                "otel-honeyhive: no API key (api_key= or HH_API_KEY) for %s: HoneyHive will refuse the events; "
                "set HH_API_URL to a local `otel-honeyhive serve` to work offline",
                DEFAULT_SERVER_URL,
            )
        hold_given: float | str
        if hold_timeout is not None:
            hold_given, hold_source = hold_timeout, "HoneyHiveSpanExporter option 'hold_timeout'"
        else:
            hold_given = env_value(env_names.HH_HOLD_TIMEOUT) or DEFAULT_HOLD_SECONDS
            hold_source = f"environment variable {env_names.HH_HOLD_TIMEOUT}"
        hold = checked_number("hold_timeout", hold_given, kind=float, minimum=0, maximum=env_names.MAX_SECONDS,
                              example=f"{DEFAULT_HOLD_SECONDS:g} seconds", source=hold_source)
        checked_number("max_held_spans", max_held_spans, kind=int, minimum=1, example=f"{DEFAULT_MAX_HELD_SPANS}",
                       source="HoneyHiveSpanExporter option 'max_held_spans'")
        checked_number("spool_max_bytes", spool_max_bytes, kind=int, minimum=1, example=f"{DEFAULT_MAX_BYTES}",
                       source="HoneyHiveSpanExporter option 'spool_max_bytes'")
        base = ruleset or Ruleset.default()
        policy = retry_policy or RetryPolicy(deadline=self.settings.timeout)
        table = (routes if isinstance(routes, RoutingTable) or routes is None else RoutingTable.parse(
            routes, where="HoneyHiveSpanExporter(routes=)", fallback_key=self.settings.api_key))
        if output is None and table is not None:
            from otel_honeyhive.outputs.honeyhive.routed import RoutedHoneyHiveOutput

            output = RoutedHoneyHiveOutput(self.settings, table, policy)
        elif output is None:
            from otel_honeyhive.outputs.honeyhive import HoneyHiveOutput

            output = HoneyHiveOutput(self.settings, policy)
        self._output = output
        spool = spool_path(spool_dir)  # its `outbox/`, as `serve --spool-dir` uses: either drains the other's
        if spool is not None:
            with contextlib.suppress(OSError):  # private like the spool inside it; if unusable, the spool says why
                spool.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._pipeline = build_pipeline(output, PipelineSettings(
            project=self.settings.project,
            source=self.settings.source,
            ruleset=base.extend(*rules) if rules else base,
            hold_seconds=hold,
            max_held_spans=max_held_spans,
            retry_policy=policy,
            outbox_dir=spool / "outbox" if spool is not None else None,
            outbox_legacy_dirs=(spool,) if spool is not None else (),
            spool_max_bytes=spool_max_bytes,
            exit_timeout=self.settings.timeout,
            redactors=_redactors(redact),
            mask=mask,
            span_filter=span_filters,
            routes=table,
            sessions=sessions_mode,
        ), on_spool_error=lambda outbox, exc: _report_unusable_spool(outbox.parent, exc))
        self._pipeline.start()
        bridge.register(self._pipeline)  # the pipeline this process's log exporter feeds (once, not per span)
        if logger.isEnabledFor(logging.DEBUG):  # compiled() looks the build up: only when it is shown
            logger.debug("otel-honeyhive %s (%s build) exporting to %s", VERSION,
                         "compiled" if compiled() else "pure-Python", getattr(output, "name", type(output).__name__))
        self._shutdown = False

    def __repr__(self) -> str:
        return f"HoneyHiveSpanExporter({self.settings!r})"

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline spans (and, through `HoneyHiveLogExporter`, log records) are handed to."""
        return self._pipeline

    @property
    def stats(self) -> ExporterStats:
        """What became of the spans exported so far (a snapshot)."""
        pipeline = self._pipeline.stats
        delivery = self._pipeline.delivery.stats
        conversations = self._pipeline.mapper.conversations
        return ExporterStats(
            spans_received=pipeline.spans_received,
            spans_invalid=int(self._pipeline.counters.total(SPANS_INVALID)),
            events_delivered=pipeline.events_delivered,
            events_failed=pipeline.events_failed,
            export_errors=int(self._pipeline.counters.total(EXPORT_ERRORS)),
            spooled=delivery.mode == "spooled",
            spool_fallbacks=delivery.direct_fallbacks,
            spool_error=delivery.spool_error,
            spans_filtered=int(self._pipeline.counters.total(SPANS_FILTERED)),
            spans_unrouted=int(self._pipeline.counters.value(SPANS_DROPPED, reason="unrouted")),
            conversation_sessions_started=conversations.sessions_started if conversations is not None else 0,
            conversation_turns=conversations.turns if conversations is not None else 0,
        )

    # -- SpanExporter -----------------------------------------------------------------------------------------

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        try:
            views = self._views(spans)
            if bridge.logs_expected() and any(v.parent_span_id == 0 or v.parent_is_remote for v in views):
                # Traces end here and are mapped now: the GenAI records of their spans that the logger provider
                # still queues join them first, rather than coming after as updates (whatever order the
                # application shuts its providers down in).
                bridge.flush_logs(LOGS_FLUSH_SECONDS)
            result = self._pipeline.accept_spans(views)
        except Exception:  # export() must never raise into the application
            self._pipeline.counters.add(EXPORT_ERRORS)
            logger.exception("otel-honeyhive: export failed")
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS if result.ok else SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        try:
            return self._pipeline.flush(timeout_millis / 1000)
        except Exception:
            logger.exception("otel-honeyhive: force_flush failed")
            return False

    def shutdown(self) -> None:
        """Ship what is held (one attempt each, no backoff), then close. With a spool, what is held is written
        to it and the shipper gets up to `EXIT_SHIP_SECONDS` (or `timeout`, if shorter) to send it, as at an
        exit without `shutdown()`: a script's last spans go now, not at the next start. Called at exit (the
        SDK's own hook, after the pipeline's), it gets only what the pipeline's exit hook left of those seconds.
        What could not be sent stays on disk."""
        if self._shutdown:
            return
        self._shutdown = True
        bridge.flush_logs(self.settings.timeout)  # queued GenAI records join their spans before the close
        bridge.unregister(self._pipeline)
        try:
            self._pipeline.close(self.settings.timeout,  # closes the output too
                                 spool_seconds=min(self.settings.timeout, EXIT_SHIP_SECONDS))
        except Exception:
            logger.exception("otel-honeyhive: shutdown failed")

    # -- internals --------------------------------------------------------------------------------------------

    def _views(self, spans: Sequence[ReadableSpan]) -> list[SpanView]:
        views: list[SpanView] = []
        for span in spans:
            try:
                views.append(span if isinstance(span, SpanView) else from_readable_span(span))
            except Exception as exc:
                self._pipeline.counters.add(SPANS_INVALID)
                shown = exc if self._pipeline.masker is None else type(exc).__name__  # it may quote the name
                logger.warning("otel-honeyhive: skipped a span that cannot be mapped: %s", shown)
        return views


class AutoConfiguredSpanExporter(HoneyHiveSpanExporter):
    """What `OTEL_TRACES_EXPORTER=honeyhive` builds (the `opentelemetry_traces_exporter` entry point): configured
    from the `HH_*` environment alone. A bad variable is one error line naming it, what is wrong and what to set,
    and the exporter stays off: the application runs untraced, as it would after the SDK's configurator failed,
    but without that configurator's two tracebacks. (Built by hand, `HoneyHiveSpanExporter` raises instead.)"""

    def __init__(self, **kwargs: Any) -> None:
        self._off = False
        try:
            super().__init__(**kwargs)
        except (ValueError, TypeError, SpoolError) as exc:
            self._off = True
            self._shutdown = True
            logger.error("otel-honeyhive: %s; tracing to HoneyHive is off in this process until that is fixed", exc)

    @property
    def off(self) -> bool:
        """Whether a bad configuration turned this exporter off."""
        return self._off

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return not self._off and super().force_flush(timeout_millis)

    def shutdown(self) -> None:
        if not self._off:
            super().shutdown()

    @property
    def stats(self) -> ExporterStats:
        return ExporterStats() if self._off else super().stats

    def __repr__(self) -> str:
        return "AutoConfiguredSpanExporter(off: bad configuration)" if self._off else super().__repr__()
