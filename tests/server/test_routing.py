"""Per-project routing end to end: two services (real OTLP/HTTP exporters, each with its own `service.name`) send
to one real `otel-honeyhive serve --config routes.toml`, which forwards to a fake HoneyHive that checks every
request's key against its events' project. Each project's events arrive with its key, none crossing over; an
unrouted trace is refused and counted on `/metrics`; through the spool, across a kill and a restart, the key is
still the project's (and never on disk); YAML works as TOML does; a bad file is one line."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_honeyhive.cli.main import main
from tests.support.fake_honeyhive import FakeHoneyHive, Reply, fake_honeyhive
from tests.support.metrics import scrape, value
from tests.support.routing import KEYS, events_by_key
from tests.support.server import RunningServer, run_server, start_server
from tests.support.waiting import wait_until

DROPPED = "otel_honeyhive_spans_dropped_total"
ENV = {"HH_KEY_SUPPORT": KEYS["support"], "HH_KEY_BILLING": KEYS["billing"]}

TOML = """\
hold-timeout = 0.2
api_version = "{api_version}"
server-url = "{url}"

[routing]
unrouted = "{unrouted}"
default = "main"

[[routing.rules]]
resource = {{ "service.name" = "support-*" }}
project = "support"

[[routing.rules]]
resource = {{ "service.name" = "billing" }}
project = "billing"

[routing.projects.support]
api_key_env = "HH_KEY_SUPPORT"

[routing.projects.billing]
api_key_env = "HH_KEY_BILLING"

[routing.projects.main]
api_key = "{main_key}"
"""

YAML = """\
hold_timeout: 0.2
server_url: "{url}"
api-version: {api_version}
routing:
  unrouted: {unrouted}
  default: main
  rules:
    - resource: {{service.name: "support-*"}}
      project: support
    - resource: {{service.name: billing}}
      project: billing
  projects:
    support: {{api_key_env: HH_KEY_SUPPORT}}
    billing: {{api_key_env: HH_KEY_BILLING}}
    main: {{api_key: "{main_key}"}}
