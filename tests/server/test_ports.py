"""A port or host `serve` cannot listen on is one line naming the address and the flag to change, exit 1, and
nothing opened: no traceback from uvicorn or grpcio, no store created."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import serve_command


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another process listens on (as a Collector or a second `serve` would)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(serve_command("--db", str(tmp_path / "events.db"), *args), capture_output=True,
                          text=True, timeout=30, cwd=tmp_path)


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def test_a_taken_grpc_port_names_the_port_and_the_flag(tmp_path: Path, taken_port: int) -> None:
    line = _one_line(_serve(tmp_path, "--http-port", "0", "--grpc-port", str(taken_port)))
    assert f"cannot listen for OTLP/gRPC on 127.0.0.1:{taken_port}: the port is in use" in line
    assert "--grpc-port" in line
    assert not (tmp_path / "events.db").exists()


def test_a_taken_http_port_names_the_port_and_the_flag(tmp_path: Path, taken_port: int) -> None:
    line = _one_line(_serve(tmp_path, "--http-port", str(taken_port), "--grpc-port", "0"))
    assert f"cannot listen for HTTP on 127.0.0.1:{taken_port}: the port is in use" in line
    assert "--http-port" in line
    assert not (tmp_path / "events.db").exists()


@pytest.mark.parametrize("host", ["999.1.1.1", "10.255.255.1"])
def test_a_host_this_machine_does_not_have_names_host(tmp_path: Path, host: str) -> None:
    line = _one_line(_serve(tmp_path, "--host", host, "--grpc-port", "0"))
    assert f"cannot listen for HTTP on {host}:4318" in line and "check --host" in line
