"""Every template and asset of the viewer is package data, so wheels (pure and compiled) and the sdist carry
it: a file the globs missed would work from the source tree and fail only once installed. (The compiled pass of
scripts/test then runs this directory from the built wheel.)"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

import otel_honeyhive.server.viewer as viewer

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = Path(viewer.__file__).resolve().parents[2]  # otel_honeyhive/


def shipped_files() -> list[str]:
    here = Path(viewer.__file__).resolve().parent
    return sorted(str(p.relative_to(PACKAGE)) for d in ("templates", "static") for p in (here / d).iterdir())


def test_every_template_and_asset_is_package_data() -> None:
    tomllib = pytest.importorskip("tomllib")
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["otel_honeyhive"]
    files = shipped_files()
    assert files, "the viewer has templates and assets"
    assert [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)] == []


def test_every_template_and_asset_is_in_the_sdist() -> None:
    rules = [line.split()[1:] for line in (ROOT / "MANIFEST.in").read_text().splitlines()
             if line.startswith("recursive-include ")]
    missing = [f for f in shipped_files()
               if not any(f"otel_honeyhive/{f}".startswith(d + "/") and any(fnmatch.fnmatch(f, p) for p in pats)
                          for d, *pats in rules)]
    assert missing == []
