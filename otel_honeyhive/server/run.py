"""Running the bridge server (uvicorn for HTTP, grpcio for gRPC) until SIGTERM/SIGINT.

Shutdown order: a signal stops intake and cuts output backoffs short (so no request waits out a retry
deadline), in-flight requests get `GRACEFUL_SHUTDOWN_SECONDS` to finish, the pipeline ships what it can within
`SHUTDOWN_FLUSH_SECONDS` (held spans are journaled when a spool is configured, and queued events stay spooled),
and only then is the output closed (for the store: the last transaction committed, the WAL checkpointed).
A graceful stop exits 0.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
import socket
import sqlite3
import sys
import threading
from types import FrameType
from typing import Any

import uvicorn

from otel_honeyhive.core.addresses import bracketed, is_loopback
from otel_honeyhive.core.protocols import Output
from otel_honeyhive.mapper.filtering import SpanFilter
from otel_honeyhive.outputs.store import SQLiteStore
from otel_honeyhive.pipeline import Pipeline, PipelineSettings, build_pipeline
from otel_honeyhive.server import metrics, ports
from otel_honeyhive.server.app import build_app, describe_output, open_output
from otel_honeyhive.server.config import AUTH_TOKEN_ENV, ServerConfig
from otel_honeyhive.server.in_flight import MAX_IN_FLIGHT
from otel_honeyhive.server.memory import tune_collector, tune_malloc
from otel_honeyhive.server.retention import Retention
from otel_honeyhive.shipping.retry import RetryPolicy
from otel_honeyhive.shipping.spool import SpoolError

GRACEFUL_SHUTDOWN_SECONDS = 10
SHUTDOWN_FLUSH_SECONDS = 5.0
"""How long shutdown may spend delivering what is held or queued; the rest stays in the spool."""
MAX_CONNECTIONS = 1024
"""Open connections plus requests before uvicorn itself answers 503: a bound on file descriptors (lowered to half
the process's own limit when that is smaller: `connection_limit`). Memory is bounded per request, inside the
app (`server/in_flight.py`), where idle connections do not count."""


def connection_limit() -> int:
    """`MAX_CONNECTIONS`, or half the open-file limit when that is lower (the store, the spool and the gRPC
    server need descriptors too), never below twice the requests in flight."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # no `resource` on Windows
        return MAX_CONNECTIONS
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(2 * MAX_IN_FLIGHT, min(MAX_CONNECTIONS, soft // 2))


class _Server(uvicorn.Server):
    """uvicorn, plus: one ready line once the socket is bound, and the stop event set on the first signal."""

    def __init__(
        self, config: uvicorn.Config, stop: threading.Event, where: str, also: list[str], tls: bool = False
    ) -> None:
        super().__init__(config)
        self._stop = stop
        self._where = where
        self._also = also
        self._tls = tls

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            shown = bracketed(host)
            http = f"HTTPS on https://{shown}:{port}" if self._tls else f"HTTP on http://{shown}:{port}"
            listening = ", ".join([http, *self._also])
            print(f"otel-honeyhive serve: {listening} ({self._where})", file=sys.stderr, flush=True)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._stop.set()
        super().handle_exit(sig, frame)


def _ignore(sig: int, frame: FrameType | None) -> None:
    """uvicorn re-raises the signal it shut down for, and a process manager may send another while the pipeline
    is being closed: the shutdown under way (bounded by its own timeouts) is what both ask for."""


def build_server_pipeline(config: ServerConfig, output: Output, stop: threading.Event) -> Pipeline:
    """The pipeline as the exporter builds it, with the server's limits: delivery through the outbox spool when
    the output is remote (HoneyHive or OTLP; the local store is durable itself) and a spool directory is given;
    held spans journaled whenever a spool directory is given."""
    spool = config.spool_dir
    if spool is not None:
        with contextlib.suppress(OSError):  # private like the outbox and journal inside; if unusable, they say why
            spool.mkdir(mode=0o700, parents=True, exist_ok=True)
    return build_pipeline(output, PipelineSettings(
        project=config.project,
        source=config.honeyhive.source if config.honeyhive else config.event_source,
        hold_seconds=config.hold_timeout,
        max_held_spans=config.max_held_spans,
        retry_policy=RetryPolicy(deadline=config.delivery_timeout),
        outbox_dir=spool / "outbox" if spool is not None and config.remote else None,
        journal_dir=spool / "held" if spool is not None else None,
        spool_max_bytes=config.spool_max_bytes,
        redactors=config.redactors,
        span_filter=SpanFilter.build(config.span_filter, config.drop_scopes, config.drop_spans),
        routes=config.routing,
        sessions=config.sessions,
    ), stop=stop)


def grpc_credentials(config: ServerConfig) -> Any:
    """`grpc.ssl_server_credentials` from the configured files, or None without TLS."""
    if config.tls_cert is None or config.tls_key is None:
        return None
    import grpc

    return grpc.ssl_server_credentials([(config.tls_key.read_bytes(), config.tls_cert.read_bytes())])


def exposure_warning(config: ServerConfig) -> str | None:
    """The start-up warning for a server bound beyond this machine (an address that is not loopback) with no
    token: anyone who can reach the port can send data that goes out under the server's key, and, with the
    local store, read every stored prompt in the viewer. None when bound to loopback or given a token."""
    if config.auth_token is not None or is_loopback(config.host.strip("[]").lower()):
        return None
    reach = ("send spans that are forwarded under this server's credentials" if config.honeyhive or config.otlp
             else "send spans, and read every stored session in the viewer and the local API")
    return (f"warning: listening on {config.host} (beyond this machine) with no --auth-token: anyone who can reach "
            f"the ports can {reach}; set --auth-token (or ${AUTH_TOKEN_ENV}), or bind 127.0.0.1")


def serve(config: ServerConfig) -> int:
    """Serve until told to stop; the process exit status."""
    logging.basicConfig(level=logging.WARNING, format="otel-honeyhive serve: %(levelname)s %(message)s")
    tune_malloc()  # before the first request's buffers: see server/memory.py
    tune_collector()
    try:  # before anything is opened: a taken port is one line naming it and its flag
        http_socket = ports.bind(config.host, config.http_port, what="HTTP", flag="--http-port") \
            if config.http_port else None
        if config.grpc_port:
            ports.check_free(config.host, config.grpc_port, what="OTLP/gRPC", flag="--grpc-port")
    except ports.ListenError as exc:
        print(f"otel-honeyhive serve: {exc}", file=sys.stderr)
        return 1
    warning = exposure_warning(config)
    if warning is not None:
        print(f"otel-honeyhive serve: {warning}", file=sys.stderr, flush=True)
    try:
        return _serve(config, http_socket)
    finally:
        if http_socket is not None:
            http_socket.close()


def _serve(config: ServerConfig, http_socket: socket.socket | None) -> int:
    stop = threading.Event()
    try:
        output: Output = open_output(config)
    except (OSError, sqlite3.Error, RuntimeError, ImportError, ValueError) as exc:
        where = describe_output(config)
        hint = "; choose another place with --db" if config.honeyhive is None and config.otlp is None else ""
        print(f"otel-honeyhive serve: cannot open the output ({where}): {exc}{hint}", file=sys.stderr)
        return 1
    try:
        pipeline = build_server_pipeline(config, output, stop)
    except SpoolError as exc:  # the output is closed already
        print(f"otel-honeyhive serve: cannot use the spool: {exc}", file=sys.stderr)
        return 1
    pipeline.start()
    retention = (Retention(output, config.retention, stop).start()
                 if config.retention is not None and isinstance(output, SQLiteStore) else None)
    # The server takes log records (`/v1/logs`, `LogsService`): shipped spans are remembered from the first trace
    # on, so a GenAI record that comes after its span's event was shipped still updates that event.
    pipeline.expect_records()
    grpc_server = None
    listening: list[str] = []
    previous: dict[int, Any] = {}
    try:
        if config.grpc_port:
            from otel_honeyhive.inputs.otlp.grpc import start_grpc_server

            try:
                grpc_server, port = start_grpc_server(
                    pipeline, config.host, config.grpc_port, max_message_bytes=config.max_body_bytes,
                    auth_token=config.auth_token, credentials=grpc_credentials(config), counters=pipeline.counters,
                    remote=config.remote,
                )
            except OSError as exc:  # taken between the check and grpcio's own bind
                print(f"otel-honeyhive serve: {exc}; choose another port with --grpc-port (--grpc-port 0 turns "
                      "OTLP/gRPC off)", file=sys.stderr)
                return 1
            listening.append(f"gRPC{' (TLS)' if config.tls else ''} on {bracketed(config.host)}:{port}")
        if not config.http_port:
            print(f"otel-honeyhive serve: {', '.join(listening)} ({describe_output(config)})", file=sys.stderr,
                  flush=True)
            return _wait_for_signal(stop)
        app = build_app(config, pipeline, stop=stop, counters=pipeline.counters,
                        metrics=functools.partial(metrics.families, pipeline, retention=retention))
        uv_config = uvicorn.Config(
            app,
            host=config.host,
            port=config.http_port,
            log_level="warning",
            access_log=False,
            server_header=False,
            proxy_headers=False,
            lifespan="on",
            limit_concurrency=connection_limit(),
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            ssl_certfile=str(config.tls_cert) if config.tls_cert else None,
            ssl_keyfile=str(config.tls_key) if config.tls_key else None,
        )
        server = _Server(uv_config, stop, describe_output(config), listening, tls=config.tls)
        # Ignored from here until the pipeline is closed (uvicorn puts its own in place while it runs): a second
        # signal during the flush below would otherwise end the process there, held spans unshipped, status -15.
        previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            server.run(sockets=[http_socket] if http_socket is not None else None)
        except SystemExit as exc:  # uvicorn exits this way when it cannot start
            return exc.code if isinstance(exc.code, int) else 1
        return 0 if server.started else 1
    except OSError as exc:
        print(f"otel-honeyhive serve: {exc}", file=sys.stderr)
        return 1
    finally:
        stop.set()
        if grpc_server is not None:
            grpc_server.stop(grace=GRACEFUL_SHUTDOWN_SECONDS / 2).wait()
        if retention is not None:
            retention.join(SHUTDOWN_FLUSH_SECONDS)  # a batch of deletions in progress ends before the store closes
        pipeline.close(SHUTDOWN_FLUSH_SECONDS)  # closes delivery and output; what cannot ship stays spooled
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_for_signal(stop: threading.Event) -> int:
    def handle(sig: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handle)
    while not stop.wait(1.0):
        pass
    return 0
