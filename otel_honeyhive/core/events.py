"""The event record that flows from the mapper (or the HoneyHive-compatible API) to every output."""

from __future__ import annotations

from typing import Any

Event = dict[str, Any]
"""A HoneyHive event as a JSON-ready dict (https://docs.honeyhive.ai/schema-overview; docs/mapping.md)."""

EVENT_TYPES = ("session", "model", "tool", "chain")
BUCKETS = ("config", "inputs", "outputs", "metadata", "metrics", "feedback", "user_properties")

DEFAULT_SOURCE = "dev"
"""The `source` of events made from spans when none is configured (HoneyHive's SDK uses the same default)."""
