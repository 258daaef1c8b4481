"""Durations as people read them, the same in the terminal (`cli/render.py`) and the web viewer."""

from __future__ import annotations

from typing import Any

from otel_honeyhive.core.jsonable import number


def format_duration(ms: Any, missing: str = "-") -> str:
    """Milliseconds as `9.5 ms`, `120 ms`, `2.50 s`, `3m 05s` or `1h 02m`; `missing` when not a number."""
    value = number(ms)
    if value is None:
        return missing
    if abs(value) < 10:
        return f"{value:.1f} ms"
    if abs(value) < 1000:
        return f"{value:.0f} ms"
    seconds = value / 1000
    if abs(seconds) < 60:
        return f"{seconds:.2f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


__all__ = ["format_duration", "number"]
