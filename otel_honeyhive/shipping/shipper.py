"""The background thread that drains a `Spool` into an `Output`.

Guarantees (together with the spool's): records are sent oldest first and one at a time, so order is kept
(an update never overtakes the events it patches). A record is acked only after the output reports
DELIVERED; a REJECTED record is moved to the spool's `dead/` folder (kept for a human, logged, counted);
a RETRY_LATER record stays at the head and is tried again after a backoff (the receiver's `retry_after`
when it gave one, else exponential with jitter capped at `policy.max_backoff`). An answer with a 5xx status other
than 502, 503 and 504 (500, 501, 505 …, whether the output refused it or asked to retry, as for a 500 "events
partially created") is the receiver's fault, not the data's: the record is tried `server_error_attempts` times
before it is dead-lettered (a direct send fails at once, as OTLP exporters do; a spooled record has time, and a
poison record still cannot block the queue forever). The count starts again whenever a try gets bodies of the
record through that had not been before: a large record on a flaky receiver makes progress, and is not given up
while it does. 502, 503, 504, 429 and connection failures are an outage or a gateway between, never counted: an
outage never dead-letters data. A refusal that says the configuration is wrong (401, 403, 404/405 on the route:
`is_configuration_refusal`) is never the data's fault: the record stays at the head and is tried again every
`configuration_retry` seconds (longer when the receiver's Retry-After says so), with one error line each time
saying what to check, so fixing the key or the URL (and restarting, which tries at once) delivers it. A spooled
record has no deadline: it waits until it is delivered or refused. An exception raised by an output is logged and
treated as RETRY_LATER, so it never kills the thread. Every wait is on an Event, so `close()` returns promptly and
a `put` wakes an idle shipper at once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from otel_honeyhive.core.protocols import Output
from otel_honeyhive.core.results import Outcome, SendResult, is_configuration_refusal
from otel_honeyhive.shipping.records import SpoolRecord
from otel_honeyhive.shipping.retry import RETRYABLE_STATUSES, RetryPolicy
from otel_honeyhive.shipping.spool import RecordId, Spool, SpoolError

log = logging.getLogger(__name__)

MAX_RETRY_AFTER = 900.0
"""A receiver's Retry-After is honoured up to 15 minutes, so a bogus header cannot park the spool for days."""


SERVER_ERROR_ATTEMPTS = 5
"""How many tries of a record answered with a 5xx status (not 502, 503, 504), with no progress in between, before
it is dead-lettered."""

CONFIGURATION_RETRY = 60.0
"""Seconds between tries of a record refused for a configuration reason (401, 403, 404/405). A key or a URL is
fixed by a person, in minutes, usually with a restart (which tries at once); once a minute keeps a misconfigured
fleet at one request and one error line per process per minute, yet a fix made without a restart (a key
re-enabled at HoneyHive, a proxy route repaired) still delivers within about a minute. The policy's backoff
(16 s at most) would log four lines a minute for nothing new."""

IDLE_RECHECK = 5.0
"""An idle shipper is woken by every put; it also looks again this often, as a safety net."""

ADOPT_INTERVAL = 5.0
"""How often a shipper looks for records left in the spool directory by processes that died or exited, whatever
its own backlog (it also looks once when it starts). It looks between two sends: a wait for a receiver (a backoff,
a Retry-After) is not cut short for it, since what it adopts queues behind the record waiting at the head."""


@dataclass(frozen=True, slots=True)
class ShipperStats:
    """A snapshot of the shipper's counters (for logs and /metrics); counts since the shipper started."""

    delivered_records: int = 0
    delivered_events: int = 0
    retried: int = 0
    """Attempts that ended RETRY_LATER (or raised, or a 5xx within `server_error_attempts` tries) and were
    scheduled again."""
    dead_lettered: int = 0
    """Records moved to `dead/`."""
    dead_lettered_events: int = 0
    """Events in the records moved to `dead/` (not delivered; kept for a human): of a partial refusal, only the
    refused events (the others count in `delivered_events`)."""
    config_refusals: int = 0
    """Attempts refused for a configuration reason (401, 403, 404/405): the record was kept at the head and tried
    again after `configuration_retry` seconds, never dead-lettered."""
    corrupt: int = 0
    """Records that failed their checksum and were moved to `corrupt/` (since the spool was opened)."""
    pending_records: int = 0
    pending_bytes: int = 0


