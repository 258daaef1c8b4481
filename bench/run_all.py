"""Run every benchmark with its default sizes, keep the figures in bench/results/, render BENCHMARKS.md.

    python bench/run_all.py [--quick]     # --quick: small sizes, to check the scripts work (figures not kept)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# (script, arguments for the real run, arguments for --quick)
RUNS: tuple[tuple[str, list[str], list[str]], ...] = (
    ("exporter_overhead", ["--spans", "20000", "--rounds", "5"], ["--spans", "1500", "--rounds", "1",
                                                                   "--no-honeyhive-sdk"]),
    ("batch_size", ["--spans", "8000", "--rounds", "3"], ["--sizes", "1,64,512", "--spans", "1000",
                                                          "--rounds", "1"]),
    ("payload_modes", ["--spans", "10000"], ["--spans", "1000"]),
    ("mapper_conventions", ["--spans", "5000", "--rounds", "5"], ["--spans", "300", "--rounds", "1"]),
    ("receiver_throughput", ["--requests", "200"],
     ["--requests", "4", "--pool", "2", "--batch", "64", "--rounds", "1"]),
    ("scaling", ["--sizes", "1000,10000,100000,1000000"], ["--sizes", "1000"]),
    ("stage_costs", ["--spans", "10000", "--rounds", "5"], ["--spans", "1000", "--rounds", "1"]),
    ("store_queries", ["--sessions", "100000", "--rounds", "7"], ["--sessions", "2000", "--rounds", "1"]),
    ("masking", ["--spans", "20000", "--rounds", "5"], ["--spans", "1000", "--rounds", "1"]),
    ("span_filtering", ["--spans", "20000", "--rounds", "5"], ["--spans", "1000", "--rounds", "1"]),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", help="comma-separated script names")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    out_dir = Path(tempfile.mkdtemp(prefix="otel-honeyhive-bench-")) if args.quick else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    for script, full, quick in RUNS:
        if only and script not in only:
            continue
        extra = ["--png", str(out_dir / "batch_size.png")] if script == "batch_size" else []
        command = [sys.executable, str(HERE / f"{script}.py"), *(quick if args.quick else full), *extra,
                   "--json", str(out_dir / f"{script}.json")]
        print(f"== {script}: {' '.join(command[2:])}", flush=True)
        started = time.monotonic()
        subprocess.run(command, check=True)
        print(f"== {script}: {time.monotonic() - started:.0f} s", flush=True)
    if not args.quick:
        subprocess.run([sys.executable, str(HERE / "report.py")], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
