"""Event identity: deterministic, strict-valid UUIDs derived from OpenTelemetry ids (docs/identity-and-assembly.md).

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
CONVERSATION_NAMESPACE = uuid.UUID("e7d4c2a1-3f58-4b96-a0d7-9c2e5f1b8a64")
"""For `sessions="conversation"`: the session of a conversation id that is not itself a UUID."""

_SESSION_NS = hashlib.sha1(SESSION_NAMESPACE.bytes)
_EVENT_NS = hashlib.sha1(EVENT_NAMESPACE.bytes)
"""Hashes with the namespace already fed in: copying one costs less than starting a SHA-1 afresh."""
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


_VARIANT = {c: "89ab"[int(c, 16) & 0b11] for c in "0123456789abcdef"}
"""RFC 9562 variant bits (10xx) applied to the hex digit they share with the hash."""


def _uuid5(namespace: hashlib._Hash, name: str) -> str:
    # The string uuid.uuid5 gives, without a UUID object or bit twiddling on the hot path: the version is the
    # 13th hex digit, the variant the top two bits of the 17th.
    hasher = namespace.copy()
    hasher.update(name.encode("ascii"))
    h = hasher.hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def session_id_for_trace(trace_id: int) -> str:
    return _uuid5(_SESSION_NS, trace_hex(trace_id))


def session_id_for_conversation(conversation_id: str, project: str | None = None) -> str:
    """A conversation's session: the id itself when it is a canonical UUID (lowercased), else
    `uuid5(CONVERSATION_NAMESPACE, conversation_id)` (UTF-8), so every process and every replay agrees. With
    `project` (the one a routing table chose for the trace), `uuid5(CONVERSATION_NAMESPACE, project + "/" +
    conversation_id)`: the same conversation id in two projects is two sessions, each started in its own; every
    process with the same routing table agrees (a file converted or replayed, which routes nothing, gets the
    first form)."""
    explicit = normalise_uuid(conversation_id)
    if explicit is not None:
        return explicit
    name = conversation_id if project is None else f"{project}/{conversation_id}"
    return str(uuid.uuid5(CONVERSATION_NAMESPACE, name))


def event_id_for_span(trace_id: int, span_id: int) -> str:
    return event_id_for_hex(trace_hex(trace_id), span_hex(span_id))


def event_id_for_hex(hex_trace_id: str, hex_span_id: str) -> str:
    """`event_id_for_span` from the ids already formatted (`trace_hex`, `span_hex`), as the mapper has them."""
    return _uuid5(_EVENT_NS, hex_trace_id + hex_span_id)


def normalise_uuid(value: Any) -> str | None:
    """A canonical 8-4-4-4-12 UUID string (any version) in lowercase, or None for anything else."""
    if isinstance(value, str) and len(value) == 36 and _UUID_RE.match(value):
        return value.lower()
    return None


def trace_hex(trace_id: int) -> str:
    """`f"{trace_id:032x}"`, faster for the ids OpenTelemetry can carry (128 bits) than the format mini-language."""
    try:
        return trace_id.to_bytes(16, "big").hex()
    except OverflowError:  # not a valid trace id, but still shown as what it is
        return f"{trace_id:032x}"


def span_hex(span_id: int) -> str:
    """`f"{span_id:016x}"`, faster for the ids OpenTelemetry can carry (64 bits) than the format mini-language."""
    try:
        return span_id.to_bytes(8, "big").hex()
    except OverflowError:
        return f"{span_id:016x}"
