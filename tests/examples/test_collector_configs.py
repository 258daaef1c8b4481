"""The Collector configurations in examples/collector/ are complete and point at the bridge correctly.

No Collector binary is available offline, so these check what a Collector would refuse at start-up: every
component a pipeline names is defined, and the load-balancing tier routes by trace id to bridges' OTLP port."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "examples" / "collector").glob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_component_a_pipeline_names_is_defined(path: Path) -> None:
    doc = load(path)
    service = doc["service"]
    for pipeline in service["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            for name in pipeline.get(kind, []):
                assert name in doc[kind], f"{path.name}: {kind[:-1]} {name!r} is not defined"
    for name in service.get("extensions", []):
        assert name in doc["extensions"]


def test_the_load_balancing_tier_routes_by_trace_id_to_several_bridges() -> None:
    doc = load(next(p for p in CONFIGS if p.name == "loadbalancing.yaml"))
    exporter = doc["exporters"]["loadbalancing"]
    assert exporter["routing_key"] == "traceID"
    hostnames = exporter["resolver"]["static"]["hostnames"]
    assert len(hostnames) >= 2 and all(h.endswith(":4317") for h in hostnames)
    assert "otlp" in exporter["protocol"]
    assert doc["service"]["pipelines"]["traces"]["exporters"] == ["loadbalancing"]


def test_the_sidecar_sends_otlp_to_one_bridge_with_its_token() -> None:
    doc = load(next(p for p in CONFIGS if p.name == "sidecar.yaml"))
    bridge = doc["exporters"]["otlp/bridge"]
    assert bridge["endpoint"].startswith("127.0.0.1:")
    assert "Bearer" in bridge["headers"]["authorization"]
    assert bridge["retry_on_failure"]["enabled"] is True
