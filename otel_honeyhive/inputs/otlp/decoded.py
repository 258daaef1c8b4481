"""What every OTLP decoder produces (protobuf through upb, the protobuf wire reader, JSON), and the rules they
share: how enums and flags read, how deep values may nest, and how a refused span is described."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from otel_honeyhive.core.spans import SpanView

EMPTY: Mapping[str, Any] = MappingProxyType({})
"""Shared by every span without attributes (and every resource without any): one object, never mutated."""

KIND_NAMES: tuple[str, ...] = ("internal", "internal", "server", "client", "producer", "consumer")
"""Indexed by the OTLP `SpanKind` enum value (0 = SPAN_KIND_UNSPECIFIED, read as internal like the SDK)."""

FLAG_HAS_IS_REMOTE = 0x100
FLAG_IS_REMOTE = 0x200
REMOTE_MASK = FLAG_HAS_IS_REMOTE | FLAG_IS_REMOTE

MAX_DEPTH = 64
"""Nesting limit for array/kvlist values: deeper data is refused rather than risking the recursion limit."""


@dataclass(slots=True)
class DecodeResult:
    """Spans that decoded, and what was refused (for the OTLP `partial_success` answer)."""

    spans: list[SpanView] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def error_message(self) -> str:
        return partial_success_message(self.errors)


def partial_success_message(errors: list[str]) -> str:
    """One line for `partial_success.error_message`: the first few problems, and how many more (any signal)."""
    if not errors:
        return ""
    head = "; ".join(errors[:5])
    more = len(errors) - 5
    return f"{head}; and {more} more" if more > 0 else head


_ZERO16 = bytes(16)
_ZERO8 = bytes(8)


def unusable_ids(tid: bytes, sid: bytes, pid: bytes) -> bool:
    """A span that cannot be identified: a trace id that is not 16 bytes or all zeros, a span id that is not 8
    bytes or all zeros, or a parent id that is neither empty nor 8 bytes."""
    return len(tid) != 16 or len(sid) != 8 or tid == _ZERO16 or sid == _ZERO8 or (len(pid) != 0 and len(pid) != 8)


def span_problem(name: str, tid: bytes, sid: bytes, pid: bytes) -> str:
    """Why `unusable_ids` refused a span, for `partial_success.error_message`."""
    problem = _id_problem("trace_id", tid, 16) or _id_problem("span_id", sid, 8)
    if problem is None and pid and len(pid) != 8:
        problem = f"parent_span_id must be 8 bytes or empty, got {len(pid)}"
    return f"span {name[:100]!r}: {problem}"


def _id_problem(name: str, value: bytes, size: int) -> str | None:
    if len(value) != size:
        return f"{name} must be {size} bytes, got {len(value)}"
    if not any(value):
        return f"{name} must not be all zeros"
    return None
