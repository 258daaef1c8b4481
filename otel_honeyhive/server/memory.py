"""glibc malloc settings for the server process, so that a request's large buffers are reused, not mapped afresh.

Every OTLP request brings buffers of megabytes: the body as it arrives and whole, the encoded events, the
prompts inside. glibc serves an allocation above its mmap threshold (which it moves between 128 KiB and 32 MiB
as it sees frees) with a fresh mapping that is unmapped again when freed, and gives the top of its heap back to
the kernel once more than the trim threshold is free there. Either way the next request writes to new pages and
pays a page fault for every 4 KiB of them. Fixed thresholds make the heap keep up to `TRIM_THRESHOLD` bytes of
freed memory for the next request, at the cost of a few MiB of peak RSS (the figures are in BENCHMARKS.md, *What
was profiled*).

This is done for `otel-honeyhive serve` only: the exporter runs inside the user's application, whose memory
settings are not ours to change. An operator's own `MALLOC_*` environment settings (or `GLIBC_TUNABLES`) win.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Mapping

logger = logging.getLogger("otel_honeyhive.server")

MMAP_THRESHOLD = 32 * 1024 * 1024
"""Allocations below this come from the heap, where freed memory is reused; larger ones are still mapped."""
TRIM_THRESHOLD = 64 * 1024 * 1024
"""Free memory the heap keeps at its top before giving it back to the kernel."""

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
