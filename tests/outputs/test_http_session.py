"""The HTTP outputs read the environment once, with requests' own rules, and then stop asking: proxies and CA
bundles from the environment still apply, and `~/.netrc` can no longer replace the Authorization header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_honeyhive.outputs.honeyhive.client import HoneyHiveOutput
from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
from otel_honeyhive.outputs.http_session import pinned_session
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.support.fake_honeyhive import FakeHoneyHive, fake_honeyhive

ONE_ATTEMPT = RetryPolicy(deadline=2.0, max_attempts=1)
EVENT = {"event_id": "e1", "session_id": "1b4e28ba-2d11-4ad0-8b43-2c0f1b5e5d0b", "event_type": "tool"}
NOWHERE = "http://honeyhive.invalid"
"""A host that does not resolve: only a proxy can carry a request there (RFC 2606)."""


@pytest.fixture
def server() -> Iterator[FakeHoneyHive]:
    with fake_honeyhive() as fake:
        yield fake


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY",
                 "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return monkeypatch


def output(url: str) -> HoneyHiveOutput:
    settings = HoneyHiveSettings.resolve(api_key="the-key", server_url=url, environ={})
    return HoneyHiveOutput(settings, ONE_ATTEMPT)


def test_a_proxy_set_in_the_environment_carries_the_requests(server: FakeHoneyHive,
                                                              clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HTTP_PROXY", server.url)  # the fake answers as the proxy would, once it has forwarded
    out = output(NOWHERE)
    assert out.send([EVENT]).ok
    assert [r.path for r in server.requests] == [NOWHERE + "/events/batch"]  # the absolute form: via the proxy
    assert server.requests[0].headers["Authorization"] == "Bearer the-key"


def test_the_environment_is_read_when_the_output_is_made_not_per_request(server: FakeHoneyHive,
                                                                         clean_env: pytest.MonkeyPatch) -> None:
    out = output(server.url)
    clean_env.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # set later: not consulted (it would refuse)
    assert out.send([EVENT]).ok
    assert [r.path for r in server.requests] == ["/events/batch"]


def test_no_proxy_exempts_the_host_as_requests_would(server: FakeHoneyHive, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    clean_env.setenv("NO_PROXY", "127.0.0.1")
    assert output(server.url).send([EVENT]).ok
    assert [r.path for r in server.requests] == ["/events/batch"]


def test_netrc_cannot_replace_the_api_key(server: FakeHoneyHive, clean_env: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n", encoding="utf-8")
    netrc.chmod(0o600)
    clean_env.setenv("NETRC", str(netrc))
    assert output(server.url).send([EVENT]).ok
    assert server.requests[0].headers["Authorization"] == "Bearer the-key"


def test_a_ca_bundle_from_the_environment_applies_unless_one_is_given(clean_env: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    bundle = tmp_path / "corporate-ca.pem"
    bundle.write_text("", encoding="utf-8")
    clean_env.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    assert pinned_session("https://api.honeyhive.ai", {}).verify == str(bundle)
    assert pinned_session("https://api.honeyhive.ai", {}, "/etc/given.pem").verify == "/etc/given.pem"
    assert pinned_session("https://api.honeyhive.ai", {}, False).verify is False