"""


def write_config(tmp_path: Path, honeyhive: FakeHoneyHive, *, kind: str = "toml", unrouted: str = "default",
                 api_version: str = "v1") -> Path:
    path = tmp_path / f"routes.{kind}"
    text = (TOML if kind == "toml" else YAML).format(url=honeyhive.url, unrouted=unrouted, api_version=api_version,
                                                     main_key=KEYS["main"])
    path.write_text(text)
    path.chmod(0o600)
    return path


def send_traces(server: RunningServer, services: dict[str, int]) -> None:
    """`services`: service.name → how many traces (two spans each) it sends, each through its own exporter."""
    for service, traces in services.items():
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=server.url + "/v1/traces")))
        tracer = provider.get_tracer("app")
        for i in range(traces):
            with tracer.start_as_current_span(f"{service} request {i}"), \
                    tracer.start_as_current_span("chat gpt-4o", attributes={"gen_ai.operation.name": "chat"}):
                pass
        provider.shutdown()


def counts(honeyhive: FakeHoneyHive) -> dict[str, int]:
    return {project: len(events) for project, events in events_by_key(honeyhive).items()}


@pytest.fixture
def honeyhive() -> Iterator[FakeHoneyHive]:
    with fake_honeyhive("v1") as server:
        yield server


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["toml", "yaml"])
def test_two_services_reach_two_projects_with_two_keys_none_crossing(
    tmp_path: Path, honeyhive: FakeHoneyHive, kind: str
) -> None:
    config = write_config(tmp_path, honeyhive, kind=kind)
    with run_server(tmp_path, "--config", str(config), env=ENV) as server:
        send_traces(server, {"support-api": 3, "billing": 2, "web": 1})
        expected = {"support": 6, "billing": 4, "main": 2}
        wait_until(lambda: counts(honeyhive) == expected, 10, explain=f"{expected} events by project",
                   diagnose=lambda: f"{counts(honeyhive)}\n{server.stderr()}")
        assert all(e["metadata"]["project"] == "support" for e in events_by_key(honeyhive)["support"])
        assert "projects routed by" in server.stderr() and "key-" not in server.stderr()


@pytest.mark.slow
def test_events_posted_to_the_api_go_with_their_projects_key(tmp_path: Path, honeyhive: FakeHoneyHive) -> None:
    """Events that arrive as events keep the project they name (else the routing's default project); one naming
    a project the table has no key for is refused as it arrives."""
    config = write_config(tmp_path, honeyhive)
    with run_server(tmp_path, "--config", str(config), env=ENV) as server:
        for i, project in enumerate((None, "billing")):
            event = {"event_id": f"00000000-0000-4000-8000-00000000000{i}", "event_type": "tool",
                     "event_name": "lookup", "inputs": {}, **({"project": project} if project else {})}
            answer = requests.post(server.url + "/events/batch", json={"events": [event]}, timeout=10)
            assert answer.status_code == 200, answer.text
        wait_until(lambda: counts(honeyhive) == {"main": 1, "billing": 1}, 10, explain="one event per project",
                   diagnose=lambda: f"{counts(honeyhive)}\n{server.stderr()}")
        stray = {"event_id": "00000000-0000-4000-8000-000000000009", "event_type": "tool", "event_name": "x",
                 "inputs": {}, "project": "marketing"}
        answer = requests.post(server.url + "/events/batch", json={"events": [stray]}, timeout=10)
        assert answer.status_code == 502 and "marketing" in answer.text  # refused as it arrives, never sent
        assert counts(honeyhive) == {"main": 1, "billing": 1}


@pytest.mark.slow
def test_unrouted_traces_are_refused_counted_and_logged_once(tmp_path: Path, honeyhive: FakeHoneyHive) -> None:
    config = write_config(tmp_path, honeyhive, unrouted="refuse")
    with run_server(tmp_path, "--config", str(config), env=ENV) as server:
        send_traces(server, {"billing": 1, "stray": 3})
        wait_until(lambda: value(scrape(server), DROPPED, {"reason": "unrouted"}) == 6, 10,
                   explain="6 unrouted spans counted", diagnose=server.stderr)
        wait_until(lambda: counts(honeyhive) == {"billing": 2}, 10, explain="billing's events")
        assert server.stderr().count("service.name='stray'") == 1


@pytest.mark.slow
def test_the_spool_keeps_the_project_and_the_restarted_server_sends_with_its_key(tmp_path: Path) -> None:
    with fake_honeyhive("legacy") as honeyhive:  # the legacy route: each event names its project as well
        config, spool = spool_while_down(tmp_path, honeyhive)
        with run_server(tmp_path, "--config", str(config), "--spool-dir", str(spool), env=ENV) as server:
            wait_until(lambda: counts(honeyhive) == {"support": 4, "billing": 4}, 15,
                       explain="the spooled events delivered",
                       diagnose=lambda: f"{counts(honeyhive)}\n{server.stderr()}")


@pytest.mark.slow
def test_spool_redrive_with_the_config_sends_each_event_with_its_projects_key(
    tmp_path: Path, honeyhive: FakeHoneyHive, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config, spool = spool_while_down(tmp_path, honeyhive)
    for name, key in ENV.items():
        monkeypatch.setenv(name, key)
    assert main(["spool", "redrive", str(spool), "--config", str(config), "--timeout", "5"]) == 0, \
        capsys.readouterr().err
    assert counts(honeyhive) == {"support": 4, "billing": 4}


def spool_while_down(tmp_path: Path, honeyhive: FakeHoneyHive) -> tuple[Path, Path]:
    """Two services' traces spooled by a server that is then killed while HoneyHive is down; HoneyHive is up
    again on return. The config file and the spool directory."""
    spool = tmp_path / "spool"
    route = "legacy" if honeyhive.routes == "legacy" else "v1"
    config = write_config(tmp_path, honeyhive, api_version=route)
    honeyhive.default = Reply(503, headers={"Retry-After": "30"})  # HoneyHive is down: events wait in the spool
    server = start_server(tmp_path, "--config", str(config), "--spool-dir", str(spool), env=ENV)
    try:
        send_traces(server, {"support-api": 2, "billing": 2})
        wait_until(lambda: len(honeyhive.requests) >= 1, 10, explain="a first (refused) attempt")
    finally:
        server.stop(signal.SIGKILL)
    written = b"".join(p.read_bytes() for p in spool.rglob("*") if p.is_file())
    assert b"billing" in written  # the spooled events name their project ...
    assert not any(key.encode() in written for key in KEYS.values())  # ... and never a key
    honeyhive.default = Reply(200)
    return config, spool


def test_flags_win_over_the_file(tmp_path: Path, honeyhive: FakeHoneyHive, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked without serving: a port the file gives is replaced by the flag's, and the file's bad value is
    never seen once the flag overrides it."""
    config = write_config(tmp_path, honeyhive)
    text = config.read_text().replace('hold-timeout = 0.2', 'hold-timeout = 0.2\nhttp-port = 99999')
    config.write_text(text)
    for name, key in ENV.items():
        monkeypatch.setenv(name, key)
    assert main(["serve", "--config", str(config), "--http-port", "0", "--grpc-port", "0"]) == 2
    assert "nothing to serve" in capsys.readouterr().err  # 99999 was never checked: the flag won


@pytest.mark.parametrize(("text", "problem"), [
    ('colour = "red"\nsize = 3\n', "routes.toml: unknown key(s) 'colour', 'size'"),
    ("http_port = 1\nhttp-port = 2\n", "routes.toml: http-port: given twice (as http_port and http-port): keep one"),
    ("http-port = 99999\n", "routes.toml: http-port: port must be between 0 (off) and 65535, got 99999"),
    ('api-version = "v2"\n', "routes.toml: api-version: must be one of auto, v1, legacy, got 'v2'"),
    ("[routing]\ndefault = 'main'\n", "routes.toml: routing.default: project 'main' has no key"),
    ("[routing]\ndefault = 'main'\n[routing.projects.main]\napi_key_env = 'HH_KEY_NOT_SET'\n",
     "routes.toml: routing.projects.main.api_key_env: environment variable HH_KEY_NOT_SET is not set"),
    ("[routing]\n[[routing.rules]]\nresource = {'service.name' = 'a[b'}\nproject = 'x'\n",
     "routes.toml: routing.rules[0].resource.service.name: bad glob 'a[b'"),
    ("port = [", "routes.toml: not valid TOML"),
])
def test_a_bad_config_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                       problem: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("routes.toml").write_text(text)
    assert main(["serve", "--config", "routes.toml", "--grpc-port", "0"]) == 2  # each fails before binding
    err = capsys.readouterr().err
    assert err.startswith(f"otel-honeyhive serve: {problem}"), err
    assert err.count("\n") == 1


def test_a_yaml_key_without_a_value_is_named_as_such(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("routes.yaml").write_text("spool-dir:\n")
    assert main(["serve", "--config", "routes.yaml", "--grpc-port", "0"]) == 2
    err = capsys.readouterr().err
    assert err == ("otel-honeyhive serve: routes.yaml: spool-dir: has no value (YAML's null): give one, or leave the "
                   "key out\n")


def test_a_yaml_file_that_is_not_a_table_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "routes.yml"
    config.write_text("- just\n- a list\n")
    assert main(["serve", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err == f"otel-honeyhive serve: {config}: must hold a table of options (key = value), got list\n"


@pytest.mark.parametrize("mode", [0o644, 0o600])
def test_a_file_holding_a_literal_key_that_others_can_read_is_warned_about(
    tmp_path: Path, honeyhive: FakeHoneyHive, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, mode: int,
) -> None:
    config = write_config(tmp_path, honeyhive)
    config.chmod(mode)
    for name, key in ENV.items():
        monkeypatch.setenv(name, key)
    with caplog.at_level(logging.WARNING, logger="otel_honeyhive"):
        assert main(["serve", "--config", str(config), "--http-port", "0", "--grpc-port", "0"]) == 2
    warned = [r.getMessage() for r in caplog.records if "other users can read it" in r.getMessage()]
    if mode == 0o600:
        assert warned == []
    else:
        assert warned == [f"otel-honeyhive: {config} holds routing.projects.main.api_key and other users can read "
                          f"it (mode 644): `chmod 600 {config}`, or keep the keys in the environment (api_key_env, "
                          "HH_API_KEY)"]
    assert KEYS["main"] not in caplog.text + capsys.readouterr().err
