"""`OTEL_TRACES_EXPORTER=honeyhive` under `opentelemetry-instrument`: the exporter is configured from `HH_*` alone,
and a bad variable is one line (which variable, what is wrong, what a good value looks like) while the app runs
on, untraced, with its own exit status: never the SDK configurator's tracebacks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import run_server

APP = 'print("the app ran")\n'
APP_WITH_TELEMETRY = """\
import logging
from opentelemetry import metrics, trace

with trace.get_tracer("app").start_as_current_span("handle-request"):
    metrics.get_meter("app").create_counter("requests").add(1)
    logging.getLogger("app").warning("something worth a log record")
print("the app ran")
"""


def _instrumented(tmp_path: Path, app: Path | None = None, /, **env: str) -> subprocess.CompletedProcess[str]:
    script = app or tmp_path / "app.py"
    if app is None:
        script.write_text(APP)
    command = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    assert command is not None, "opentelemetry-instrument is part of the test environment"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_"))}
    full_env.update({"OTEL_TRACES_EXPORTER": "honeyhive", "OTEL_METRICS_EXPORTER": "none",
                     "OTEL_LOGS_EXPORTER": "none", "HH_API_URL": "http://127.0.0.1:9", **env})
    return subprocess.run([command, sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                          env=full_env, cwd=tmp_path)


@pytest.mark.slow  # an app under opentelemetry-instrument, in a subprocess: about 2 s each
@pytest.mark.parametrize(("variable", "value", "says"), [
    ("HH_TIMEOUT", "abc", "timeout must be a number (for example 10 seconds), got 'abc'"),
    ("HH_API_URL", "localhost:4318", "the server URL must start with http:// or https:// (for example"),
    ("HH_HOLD_TIMEOUT", "soon", "hold_timeout must be a number (for example 30 seconds), got 'soon'"),
    ("HH_TIMEOUT", "inf", "timeout must be a number from 0.001 to 86400 (for example 10 seconds), got 'inf'"),
    ("HH_BATCH_MODE", "all", "batch_mode must be 'multi' or 'session', got 'all'"),
])
def test_a_bad_variable_is_one_line_and_the_app_runs_untraced(
    tmp_path: Path, variable: str, value: str, says: str
) -> None:
    done = _instrumented(tmp_path, **{variable: value})
    assert done.returncode == 0 and done.stdout == "the app ran\n"
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert f"environment variable {variable}" in line and says in line
    assert "tracing to HoneyHive is off in this process" in line


@pytest.mark.slow  # an app under opentelemetry-instrument, in a subprocess
def test_a_good_configuration_says_nothing(tmp_path: Path) -> None:
    done = _instrumented(tmp_path, HH_TIMEOUT="0.2")
    assert done.returncode == 0 and done.stdout == "the app ran\n"
    assert done.stderr == ""


@pytest.mark.slow  # an instrumented app and a server, as processes
def test_an_app_sending_metrics_and_logs_to_serve_meets_no_error(tmp_path: Path) -> None:
    """The SDK's defaults send metrics and logs over OTLP/gRPC to the same endpoint: `serve` takes them (and keeps
    nothing), so the app logs no UNIMPLEMENTED error at every interval, and its trace still arrives."""
    script = tmp_path / "app.py"
    script.write_text(APP_WITH_TELEMETRY)
    with run_server(tmp_path, grpc=True) as server:
        done = _instrumented(
            tmp_path, script, HH_API_URL=server.url, OTEL_METRICS_EXPORTER="otlp", OTEL_LOGS_EXPORTER="otlp",
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{server.grpc_target}", OTEL_EXPORTER_OTLP_INSECURE="true",
            OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED="true",
        )
        with server.store() as store:
            sessions = store.list_sessions()
    assert done.returncode == 0 and done.stdout == "the app ran\n"
    assert done.stderr == "", done.stderr
    assert [s.name for s in sessions] == ["handle-request"]


def test_the_exporter_built_by_hand_still_refuses_a_bad_value() -> None:
    from otel_honeyhive import HoneyHiveSpanExporter

    with pytest.raises(ValueError, match="HoneyHiveSpanExporter option 'timeout': timeout must be a number"):
        HoneyHiveSpanExporter(server_url="http://127.0.0.1:9", timeout="abc")  # type: ignore[arg-type]


@pytest.mark.parametrize(("option", "value", "says"), [
    ("timeout", float("inf"), "option 'timeout': timeout must be a number from 0.001 to 86400"),
    ("timeout", 1e10, "option 'timeout': timeout must be a number from 0.001 to 86400"),
    ("hold_timeout", float("nan"), "option 'hold_timeout': hold_timeout must be a number from 0 to 86400"),
    ("hold_timeout", -5, "option 'hold_timeout': hold_timeout must be a number from 0 to 86400"),
    ("max_held_spans", 0, "option 'max_held_spans': max_held_spans must be a whole number >= 1"),
    ("spool_max_bytes", -5, "option 'spool_max_bytes': spool_max_bytes must be a whole number >= 1"),
])
def test_numbers_out_of_range_are_refused_naming_the_option(option: str, value: float, says: str) -> None:
    from otel_honeyhive import HoneyHiveSpanExporter

    with pytest.raises(ValueError, match=re.escape(f"HoneyHiveSpanExporter {says}")):
        options: dict[str, Any] = {option: value}  # each case names a different parameter
        HoneyHiveSpanExporter(server_url="http://127.0.0.1:9", **options)


def test_a_hold_time_out_of_range_in_the_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_honeyhive import HoneyHiveSpanExporter

    monkeypatch.setenv("HH_HOLD_TIMEOUT", "-5")
    with pytest.raises(ValueError, match=r"^environment variable HH_HOLD_TIMEOUT: hold_timeout must be a number "
                                         r"from 0 to 86400"):
        HoneyHiveSpanExporter(server_url="http://127.0.0.1:9")
