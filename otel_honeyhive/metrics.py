"""Labelled counters, and the Prometheus text exposition format (version 0.0.4) written by hand.

Why not `prometheus_client`: the bridge's figures already live in its components (intake, delivery, spool
shipper, spools, trace assembler) as plain counters that are read when `/metrics` is scraped; with
`prometheus_client` they would need a custom collector all the same, plus its process-global registry (two
servers in one process would collide) and a runtime dependency for some forty lines of formatting. The output
is checked against `prometheus_client`'s own parser in the tests.

Only what the inputs count themselves lives in `Counters` (requests by input and status, rejected spans,
dropped spans); everything else is read from the component that owns it (`server/metrics.py`).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUESTS = "otel_honeyhive_requests_total"
"""Requests answered, by `input` (otlp_http, otlp_grpc, honeyhive_api, healthz, metrics, other) and `status`
(the HTTP status, or the gRPC status code name)."""
SPANS_REJECTED = "otel_honeyhive_spans_rejected_total"
"""Spans refused inside an accepted OTLP request (unusable ids), by `input`; the client is told
(`partial_success`)."""
SPANS_DROPPED = "otel_honeyhive_spans_dropped_total"
"""Acknowledged spans whose events could not be handed on, by `reason`."""

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

LabelSet = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Sample:
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class Family:
    """One metric: its samples share the name, the type and the help text."""

    name: str
    type: Literal["counter", "gauge"]
    help: str
    samples: Sequence[Sample]

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"not a Prometheus metric name: {self.name!r}")
        for sample in self.samples:
            for label in sample.labels:
                if not _LABEL.match(label) or label.startswith("__"):
                    raise ValueError(f"not a Prometheus label name: {label!r}")


def one(name: str, type: Literal["counter", "gauge"], help: str, value: float) -> Family:
    """A family with a single unlabelled sample."""
    return Family(name, type, help, [Sample({}, value)])


class Counters:
    """Monotonic counters with labels, safe to increment from any thread (request handlers, gRPC workers,
    the intake's release thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[LabelSet, float]] = {}

    def add(self, name: str, amount: float = 1, **labels: str) -> None:
        if amount < 0:
            raise ValueError(f"a counter only goes up; got {amount!r} for {name}")
        key = tuple(sorted(labels.items()))
        with self._lock:
            family = self._values.setdefault(name, {})
            family[key] = family.get(key, 0) + amount

    def value(self, name: str, **labels: str) -> float:
        """The count for exactly these labels (0 if never counted)."""
        with self._lock:
            return self._values.get(name, {}).get(tuple(sorted(labels.items())), 0)

    def total(self, name: str) -> float:
        """The sum over every label set."""
        with self._lock:
            return sum(self._values.get(name, {}).values())

    def samples(self, name: str) -> list[Sample]:
        with self._lock:
            items = sorted(self._values.get(name, {}).items())
        return [Sample(dict(labels), value) for labels, value in items]


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def render(families: Iterable[Family]) -> str:
    """The exposition: for each family `# HELP`, `# TYPE`, then one line per sample (none yet is fine)."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        for sample in family.samples:
            if sample.labels:
                labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sorted(sample.labels.items()))
                lines.append(f"{family.name}{{{labels}}} {_number(sample.value)}")
            else:
                lines.append(f"{family.name} {_number(sample.value)}")
    return "\n".join(lines) + "\n"


__all__ = [
    "CONTENT_TYPE",
    "REQUESTS",
    "SPANS_DROPPED",
    "SPANS_REJECTED",
    "Counters",
    "Family",
    "Sample",
    "one",
    "render",
]