class SpoolShipper:
    """Drains `spool` into `output`, oldest record first, in one daemon thread.

    The shipper owns neither the spool nor the output: closing it stops the thread and leaves both open.
    """

    def __init__(
        self,
        spool: Spool,
        output: Output,
        policy: RetryPolicy,
        *,
        name: str = "shipper",
        start: bool = True,
        rng: random.Random | None = None,
        server_error_attempts: int = SERVER_ERROR_ATTEMPTS,
        configuration_retry: float = CONFIGURATION_RETRY,
        on_adoption_error: Callable[[SpoolError], None] | None = None,
    ) -> None:
        """`on_adoption_error`: told of each failed adoption round instead of the log (`_adopt_orphans`)."""
        if server_error_attempts < 1:
            raise ValueError(f"server_error_attempts must be at least 1, got {server_error_attempts!r}")
        if not configuration_retry > 0:
            raise ValueError(f"configuration_retry must be > 0 seconds, got {configuration_retry!r}")
        self._configuration_retry = configuration_retry
        self._spool = spool
        self._output = output
        self._policy = policy
        self._name = name
        self._rng = rng or random.Random()
        self._own_rng = rng is None
        self._server_error_attempts = server_error_attempts
        self._on_adoption_error = on_adoption_error
        self._stop = threading.Event()
        self._reset_state()
        spool.add_listener(self.notify)
        if start:
            self.start()

    def _reset_state(self) -> None:
        self._wake = threading.Event()
        self._progress = threading.Condition(threading.RLock())
        self._counts = {
            "delivered_records": 0, "delivered_events": 0, "retried": 0, "dead_lettered": 0, "dead_lettered_events": 0,
            "config_refusals": 0,
        }
        self._thread = threading.Thread(target=self._run, name=f"otel-honeyhive-{self._name}", daemon=True)
        self._started = False
        self._adopting = False  # what the thread is doing, for close()'s warning
        self._adoption_error: str | None = None  # the last adoption failure logged

    def after_fork_in_child(self) -> None:
        """In a forked child, where the parent's thread does not exist: fresh events, lock and counts, a reseeded
        jitter (so workers do not retry in step), and a running thread if the parent's was running."""
        running = self._started and not self._stop.is_set()
        stopped = self._stop.is_set()
        self._stop = threading.Event()
        if stopped:
            self._stop.set()
        self._reset_state()
        if self._own_rng:
            self._rng = random.Random()
        if running:
            self.start()

    @property
    def name(self) -> str:
        return self._name

    @property
    def stats(self) -> ShipperStats:
        with self._progress:
            counts = dict(self._counts)
        return ShipperStats(
            corrupt=self._spool.corrupt_count,
            pending_records=self._spool.pending_count,
            pending_bytes=self._spool.pending_bytes,
            **counts,
        )

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> SpoolShipper:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def notify(self) -> None:
        """A record was put: wake the thread if it is idle (a backoff wait is not cut short)."""
        self._wake.set()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the spool is empty; False if records are still pending when `timeout` passes.

        Does not cut a backoff short: a record waiting out a receiver's Retry-After keeps waiting."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self.notify()
        with self._progress:
            while self._spool.pending_count > 0:
                if not self._thread.is_alive():
                    return False
                wait = 0.1
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    wait = min(wait, remaining)
                self._progress.wait(wait)
        return True

    def close(self, timeout: float | None = 10.0) -> bool:
        """Stop draining; wait up to `timeout` for an in-flight send (its backoff is interrupted) to return.

        Undelivered records stay on disk for the next run. Returns False if the thread was still busy."""
        self._stop.set()
        self._wake.set()
        self._spool.remove_listener(self.notify)
        if self._started and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                if self._adopting:
                    log.warning("%s: still adopting the records other processes left in %s after %ss; leaving it "
                                "(what it has not moved stays there, for the next process to adopt)",
                                self._name, self._spool.directory, timeout)
                else:
                    log.warning(
                        "%s: an in-flight send to %s did not return within %ss; leaving it",
                        self._name,
                        getattr(self._output, "name", "output"),
                        timeout,
                    )
                return False
        return True

    # -- the thread -----------------------------------------------------------------------------------------

    def _count(self, **deltas: int) -> None:
        with self._progress:
            for key, delta in deltas.items():
                self._counts[key] += delta
            self._progress.notify_all()

    def _adopt_orphans(self) -> int:
        """Take over what dead processes left in the spool directory; 0 when that failed. A failure goes to
        `on_adoption_error` when given (the delivery, which says once what the cause means for the data), else
        is logged once, not every round: a directory that became unusable stays so until a human acts. A bug's
        traceback is logged once."""
        self._adopting = True
        try:
            adopted = self._spool.adopt_orphans()
        except SpoolError as exc:
            if self._on_adoption_error is None:
                self._adoption_failed(f"{self._name}: {exc}")
            else:
                try:
                    self._on_adoption_error(exc)
                except Exception:  # never kills the thread
                    log.exception("%s: on_adoption_error failed", self._name)
        except Exception as exc:
            self._adoption_failed(f"{self._name}: unexpected error while adopting orphaned records: "
                                  f"{type(exc).__name__}: {exc}", exc)
        else:
            self._adoption_error = None
            return adopted
        finally:
            self._adopting = False
        return 0

    def _adoption_failed(self, message: str, exc: Exception | None = None) -> None:
        if message != self._adoption_error:
            self._adoption_error = message
            log.error("%s", message, exc_info=exc)

    def _run(self) -> None:
        failures = 0  # consecutive RETRY_LATER results for the head record
        server_errors = 0  # tries of the head record since it last made progress, answered with a counted 5xx
        current: RecordId | None = None
        self._adopt_orphans()
        adopted_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self._wake.clear()
                now = time.monotonic()
                # Busy or idle: what a dead process left must not wait for this one's backlog to drain first.
                if now - adopted_at >= ADOPT_INTERVAL:
                    adopted_at = now
                    self._adopt_orphans()
                head = self._spool.peek_oldest()
                if head is None:
                    with self._progress:
                        self._progress.notify_all()
                    self._wake.wait(min(IDLE_RECHECK, max(0.0, adopted_at + ADOPT_INTERVAL - now)))
                    continue
                record_id, record = head
                if record_id != current:
                    current, server_errors = record_id, 0
                result = self._send(record)
                if is_configuration_refusal(result, update=record.kind == "update"):
                    if self._stop.is_set():
                        break
                    self._count(config_refusals=1)
                    wait = self._configuration_wait(result)
                    self._log_configuration_refusal(record, result, wait)
                    self._stop.wait(wait)
                    continue
                if result.acknowledged:
                    server_errors = 0  # bodies went through that had not before: the record makes progress
                elif is_server_error(result):
                    server_errors += 1
                if is_server_error(result):
                    result = self._server_error(result, server_errors)
                if result.outcome is Outcome.RETRY_LATER:
                    if self._stop.is_set():
                        break
                    failures += 1
                    self._count(retried=1)
                    wait = self._backoff(failures, result)
                    log.info(
                        "%s: record %d not delivered (%s); retrying in %.1fs",
                        self._name,
                        record_id,
                        result.detail or "retry later",
                        wait,
                    )
                    self._stop.wait(wait)
                    continue
                failures = 0
                self._settle(record_id, record, result)
            except SpoolError as exc:
                # The disk went bad under us (read-only, full, gone): keep the thread, try again later.
                failures += 1
                log.error("%s: %s", self._name, exc)
                self._stop.wait(self._backoff(failures, None))
            except Exception:
                failures += 1
                log.exception("%s: unexpected error while draining the spool", self._name)
                self._stop.wait(self._backoff(failures, None))

    def _server_error(self, result: SendResult, tries: int) -> SendResult:
        """A counted 5xx (`is_server_error`) on the record's `tries`-th try without progress (0: this try made
        some): tried again (RETRY_LATER, the receiver's Retry-After kept) until `server_error_attempts`, then
        REJECTED, to be dead-lettered."""
        attempts = self._server_error_attempts
        if tries == 0:
            return replace(result, outcome=Outcome.RETRY_LATER,
                           detail=f"{result.detail} (a server error after progress: not counted)")
        if tries < attempts:
            return replace(result, outcome=Outcome.RETRY_LATER,
                           detail=f"{result.detail} (a server error: try {tries} of {attempts})")
        return replace(result, outcome=Outcome.REJECTED,
                       detail=f"{result.detail} (a server error on {attempts} tries without progress)")

    def _send(self, record: SpoolRecord) -> SendResult:
        try:
            if record.kind == "update" and record.update is not None:
                return self._output.update(record.update, stop=self._stop)
            return self._output.send(record.events, stop=self._stop)
        except Exception as exc:
            log.exception("%s: output %s raised", self._name, getattr(self._output, "name", "?"))
            return SendResult(Outcome.RETRY_LATER, f"output raised {type(exc).__name__}: {exc}")

    def _settle(self, record_id: RecordId, record: SpoolRecord, result: SendResult) -> None:
        """Ack a delivered record; set a refused one aside in `dead/`. A refusal that names the only events refused
        (`SendResult.refused`: one event too large for the receiver even cut) sets aside a record of just those,
        in its place: the rest of the record was delivered, and counts so."""
        # Under the progress lock, so `flush` and `stats` never see a record gone but not yet counted.
        with self._progress:
            if result.outcome is Outcome.DELIVERED:
                try:
                    self._spool.ack(record_id)
                finally:
                    self._count(delivered_records=1, delivered_events=record.event_count)
                return
            part = record.refused_part(result.refused)  # a partial refusal: only those events are set aside
            refused = record.event_count if part is None else part.event_count
            try:
                where = self._spool.dead_letter(record_id, result.detail or "rejected by the receiver", part)
            finally:
                self._count(dead_lettered=1, dead_lettered_events=refused,
                            delivered_events=record.event_count - refused)
        log.error(
            "%s: %s rejected %s: %s; kept in %s",
            self._name,
            getattr(self._output, "name", "output"),
            _what(record) if part is None else f"{refused} of the {record.event_count} events of a record",
            result.detail or "no detail",
            where or "dead/",
        )

    def _configuration_wait(self, result: SendResult) -> float:
        """`configuration_retry`, jittered like the policy's backoff (processes sharing one wrong key do not
        knock in step); a longer Retry-After is honoured up to `MAX_RETRY_AFTER`."""
        base = self._configuration_retry
        if result.retry_after is not None:
            base = max(base, min(result.retry_after, MAX_RETRY_AFTER))
        jitter = self._policy.jitter
        return base * self._rng.uniform(1 - jitter, 1 + jitter)

    def _log_configuration_refusal(self, record: SpoolRecord, result: SendResult, wait: float) -> None:
        """One error line per try (so once per `configuration_retry`): the status, what to check, and that the
        data is kept."""
        status = result.status
        output = getattr(self._output, "name", "output")
        if status in (401, 403):
            check = "the API key (HH_API_KEY, --api-key)" if output == "honeyhive" else "the credentials (headers)"
        else:
            check = "the URL and route (HH_API_URL, --server-url)" if output == "honeyhive" else "the endpoint URL"
        log.error(
            "%s: %s refused %s with HTTP %s: the configuration is wrong, not the data; check "
            "%s and restart. The record stays in %s (%d records wait), tried again in %.0fs, never dead-lettered. "
            "%s",
            self._name,
            output,
            _what(record),
            status,
            check,
            self._spool.directory,
            self._spool.pending_count,
            wait,
            result.detail or "",
        )

    def _backoff(self, failures: int, result: SendResult | None) -> float:
        if result is not None and result.retry_after is not None:
            return min(max(result.retry_after, 0.0), MAX_RETRY_AFTER)
        # Past ~10 failures the wait is at max_backoff anyway; capping the exponent avoids float overflow.
        return self._policy.backoff(min(failures, 32), self._rng)


def is_server_error(result: SendResult) -> bool:
    """Whether `result` is a 5xx answer that is the receiver's fault (500, 501, 505 …), refused or to retry (a 500
    "events partially created"): counted against `server_error_attempts`. 502, 503 and 504 are not: they are what
    an outage or a gateway between answers, and an outage never dead-letters data."""
    status = result.status
    return (result.outcome is not Outcome.DELIVERED and status is not None and status >= 500
            and status not in RETRYABLE_STATUSES)


def _what(record: SpoolRecord) -> str:
    """A record as a log line names it: "a record of 3 events", "an update record" (an update has no events to
    count)."""
    if record.kind == "events":
        return f"a record of {record.event_count} event{'s' if record.event_count != 1 else ''}"
    return {"update": "an update record"}.get(record.kind, f"a {record.kind} record")


__all__ = [
    "ADOPT_INTERVAL",
    "CONFIGURATION_RETRY",
    "MAX_RETRY_AFTER",
    "SERVER_ERROR_ATTEMPTS",
    "ShipperStats",
    "SpoolShipper",
    "is_server_error",
]
