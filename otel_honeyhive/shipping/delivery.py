"""One façade the exporter and the server use to hand events to an output, with or without a spool.

- `Delivery.direct(output)`: no spool. `submit_*` sends now, synchronously, through the output (which does
  its own retrying within its deadline) and returns its result. Nothing survives a crash; a RETRY_LATER
  result means the caller still holds the data.
- `Delivery.spooled(output, spool_dir)`: `submit_*` writes the operation to the durable spool and returns
  DELIVERED as soon as it is on disk: that is the caller's acknowledgement point (the exporter returns
  SUCCESS, the server answers 200). A background `SpoolShipper` delivers it later, at least once, in order,
  across restarts. A full spool returns RETRY_LATER with `retry_after` (the server answers 429/503 +
  Retry-After), and so does a full disk (logged as an error: it needs a human); an unusable spool (read-only,
  removed directory) returns REJECTED with a message naming the directory and the OS error.

`submit_*` never raise (an exporter's `export()` must not): every failure becomes a `SendResult`, and each
distinct error is logged once so a broken disk does not flood the log. Only construction raises: `spooled()`
raises `SpoolError` when the directory cannot be used, so a misconfiguration fails at start-up.

`spooled(..., fallback_direct=True)` (the exporter's choice; the server pushes back instead): a batch the spool
cannot take (full, disk full, directory gone or read-only) is sent directly rather than refused, since the SDK's
`BatchSpanProcessor` never retries a failed export. After a fork, `after_fork_in_child` gives the child its
own spool segment, shipper thread and output connections, or direct delivery when the spool cannot be used.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from otel_honeyhive.core.encoded import EventShape
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.protocols import Output
from otel_honeyhive.core.results import DELIVERED, Outcome, SendResult, Update
from otel_honeyhive.shipping.records import RecordEncodeError, SpoolRecord
from otel_honeyhive.shipping.retry import RetryPolicy
from otel_honeyhive.shipping.shipper import ShipperStats, SpoolShipper
from otel_honeyhive.shipping.spool import (
    DEFAULT_MAX_BYTES,
    DiskFullError,
    RecordTooLargeError,
    Spool,
    SpoolError,
    SpoolFullError,
)

log = logging.getLogger(__name__)

_MAX_REMEMBERED_ERRORS = 256


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """What became of the `submit_*` calls (and, when spooled, what the shipper did with them)."""

    mode: Literal["direct", "spooled"]
    accepted: int = 0
    """Submits answered DELIVERED: durable in the spool, or delivered directly."""
    retry_later: int = 0
    """Submits answered RETRY_LATER: spool full, closed, or (direct) a transient fault outlasted the
    deadline."""
    rejected: int = 0
    """Submits answered REJECTED: spool unusable, or (direct) the receiver refused the data."""
    accepted_events: int = 0
    """Events in the accepted submits (spooled: on disk; direct: delivered), those of a direct submit that failed
    which the output acknowledged before the failure (`SendResult.acknowledged`), and those delivered beside the
    events a partial refusal named (`SendResult.refused`)."""
    failed_events: int = 0
    """The other events of the submits answered RETRY_LATER or REJECTED (the caller was told: it still holds
    them); of a partial refusal, only the events it named."""
    direct_fallbacks: int = 0
    """Submits the spool could not take that were sent directly instead (`fallback_direct`)."""
    spool_error: str | None = None
    """Why a delivery meant to be spooled is direct (its spool was unusable at start or in a forked child)."""
    shipper: ShipperStats | None = None


class Delivery:
    """Hand operations to an output now (`direct`) or through a durable spool (`spooled`). Thread-safe."""

    def __init__(
        self,
        output: Output,
        policy: RetryPolicy,
        *,
        spool: Spool | None = None,
        shipper: SpoolShipper | None = None,
        fallback_direct: bool = False,
        spool_error: str | None = None,
    ) -> None:
        """Prefer `Delivery.direct` / `Delivery.spooled`; a Delivery owns (and closes) what it is given."""
        self._output = output
        self._policy = policy
        self._spool = spool
        self._shipper = shipper
        self._fallback_direct = fallback_direct
        self._spool_error = spool_error
        self._closed = False
        self._reset_state()

    def _reset_state(self) -> None:
        self._stop = threading.Event()
        if self._closed:
            self._stop.set()
        self._lock = threading.Lock()
        self._accepted = self._retry_later = self._rejected = 0
        self._accepted_events = self._failed_events = self._direct_fallbacks = 0
        self._logged: set[str] = set()
        self._reported: set[object] = set()  # causes of spool errors said (`SpoolError.cause`)

    @classmethod
    def direct(cls, output: Output, policy: RetryPolicy | None = None, *, spool_error: str | None = None
               ) -> Delivery:
        """`spool_error`: why a spool meant to be used is not (shown in `stats`)."""
        return cls(output, policy or RetryPolicy(), spool_error=spool_error)

    @classmethod
    def spooled(
        cls,
        output: Output,
        spool_dir: str | Path,
        policy: RetryPolicy | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        name: str | None = None,
        fallback_direct: bool = False,
        legacy_dirs: Sequence[str | Path] = (),
    ) -> Delivery:
        """Open (or recover) the spool in `spool_dir` and start draining it; `SpoolError` if unusable.
        `fallback_direct`: send a batch the spool cannot take directly instead of refusing it. `legacy_dirs`:
        where an earlier version kept these records (`Spool`)."""
        policy = policy or RetryPolicy()
        spool = Spool(spool_dir, max_bytes, legacy_dirs=legacy_dirs)
        delivery = cls(output, policy, spool=spool, fallback_direct=fallback_direct)
        try:
            delivery._shipper = SpoolShipper(spool, output, policy, name=name or f"{output.name}-shipper",
                                             on_adoption_error=delivery._adoption_failed)
        except BaseException:
            spool.close()
            raise
        return delivery

    @property
    def output(self) -> Output:
        return self._output

    @property
    def spool(self) -> Spool | None:
        return self._spool

    @property
    def takes_encoded(self) -> bool:
        """Whether `EncodedEvents` save work here: the spool writes their bytes as they are, and so does an
        output that declares `reads_encoded` (HoneyHive's). Others would only decode them again."""
        return self._spool is not None or bool(getattr(self._output, "reads_encoded", False))

    @property
    def event_shape(self) -> EventShape | None:
        """How the output wants events shaped before they are encoded (its `event_shape`, when it has one), for
        direct delivery only: the spool keeps events as mapped, since they may be sent another way later
        (another route, `otel-honeyhive spool redrive`)."""
        if self._spool is not None:
            return None
        shape = getattr(self._output, "event_shape", None)
        return shape if isinstance(shape, EventShape) else None

    @property
    def stats(self) -> DeliveryStats:
        with self._lock:
            accepted, retry_later, rejected = self._accepted, self._retry_later, self._rejected
            accepted_events, failed_events = self._accepted_events, self._failed_events
            direct_fallbacks = self._direct_fallbacks
        return DeliveryStats(
            mode="spooled" if self._spool is not None else "direct",
            accepted=accepted,
            retry_later=retry_later,
            rejected=rejected,
            accepted_events=accepted_events,
            failed_events=failed_events,
            direct_fallbacks=direct_fallbacks,
            spool_error=self._spool_error,
            shipper=self._shipper.stats if self._shipper is not None else None,
        )

    def submit_events(self, events: Sequence[Event], *, stop: threading.Event | None = None) -> SendResult:
        """Deliver (direct) or durably queue (spooled) one batch. `stop`, in direct mode, interrupts the
        output's backoff (the caller's shutdown signal); `close()` always does."""
        if not events:
            return DELIVERED
        return self._submit(SpoolRecord.of_events(events), stop)

    def backpressure(self) -> SendResult | None:
        """RETRY_LATER (with a hint) while the spool is full, so intake can refuse before accepting anything;
        None when there is room (direct delivery never pushes back here)."""
        spool = self._spool
        try:
            if spool is None or spool.directory_bytes < spool.max_bytes:
                return None
        except SpoolError:
            return None  # the directory cannot be looked at: the put says why (and falls back or refuses)
        return SendResult(Outcome.RETRY_LATER, f"spool {spool.directory} is full", spool.full_retry_after)

    def submit_update(self, update: Update, *, stop: threading.Event | None = None) -> SendResult:
        return self._submit(SpoolRecord.of_update(update), stop)

    def _submit(self, record: SpoolRecord, stop: threading.Event | None) -> SendResult:
        if self._closed:
            result = SendResult(Outcome.RETRY_LATER, "delivery is closed (shutting down)")
        elif self._spool is None:
            result = self._send_now(record, stop or self._stop)
        else:
            result = self._put(self._spool, record, stop or self._stop)
        with self._lock:
            if result.outcome is Outcome.DELIVERED:
                self._accepted += 1
                self._accepted_events += record.event_count
            else:
                if result.refused:  # a partial refusal: the others were delivered
                    failed = result.failed_of(record.event_count)
                else:  # bodies acknowledged before the failure carried some
                    failed = record.event_count - min(result.acknowledged, record.event_count)
                self._failed_events += failed
                self._accepted_events += record.event_count - failed
                if result.outcome is Outcome.RETRY_LATER:
                    self._retry_later += 1
                else:
                    self._rejected += 1
        return result

    def _send_now(self, record: SpoolRecord, stop: threading.Event) -> SendResult:
        try:
            if record.update is not None:
                return self._output.update(record.update, stop=stop)
            return self._output.send(record.events, stop=stop)
        except Exception as exc:
            message = f"output {getattr(self._output, 'name', '?')} raised {type(exc).__name__}: {exc}"
            self._log_once(message, exc_info=True)
            return SendResult(Outcome.RETRY_LATER, message)

    def _put(self, spool: Spool, record: SpoolRecord, stop: threading.Event) -> SendResult:
        try:
            spool.put(record)
        except RecordTooLargeError as exc:
            if record.kind == "events" and len(record.events) > 1:
                # Too large for the spool as one record, not as events: queue it in halves, in order.
                half = len(record.events) // 2
                first = self._put(spool, SpoolRecord.of_events(record.events[:half]), stop)
                return first if not first.ok else self._put(spool, SpoolRecord.of_events(record.events[half:]), stop)
            return self._unspooled(record, stop, exc, SendResult(Outcome.REJECTED, str(exc)))
        except SpoolFullError as exc:
            return self._unspooled(record, stop, exc, SendResult(Outcome.RETRY_LATER, str(exc), exc.retry_after),
                                   full="the spool is full", level=logging.WARNING)
        except DiskFullError as exc:  # nothing was accepted: the sender keeps the data until space returns
            return self._unspooled(record, stop, exc, SendResult(Outcome.RETRY_LATER, str(exc), exc.retry_after),
                                   full="the disk is full")
        except SpoolError as exc:
            if self._closed:  # closed while this put was on its way
                return SendResult(Outcome.RETRY_LATER, "delivery is closed (shutting down)")
            return self._unspooled(record, stop, exc, SendResult(Outcome.REJECTED, str(exc)))
        except RecordEncodeError as exc:
            self._log_once(f"data not accepted: {exc}")
            return SendResult(Outcome.REJECTED, str(exc))
        except Exception as exc:  # a bug, not the disk's fault (those are SpoolErrors); never raised into export()
            unexpected = SpoolError(f"cannot spool to {spool.directory}: {type(exc).__name__}: {exc}")
            return self._unspooled(record, stop, unexpected, SendResult(Outcome.REJECTED, str(unexpected)),
                                   exc_info=exc)
        return DELIVERED

    def _unspooled(self, record: SpoolRecord, stop: threading.Event, exc: SpoolError, refusal: SendResult,
                   *, full: str | None = None, level: int = logging.ERROR,
                   exc_info: BaseException | None = None) -> SendResult:
        """The spool did not take `record`: with `fallback_direct` send it directly (an exporter has nobody to
        push back to: the SDK never retries a failed export), else refuse it. `full`: what is full, for a
        refusal that waiting cures. `exc_info`: an unexpected exception, whose traceback the one line carries."""
        if self._fallback_direct:
            with self._lock:
                self._direct_fallbacks += 1
            where = self._spool.directory if self._spool is not None else "the spool"
            if full:
                self._log_once(f"otel-honeyhive: {full} ({where}); sending batches directly until there is room",
                               level=level)
            elif self._first_report(exc):
                log.log(level, "otel-honeyhive: %s; sending batches directly while the spool cannot take them", exc,
                        exc_info=exc_info)
            return self._send_now(record, stop)
        if refusal.retry_after is not None:
            self._log_once(f"{exc}; asking senders to retry in {refusal.retry_after:g}s", level=level)
        elif self._first_report(exc):
            log.log(level, "data not accepted: %s", exc, exc_info=exc_info)
        return refusal

    def _first_report(self, exc: SpoolError) -> bool:
        """True the first time a spool error of this cause is to be logged: puts and the shipper's adoption fail
        alike in a directory that became unusable, and one line says it."""
        with self._lock:
            if exc.cause in self._reported:
                return False
            if len(self._reported) >= _MAX_REMEMBERED_ERRORS:
                self._reported.clear()
            self._reported.add(exc.cause)
            return True

    def _adoption_failed(self, exc: SpoolError) -> None:
        """The shipper could not adopt what other processes left (`SpoolShipper(on_adoption_error=)`): one line
        per cause, shared with the puts', saying what becomes of batches meanwhile."""
        if self._first_report(exc):
            log.error("otel-honeyhive: %s%s", exc,
                      "; batches the spool cannot take are sent directly" if self._fallback_direct else "")

    def _log_once(self, message: str, *, level: int = logging.ERROR,
                  exc_info: bool | BaseException | None = False) -> None:
        with self._lock:
            if message in self._logged:
                return
            if len(self._logged) >= _MAX_REMEMBERED_ERRORS:
                self._logged.clear()
            self._logged.add(message)
        log.log(level, message, exc_info=exc_info)

    def after_fork_in_child(self) -> None:
        """In a forked child: fresh locks and counts; the output's connections renewed (`after_fork_in_child`, if
        it has one); the spool given a segment of the child's own and a running shipper, or, when the spool cannot
        be used here, direct delivery, logged once. A closed delivery stays closed."""
        self._reset_state()
        if self._closed:
            return
        renew = getattr(self._output, "after_fork_in_child", None)
        if callable(renew):
            renew()
        spool, shipper = self._spool, self._shipper
        if spool is None:
            return
        try:
            spool.after_fork_in_child()
        except SpoolError as exc:
            self._spool = self._shipper = None
            self._spool_error = str(exc)
            log.error("otel-honeyhive: cannot use spool directory %s in this process (pid %d): %s; shipping "
                      "directly without a spool", spool.directory, os.getpid(), exc)
            return
        if shipper is not None:
            shipper.after_fork_in_child()

    def flush(self, timeout: float | None = None) -> bool:
        """Direct: nothing is held, True. Spooled: wait until the shipper has emptied the spool."""
        if self._shipper is None:
            return True
        return self._shipper.flush(timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop accepting, interrupt backoffs, wait (bounded) for an in-flight send, close the output.

        Spooled records not yet delivered stay on disk and are delivered after the next start. Safe to call
        twice; it does not flush (call `flush(timeout)` first to try to empty the spool)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        if self._shipper is not None:
            self._shipper.close(timeout)
        if self._spool is not None:
            self._spool.close()
        try:
            self._output.close()
        except Exception:
            log.exception("closing output %s failed", getattr(self._output, "name", "?"))


__all__ = ["Delivery", "DeliveryStats"]
