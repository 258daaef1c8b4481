"""DNS rebinding: a page the user visits can point its own name at 127.0.0.1 and then read whatever answers
there as its own origin. Bound to a loopback address, the server answers only requests whose `Host` is a loopback
name (localhost, *.localhost, 127.0.0.0/8, [::1]); other names get a 403 naming the host and the option that
allows it (`--allowed-host`, `HH_ALLOWED_HOSTS`, the config file's `allowed-host`). Clients sending to 127.0.0.1
or localhost, OTLP exporters included, are unaffected.

The real server in a subprocess, on real sockets, with the `Host` header a rebinding page's browser would send."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from starlette.testclient import TestClient

from otel_honeyhive.server.app import build_app
from otel_honeyhive.server.config import ServerConfig
from otel_honeyhive.server.hosts import host_policy
from tests.server.viewer.stored import SESSION, StoreSink, agent_session, write
from tests.support.metrics import scrape, value
from tests.support.server import RunningServer, run_server
from tests.support.waiting import wait_until

REBOUND = "attacker.example"
"""The name a rebinding page runs under, resolved to 127.0.0.1 once the page has loaded."""
REFUSALS = "otel_honeyhive_host_refusals_total"


def get(server: RunningServer, path: str, host: str | None) -> requests.Response:
    headers = {"Host": host} if host is not None else {}
    return requests.get(server.url + path, headers=headers, timeout=10)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "hosts.db"
    write(path, agent_session())
    return path


@pytest.fixture(scope="module")
def loopback(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server on 127.0.0.1 with a session stored, for the tests that only ask it things."""
    where = tmp_path_factory.mktemp("loopback")
    write(where / "hosts.db", agent_session())
    with run_server(where, "--db", str(where / "hosts.db")) as server:
        yield server


def test_a_rebound_name_reads_nothing_from_the_viewer_or_the_metrics(tmp_path: Path, db: Path) -> None:
    with run_server(tmp_path, "--db", str(db)) as server:
        for path in ("/", f"/sessions/{SESSION}", "/metrics", "/viewer/static/viewer.css"):
            answer = get(server, path, f"{REBOUND}:{server.port}")
            assert answer.status_code == 403, path
            assert "checkout-agent" not in answer.text and SESSION not in answer.text.replace(path, "")
            said = html.unescape(answer.text)
            assert f"'{REBOUND}:{server.port}'" in said and f"--allowed-host {REBOUND}" in said, said
            assert "HH_ALLOWED_HOSTS" in said
        assert value(scrape(server), REFUSALS) == 4
        assert value(scrape(server), "otel_honeyhive_requests_total", {"input": "metrics", "status": "403"}) == 1


def test_a_refused_page_is_a_page_a_person_can_read(loopback: RunningServer) -> None:
    answer = get(loopback, "/", f"{REBOUND}:{loopback.port}")
    assert answer.status_code == 403 and answer.headers["content-type"].startswith("text/html")
    assert "<h1>" in answer.text and "DNS rebinding" in answer.text


@pytest.mark.parametrize("host", ["localhost", "localhost:{port}", "LOCALHOST:{port}", "viewer.localhost:{port}",
                                  "127.0.0.1:{port}", "127.8.9.10", "[::1]:{port}", "localhost.:{port}", None])
def test_loopback_names_are_served(loopback: RunningServer, host: str | None) -> None:
    answer = get(loopback, f"/sessions/{SESSION}", host.format(port=loopback.port) if host else None)
    assert answer.status_code == 200 and "checkout-agent" in answer.text


@pytest.mark.parametrize("host", ["localhost.attacker.example", "127.0.0.1.attacker.example", "10.0.0.1",
                                  "[::ffff:7f00:1]x", "[fe80::1]:80", "localhost:{port}@attacker.example",
                                  "localhost:99999999999"])
def test_names_that_only_look_local_are_refused(loopback: RunningServer, host: str) -> None:
    answer = get(loopback, "/", host.format(port=loopback.port))
    assert answer.status_code in (400, 403), host
    assert "checkout-agent" not in answer.text


