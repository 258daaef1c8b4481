"""Checks that no event of one project was ever sent with another project's key (docs/routing.md).

`KEYS` maps each test project to its key. A batch request's key must be its events' project's: on the legacy
route each event names its `project`; on the v1 route the key alone decides (the bridge moves the project into
`metadata.project`, which must agree)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tests.support.fake_honeyhive import BATCH_PATHS, V1_BATCH, FakeHoneyHive

KEYS = {"support": "key-support-0001", "billing": "key-billing-0002", "main": "key-main-0003",
        "acme": "key-acme-0004"}
PROJECT_OF_KEY = {key: project for project, key in KEYS.items()}


def project_of(event: dict[str, Any], path: str) -> Any:
    if path == V1_BATCH:
        assert "project" not in event, "the v1 route takes no per-event project"
        metadata = event.get("metadata") or {}
        return metadata.get("project")
    return event.get("project")


def events_by_key(honeyhive: FakeHoneyHive) -> dict[str, list[dict[str, Any]]]:
    """Every event of every accepted batch by the project whose key sent it, after checking each request: one
    key, a known one, and every event of the request of that key's project."""
    received: dict[str, list[dict[str, Any]]] = defaultdict(list)
    served = [(r, True) for r in honeyhive.requests] + [(r, False) for r in honeyhive.refused]
    for request, accepted in served:
        if request.path not in BATCH_PATHS:
            continue
        authorization = request.headers.get("Authorization", "")
        assert authorization.startswith("Bearer "), f"a batch without a key: {request.path}"
        key = authorization.removeprefix("Bearer ")
        assert key in PROJECT_OF_KEY, "a batch sent with a key no project has"
        project = PROJECT_OF_KEY[key]
        events = (request.body or {}).get("events", [])
        crossing = [e.get("event_id") for e in events if project_of(e, request.path) != project]
        assert not crossing, f"events of another project sent with {project}'s key: {crossing}"
        if accepted and 200 <= request.status < 300:
            received[project].extend(events)
    return dict(received)
