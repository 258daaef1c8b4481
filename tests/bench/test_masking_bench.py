"""`bench/masking.py` keeps working (it is not one of `run_all.py`'s scripts): it runs on small sizes and prints
spans/s with masking off and on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # exporters against a loopback sink, in a subprocess
def test_the_masking_bench_runs_on_small_sizes(tmp_path: Path) -> None:
    figures = tmp_path / "masking.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "masking.py"), "--spans", "300", "--rounds", "1",
                           "--json", str(figures)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "spans/s (CPU): off " in done.stdout
    rows = orjson.loads(figures.read_bytes())["rows"]
    assert [row["exporter"].split(" ")[0] for row in rows] == ["masking", 'redact=["all"]', "mask=<identity"]
