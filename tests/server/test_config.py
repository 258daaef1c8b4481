"""`serve`'s settings as an operator gives them (flags, a `--config` file, the environment): a value the server
cannot run with is one line naming the option, exit status 2, before anything is opened or bound."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from otel_honeyhive.server.config import MAX_BODY_BYTES_LIMIT, ServerConfig
from tests.cli.test_messages import one_line, serve
from tests.support.server import free_port, run_server


@pytest.mark.parametrize("size", ["2GiB", "3GiB", "99999999999999999999999"])
def test_a_body_limit_past_what_grpc_can_take_is_one_line_not_a_traceback(tmp_path: Path, size: str) -> None:
    line = one_line(serve(tmp_path, "--max-body-bytes", size, "--grpc-port", str(free_port())), status=2)
    assert line.startswith("otel-honeyhive serve: --max-body-bytes must be from 1 to 2147483647 bytes")
    assert not (tmp_path / "otel-honeyhive.db").exists()


def test_a_body_limit_past_what_grpc_can_take_is_refused_from_a_config_file_too(tmp_path: Path) -> None:
    (tmp_path / "serve.toml").write_text('max-body-bytes = "4GiB"\n')
    done = serve(tmp_path, "--config", str(tmp_path / "serve.toml"), "--grpc-port", str(free_port()))
    line = one_line(done, status=2)
    assert "--max-body-bytes must be from 1 to 2147483647 bytes" in line


def test_the_largest_body_limit_grpc_can_take_is_accepted() -> None:
    assert ServerConfig.resolve(max_body_bytes=MAX_BODY_BYTES_LIMIT, environ={}).max_body_bytes == 2**31 - 1


def test_an_empty_auth_token_is_refused_rather_than_serving_without_one(tmp_path: Path) -> None:
    line = one_line(serve(tmp_path, "--auth-token", ""), status=2)
    assert line.startswith("otel-honeyhive serve: --auth-token is empty")
    (tmp_path / "serve.toml").write_text('auth-token = " "\n')
    (tmp_path / "serve.toml").chmod(0o600)
    line = one_line(serve(tmp_path, "--config", str(tmp_path / "serve.toml")), status=2)
    assert "--auth-token is empty" in line
    assert not (tmp_path / "otel-honeyhive.db").exists()


@pytest.mark.slow
def test_a_token_read_from_a_file_with_its_newline_still_lets_its_clients_in(tmp_path: Path) -> None:
    with run_server(tmp_path, env={"OTEL_HONEYHIVE_AUTH_TOKEN": "s3cret-token\n"}) as server:
        allowed = requests.get(server.url + "/metrics", headers={"Authorization": "Bearer s3cret-token"}, timeout=10)
        assert allowed.status_code == 200
        assert requests.get(server.url + "/metrics", timeout=10).status_code == 401


def test_an_empty_token_variable_is_no_token() -> None:
    assert ServerConfig.resolve(environ={"OTEL_HONEYHIVE_AUTH_TOKEN": ""}).auth_token is None
