"""The architecture holds (docs/architecture.md#the-layer-rule): no import cycle between modules or packages,
and every import runs downward: cli → server → inputs → pipeline → outputs → mapper | shipping → core."""

from __future__ import annotations

import runpy
import textwrap
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "check_layers.py"


def _checker() -> dict[str, Any]:
    return runpy.run_path(str(SCRIPT))


def test_the_package_has_no_import_cycle_and_no_upward_import() -> None:
    problems, graph = _checker()["check"](SCRIPT.parent.parent / "otel_honeyhive")
    assert problems == []
    assert len(graph) > 50  # the whole package was read


def test_the_check_catches_an_upward_import_and_a_cycle(tmp_path: Path) -> None:
    """The checker is not vacuous: a core module reaching into the pipeline, and two mapper modules importing
    each other, are both reported."""
    package = tmp_path / "otel_honeyhive"
    for folder in ("core", "pipeline", "mapper"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "core" / "events.py").write_text("from otel_honeyhive.pipeline import build\n")
    (package / "pipeline" / "build.py").write_text("")
    (package / "mapper" / "a.py").write_text("from otel_honeyhive.mapper import b\n")
    (package / "mapper" / "b.py").write_text(textwrap.dedent("""
        def later() -> None:
            from otel_honeyhive.mapper import a  # a lazy import is still a dependency
    """))
    problems, _ = _checker()["check"](package)
    assert any("otel_honeyhive.core.events imports otel_honeyhive.pipeline.build" in p for p in problems)
    assert any("cycle between modules: otel_honeyhive.mapper.a ↔ otel_honeyhive.mapper.b" in p for p in problems)
