"""HoneyHive's own SDK export path, measured on the same spans: its `OTLPJSONExporter` (honeyhive 1.7.0).

HoneyHive's SDK maps nothing on the client: it posts OTLP/JSON to `{server}/opentelemetry/v1/traces`. Its
dependencies (pydantic, httpx, pinned OpenTelemetry ranges) are not ours, so it runs in a virtual environment of
its own, made on first use under `bench/.venvs/`; `exporter_overhead.py` runs this file there, one process per
round, and reads the figures it prints as JSON.

    <venv>/bin/python bench/honeyhive_sdk_export.py --url http://127.0.0.1:PORT [--spans 20000] [--batch-size 512]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SDK = "honeyhive==1.7.0"
VENV = HERE / ".venvs" / SDK.replace("==", "-")


def sdk_python() -> tuple[Path | None, str]:
    """The interpreter of a virtual environment holding HoneyHive's SDK, made when missing; (None, why) when it
    cannot be installed (no network to PyPI, say)."""
    python = VENV / "bin" / "python"
    if python.exists():
        return python, ""
    try:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", SDK],
                       check=True, capture_output=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return None, f"cannot install {SDK}: {exc} {detail.decode(errors='replace')[-300:]}".strip()
    return python, ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the loopback sink")
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from honeyhive.tracer.processing.otlp_exporter import OTLPJSONExporter
    from opentelemetry.sdk.trace.export import SpanExportResult
    from workload import batches, make_traces

    spans = make_traces(args.spans)
    exporter = OTLPJSONExporter(args.url + "/opentelemetry/v1/traces", headers={"Authorization": "Bearer bench"})
    parts = batches(spans, args.batch_size)
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for part in parts:
        if exporter.export(part) is not SpanExportResult.SUCCESS:
            raise RuntimeError("OTLPJSONExporter failed to export")
    exporter.force_flush()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    exporter.shutdown()
    print(json.dumps({"cpu_us": cpu / len(spans) * 1e6, "wall_us": wall / len(spans) * 1e6}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
