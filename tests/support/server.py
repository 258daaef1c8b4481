"""The real bridge server (`python -m otel_honeyhive.cli serve`) as a subprocess on a free loopback port.

Tests talk to it with plain HTTP over real sockets (HTTPS when started with `--tls-cert` and a `ca` to verify
it), exactly as a client would. On exit the server gets SIGTERM and must stop cleanly (exit status 0) within a
few seconds: a hang or a crash fails the test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from otel_honeyhive.outputs.store import SQLiteStore
from tests.support.waiting import wait_until

LOOPBACK = "http://127.0.0.1"
"""The `base_url` of a Starlette `TestClient` over the app: its default name, `testserver`, is not a loopback one,
and an app bound to 127.0.0.1 answers only those (`server/hosts.py`)."""
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0
_HERMETIC_PREFIXES = ("HH_", "OTEL_HONEYHIVE_")
"""Variables a developer's shell may set that would change what the server does (HH_API_KEY would make it
forward to HoneyHive): removed unless a test passes them explicitly."""


@dataclass
class RunningServer:
    url: str
    port: int
    db_path: Path
    proc: subprocess.Popen[bytes]
    stderr_path: Path
    grpc_port: int = 0
    """The OTLP/gRPC port, when the server was started with `grpc=True`."""
    verify: bool | str = True
    """What `requests` verifies the server's certificate with (the test CA's file, for HTTPS)."""
    stopped_by: int | None = None
    """The signal the test stopped it with (None: still running, or it exited on its own)."""
    exited_on_its_own: bool = False
    """True when the process had already exited when the test came to stop it: a crash."""

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def store(self) -> SQLiteStore:
        """The store the server writes, opened read-only (close it, or use it in a `with`)."""
        return SQLiteStore(self.db_path, readonly=True)

    def healthy(self) -> bool:
        try:
            return requests.get(self.url + "/healthz", timeout=2, verify=self.verify).status_code == 200
        except requests.RequestException:
            return False

    @property
    def crashed(self) -> bool:
        """It exited without being told to, or a graceful stop (SIGTERM) did not exit 0."""
        return self.exited_on_its_own or (self.stopped_by == signal.SIGTERM and self.proc.returncode != 0)

    def rss_bytes(self) -> int:
        """The server process's resident memory now (VmRSS)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS line in /proc/PID/status")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the server and wait for it to exit; its exit status."""
        if self.stopped_by is None:
            self.exited_on_its_own = self.proc.poll() is not None
            self.stopped_by = sig
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(
                    f"server did not stop within {STOP_TIMEOUT}s of {sig!r}:\n{self.stderr()}"
                ) from None
        return self.proc.returncode


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "otel_honeyhive.cli", "serve", *args]


def _start(
    tmp_path: Path, args: tuple[str, ...], env: Mapping[str, str] | None, grpc: bool = False,
    ca: Path | None = None,
) -> RunningServer | None:
    port = free_port()
    grpc_port = free_port() if grpc else 0
    db_path = tmp_path / "otel-honeyhive.db"
    if "--db" in args:
        db_path = Path(args[args.index("--db") + 1])
    else:
        args = ("--db", str(db_path), *args)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(_HERMETIC_PREFIXES)}
    full_env.update(env or {})
    stderr_path = tmp_path / f"server-{port}.stderr"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            serve_command("--http-port", str(port), "--grpc-port", str(grpc_port), *args),
            stdout=subprocess.DEVNULL, stderr=stderr, env=full_env, cwd=tmp_path,
        )
    scheme = "https" if "--tls-cert" in args else "http"
    server = RunningServer(f"{scheme}://127.0.0.1:{port}", port, db_path, proc, stderr_path, grpc_port,
                           verify=str(ca) if ca is not None else True)
    try:
        wait_until(lambda: proc.poll() is not None or server.healthy(), READY_TIMEOUT,
                   explain="the server to answer /healthz", diagnose=server.stderr, interval=0.02)
    except AssertionError:
        server.stop(signal.SIGKILL)
        raise
    if proc.poll() is not None:
        if "the port is in use" in server.stderr():
            return None  # lost the port to another process between picking and binding: pick again
        raise AssertionError(f"server exited with {proc.returncode} before ready:\n{server.stderr()}")
    return server


def start_server(
    tmp_path: Path, *extra_args: str, env: Mapping[str, str] | None = None, grpc: bool = False,
    ca: Path | None = None,
) -> RunningServer:
    """Start the server and wait until it is ready; the caller stops it (for crash tests: with SIGKILL).
    `ca`: the certificate authority to verify an HTTPS server (`--tls-cert`) with."""
    for _ in range(3):
        server = _start(tmp_path, extra_args, env, grpc, ca)
        if server is not None:
            return server
    raise AssertionError("could not bind a free loopback port in 3 tries")


@contextmanager
def run_server(
    tmp_path: Path, *extra_args: str, env: Mapping[str, str] | None = None, grpc: bool = False,
    ca: Path | None = None,
) -> Iterator[RunningServer]:
    """Start `otel-honeyhive serve` with `extra_args` (the store defaults to `tmp_path/otel-honeyhive.db`),
    wait for `/healthz`, yield it, then stop it with SIGTERM and check it exited cleanly."""
    server = start_server(tmp_path, *extra_args, env=env, grpc=grpc, ca=ca)
    try:
        yield server
    finally:
        status = server.stop()
    assert status == 0, f"server exited with status {status}:\n{server.stderr()}"
