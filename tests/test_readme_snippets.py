"""Every snippet of the README's Quickstart and "Works with" sections runs as written and makes the session it
promises: the Python in a real process against a real `otel-honeyhive serve`, the shell blocks in bash.

Only what would collide on a shared machine is changed before running: fixed ports become free ones, files are
put in a temporary directory, and `pip install` lines only resolve (`--dry-run`: the test environment has them).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import RunningServer, free_port, run_server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SECTIONS = ("## Quickstart", "## Works with")
APP = """\
from opentelemetry import trace

with trace.get_tracer("app").start_as_current_span("answer-question") as span:
    span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
"""
"""The `app.py` the no-code recipe runs: an app that knows nothing of the bridge."""


def snippets() -> list[tuple[str, str]]:
    """(language, code) of every fenced block in the sections, in order."""
    text = README.read_text(encoding="utf-8")
    found: list[tuple[str, str]] = []
    for heading in SECTIONS:
        start = text.index(heading + "\n")
        end = text.find("\n## ", start + len(heading))
        section = text[start: end if end >= 0 else len(text)]
        found += re.findall(r"```(\w+)\n(.*?)```", section, re.S)
    return found


def _block(containing: str) -> str:
    (code,) = [code for lang, code in snippets() if lang == "sh" and containing in code]
    return code


def _bash(code: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run a block as a script (stopping at the first failure), its background jobs killed however it ends."""
    script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + code
    done = subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**_clean_env(), **(env or {})})
    assert done.returncode == 0, f"{code}\nfailed with {done.returncode}:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done.stdout + done.stderr


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with run_server(tmp_path) as running:
        yield running


def test_the_sections_hold_the_snippets_this_file_runs() -> None:
    kinds = [lang for lang, _ in snippets()]
    assert kinds.count("python") >= 1 and kinds.count("sh") >= 4, kinds
    assert {lang for lang in kinds} <= {"python", "sh"}, "a snippet in a language this test does not run"


def test_the_test_command_is_what_ci_runs() -> None:
    assert "scripts/test" in _block("scripts/demo")
    assert "bash scripts/test" in (ROOT / ".ci" / "run").read_text()


def test_every_python_snippet_ships_a_session_to_a_local_server(server: RunningServer, tmp_path: Path) -> None:
    for n, (lang, code) in enumerate(snippets()):
        if lang != "python":
            continue
        script = tmp_path / f"snippet_{n}.py"
        script.write_text(code)
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                              cwd=tmp_path, env={**_clean_env(), "HH_API_URL": server.url})
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    with server.store() as store:
        sessions = store.list_sessions()
    assert [s.name for s in sessions] == ["answer-question"]


def test_the_demo_then_export_and_replay_reach_honeyhive_as_the_same_session(tmp_path: Path) -> None:
    db = tmp_path / "otel-honeyhive-demo.db"
    demo = _bash("scripts/demo\n", ROOT, {"DB": str(db)})
    session = re.search(r"session rag-pipeline .*?([0-9a-f]{8}-[0-9a-f-]{27})", demo)
    assert session, demo
    chat = re.search(r"model chat gpt-4o-mini\s+(\d+) ms", demo)
    assert chat and int(chat.group(1)) >= 100 and " 0.0 ms" not in demo, "the demo's steps take visible time"
    assert "Editable installation" not in demo, "setuptools' notice is not in the demo's output"
    replay = _block("otel-honeyhive replay")
    for old, new in (("otel-honeyhive-demo.db", str(db)), ("demo.ndjson", str(tmp_path / "demo.ndjson")),
                     ("8181", str(free_port()))):
        replay = replay.replace(old, new)
    said = _bash(replay, ROOT)
    assert f"events of session {session.group(1)}" in said, said


def test_the_install_lines_resolve() -> None:
    for line in _block("pip install").splitlines():
        command = line.split("#", 1)[0].strip()
        if command:
            _bash(f"{command} --dry-run -q --disable-pip-version-check\n", ROOT)


def test_the_no_code_recipe_puts_the_apps_session_in_the_local_store(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    port = str(free_port())
    recipe = _block("OTEL_TRACES_EXPORTER=honeyhive").replace("4318", port)
    recipe = recipe.replace("otel-honeyhive serve ", f"otel-honeyhive serve --http-port {port} --grpc-port 0 ")
    said = _bash(recipe, tmp_path)
    assert "answer-question" in said, said
