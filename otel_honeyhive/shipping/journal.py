"""The held-span journal: spans waiting in trace assembly, made durable before they are acknowledged.

A receiver holds spans until their trace's root arrives; acknowledging a request means those spans must survive
a crash too. Each accepted request's spans become one record in a `Spool` (same file format, fsync and locking
guarantees). The journal counts, per record, the spans not yet handed on; when the events of the last of them
are durably handed on (to the delivery spool or the store), the record is removed. After a crash, `replay()`
yields every record still on disk: its spans go back into the assembler (spans already handed on before the
crash are mapped again; deterministic ids make that harmless). A process that is gone leaves its journal
segment to the next to open the directory, or to a live process's `adopt()`, which treats it the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from otel_honeyhive.core.results import DELIVERED, Outcome, SendResult
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.shipping.records import SpoolRecord
from otel_honeyhive.shipping.spool import DEFAULT_MAX_BYTES, DiskFullError, RecordId, Spool, SpoolError, SpoolFullError

logger = logging.getLogger("otel_honeyhive.journal")


class Journal:
    def __init__(self, directory: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._spool = Spool(directory, max_bytes, keep_adopted=True)
        self._lock = threading.Lock()
        self._owner: dict[int, tuple[RecordId, SpanView]] = {}
        """id(span) → the record it came in (the view is kept so its id stays unique while tracked)."""
        self._remaining: dict[RecordId, int] = {}

    @property
    def pending_records(self) -> int:
        return len(self._remaining)

    @property
    def pending_bytes(self) -> int:
        return self._spool.pending_bytes

    @property
    def stored_records(self) -> int:
        """Records on disk (a record goes once every span in it was handed on)."""
        return self._spool.pending_count

    @property
    def max_bytes(self) -> int:
        return self._spool.max_bytes

    def _track(self, record_id: RecordId, views: Sequence[SpanView]) -> None:
        with self._lock:
            self._remaining[record_id] = len(views)
            for view in views:
                self._owner[id(view)] = (record_id, view)

    def write(self, views: Sequence[SpanView]) -> SendResult:
        """Put the spans on disk; DELIVERED once they are. Full (the cap or the disk) → RETRY_LATER with a hint;
        unusable → REJECTED."""
        try:
            record_id = self._spool.put(SpoolRecord.of_spans(views))
        except SpoolFullError as exc:
            return SendResult(Outcome.RETRY_LATER, str(exc), exc.retry_after)
        except DiskFullError as exc:
            logger.error("%s", exc)
            return SendResult(Outcome.RETRY_LATER, str(exc), exc.retry_after)
        except SpoolError as exc:
            logger.error("%s", exc)
            return SendResult(Outcome.REJECTED, str(exc))
        self._track(record_id, views)
        return DELIVERED

    def released(self, traces: Sequence[Sequence[SpanView]]) -> None:
        """These spans' events were handed on durably: forget them, and remove records with nothing left."""
        done: list[RecordId] = []
        with self._lock:
            for trace in traces:
                for view in trace:
                    owner = self._owner.pop(id(view), None)
                    if owner is None:
                        continue
                    record_id = owner[0]
                    left = self._remaining[record_id] - 1
                    if left:
                        self._remaining[record_id] = left
                    else:
                        del self._remaining[record_id]
                        done.append(record_id)
        for record_id in done:
            try:
                self._spool.ack(record_id)
            except SpoolError as exc:  # the record stays: replayed (harmlessly) after a restart
                logger.warning("%s", exc)

    def replay(self) -> Iterator[list[SpanView]]:
        """Spans journaled by an earlier run, oldest first, each batch tracked again as it is yielded."""
        self._spool.take_adopted()  # what opening the spool adopted is replayed here with the rest
        for record_id, record in list(self._spool):
            views = self._spans_of(record_id, record)
            if views:
                yield views

    def adopt(self) -> list[list[SpanView]]:
        """Take over the journal segments of processes that are gone (a server killed while another runs on the
        same directory): their spans, oldest first, tracked as if journaled here, to go back into the assembler
        as `replay` puts them. `SpoolError` when the directory cannot be looked at."""
        self._spool.adopt_orphans()
        adopted: list[list[SpanView]] = []
        for record_id in self._spool.take_adopted():
            record = self._spool.get(record_id)
            views = self._spans_of(record_id, record) if record is not None else None
            if views:
                adopted.append(views)
        return adopted

    def _spans_of(self, record_id: RecordId, record: SpoolRecord) -> list[SpanView] | None:
        """A journal record's spans, tracked; None (and the record removed) when it holds none."""
        views = record.spans
        if not views:
            self._spool.ack(record_id)
            return None
        self._track(record_id, views)
        return views

    def close(self) -> None:
        self._spool.close()