@pytest.mark.slow
def test_otlp_clients_sending_to_localhost_or_127_0_0_1_are_unaffected(tmp_path: Path) -> None:
    with run_server(tmp_path, "--hold-timeout", "0") as server:
        for endpoint in (f"http://localhost:{server.port}/v1/traces", f"{server.url}/v1/traces"):
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=10)))
            with provider.get_tracer("hosts").start_as_current_span(f"sent to {endpoint}"):
                pass
            provider.shutdown()
        with server.store() as store:
            wait_until(lambda: len(store.list_sessions(10)) == 2, 10, explain="both traces stored")
        refused = requests.post(server.url + "/v1/traces", data=b"", headers={
            "Host": REBOUND, "Content-Type": "application/x-protobuf"}, timeout=10)
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/x-protobuf"


def test_healthz_answers_any_host_it_holds_no_data(loopback: RunningServer) -> None:
    assert get(loopback, "/healthz", "10.1.2.3:4318").status_code == 200


@pytest.mark.slow
def test_allowed_hosts_come_from_the_flag_the_environment_or_the_config_file(tmp_path: Path, db: Path) -> None:
    with run_server(tmp_path, "--db", str(db), "--allowed-host", "hub.example.org",
                    "--allowed-host", ".lab.example") as server:
        assert get(server, "/", "hub.example.org").status_code == 200
        assert get(server, "/", "HUB.example.org:8443").status_code == 200
        assert get(server, "/", "gpu1.lab.example").status_code == 200
        assert get(server, "/", "lab.example").status_code == 200
        assert get(server, "/", "localhost").status_code == 200, "loopback names stay allowed"
        assert get(server, "/", "other.example.org").status_code == 403
    with run_server(tmp_path, "--db", str(db), env={"HH_ALLOWED_HOSTS": "a.example, b.example"}) as server:
        assert [get(server, "/", name).status_code for name in ("a.example", "b.example", "c.example")] == \
            [200, 200, 403]
    config = tmp_path / "serve.toml"
    config.write_text('allowed-host = ["hub.example.org"]\n')
    with run_server(tmp_path, "--db", str(db), "--config", str(config)) as server:
        assert get(server, "/", "hub.example.org").status_code == 200
        assert get(server, "/", REBOUND).status_code == 403


def test_the_flag_wins_over_the_environment() -> None:
    config = ServerConfig.resolve(allowed_hosts=["flag.example"], environ={"HH_ALLOWED_HOSTS": "env.example"})
    assert config.allowed_hosts == ("flag.example",)


@pytest.mark.parametrize(("given", "why"), [
    ("http://hub.example.org", "the name alone"), ("hub.example.org:8443", "the name alone"),
    ("hub.example.org/proxy", "the name alone"), ("bad name", "the name alone"), ("*.example.org", ".example.org"),
])
def test_a_malformed_allowed_host_is_one_line_naming_the_option(given: str, why: str) -> None:
    with pytest.raises(ValueError, match="--allowed-host") as caught:
        ServerConfig.resolve(allowed_hosts=[given])
    assert why in str(caught.value) and given in str(caught.value)
    with pytest.raises(ValueError, match="HH_ALLOWED_HOSTS"):
        ServerConfig.resolve(environ={"HH_ALLOWED_HOSTS": given})


def test_bound_to_another_address_the_operator_chose_to_expose_it_and_no_host_is_refused(db: Path) -> None:
    """The check guards a loopback-only server; one bound to 0.0.0.0 or a LAN address is reached by names the
    server cannot know (its IPs, DNS names): no check, unless allowed hosts are given."""
    assert host_policy("127.0.0.1", ()) is not None
    assert host_policy("::1", ()) is not None
    assert host_policy("localhost", ()) is not None
    assert host_policy("0.0.0.0", ()) is None
    assert host_policy("192.168.1.20", ()) is None
    assert host_policy("127.0.0.1", ("*",)) is None
    exposed = ServerConfig(host="0.0.0.0", db_path=db)
    with TestClient(build_app(exposed, StoreSink(db)), base_url=f"http://{REBOUND}") as client:
        assert "checkout-agent" in client.get("/").text
    listed = ServerConfig(host="0.0.0.0", db_path=db, allowed_hosts=("bridge.internal",))
    with TestClient(build_app(listed, StoreSink(db)), base_url=f"http://{REBOUND}") as client:
        assert client.get("/").status_code == 403
        assert client.get("/", headers={"Host": "bridge.internal:4318"}).status_code == 200

