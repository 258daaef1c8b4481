"""Reading the bridge's `/metrics` the way Prometheus does: with `prometheus_client`'s own text parser, so a
malformed exposition fails the test that scrapes it."""

from __future__ import annotations

from collections.abc import Mapping

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.server import RunningServer

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample, keyed by (sample name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(server: RunningServer, token: str | None = None) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = requests.get(server.url + "/metrics", headers=headers, timeout=10, verify=server.verify)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def value(samples: Samples, name: str, labels: Mapping[str, str] | None = None) -> float:
    """One sample's value; 0 when it is absent (a labelled counter not incremented yet)."""
    return samples.get((name, frozenset((labels or {}).items())), 0.0)
