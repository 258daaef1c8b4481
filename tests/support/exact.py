"""Comparing values exactly, as a lossless codec must keep them."""

from __future__ import annotations

import math
from typing import Any


def exact(value: Any) -> Any:
    """A comparable form that tells apart what `==` conflates (True/1/1.0, tuple/list, -0.0/0.0) and makes NaN
    equal to itself."""
    t = type(value)
    if t is float:
        return ("float", "nan" if math.isnan(value) else value.hex())
    if t in (tuple, list):
        return (t.__name__, [exact(v) for v in value])
    if isinstance(value, dict):
        return ("dict", [(k, exact(v)) for k, v in value.items()])
    return (t.__name__, value)


__all__ = ["exact"]
