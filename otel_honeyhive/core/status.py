"""What an undelivered result tells a client, in HTTP and in gRPC: the one table every input answers from.

As the Collector's receivers do, the inputs see only a `SendResult` from the pipeline; this is where its
outcome becomes a status a client acts on:

| outcome                                   | HTTP                | gRPC                                 |
|-------------------------------------------|---------------------|--------------------------------------|
| RETRY_LATER (an outage, a full spool)     | 503 + `Retry-After` | UNAVAILABLE + `retry-after` metadata |
| REJECTED by a remote output (HoneyHive)   | 502                 | UNAVAILABLE                          |
| REJECTED by the local store               | 500                 | INTERNAL                             |
| REJECTED: an update of an unknown event   | 404                 | NOT_FOUND                            |

A remote refusal is retryable on both protocols (the OTLP specification retries 502 and UNAVAILABLE): the
client keeps the spans, which a fixed key or route, or an operator, can still deliver; the HTTP answer's
`Status` body carries the same code. gRPC codes are given by name (`grpc.StatusCode[name]`), so this module
needs no gRPC import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from otel_honeyhive.core.results import Outcome, SendResult

DEFAULT_RETRY_AFTER = 5.0
"""Seconds a client is asked to wait when the output gave no hint."""

GRPC_CODE_OF_HTTP = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
}
"""The `google.rpc.Code` an OTLP/HTTP error body carries for an HTTP status (as the Collector writes them)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """An undelivered result as a client is told it."""

    http_status: int
    grpc_code: str
    """A `grpc.StatusCode` name."""
    message: str
    retry_after: int | None = None
    """Whole seconds to wait before retrying, when the client should retry."""

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}

    @property
    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("retry-after", str(self.retry_after)),) if self.retry_after is not None else ()


def refusal(result: SendResult, *, remote: bool, update: bool = False) -> Refusal:
    """How to answer a result that is not DELIVERED. `remote`: the output is a remote service (its refusals are
    not the client's fault, but for a 404 to an update: the event is unknown there); `update`: the request was
    an update, which the local store refuses only when it does not hold the event."""
    message = result.detail or result.outcome.value
    if result.outcome is Outcome.RETRY_LATER:
        after = result.retry_after if result.retry_after is not None else DEFAULT_RETRY_AFTER
        return Refusal(503, "UNAVAILABLE", result.detail or "try again later", max(1, math.ceil(after)))
    if update and (result.status == 404 or not remote):
        return Refusal(404, "NOT_FOUND", message)
    if remote:
        return Refusal(502, "UNAVAILABLE", message)
    return Refusal(500, "INTERNAL", message)


__all__ = ["DEFAULT_RETRY_AFTER", "GRPC_CODE_OF_HTTP", "Refusal", "refusal"]
