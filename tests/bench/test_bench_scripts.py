"""The bench scripts keep working: every one runs on small sizes, and BENCHMARKS.md and the README's headline are
what `bench/report.py` renders from the committed results (no figure typed by hand, none out of date)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import report  # noqa: E402  (bench/ is not a package)


@pytest.mark.slow  # every bench script, in subprocesses
def test_every_bench_script_runs_on_small_sizes() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "run_all.py"), "--quick"], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for script in ("exporter_overhead", "batch_size", "payload_modes", "mapper_conventions", "receiver_throughput",
                   "scaling", "stage_costs", "store_queries", "masking", "span_filtering"):
        assert f"== {script}:" in done.stdout


def test_benchmarks_md_is_rendered_from_the_committed_results() -> None:
    results = report.load(report.RESULTS)
    assert {"exporter_overhead", "batch_size", "payload_modes", "mapper_conventions", "receiver_throughput",
            "scaling", "stage_costs", "store_queries", "masking", "span_filtering"} <= set(results), (
        "run scripts/bench to produce bench/results/")
    assert (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8") == report.render(results), (
        "BENCHMARKS.md is out of date: run python bench/report.py"
    )
    assert (ROOT / "bench" / "results" / "batch_size.png").is_file()


def test_the_readme_quotes_the_headline_figures() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert report.readme_section(readme) == report.headline(report.load(report.RESULTS)), (
        "README.md's headline is out of date: run python bench/report.py"
    )
