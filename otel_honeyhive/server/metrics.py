"""`GET /metrics`: the bridge server's own figures in the Prometheus text format.

Read at scrape time from the components that own them: the pipeline (spans and events in, spans dropped), the
delivery (events spooled or delivered, hand-offs refused), the spool shipper (delivered, retried,
dead-lettered, corrupt records), the spools (bytes and records waiting), the trace assembler (held spans), plus
what the inputs count themselves (`RequestCounter` for HTTP, the gRPC service for gRPC, rejected spans).

`/metrics` sits behind `--auth-token` like every route but `/healthz`: the counts say how much traffic a
deployment carries, and a scraper can send a bearer token (Prometheus `authorization` in `scrape_config`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from otel_honeyhive._version import VERSION
from otel_honeyhive.core.counters import (
    HOST_REFUSALS,
    LOG_RECORDS_IGNORED,
    LOG_RECORDS_JOINED,
    LOG_RECORDS_LATE,
    LOG_RECORDS_RECEIVED,
    LOG_RECORDS_REJECTED,
    LOG_RECORDS_UNMATCHED,
    REQUESTS,
    SPANS_DROPPED,
    SPANS_FILTERED,
    SPANS_REJECTED,
    Counters,
    Sample,
)
from otel_honeyhive.server.prometheus import Family, single
from otel_honeyhive.shipping.shipper import ShipperStats

if TYPE_CHECKING:
    from otel_honeyhive.pipeline.pipeline import Pipeline
    from otel_honeyhive.server.retention import Retention

INPUT_OF_PATH = {
    "/v1/traces": "otlp_http",
    "/opentelemetry/v1/traces": "otlp_http",
    "/v1/metrics": "otlp_http",
    "/v1/logs": "otlp_http",
    "/events": "honeyhive_api",
    "/events/batch": "honeyhive_api",
    "/v1/events": "honeyhive_api",
    "/v1/events/batch": "honeyhive_api",
    "/session/start": "honeyhive_api",
    "/healthz": "healthz",
    "/metrics": "metrics",
}
"""The `input` label of `otel_honeyhive_requests_total` (any other path: `other`, so the label stays bounded)."""
PATHS_WITH_AN_ID = (("/v1/sessions/", "/events/batch"), ("/v1/events/", ""))
"""(prefix, suffix) of the HoneyHive-compatible routes with an id in the path
(`POST /v1/sessions/{session_id}/events/batch`, `PUT /v1/events/{event_id}`): labelled `honeyhive_api` too."""


def input_of_path(path: str) -> str:
    """The `input` label of a request path."""
    known = INPUT_OF_PATH.get(path)
    if known is not None:
        return known
    with_id = any(path.startswith(prefix) and path.endswith(suffix) for prefix, suffix in PATHS_WITH_AN_ID)
    return "honeyhive_api" if with_id else "other"


class RequestCounter:
    """ASGI middleware counting every HTTP request by input and answered status, 401s and 413s included (it
    sits outside the token check). A request whose handler raised is counted as 500."""

    def __init__(self, app: ASGIApp, counters: Counters) -> None:
        self.app = app
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.counters.add(REQUESTS, input=input_of_path(scope["path"]), status=str(status))


def _labelled(counters: Counters, name: str, type_help: str, label: str, always: tuple[str, ...]) -> Family:
    """A counter family from `counters`, with a zero sample for each of `always` not counted yet (so a
    dashboard sees the series before the first event)."""
    samples = counters.samples(name)
    seen = {s.labels.get(label) for s in samples}
    samples += [Sample({label: value}, 0) for value in always if value not in seen]
    return Family(name, "counter", type_help, samples)


def families(pipeline: Pipeline, retention: Retention | None = None) -> list[Family]:
    """Every metric, as of now (the retention's with `serve --retention`)."""
    stats = pipeline.stats
    delivery = pipeline.delivery.stats
    shipper = delivery.shipper or ShipperStats()
    counters = pipeline.counters
    conversations = pipeline.mapper.conversations
    spooled = delivery.mode == "spooled"
    result = [
        Family("otel_honeyhive_build_info", "gauge", "The bridge's version (the value is always 1).",
               [Sample({"version": VERSION}, 1)]),
        Family(REQUESTS, "counter", "HTTP and gRPC requests answered, by input and status (HTTP status, or "
               "gRPC status code name).", counters.samples(REQUESTS)),
        single(HOST_REFUSALS, "counter", "HTTP requests refused (403) for a Host header the server does not answer "
               "to (not a loopback name nor an --allowed-host): a page trying DNS rebinding, or a proxy's name to "
               "allow.", counters.total(HOST_REFUSALS)),
        single("otel_honeyhive_spans_received_total", "counter",
            "Spans decoded from OTLP requests (HTTP and gRPC) and handed to the pipeline.", stats.spans_received),
        _labelled(counters, SPANS_REJECTED, "Spans refused inside an accepted OTLP request (unusable trace or "
                  "span id), reported to the client in partial_success.", "input", ("otlp_http", "otlp_grpc")),
        _labelled(counters, SPANS_DROPPED, "Acknowledged spans whose events could not be handed on. "
                  "reason=delivery_failed: without --spool-dir, the output stayed down past its deadline when "
                  "held spans were released; reason=refused: the output or the spool refused the events for good; "
                  "reason=unrouted: the routing table refused the trace (no rule matched, unrouted = refuse).",
                  "reason", ("delivery_failed", "refused")),
        _labelled(counters, SPANS_FILTERED, "Spans the span filter dropped, their children re-attached to the "
                  "nearest kept ancestor: reason=scope (--drop-scope), span_name (--drop-span), genai (the "
                  "--span-filter preset did not recognise the span), span_filter (the exporter's predicate).",
                  "reason", _filter_reasons(pipeline)),
        single(LOG_RECORDS_RECEIVED, "counter",
               "Log records decoded from OTLP logs requests (HTTP and gRPC) and handed to the pipeline, GenAI or "
               "not.", counters.total(LOG_RECORDS_RECEIVED)),
        single(LOG_RECORDS_JOINED, "counter",
               "GenAI log records joined to their span before its event was mapped.",
               counters.total(LOG_RECORDS_JOINED)),
        single(LOG_RECORDS_LATE, "counter",
               "GenAI log records that came after their span's event was shipped, delivered as an update of it.",
               counters.total(LOG_RECORDS_LATE)),
        single(LOG_RECORDS_UNMATCHED, "counter",
               "GenAI log records whose span never came within the record wait (a multiple of the hold time), kept in "
               "their session's metadata.",
               counters.total(LOG_RECORDS_UNMATCHED)),
        _labelled(counters, LOG_RECORDS_IGNORED, "Log records not turned into anything: reason=not_genai (an "
                  "ordinary application log), reason=no_span (a GenAI record emitted outside any span), "
                  "reason=unsampled (a GenAI record of a span its sampler dropped, which is never exported), "
                  "reason=span_filtered (a GenAI record of a span the span filter dropped), reason=duplicate (the same "
                  "record sent again).", "reason",
                  ("not_genai", "no_span", "unsampled", "span_filtered")),
        _labelled(counters, LOG_RECORDS_REJECTED, "Log records refused inside an accepted OTLP logs request (a "
                  "trace or span id of the wrong length), reported to the client in partial_success.", "input",
                  ("otlp_http", "otlp_grpc")),
        single("otel_honeyhive_conversation_sessions_started_total", "counter",
               "Conversations whose session this server started (--sessions conversation): the session event "
               "made at the first turn seen; a restart starts them again, under the same id.",
               conversations.sessions_started if conversations is not None else 0),
        single("otel_honeyhive_conversation_turns_total", "counter",
               "Traces mapped into a conversation's session (--sessions conversation); every turn after a "
               "conversation's first extends its session by an update.",
               conversations.turns if conversations is not None else 0),
        single("otel_honeyhive_events_received_total", "counter",
            "Events received on the HoneyHive-compatible API.", stats.events_received),
        single("otel_honeyhive_events_mapped_total", "counter",
            "Events made from spans (a trace mapped again after a failed hand-off counts again).",
            stats.events_mapped),
        single("otel_honeyhive_events_spooled_total", "counter",
            "Events written to the outbox spool (with --spool-dir and a remote output).",
            delivery.accepted_events if spooled else 0),
        single("otel_honeyhive_events_delivered_total", "counter",
            "Events the output (HoneyHive, an OTLP endpoint or the local store) acknowledged.",
            shipper.delivered_events if spooled else delivery.accepted_events),
        single("otel_honeyhive_events_undelivered_total", "counter",
            "Event hand-offs the output (or the outbox spool) did not take: the client was answered 503/502/500, "
            "the spans count in otel_honeyhive_spans_dropped_total, or (with --spool-dir, the outbox full) the "
            "trace stays journaled and is tried again, counting again each time.", delivery.failed_events),
        single("otel_honeyhive_delivery_retries_total", "counter",
            "Deliveries of outbox records that failed transiently and were scheduled again.", shipper.retried),
        single("otel_honeyhive_delivery_config_refusals_total", "counter",
            "Deliveries of outbox records refused for a configuration reason (401, 403: the API key; 404, 405: "
            "the URL): the record is kept and tried again every minute, never dead-lettered.",
            shipper.config_refusals),
        single("otel_honeyhive_events_dead_lettered_total", "counter",
            "Events the output refused for good, kept under outbox/dead/ with the reason.",
            shipper.dead_lettered_events),
        single("otel_honeyhive_spool_corrupt_records_total", "counter",
            "Outbox records that failed their checksum, moved to outbox/corrupt/.", shipper.corrupt),
        single("otel_honeyhive_held_spans", "gauge",
            "Spans held in memory waiting for their trace's root.", pipeline.assembler.held_spans),
    ]
    spool_bytes: list[Sample] = []
    spool_records: list[Sample] = []
    capacity: list[Sample] = []
    outbox = pipeline.delivery.spool
    if outbox is not None:
        spool_bytes.append(Sample({"spool": "outbox"}, outbox.pending_bytes))
        spool_records.append(Sample({"spool": "outbox"}, outbox.pending_count))
        capacity.append(Sample({"spool": "outbox"}, outbox.max_bytes))
    journal = pipeline.journal
    if journal is not None:
        spool_bytes.append(Sample({"spool": "held"}, journal.pending_bytes))
        spool_records.append(Sample({"spool": "held"}, journal.stored_records))
        capacity.append(Sample({"spool": "held"}, journal.max_bytes))
    result += _size_limit(pipeline)
    result += [
        Family("otel_honeyhive_spool_bytes", "gauge", "Bytes waiting on disk: spool=outbox (events to deliver), "
               "spool=held (the journal of held spans and log records).", spool_bytes),
        Family("otel_honeyhive_spool_records", "gauge", "Records waiting on disk, by spool.", spool_records),
        Family("otel_honeyhive_spool_capacity_bytes", "gauge",
               "The cap of each spool (--spool-max-bytes); past it requests get 503 with Retry-After.", capacity),
    ]
    if retention is not None:
        result += _retention(retention)
    # Read by name: only the OTLP output (outputs/otlp.py, not imported unless it is the output) keeps this count.
    rejected = getattr(pipeline.delivery.output, "spans_rejected_by_receiver", None)
    if isinstance(rejected, int):
        result.append(single(
            "otel_honeyhive_output_spans_rejected_total", "counter",
            "Spans the OTLP endpoint (--otlp-endpoint) answered 200 for but reported rejected in its "
            "partial_success: delivered as far as retrying can go, refused there for good (its message is in the "
            "server's log).", rejected))
    return result


def _retention(retention: Retention) -> list[Family]:
    """What `--retention` removed from the local store since start, and the setting itself."""
    total = retention.total
    return [
        single("otel_honeyhive_store_retention_seconds", "gauge",
               "How long the local store keeps a session after its last event (--retention).", retention.seconds),
        single("otel_honeyhive_store_pruned_sessions_total", "counter",
               "Sessions the retention deleted from the local store, whole.", total.sessions),
        single("otel_honeyhive_store_pruned_events_total", "counter",
               "Events the retention deleted from the local store (those sessions' and events without one).",
               total.events),
        single("otel_honeyhive_store_freed_bytes_total", "counter",
               "Bytes of body segments the retention gave back once no row pointed into them.", total.bytes_freed),
        single("otel_honeyhive_store_prune_failures_total", "counter",
               "Retention passes that failed (the reason is logged); each is tried again at the next pass.",
               retention.failures),
    ]


def _filter_reasons(pipeline: Pipeline) -> tuple[str, ...]:
    """The reasons the configured span filter can drop for (zero series for those, none without a filter)."""
    span_filter = pipeline.mapper.span_filter
    if span_filter is None:
        return ()
    return tuple(reason for reason, on in (("scope", bool(span_filter.drop_scopes)),
                                           ("span_name", bool(span_filter.drop_spans)),
                                           ("genai", "genai" in span_filter.presets),
                                           ("span_filter", span_filter.predicate is not None)) if on)


def _size_limit(pipeline: Pipeline) -> list[Family]:
    """The body size the output builds requests under, lowered when the receiver answers 413, and how many
    413s it split: a gateway's limit shows here before anyone reads a log. Outputs that send no bodies (the
    store) have neither."""
    output = pipeline.delivery.output
    limit = getattr(output, "request_bytes_limit", None)
    if not isinstance(limit, int):
        return []
    return [
        single("otel_honeyhive_output_request_limit_bytes", "gauge",
               "Bytes the output builds each request under: the configured maximum, or less once the receiver "
               "refused a body as too large (413) and a smaller one passed.", limit),
        single("otel_honeyhive_output_too_large_total", "counter",
               "Requests the receiver refused as too large (413), each split and sent again at once.",
               int(getattr(output, "too_large_refusals", 0))),
    ]


__all__ = ["INPUT_OF_PATH", "RequestCounter", "families"]
