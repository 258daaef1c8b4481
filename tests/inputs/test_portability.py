"""The exporter on a platform without POSIX-only modules (Windows): it imports and ships.

Windows itself is not available here, so a child interpreter is started with what Windows lacks made
unimportable (`fcntl`, `termios`, `pwd`, `grp`, `resource`) and without `os.fork` and `os.register_at_fork`,
then exports real SDK spans to the fake HoneyHive. With a spool directory asked for, the spool cannot lock
(neither `fcntl` nor `msvcrt`): the exporter says so in one line and ships directly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.fake_honeyhive import FakeHoneyHive

REPO = Path(__file__).resolve().parents[2]

_WITHOUT_POSIX = textwrap.dedent(
    """
    import os, sys
    for name in ("fcntl", "termios", "pwd", "grp", "resource"):
        sys.modules[name] = None  # `import fcntl` now raises ImportError, as on Windows
    del os.register_at_fork, os.fork  # neither exists on Windows
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from otel_honeyhive import HoneyHiveSpanExporter

    spool = sys.argv[2] or None
    exporter = HoneyHiveSpanExporter(api_key="k", server_url=sys.argv[1], project="p", spool_dir=spool)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("portability")
    with tracer.start_as_current_span("root"):
        with tracer.start_as_current_span("child"):
            pass
    provider.shutdown()
    stats = exporter.stats
    print("delivered", stats.events_delivered, "failed", stats.events_failed, flush=True)
    """
)


def _run(honeyhive: FakeHoneyHive, spool: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", _WITHOUT_POSIX, honeyhive.url, spool], capture_output=True,
                          text=True, timeout=60, cwd=REPO, env=env)


def _delivered(honeyhive: FakeHoneyHive) -> list[str]:
    return [e["event_name"] for r in honeyhive.requests for e in (r.body or {}).get("events", [])]


def test_the_exporter_imports_and_ships_without_fcntl(honeyhive: FakeHoneyHive) -> None:
    done = _run(honeyhive, "")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["delivered", "2", "failed", "0"]
    assert "Traceback" not in done.stderr
    assert sorted(_delivered(honeyhive)) == ["child", "root"]


def test_a_spool_that_cannot_lock_is_one_line_and_the_spans_ship_directly(
    honeyhive: FakeHoneyHive, tmp_path: Path
) -> None:
    done = _run(honeyhive, str(tmp_path / "spool"))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "spool" in line]
    assert len(errors) == 1, done.stderr
    assert str(tmp_path / "spool") in errors[0] and "locking is not available" in errors[0]
    assert "no directory can help on this platform" in errors[0], "not a fix that cannot work"
    assert done.stdout.split() == ["delivered", "2", "failed", "0"]
    assert sorted(_delivered(honeyhive)) == ["child", "root"]
