"""`serve --retention`: the local store keeps sessions for a while, not for ever (docs/delivery.md#retention).

A thread of the server prunes the store at start and then every tenth of the retention (between one second and
ten minutes): whole sessions whose last event is older than the retention go, and the body segments nothing
points into any more are deleted (`SQLiteStore.prune`). Each pass that removed something says so in one line on
stderr; a pass that fails (the disk, a lock held too long by another process) says why and is tried again at
the next one. Ingestion waits for one batch of deletions at most.
"""

from __future__ import annotations

import datetime
import logging
import sqlite3
import sys
import threading
import time

from otel_honeyhive.outputs.store import Pruned, SQLiteStore

logger = logging.getLogger("otel_honeyhive.server")

MIN_INTERVAL = 1.0
MAX_INTERVAL = 600.0


def interval_for(retention: float) -> float:
    """Seconds between passes: a tenth of the retention, so nothing outlives it by more than a tenth."""
    return min(max(retention / 10, MIN_INTERVAL), MAX_INTERVAL)


def describe_pruned(pruned: Pruned, before: float, *, dry_run: bool = False) -> str:
    """One line for a person: what went (or would go), the cutoff in UTC, and the space given back."""
    cutoff = datetime.datetime.fromtimestamp(before / 1000, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    what = (f"{pruned.sessions} session{'s' if pruned.sessions != 1 else ''} "
            f"({pruned.events} event{'s' if pruned.events != 1 else ''}) whose last event was before {cutoff}")
    if dry_run:
        return f"would prune {what}; nothing deleted (--dry-run)"
    freed = (f"; freed {pruned.segments} body segment{'s' if pruned.segments != 1 else ''} "
             f"({pruned.bytes_freed / 2**20:.1f} MiB)" if pruned.segments else "")
    return f"pruned {what}{freed}"


class Retention:
    """Prunes `store` of what is older than `seconds`, in a daemon thread, until `stop` is set."""

    def __init__(self, store: SQLiteStore, seconds: float, stop: threading.Event) -> None:
        self.store = store
        self.seconds = seconds
        self.stop = stop
        self.passes = 0
        self.failures = 0
        self.total = Pruned(0, 0)
        """Everything pruned since the server started (`/metrics`)."""
        self._thread = threading.Thread(target=self._run, name="otel-honeyhive-retention", daemon=True)

    def start(self) -> Retention:
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def run_once(self) -> Pruned:
        """One pass: what went."""
        before = time.time() * 1000 - self.seconds * 1000
        pruned = self.store.prune(before, stop=self.stop)
        self.passes += 1
        total = self.total
        self.total = Pruned(total.sessions + pruned.sessions, total.events + pruned.events,
                            total.segments + pruned.segments, total.bytes_freed + pruned.bytes_freed)
        if pruned.sessions or pruned.events:
            print(f"otel-honeyhive serve: retention: {describe_pruned(pruned, before)}", file=sys.stderr, flush=True)
        return pruned

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self.run_once()
            except (OSError, sqlite3.Error, RuntimeError) as exc:  # said, and tried again: the thread never dies
                if self.stop.is_set():
                    return
                self.failures += 1
                logger.warning("retention: could not prune %s: %s (tried again in %.0f s)", self.store.path, exc,
                               interval_for(self.seconds))
            self.stop.wait(interval_for(self.seconds))


__all__ = ["MAX_INTERVAL", "MIN_INTERVAL", "Retention", "describe_pruned", "interval_for"]
