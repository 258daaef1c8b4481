"""otel-honeyhive: a bridge between OpenTelemetry tracing and HoneyHive's event model.

The public names are loaded lazily so that `otel-honeyhive` CLI commands start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_honeyhive._version import VERSION, compiled

__version__ = VERSION

if TYPE_CHECKING:
    from otel_honeyhive.inputs.sdk import HoneyHiveSpanExporter
    from otel_honeyhive.inputs.sdk_logs import HoneyHiveLogExporter
    from otel_honeyhive.mapper import spans_to_events
    from otel_honeyhive.mapper.explain import explain
    from otel_honeyhive.mapper.reverse import events_to_spans
    from otel_honeyhive.mapper.rules import Convention, Field, Group
    from otel_honeyhive.mapper.ruleset import Ruleset

_LAZY = {
    "HoneyHiveSpanExporter": "otel_honeyhive.inputs.sdk",
    "HoneyHiveLogExporter": "otel_honeyhive.inputs.sdk_logs",
    "spans_to_events": "otel_honeyhive.mapper",
    "explain": "otel_honeyhive.mapper.explain",
    "events_to_spans": "otel_honeyhive.mapper.reverse",
    "Convention": "otel_honeyhive.mapper.rules",
    "Field": "otel_honeyhive.mapper.rules",
    "Group": "otel_honeyhive.mapper.rules",
    "Ruleset": "otel_honeyhive.mapper.ruleset",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'otel_honeyhive' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Convention",
    "Field",
    "Group",
    "HoneyHiveLogExporter",
    "HoneyHiveSpanExporter",
    "Ruleset",
    "__version__",
    "compiled",
    "events_to_spans",
    "explain",
    "spans_to_events",
]
