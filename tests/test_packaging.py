"""Packaging by audience: the base install is what an application needs for the in-process exporter, and it
lives beside the web frameworks apps use; the server, the local API and the CLI's tools are the `server` extra.

Real installs into fresh virtual environments (packages from the index, this source as a pure wheel), a real
`otel-honeyhive serve` from the test environment (which has the extra), and the README's snippet run as written.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.support.server import run_server

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SERVER_ONLY = ("uvicorn", "starlette", "httptools", "grpcio", "rich")
"""Distributions an application must not get with the base install."""
IGNORED = {".git", ".venv", "build", "dist", ".venvs", "__pycache__", ".mypy_cache", ".ruff_cache",
           ".pytest_cache", ".hypothesis", "results"}


def _source_copy(where: Path) -> Path:
    """This source without build leftovers (a stale compiled module in `build/` would end up in the wheel)."""
    target = where / "src"
    shutil.copytree(REPO, target, ignore=lambda _, names: [
        n for n in names if n in IGNORED or n.endswith((".egg-info", ".db", ".so"))
    ])
    return target


def _run(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _fresh_venv(where: Path, *requirements: str | Path) -> Path:
    """A new venv with `requirements` installed (this source as a pure wheel, which builds in seconds)."""
    venv.create(where / "venv", with_pip=True)
    python = where / "venv" / "bin" / "python"
    env = {**os.environ, "OTEL_HONEYHIVE_PURE_PYTHON": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    _run(python, "-m", "pip", "install", "-q", *requirements, env=env)
    return python


@pytest.fixture(scope="module")
def app_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv where an application installed this package, no extras."""
    where = tmp_path_factory.mktemp("app-env")
    return _fresh_venv(where, _source_copy(where))


def _installed(python: Path) -> dict[str, str]:
    listing = _run(python, "-m", "pip", "list", "--format=freeze")
    return dict(line.lower().split("==", 1) for line in listing.splitlines() if "==" in line)


def test_the_base_install_brings_none_of_the_servers_packages(app_env: Path) -> None:
    installed = _installed(app_env)
    assert "otel-honeyhive" in installed
    assert [name for name in SERVER_ONLY if name in installed] == []


def test_the_base_install_lives_beside_fastapi_0_110_without_a_conflict(tmp_path: Path) -> None:
    """fastapi 0.110.0 wants starlette <0.37, below the server extra's floor: an app pinned to it still gets the
    exporter."""
    python = _fresh_venv(tmp_path, _source_copy(tmp_path), "fastapi==0.110.0")
    installed = _installed(python)
    assert installed["fastapi"] == "0.110.0" and installed["starlette"].startswith("0.36.")
    assert "otel-honeyhive" in installed
    assert "No broken requirements found" in _run(python, "-m", "pip", "check")


def _readme_snippet() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- snippet: exporter[^\n]*-->\n```python\n(.*?)```", readme, re.S)
    assert found, "the README's exporter snippet (marked `<!-- snippet: exporter … -->`) is missing"
    return found.group(1)


def test_the_readmes_snippet_ships_a_session_from_the_base_install(app_env: Path, tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(_readme_snippet())
    with run_server(tmp_path) as server:  # from this environment, which has the server extra
        env = {**os.environ, "HH_API_URL": server.url}
        env.pop("PYTHONPATH", None)
        _run(app_env, script, env=env, timeout=60)
        server.stop()
    with server.store() as store:
        (session,) = store.list_sessions(limit=10)
        (event,) = store.session_events(session.session_id)
    assert (event["event_type"], event["event_name"], event["project"]) == ("session", "answer-question", "my-project")


def test_the_commands_name_the_missing_extra_in_one_line(app_env: Path) -> None:
    command = app_env.parent / "otel-honeyhive"
    for args in (["serve"], ["sessions"], ["convert", "a.ndjson", "b.otlp.jsonl"]):
        done = subprocess.run([str(command), *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and done.stdout == ""
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert "pip install '.[server]' in a clone" in done.stderr and f"otel-honeyhive {args[0]}" in done.stderr


def test_the_test_environment_is_not_the_one_checked() -> None:
    """The checks above run in their own venv: this one has the server extra (or they would prove nothing)."""
    assert shutil.which("otel-honeyhive") is not None and sys.prefix != sys.base_prefix
