"""The server's memory settings.

malloc: a request's large buffers come from the heap and stay there for the next one. Checked in fresh
interpreters (the test process keeps its own settings), through glibc's own account of its memory (`mallinfo2`):
with the settings, a freed 8 MiB buffer is kept in the heap for reuse; without them, glibc maps it and unmaps it
again.

The garbage collector runs less often, which is harmless only while requests leave no reference cycles behind:
a refused request, answered by the server's own app, leaves none holding its body.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from types import FrameType

import pytest
from starlette.testclient import TestClient

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.core.results import DELIVERED, SendResult, Update
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.server.app import build_app
from otel_honeyhive.server.config import ServerConfig
from otel_honeyhive.server.memory import (
    OPERATOR_SETTINGS,
    TRIM_THRESHOLD,
    YOUNG_THRESHOLD,
    tune_malloc,
)
from tests.support.server import LOOPBACK


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):
        return False


needs_glibc = pytest.mark.skipif(not _glibc(), reason="the thresholds are glibc's")

_PROBE = """
import ctypes, json, sys
from otel_honeyhive.server.memory import tune_malloc

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
tuned = tune_malloc() if sys.argv[1] == "tune" else False
buffer = bytearray(8 * 1024 * 1024)
mapped_while_held = libc.mallinfo2().hblkhd
del buffer
print(json.dumps({"tuned": tuned, "mapped_while_held": mapped_while_held, "free_in_heap": libc.mallinfo2().fordblks}))
"""


def _probe(mode: str) -> dict[str, int]:
    env = {k: v for k, v in os.environ.items() if k not in OPERATOR_SETTINGS}
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], check=True, capture_output=True, text=True, env=env)
    result: dict[str, int] = json.loads(out.stdout)
    return result


@needs_glibc
def test_a_freed_large_buffer_stays_in_the_heap_for_the_next_request() -> None:
    tuned = _probe("tune")
    assert tuned["tuned"]
    assert tuned["mapped_while_held"] < 8 * 1024 * 1024  # served from the heap, not a fresh mapping
    assert 8 * 1024 * 1024 <= tuned["free_in_heap"] <= TRIM_THRESHOLD + 8 * 1024 * 1024  # kept, not trimmed


@needs_glibc
def test_without_the_settings_glibc_maps_and_unmaps_it() -> None:
    """The control: what the server would pay a page fault per 4 KiB for, request after request."""
    plain = _probe("plain")
    assert plain["mapped_while_held"] >= 8 * 1024 * 1024
    assert plain["free_in_heap"] < 8 * 1024 * 1024


@pytest.mark.parametrize("name", OPERATOR_SETTINGS)
def test_an_operators_own_malloc_settings_win(name: str) -> None:
    assert tune_malloc(environ={name: "1"}) is False


def test_the_collector_walks_the_youngest_generation_every_young_threshold_allocations() -> None:
    probe = ("import gc, json; from otel_honeyhive.server.memory import tune_collector; before = gc.get_threshold(); "
             "tune_collector(); print(json.dumps([before, gc.get_threshold()]))")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    before, after = json.loads(out.stdout)
    assert after == [YOUNG_THRESHOLD, before[1], before[2]]


def test_a_collector_turned_off_stays_off() -> None:
    probe = "import gc; from otel_honeyhive.server.memory import tune_collector; gc.disable(); tune_collector(); " \
            "print(gc.isenabled(), gc.get_threshold()[0])"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["False", "700"]


class _Sink:
    output_name = "recording"

    def accept_spans(self, spans: Sequence[SpanView]) -> SendResult:
        return DELIVERED

    def accept_events(self, events: list[Event]) -> SendResult:
        return DELIVERED

    def accept_update(self, update: Update) -> SendResult:
        return DELIVERED

    def accept_records(self, records: Sequence[LogRecordView]) -> SendResult:
        return DELIVERED


@pytest.fixture
def garbage() -> Iterator[Callable[[], list[object]]]:
    """A function giving what the collector finds unreachable since the test began (kept for the test to look
    at rather than freed)."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)

    def unreachable() -> list[object]:
        gc.collect()
        return list(gc.garbage)

    try:
        yield unreachable
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


@pytest.mark.parametrize(("path", "body", "media_type"), [
    ("/v1/traces", b"\x00" * 4096, "application/x-protobuf"),
    ("/v1/traces", b"[" * 4096 + b"]" * 4096, "application/json"),
    ("/v1/logs", b"\x0a\xff" * 2048, "application/x-protobuf"),
    ("/v1/metrics", b"{not json", "application/json"),
])
def test_a_refused_request_leaves_no_reference_cycle_holding_its_body(
    path: str, body: bytes, media_type: str, garbage: Callable[[], list[object]]
) -> None:
    with TestClient(build_app(ServerConfig(), _Sink()), base_url=LOOPBACK) as client:
        for _ in range(3):
            assert client.post(path, content=body, headers={"Content-Type": media_type}).status_code == 400
    found = garbage()
    frames = [o for o in found if isinstance(o, FrameType) and "otel_honeyhive" in o.f_code.co_filename]
    errors = [o for o in found if isinstance(o, BaseException) and type(o).__module__.startswith("otel_honeyhive")]
    assert not frames and not errors, (frames[:3], errors[:3])
