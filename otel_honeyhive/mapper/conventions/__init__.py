"""The built-in conventions, one module each. Order does not matter: ranks decide precedence."""

from __future__ import annotations

from otel_honeyhive.mapper.conventions import (
    anthropic,
    genai,
    google_genai,
    honeyhive,
    openinference,
    openllmetry,
    span_events,
)
from otel_honeyhive.mapper.rules import Convention

DEFAULT_CONVENTIONS: tuple[Convention, ...] = (
    honeyhive.CONVENTION,
    genai.CONVENTION,
    openllmetry.CONVENTION,
    openinference.CONVENTION,
    span_events.CONVENTION,
    anthropic.CONVENTION,
    google_genai.CONVENTION,
)
