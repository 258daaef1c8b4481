"""A spool directory the exporter's process may not use: made by root before a worker dropped its privileges
(gunicorn `--user`, Celery `--uid`), or holding a segment another user left (`sudo otel-honeyhive spool redrive`).
Nothing raises into the application, nothing is lost, and one line says which directory and what to do.

Root ignores permission bits: as root the exporter runs in a forked child that becomes `nobody`
(tests/support/privileges.py), against the fake HoneyHive in the parent.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

from otel_honeyhive.inputs.sdk import AutoConfiguredSpanExporter, HoneyHiveSpanExporter
from otel_honeyhive.mapper.identity import session_id_for_trace
from otel_honeyhive.shipping import shipper as shipper_module
from otel_honeyhive.shipping import spool as spool_module
from tests.inputs.test_sdk_exporter import API_KEY, FAST, make_exporter, rag_trace, server  # noqa: F401
from tests.shipping.test_dead_letters import leave_records
from tests.support.fake_honeyhive import FakeHoneyHive
from tests.support.forking import in_child
from tests.support.privileges import become_nobody, deny, given_back, hand_over, lose_access, shared_directory
from tests.support.spans import provider_exporting_to
from tests.support.spool_files import pending_files

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="runs the exporter in a forked child")


class Lines(logging.Handler):
    """What the child logged, to be sent back to the test."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[dict[str, Any]] = []
        logging.getLogger("otel_honeyhive").addHandler(self)
        logging.getLogger("otel_honeyhive").setLevel(logging.DEBUG)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append({"level": record.levelno, "message": record.getMessage(),
                           "traceback": record.exc_info is not None})

    def at_least(self, level: int) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["level"] >= level]


def test_a_spool_directory_that_becomes_unusable_after_start_up_is_one_line_and_every_span_ships_directly(
    server: FakeHoneyHive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """The audit's scenario: the exporter made by root, the worker then `nobody`. Before: a traceback per batch,
    every span lost, and a traceback from the shipper every 5 s."""
    monkeypatch.setattr(spool_module, "OTHERS_REFRESH_SECONDS", 0.0)  # the first put after the drop looks
    monkeypatch.setattr(shipper_module, "ADOPT_INTERVAL", 0.05)  # several adoption rounds fail meanwhile
    with shared_directory(tmp_path) as base:
        spool = base / "spool"

        def worker() -> dict[str, Any]:
            lines = Lines()
            exporter = make_exporter(server, spool_dir=spool)
            provider = provider_exporting_to(exporter)
            traces = [rag_trace(provider)]
            assert exporter.force_flush(5_000), "spooled and shipped while the directory was usable"
            lose_access(spool)
            time.sleep(0.3)
            traces += [rag_trace(provider) for _ in range(2)]
            stats = exporter.stats
            exporter.shutdown()
            return {"traces": traces, "stats": [stats.spooled, stats.spool_fallbacks, stats.events_delivered,
                                                stats.events_failed], "lines": lines.at_least(logging.WARNING)}

        with given_back(spool):
            result = in_child(worker, timeout=30)
    assert result["stats"] == [True, 2, 9, 0], "the two later traces went directly: nothing failed"
    assert {e["session_id"] for e in server.events} == {session_id_for_trace(t) for t in result["traces"]}
    (line,) = result["lines"]
    assert line["level"] == logging.ERROR and not line["traceback"]
    message = line["message"]
    assert str(spool / "outbox") in message and "[Errno 13] Permission denied" in message
    assert ("chown -R 65534" if os.geteuid() == 0 else "chmod -R u+rwX") in message, "it says what to do"
    assert message.endswith("sent directly") or message.endswith("sending batches directly while the spool "
                                                                 "cannot take them")


@pytest.mark.parametrize("auto", [False, True], ids=["HoneyHiveSpanExporter", "AutoConfiguredSpanExporter"])
def test_a_segment_another_user_left_is_skipped_with_one_line_and_the_exporter_spools_in_its_own(
    server: FakeHoneyHive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, auto: bool  # noqa: F811
) -> None:
    """A segment left by `sudo otel-honeyhive spool redrive DIR` during an outage, in a directory the user owns.
    Before: PermissionError out of the constructor (and out of what OTEL_TRACES_EXPORTER=honeyhive builds)."""
    with shared_directory(tmp_path) as base:
        spool = base / "spool"
        outbox = spool / "outbox"
        leave_records(outbox, [0, 1])
        (foreign,) = (outbox / "segments").iterdir()
        hand_over(spool)
        deny(foreign)
        monkeypatch.setenv("HH_API_KEY", API_KEY)
        monkeypatch.setenv("HH_API_URL", server.url)
        monkeypatch.setenv("HH_SPOOL_DIR", str(spool))

        def worker() -> dict[str, Any]:
            become_nobody()
            lines = Lines()
            exporter = AutoConfiguredSpanExporter() if auto else HoneyHiveSpanExporter(retry_policy=FAST)
            trace_id = rag_trace(provider_exporting_to(exporter))
            assert exporter.force_flush(5_000)
            stats = exporter.stats
            exporter.shutdown()
            return {"trace": trace_id, "stats": [stats.spooled, stats.spool_fallbacks, stats.events_delivered],
                    "lines": lines.at_least(logging.WARNING)}

        with given_back(foreign):
            result = in_child(worker, timeout=30)
            assert len(pending_files(outbox)) == 2, "the foreign segment's records wait for its owner"
    assert result["stats"] == [True, 0, 3], "spooled in its own segment, shipped from there"
    assert {e["session_id"] for e in server.events} == {session_id_for_trace(result["trace"])}
    (line,) = result["lines"]
    assert line["level"] == logging.WARNING and not line["traceback"]
    assert f"cannot adopt segment {foreign.name}" in line["message"]
    assert f"otel-honeyhive spool redrive {outbox}" in line["message"]
