"""What became of data handed on: every output answers a send with a `SendResult`, and every input turns one
into its protocol's answer (`core/status.py`)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from otel_honeyhive.core.events import duration_ms
from otel_honeyhive.core.jsonable import number


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY_LATER = "retry_later"  # a transient fault outlived the deadline: keep the data, try again later
    REJECTED = "rejected"  # the receiver refused the data for good (4xx other than 429): retrying cannot help


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    detail: str = ""
    retry_after: float | None = None  # seconds the receiver asked us to wait, when it said so
    status: int | None = None  # the receiver's HTTP status, when there was one
    acknowledged: int = 0
    """Of a send that failed after some of its bodies went through: the events those bodies carried, newly
    acknowledged by this send (bodies skipped as acknowledged by an earlier send of the same batch are not
    counted again). The caller counts them delivered, and a shipper sees that a retried record made progress."""
    refused: tuple[str, ...] = ()
    """On a REJECTED result for a batch: the ids of the only events refused, every other event of the batch having
    been delivered (one event too large for the receiver even cut). Empty: the refusal is the whole batch's."""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DELIVERED

    def failed_of(self, events: int) -> int:
        """How many of a batch of `events` this result did not deliver: none, the refused ones, or all."""
        if self.outcome is Outcome.DELIVERED:
            return 0
        return min(len(self.refused), events) if self.refused else events


DELIVERED = SendResult(Outcome.DELIVERED)

CONFIGURATION_STATUSES = frozenset({401, 403, 404, 405})
"""Refusals that say the sender is configured wrongly (credentials: 401, 403; URL or route: 404, 405), not that
the data is bad: sent again once the configuration is fixed, the same data is accepted."""


def is_configuration_refusal(result: SendResult, *, update: bool = False) -> bool:
    """Whether `result` is a refusal to keep until the configuration is fixed rather than to set aside as bad data.
    `update`: the refused request was a `PUT /events`, whose 404 says the event is unknown there (the data's)."""
    if result.outcome is not Outcome.REJECTED or result.status not in CONFIGURATION_STATUSES:
        return False
    return not (update and result.status == 404)

MERGED_ON_UPDATE = ("metadata", "feedback", "metrics", "config", "user_properties")
"""The buckets an update merges key by key; every other field it names is replaced."""


@dataclass(frozen=True, slots=True)
class Update:
    """A `PUT /events` patch: merged buckets (metadata, feedback, metrics, config, user_properties), replaced
    outputs, and plain fields (duration, end_time, children_ids)."""

    event_id: str
    fields: dict[str, Any]
    project: str | None = None
    """The project whose key the update goes with, when the bridge knows it (a routed conversation's session,
    whose id a UUID conversation id makes the same in every project): never sent, only routed by."""

    def apply_to(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The event with this update applied by HoneyHive's `PUT /events` rules: buckets in
        `MERGED_ON_UPDATE` are merged key by key, anything else (outputs, duration, end_time, children_ids) is
        replaced. A new `end_time` without a `duration` recomputes the duration from the stored `start_time`, as
        HoneyHive's ingestion does for a missing duration."""
        updated = dict(event)
        for key, value in self.fields.items():
            current = updated.get(key)
            if key in MERGED_ON_UPDATE and isinstance(value, dict) and isinstance(current, dict):
                updated[key] = {**current, **value}
            else:
                updated[key] = value
        start, end = number(updated.get("start_time")), number(self.fields.get("end_time"))
        if "duration" not in self.fields and start is not None and end is not None:
            updated["duration"] = duration_ms(start, end)
        return updated
