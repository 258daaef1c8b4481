"""Any attribute value made representable in JSON: what the mapper puts in events, and the encoder's last resort
for values from elsewhere (the HoneyHive-compatible API)."""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from typing import Any


def number(value: Any) -> float | None:
    """A JSON number as a float (a time, a duration, a count); None for anything else, booleans included."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def jsonable(value: Any) -> Any:
    """Make any attribute value representable in JSON, losslessly where JSON allows it.

    NaN and infinities become the strings "NaN", "Infinity", "-Infinity"; bytes become text when they are
    UTF-8, else a `base64:`-prefixed string; tuples become lists; mapping keys become strings."""
    kind = type(value)
    if kind is str or kind is bool or value is None:  # the common cases, by exact type, first
        return value
    if isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(raw).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (Sequence, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)
