"""The Prometheus text exposition format (version 0.0.4), written by hand.

Why not `prometheus_client`: the bridge's figures already live in its components (pipeline, delivery, spool
shipper, spools, trace assembler) as plain counters that are read when `/metrics` is scraped; with
`prometheus_client` they would need a custom collector all the same, plus its process-global registry (two
servers in one process would collide) and a runtime dependency for some forty lines of formatting. The output
is checked against `prometheus_client`'s own parser in the tests.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from otel_honeyhive.core.counters import Sample

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


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


def single(name: str, type: Literal["counter", "gauge"], help: str, value: float) -> Family:
    """A family with a single unlabelled sample."""
    return Family(name, type, help, [Sample({}, value)])


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



__all__ = ["CONTENT_TYPE", "Family", "render", "single"]
