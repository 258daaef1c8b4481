"""TLS on both server ports (`--tls-cert FILE --tls-key FILE`), with a CA and certificate made in the test and
real clients: `requests` verifying against the CA, the OpenTelemetry OTLP exporters (HTTP with
`certificate_file`, gRPC with `credentials`), and this package's own exporter (`verify=`). Bad files are refused
at start-up with a message naming the flag and the file."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_honeyhive import HoneyHiveSpanExporter, spans_to_events
from otel_honeyhive.server.config import ServerConfig
from tests.support.event_files import cli_env
from tests.support.server import RunningServer, free_port, run_server
from tests.support.spans import llm_traces
from tests.support.tls import TlsFiles, encrypted_key, make_tls_files, other_key

pytestmark = pytest.mark.slow  # certificates made, TLS servers started for each test


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles) -> Iterator[RunningServer]:
    """Started only once `/healthz` answered over HTTPS, verified against the test CA."""
    with run_server(tmp_path_factory.mktemp("tls-server"), "--tls-cert", str(tls.cert), "--tls-key", str(tls.key),
                    grpc=True, ca=tls.ca) as running:
        yield running


def all_stored(server: RunningServer, spans: list[ReadableSpan]) -> bool:
    with server.store() as store:
        return all(store.get_event(e["event_id"]) is not None for e in spans_to_events(spans))


def test_the_http_port_speaks_https_only(server: RunningServer, tls: TlsFiles) -> None:
    assert server.url.startswith("https://")
    assert "HTTPS on https://" in server.stderr() and "gRPC (TLS) on" in server.stderr()
    assert requests.get(server.url + "/healthz", verify=str(tls.ca), timeout=5).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(server.url + "/healthz", timeout=5)  # the system's CAs do not know the test CA
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url.replace("https://", "http://") + "/healthz", timeout=5)  # no clear text


def test_the_otlp_http_exporter_sends_over_https(
    server: RunningServer, tls: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK's exporter sets its CA on a requests session, which $REQUESTS_CA_BUNDLE overrides (a requests quirk;
    # this package's own exporter passes `verify` with every request instead, see the test below).
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    spans = llm_traces(2, name="tls-http")
    exporter = HttpSpanExporter(endpoint=server.url + "/v1/traces", certificate_file=str(tls.ca))
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()  # type: ignore[no-untyped-call]
    assert all_stored(server, spans)


def test_the_otlp_grpc_exporter_sends_over_tls(server: RunningServer, tls: TlsFiles) -> None:
    spans = llm_traces(2, name="tls-grpc")
    credentials = grpc.ssl_channel_credentials(root_certificates=tls.ca.read_bytes())
    exporter = GrpcSpanExporter(endpoint=server.grpc_target, credentials=credentials)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert all_stored(server, spans)


def test_a_plain_grpc_client_is_not_served(server: RunningServer) -> None:
    with grpc.insecure_channel(server.grpc_target) as channel, pytest.raises(grpc.FutureTimeoutError):
        grpc.channel_ready_future(channel).result(timeout=2)


def test_the_packages_exporter_ships_to_the_https_api(
    server: RunningServer, tls: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")  # must not override `verify`
    spans = llm_traces(2, name="tls-honeyhive")
    exporter = HoneyHiveSpanExporter(server_url=server.url, verify=str(tls.ca), hold_timeout=0)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert exporter.stats.events_failed == 0
    assert all_stored(server, spans)


# -- bad files are refused at start-up -----------------------------------------------------------------------------


def refusal(tls: TlsFiles, cert: Path | None, key: Path | None) -> str:
    with pytest.raises(ValueError) as error:
        ServerConfig.resolve(tls_cert=cert, tls_key=key, environ={})
    return str(error.value)


def test_a_certificate_without_a_key_is_refused(tls: TlsFiles) -> None:
    assert "--tls-cert and --tls-key go together" in refusal(tls, tls.cert, None)
    assert "--tls-cert and --tls-key go together" in refusal(tls, None, tls.key)


def test_missing_files_are_named(tls: TlsFiles, tmp_path: Path) -> None:
    assert refusal(tls, tmp_path / "nope.pem", tls.key) == f"--tls-cert: no such file: {tmp_path / 'nope.pem'}"
    assert refusal(tls, tls.cert, tmp_path / "nope.key") == f"--tls-key: no such file: {tmp_path / 'nope.key'}"
    assert refusal(tls, tmp_path, tls.key) == f"--tls-cert: not a file: {tmp_path}"


def test_files_that_are_not_pem_are_named(tls: TlsFiles, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"\x00not a certificate")
    assert "--tls-cert:" in refusal(tls, garbage, tls.key) and "not a PEM certificate" in refusal(tls, garbage, tls.key)
    assert "not a PEM private key" in refusal(tls, tls.cert, garbage)
    assert "not a PEM private key" in refusal(tls, tls.cert, tls.cert)  # the two files swapped
    broken = tmp_path / "broken.pem"
    broken.write_bytes(b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    assert f"cannot load {broken}" in refusal(tls, broken, tls.key)


def test_a_key_of_another_certificate_or_with_a_passphrase_is_refused(tls: TlsFiles, tmp_path: Path) -> None:
    assert "is not the private key of the certificate" in refusal(tls, tls.cert, other_key(tmp_path / "o.key"))
    message = refusal(tls, tls.cert, encrypted_key(tls, tmp_path / "enc.key"))
    assert "is encrypted; passphrase-protected keys are not supported" in message


def test_the_cli_says_what_is_wrong_and_exits_2(tls: TlsFiles, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "otel_honeyhive.cli", "serve", "--http-port", str(free_port()), "--grpc-port", "0",
         "--db", str(tmp_path / "db"), "--tls-cert", str(tls.cert), "--tls-key", str(tmp_path / "missing.key")],
        capture_output=True, text=True, timeout=30, env=cli_env(),
    )
    assert done.returncode == 2
    assert done.stderr == f"otel-honeyhive serve: --tls-key: no such file: {tmp_path / 'missing.key'}\n"
