"""otel-honeyhive: a bridge between OpenTelemetry tracing and HoneyHive's event model.

The public names are loaded lazily so that `otel-honeyhive` CLI commands start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_honeyhive._version import VERSION

__version__ = VERSION

if TYPE_CHECKING:
    from otel_honeyhive.inputs.sdk import HoneyHiveSpanExporter
    from otel_honeyhive.mapper import spans_to_events
    from otel_honeyhive.mapper.reverse import events_to_spans
    from otel_honeyhive.mapper.rules import Convention, Field, Group, Ruleset

_LAZY = {
    "HoneyHiveSpanExporter": "otel_honeyhive.inputs.sdk",
    "spans_to_events": "otel_honeyhive.mapper",
    "events_to_spans": "otel_honeyhive.mapper.reverse",
    "Convention": "otel_honeyhive.mapper.rules",
    "Field": "otel_honeyhive.mapper.rules",
    "Group": "otel_honeyhive.mapper.rules",
    "Ruleset": "otel_honeyhive.mapper.rules",
}


def compiled() -> bool:
    """Whether the hot path (spans, mapper, payloads, OTLP decoding) runs compiled by mypyc, as wheels install
    it, or as pure Python, as editable installs and `OTEL_HONEYHIVE_PURE_PYTHON=1` builds run it."""
    from importlib.machinery import EXTENSION_SUFFIXES
    from importlib.util import find_spec

    spec = find_spec("otel_honeyhive.mapper.rules")
    return spec is not None and spec.origin is not None and spec.origin.endswith(tuple(EXTENSION_SUFFIXES))


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
    "HoneyHiveSpanExporter",
    "Ruleset",
    "__version__",
    "compiled",
    "events_to_spans",
    "spans_to_events",
]
