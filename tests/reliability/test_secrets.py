"""The API key and the auth token never appear in clear in anything the bridge produces: logs, reprs, exception
messages, CLI output, spool records, dead letters, state files, the store.

One realistic session produces all of it, with every failure that makes software talk: a server forwarding to a
HoneyHive that fails (503, then a refusal that dead-letters a batch), clients with wrong and right tokens on
both protocols, misconfigured starts, the in-process exporter with a spool, and a `replay` that fails and is
resumed. Then everything captured, and every file under the test's directory, is searched for the secrets
(as they are, and base64- and hex-encoded). Token comparison is checked to go through `hmac.compare_digest`.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from starlette.types import Message, Receive, Scope, Send

from otel_honeyhive import HoneyHiveSpanExporter
from otel_honeyhive.core.secrets import Secret
from otel_honeyhive.inputs.otlp import grpc as grpc_input
from otel_honeyhive.outputs.honeyhive import HoneyHiveOutput
from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
from otel_honeyhive.server.auth import BearerTokenAuth
from otel_honeyhive.server.config import ServerConfig
from otel_honeyhive.shipping.retry import RetryPolicy
from tests.reliability.conftest import Servers
from tests.reliability.figures import FIGURES
from tests.support.event_files import cli_env, stream_events, write_ndjson
from tests.support.fake_honeyhive import FakeHoneyHive, Reply
from tests.support.server import free_port
from tests.support.spans import batches, llm_traces
from tests.support.spool_files import pending_files
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow  # a whole session of servers, exporters and CLI runs

API_KEY = "hhk-live-9f86d081884c7d659a2feaa0c55ad015"
AUTH_TOKEN = "tok-live-a3bf4f1b2b0b822cd15d6c15b0f00a08"
SECRETS = (API_KEY, AUTH_TOKEN)


def spellings(secret: str) -> list[bytes]:
    """The secret as it is, and as base64 and hex would carry it."""
    raw = secret.encode()
    return [raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw), raw.hex().encode()]


def assert_no_secret(what: str, data: bytes) -> None:
    for secret in SECRETS:
        for spelled in spellings(secret):
            assert spelled not in data, f"a secret appears in {what}"


def cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "otel_honeyhive.cli", *args], capture_output=True,
                          env=cli_env(), timeout=timeout)


def test_no_secret_in_anything_a_realistic_session_produces(
    tmp_path: Path, servers: Servers, honeyhive: FakeHoneyHive, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everything any library logs in this process, urllib3's requests included
    captured: dict[str, bytes] = {}
    honeyhive.then(Reply(503), Reply(503), Reply(400, body=b'{"success": false, "error": "bad event"}'))
    honeyhive.default = Reply(200)

    # The server, forwarding to the failing HoneyHive, behind a token, spooling.
    server = servers.start("--api-key", API_KEY, "--auth-token", AUTH_TOKEN, "--server-url", honeyhive.url,
                           "--spool-dir", str(tmp_path / "spool"), grpc=True, env={"HH_TIMEOUT": "0.5"})
    spans = llm_traces(6, name="secret")
    body = encode_spans(spans).SerializeToString()
    url = server.url + "/v1/traces"
    for token in ("wrong", AUTH_TOKEN[:-1] + "x", ""):
        refused = requests.post(url, data=body, headers={"Content-Type": "application/x-protobuf",
                                                         "Authorization": f"Bearer {token}"}, timeout=10)
        assert refused.status_code == 401
        captured[f"401 answer to token {token!r}"] = refused.content + str(refused.headers).encode()
    bearer = {"Authorization": f"Bearer {AUTH_TOKEN}"}
    for part in batches(spans, 10):
        accepted = requests.post(url, data=encode_spans(part).SerializeToString(),
                                 headers={"Content-Type": "application/x-protobuf", **bearer}, timeout=10)
        assert accepted.status_code == 200
        captured["OTLP/HTTP answer"] = accepted.content
    answer = requests.post(server.url + "/events", json={"event": {"event_type": "tool", "inputs": {}}},
                           headers=bearer, timeout=10)
    captured["HoneyHive API answer"] = answer.content
    metrics = requests.get(server.url + "/metrics", headers=bearer, timeout=10)
    assert metrics.status_code == 200
    captured["/metrics"] = metrics.content
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.RpcError) as unauthenticated:
            stub.Export(encode_spans(spans[:2]), metadata=(("authorization", "Bearer nope"),), timeout=10)
        captured["gRPC refusal"] = str(unauthenticated.value).encode()
        stub.Export(encode_spans(spans[:2]), metadata=(("authorization", f"Bearer {AUTH_TOKEN}"),), timeout=10)
    outbox = tmp_path / "spool" / "outbox"
    wait_until(lambda: not pending_files(outbox) and (outbox / "dead").exists(), 30,
               explain="the outbox to empty through the 503s into the dead letter", diagnose=server.stderr)
    assert server.stop() == 0
    captured["server stderr"] = server.stderr().encode()
    assert b"400" in captured["server stderr"], "the session did produce error logs"

    # Misconfigured starts: each error message names the problem, never the secret.
    (tmp_path / "a-file").write_text("")
    for args in (
        ["--api-key", API_KEY, "--otlp-endpoint", "http://127.0.0.1:9"],
        ["--api-key", API_KEY, "--auth-token", AUTH_TOKEN, "--spool-dir", str(tmp_path / "a-file" / "spool")],
        ["--api-key", API_KEY, "--server-url", f"ftp://user:{API_KEY}@host"],
        ["--auth-token", AUTH_TOKEN, "--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", str(tmp_path)],
    ):
        done = cli("serve", "--http-port", str(free_port()), "--grpc-port", "0", *args)
        assert done.returncode in (1, 2) and done.stderr.startswith(b"otel-honeyhive serve: "), done.stderr
        captured[f"serve {args[2]}"] = done.stdout + done.stderr

    # The exporter, in process, with a spool, against the same (now recovered, then failing) HoneyHive.
    honeyhive.then(Reply(401, body=b'{"error": "unauthorized"}'), Reply(503))
    exporter = HoneyHiveSpanExporter(api_key=API_KEY, server_url=honeyhive.url, spool_dir=tmp_path / "exporter",
                                     retry_policy=RetryPolicy(deadline=0.5, initial_backoff=0.05, max_backoff=0.1))
    exporter.export(llm_traces(3, name="exporter-secret"))
    exporter.force_flush(5_000)
    captured["exporter repr"] = repr(exporter).encode() + repr(exporter.settings).encode()
    exporter.shutdown()
    with pytest.raises(ValueError) as bad_option:
        HoneyHiveSpanExporter(api_key=API_KEY, server_url="ftp://nowhere")
    captured["exporter ValueError"] = str(bad_option.value).encode()

    # replay, failing first (HoneyHive down), then resumed.
    events = tmp_path / "events.ndjson"
    write_ndjson(events, stream_events(20))
    honeyhive.default = Reply(503)
    failed = cli("replay", str(events), "--to", "honeyhive", "--api-key", API_KEY, "--server-url", honeyhive.url,
                 "--timeout", "0.5", "--batch-size", "5")
    assert failed.returncode == 1 and b"not delivered" in failed.stderr, failed.stderr
    honeyhive.default = Reply(200)
    resumed = cli("replay", str(events), "--to", "honeyhive", "--api-key", API_KEY, "--server-url", honeyhive.url,
                  "--batch-size", "5")
    assert resumed.returncode == 0, resumed.stderr
    captured["replay output"] = failed.stdout + failed.stderr + resumed.stdout + resumed.stderr

    # Reprs and messages of the objects that hold the secrets.
    config = ServerConfig.resolve(api_key=API_KEY, auth_token=AUTH_TOKEN, environ={})
    settings = HoneyHiveSettings.resolve(api_key=API_KEY, environ={})
    secret = Secret(API_KEY)
    captured["reprs"] = "\n".join([repr(config), str(config), repr(settings), repr(HoneyHiveOutput(settings)),
                                   repr(secret), str(secret), f"{secret}",
                                   "%s" % secret]).encode()  # noqa: UP031 (logging formats with %s)

    captured["log records"] = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records).encode()
    assert any("not delivered" in r.getMessage() or "401" in r.getMessage() for r in caplog.records)

    # Now search it all: what was captured, and every file the session left on disk.
    files = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink()]
    assert any(p.suffix == ".rec" for p in files), "the search covers spool records"
    assert any(p.suffix == ".reason" for p in files), "and dead letters with their reasons"
    assert any(p.name.endswith(".replay-state.json") for p in files), "and the replay state"
    searched = 0
    for what, data in captured.items():
        assert_no_secret(what, data)
        searched += len(data)
    for path in files:
        data = path.read_bytes()
        assert_no_secret(str(path.relative_to(tmp_path)), data)
        searched += len(data)
    FIGURES.secrets_checked.append((f"{len(captured)} outputs and {len(files)} files", searched))


# -- the token is compared in constant time ------------------------------------------------------------------------


class Spy:
    def __init__(self, real: Callable[[Any, Any], bool]) -> None:
        self.real = real
        self.calls: list[tuple[Any, Any]] = []

    def __call__(self, a: Any, b: Any) -> bool:
        self.calls.append((a, b))
        return self.real(a, b)


async def _status(app: Any, authorization: str | None) -> int:
    headers = [(b"authorization", authorization.encode())] if authorization is not None else []
    scope: Scope = {"type": "http", "path": "/v1/traces", "method": "POST", "headers": headers}
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    receive_: Receive = receive
    send_: Send = send
    await app(scope, receive_, send_)
    return int(sent[0]["status"])


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@pytest.mark.parametrize("given", [AUTH_TOKEN, "x" + AUTH_TOKEN[1:], AUTH_TOKEN[:-1] + "x", "short", ""])
def test_the_http_token_check_goes_through_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch, given: str) -> None:
    spy = Spy(hmac.compare_digest)
    monkeypatch.setattr("otel_honeyhive.core.secrets.hmac.compare_digest", spy)  # core.secrets.BearerToken
    app = BearerTokenAuth(_ok, Secret(AUTH_TOKEN))
    status = asyncio.run(_status(app, f"Bearer {given}"))
    assert status == (200 if given == AUTH_TOKEN else 401)
    assert spy.calls == [(given.encode(), AUTH_TOKEN.encode())], "every request is compared, whatever its length"


def test_the_grpc_token_check_goes_through_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(hmac.compare_digest)
    monkeypatch.setattr("otel_honeyhive.core.secrets.hmac.compare_digest", spy)  # the same check as HTTP

    class Context:
        def __init__(self, token: str) -> None:
            self.token = token

        def invocation_metadata(self) -> list[tuple[str, str]]:
            return [("authorization", f"Bearer {self.token}")]

    service = grpc_input.TraceService(sink=None, auth_token=Secret(AUTH_TOKEN))  # type: ignore[arg-type]
    assert service._authorised(Context(AUTH_TOKEN))
    assert not service._authorised(Context(AUTH_TOKEN[:-1] + "x"))
    assert [a for a, _ in spy.calls] == [AUTH_TOKEN.encode(), f"{AUTH_TOKEN[:-1]}x".encode()]
