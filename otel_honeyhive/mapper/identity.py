"""Event identity (SPEC §2): deterministic, strict-valid UUIDs derived from OpenTelemetry ids.

The ids are RFC 9562 version-5 UUIDs, so anyone can recompute them with the standard library:

    session_id = uuid.uuid5(SESSION_NAMESPACE, f"{trace_id:032x}")
    event_id   = uuid.uuid5(EVENT_NAMESPACE, f"{trace_id:032x}{span_id:016x}")

Same trace id, same session id: in every process, every run and every version of this package. These
namespaces are part of the public contract and must never change.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

SESSION_NAMESPACE = uuid.UUID("5b0f7f3e-5f4c-4d33-9a4e-0c6f2a8e9d11")
EVENT_NAMESPACE = uuid.UUID("a3c1e9d2-7b64-4f0e-8c2d-6e1f4b9a7c35")

_SESSION_NS = SESSION_NAMESPACE.bytes
_EVENT_NS = EVENT_NAMESPACE.bytes
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _uuid5(namespace: bytes, name: str) -> str:
    # Same bytes as uuid.uuid5, without building a UUID object on the hot path.
    digest = bytearray(hashlib.sha1(namespace + name.encode("ascii")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def session_id_for_trace(trace_id: int) -> str:
    return _uuid5(_SESSION_NS, f"{trace_id:032x}")


def event_id_for_span(trace_id: int, span_id: int) -> str:
    return _uuid5(_EVENT_NS, f"{trace_id:032x}{span_id:016x}")


def normalise_uuid(value: Any) -> str | None:
    """A canonical 8-4-4-4-12 UUID string (any version) in lowercase, or None for anything else."""
    if isinstance(value, str) and len(value) == 36 and _UUID_RE.match(value):
        return value.lower()
    return None


def trace_hex(trace_id: int) -> str:
    return f"{trace_id:032x}"


def span_hex(span_id: int) -> str:
    return f"{span_id:016x}"
