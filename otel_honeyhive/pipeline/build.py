"""A `Pipeline` from settings: the one place that wires a trace assembler, a mapper, a delivery (direct or
through the spool) and the held-span journal together, for the exporter, the server and the file commands."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from otel_honeyhive.core.counters import Counters
from otel_honeyhive.core.events import DEFAULT_SOURCE
from otel_honeyhive.core.protocols import Output
from otel_honeyhive.core.redactors import Redactor
from otel_honeyhive.core.routing import RoutingTable, TraceRouter
from otel_honeyhive.mapper.filtering import SpanFilter
from otel_honeyhive.mapper.ruleset import Ruleset
from otel_honeyhive.mapper.trace import TraceMapper
from otel_honeyhive.pipeline.assembly import TraceAssembler
from otel_honeyhive.pipeline.masking import Mask, Masker
from otel_honeyhive.pipeline.pipeline import DEFAULT_EXIT_TIMEOUT, Pipeline
from otel_honeyhive.shipping.delivery import Delivery
from otel_honeyhive.shipping.journal import Journal
from otel_honeyhive.shipping.retry import RetryPolicy
from otel_honeyhive.shipping.spool import DEFAULT_MAX_BYTES, SpoolError


@dataclass(frozen=True)
class PipelineSettings:
    """What shapes a pipeline, whoever runs it. Paths name directories that are created when missing."""

    project: str | None = None
    """Set on every event that has none."""
    source: str = DEFAULT_SOURCE
    """Set on every event made from spans (`honeyhive.source` on a span overrides)."""
    ruleset: Ruleset | None = None
    """The conventions; None for the built-in ones."""
    hold_seconds: float = 30.0
    """How long a trace is held waiting for its local root before it is shipped in parts."""
    max_held_spans: int = 20_000
    """Memory cap on held spans: past it, the oldest traces are shipped first."""
    retry_policy: RetryPolicy | None = None
    """How one delivery retries (the default: `RetryPolicy()`)."""
    outbox_dir: Path | None = None
    """A durable spool that events pass through before the output; None delivers directly."""
    outbox_legacy_dirs: tuple[Path, ...] = ()
    """Where an earlier version kept the outbox's records (adopted when it opens)."""
    journal_dir: Path | None = None
    """Where spans held for assembly are made durable before they are acknowledged; None keeps them in memory."""
    spool_max_bytes: int = DEFAULT_MAX_BYTES
    """The cap of the outbox and of the journal, each."""
    exit_timeout: float = DEFAULT_EXIT_TIMEOUT
    """How long a process exiting without closing the pipeline spends handing on what it holds."""
    span_filter: SpanFilter | None = None
    """Spans to drop after assembly, before mapping (children re-attached to the nearest kept ancestor)."""
    redactors: tuple[Redactor, ...] = ()
    """Built-in or regex redactors applied to every string value as it enters (docs/privacy.md)."""
    mask: Mask | None = None
    """The user's masking function, applied to every string value after the redactors."""
    routes: RoutingTable | None = None
    """Each trace's project from a routing table (docs/routing.md); the output must send each project's events
    with its key (`outputs/honeyhive/routed.py`)."""
    sessions: str = "trace"
    """What a session is: "trace" (a trace's root span) or "conversation" (every trace carrying the same
    conversation id; mapper/conversations.py, docs/identity-and-assembly.md#conversations)."""


def build_pipeline(
    output: Output,
    settings: PipelineSettings,
    *,
    stop: threading.Event | None = None,
    counters: Counters | None = None,
    on_spool_error: Callable[[Path, SpoolError], None] | None = None,
) -> Pipeline:
    """A pipeline delivering to `output`, which it then owns (closed with it). Raises `SpoolError` when a spool
    directory cannot be used, after closing whatever it had opened (the output included): a misconfiguration
    fails at start-up, not on the first span. Call `start()` on the result.

    `on_spool_error` (the exporter's choice): an unusable outbox directory is reported to it instead, and the
    pipeline delivers directly; a batch the outbox cannot take later is sent directly too (`fallback_direct`)."""
    policy = settings.retry_policy or RetryPolicy()
    try:
        delivery = _delivery(output, settings, policy, on_spool_error)
    except BaseException:
        output.close()
        raise
    try:
        journal = Journal(settings.journal_dir, settings.spool_max_bytes) if settings.journal_dir else None
    except BaseException:
        delivery.close(1.0)
        raise
    mapper = TraceMapper(settings.ruleset, project=settings.project, source=settings.source,
                         span_filter=settings.span_filter, sessions=settings.sessions,
                         router=TraceRouter(settings.routes) if settings.routes is not None else None)
    assembler = TraceAssembler(hold_seconds=settings.hold_seconds, max_spans=settings.max_held_spans)
    masker = (Masker(settings.redactors, settings.mask, mapper.ruleset)
              if settings.redactors or settings.mask is not None else None)
    return Pipeline(delivery, mapper, assembler, journal=journal, stop=stop, counters=counters,
                    exit_timeout=settings.exit_timeout, masker=masker)


def _delivery(output: Output, settings: PipelineSettings, policy: RetryPolicy,
              on_spool_error: Callable[[Path, SpoolError], None] | None) -> Delivery:
    if settings.outbox_dir is None:
        return Delivery.direct(output, policy)
    try:
        try:
            return Delivery.spooled(output, settings.outbox_dir, policy, settings.spool_max_bytes,
                                    fallback_direct=on_spool_error is not None,
                                    legacy_dirs=settings.outbox_legacy_dirs)
        except OSError as exc:  # the spool turns its own into SpoolErrors; this is a safety net for the rest
            raise SpoolError(f"cannot use spool directory {settings.outbox_dir}: {exc}") from exc
    except SpoolError as exc:
        if on_spool_error is None:
            raise
        on_spool_error(settings.outbox_dir, exc)
        return Delivery.direct(output, policy, spool_error=str(exc))


__all__ = ["PipelineSettings", "build_pipeline"]
