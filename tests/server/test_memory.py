"""The server's malloc settings: a request's large buffers come from the heap and stay there for the next one.

Checked in fresh interpreters (the test process keeps its own settings), through glibc's own account of its
memory (`mallinfo2`): with the settings, a freed 8 MiB buffer is kept in the heap for reuse; without them, glibc
maps it and unmaps it again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from otel_honeyhive.server.memory import OPERATOR_SETTINGS, TRIM_THRESHOLD, tune_malloc


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
