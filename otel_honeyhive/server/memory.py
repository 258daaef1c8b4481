"""Memory settings for the server process: glibc's malloc, so that a request's large buffers are reused, not mapped
afresh, and Python's garbage collector, so that it runs in proportion to the work.

Every OTLP request brings buffers of megabytes: the body as it arrives and whole, the encoded events, the
prompts inside. glibc serves an allocation above its mmap threshold (which it moves between 128 KiB and 32 MiB
as it sees frees) with a fresh mapping that is unmapped again when freed, and gives the top of its heap back to
the kernel once more than the trim threshold is free there. Either way the next request writes to new pages and
pays a page fault for every 4 KiB of them. Fixed thresholds make the heap keep up to `TRIM_THRESHOLD` bytes of
freed memory for the next request, at the cost of a few MiB of peak RSS (the figures are in BENCHMARKS.md, *What
was profiled*).

Decoding and mapping a request of 512 spans makes tens of thousands of short-lived containers; at the
interpreter's default threshold (700) the collector's youngest generation is walked dozens of times per request,
each time finding them still in use (BENCHMARKS.md, *What was profiled*). The server collects it every
`YOUNG_THRESHOLD` allocations instead. What this could cost is garbage in reference cycles waiting longer to be
freed; the server makes none per request (a refused request's exception is not raised through a thread's future:
`inputs/otlp/http.py`), and the hostile-input tests hold its memory to that.

This is done for `otel-honeyhive serve` only: the exporter runs inside the user's application, whose memory
settings are not ours to change. An operator's own `MALLOC_*` environment settings (or `GLIBC_TUNABLES`) win.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
from collections.abc import Mapping

logger = logging.getLogger("otel_honeyhive.server")

MMAP_THRESHOLD = 32 * 1024 * 1024
"""Allocations below this come from the heap, where freed memory is reused; larger ones are still mapped."""
TRIM_THRESHOLD = 64 * 1024 * 1024
"""Free memory the heap keeps at its top before giving it back to the kernel."""

YOUNG_THRESHOLD = 10_000
"""Allocations (less deallocations) of containers between two collections of the youngest generation; the older
generations keep the interpreter's ratios."""

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
OPERATOR_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES")


def tune_malloc(environ: Mapping[str, str] = os.environ) -> bool:
    """Set the thresholds when the process runs on glibc and the operator has not set any; whether it did."""
    if any(name in environ for name in OPERATOR_SETTINGS):
        return False
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):  # not a name this platform knows
        libc = ""
    if not libc.startswith("glibc"):
        return False  # musl, macOS and others: their allocators have no such thresholds
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    tuned = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    if not tuned:
        logger.debug("glibc refused the malloc thresholds; running with its defaults")
    return tuned


def tune_collector() -> None:
    """Collect the youngest generation every `YOUNG_THRESHOLD` allocations (unless the collector is off)."""
    if gc.isenabled():
        _, middle, oldest = gc.get_threshold()
        gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
