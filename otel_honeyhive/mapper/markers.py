"""The attributes that mark a span made from a HoneyHive event (by `reverse.py`), which the forward mapper
(`trace.py`) reads to rebuild that event exactly. Both directions import them from here."""

from __future__ import annotations

ORIGIN_KEY = "honeyhive_event_origin"
"""Marks a span made from a HoneyHive event: the mapper then rebuilds the event from its HoneyHive attributes
alone (the event JSON), adding nothing, so the round trip is the identity."""
EVENT_KEY = "honeyhive_event"
"""The event's fields other than its buckets and ids, as JSON (source, project, children_ids, exact times …)."""
