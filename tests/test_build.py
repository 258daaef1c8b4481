"""How the package builds (setup.py, _build/backend.py): wheels compile the hot path with mypyc, and a build
that cannot compile, or is asked not to, still gives a working pure-Python package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # wheels built, with and without a C compiler

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "_build", "otel_honeyhive")


def build_wheel(tmp_path: Path, **env: str) -> tuple[Path, str]:
    """A wheel built from a copy of the sources (with this environment's build tools: no downloads), and what
    `pip wheel -q` said while building it."""
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        else:
            shutil.copy2(ROOT / name, src / name)
    out = tmp_path / "wheel"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=600, env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = out.glob("*.whl")
    return wheel, done.stderr


def members(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        return z.namelist()


def test_asked_for_pure_python_the_wheel_is_pure(tmp_path: Path) -> None:
    wheel, _ = build_wheel(tmp_path, OTEL_HONEYHIVE_PURE_PYTHON="1")
    assert wheel.name.endswith("-py3-none-any.whl")
    assert not [m for m in members(wheel) if m.endswith(".so")]
    assert "otel_honeyhive/mapper/rules.py" in members(wheel)


@pytest.mark.timeout(600)
def test_without_a_working_c_compiler_the_build_falls_back_to_pure_python(tmp_path: Path) -> None:
    wheel, said = build_wheel(tmp_path, CC="/bin/false")  # mypyc writes the C; compiling it fails
    assert wheel.name.endswith("-py3-none-any.whl"), "tagged for what it holds, not for the build it tried"
    assert "the C build failed" in said and "building the pure-Python package" in said, (
        "pip -q hides a build's output but shows its warnings: the user must see they got the pure build")
    names = members(wheel)
    assert not [m for m in names if m.endswith(".so")], "a partial native build would not import"
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    probe = subprocess.run(
        [sys.executable, "-c", "import otel_honeyhive, otel_honeyhive.mapper as m; "
         "print(otel_honeyhive.compiled(), len(m.spans_to_events([])))"],
        capture_output=True, text=True, timeout=60, cwd=site, env={**os.environ, "PYTHONPATH": str(site)},
    )
    assert probe.stdout.split() == ["False", "0"], probe.stderr
