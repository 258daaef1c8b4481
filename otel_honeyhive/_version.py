"""The version, and which build of it is installed (both shown by `otel-honeyhive --version`)."""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES
from importlib.util import find_spec

VERSION = "0.1.0"


def compiled() -> bool:
    """Whether the hot path (spans, mapper, payloads, OTLP decoding) runs compiled by mypyc, as wheels install
    it, or as pure Python, as editable installs and `OTEL_HONEYHIVE_PURE_PYTHON=1` builds run it."""
    spec = find_spec("otel_honeyhive.mapper.rules")
    return spec is not None and spec.origin is not None and spec.origin.endswith(tuple(EXTENSION_SUFFIXES))
