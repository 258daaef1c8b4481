"""The held-span journal: spans waiting in trace assembly, and GenAI log records waiting for their span, made
durable before they are acknowledged.

A receiver holds spans until their trace's root arrives, and GenAI log records until their span comes;
acknowledging a request means those must survive a crash too. What each accepted request leaves waiting becomes
one record in a `Spool` (same file format, fsync and locking guarantees): its spans (kind "spans") or its log
records (kind "records"). The journal counts, per record, the items not yet handed on; when the last of them is
durably handed on (a span's event, or a record joined into one, in the delivery spool or the store; a record
sent as an update), the record is removed. After a crash, `replay()` yields every record still on disk: spans go
back into the assembler, log records into the joiner (what was handed on before the crash is handed on again;
deterministic ids make that harmless). A process that is gone leaves its journal segment to the next to open the
directory, or to a live process's `adopt()`, which treats it the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from otel_honeyhive.core.log_records import LogRecordView
from otel_honeyhive.core.results import DELIVERED, Outcome, SendResult
from otel_honeyhive.core.spans import SpanView
from otel_honeyhive.shipping.records import SpoolRecord
from otel_honeyhive.shipping.spool import DEFAULT_MAX_BYTES, DiskFullError, RecordId, Spool, SpoolError, SpoolFullError

logger = logging.getLogger("otel_honeyhive.journal")


@dataclass(frozen=True)
class Journaled:
    """One journal record read back (tracked again): the spans, or the log records, a request left waiting."""

    spans: list[SpanView] = field(default_factory=list)
    records: list[LogRecordView] = field(default_factory=list)


class Journal:
    def __init__(self, directory: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._spool = Spool(directory, max_bytes, keep_adopted=True)
        self._lock = threading.Lock()
        self._owner: dict[int, tuple[RecordId, SpanView | LogRecordView]] = {}
        """id(span or log record) → the record it came in (the object is kept so its id stays unique while
        tracked)."""
        self._remaining: dict[RecordId, int] = {}

    @property
    def pending_records(self) -> int:
        return len(self._remaining)

    @property
    def pending_bytes(self) -> int:
        return self._spool.pending_bytes

    @property
    def stored_records(self) -> int:
        """Records on disk (a record goes once everything in it was handed on)."""
        return self._spool.pending_count

    @property
    def max_bytes(self) -> int:
        return self._spool.max_bytes

    def _track(self, record_id: RecordId, items: Sequence[SpanView | LogRecordView]) -> None:
        with self._lock:
            self._remaining[record_id] = len(items)
            for item in items:
                self._owner[id(item)] = (record_id, item)

    def write(self, views: Sequence[SpanView]) -> SendResult:
        """Put the spans on disk; DELIVERED once they are. Full (the cap or the disk) → RETRY_LATER with a hint;
        unusable → REJECTED."""
        return self._write(SpoolRecord.of_spans(views), views)

    def write_records(self, records: Sequence[LogRecordView]) -> SendResult:
        """Put GenAI log records waiting for their span on disk, as `write` does spans."""
        return self._write(SpoolRecord.of_records(records), records)

    def _write(self, record: SpoolRecord, items: Sequence[SpanView | LogRecordView]) -> SendResult:
        try:
            record_id = self._spool.put(record)
        except SpoolFullError as exc:
            return SendResult(Outcome.RETRY_LATER, str(exc), exc.retry_after)
        except DiskFullError as exc:
            logger.error("%s", exc)
            return SendResult(Outcome.RETRY_LATER, str(exc), exc.retry_after)
        except SpoolError as exc:
            logger.error("%s", exc)
            return SendResult(Outcome.REJECTED, str(exc))
        self._track(record_id, items)
        return DELIVERED

    def released(self, traces: Sequence[Sequence[SpanView]]) -> None:
        """These spans' events were handed on durably: forget them, and remove records with nothing left."""
        self._release(view for trace in traces for view in trace)

    def released_records(self, records: Iterable[LogRecordView]) -> None:
        """These log records were handed on durably (joined into events, or sent as updates): as `released`.
        Records the journal does not hold are ignored."""
        self._release(records)

    def _release(self, items: Iterable[SpanView | LogRecordView]) -> None:
        done: list[RecordId] = []
        with self._lock:
            for item in items:
                owner = self._owner.pop(id(item), None)
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

    def replay(self) -> Iterator[Journaled]:
        """What an earlier run journaled, oldest first, each record tracked again as it is yielded."""
        self._spool.take_adopted()  # what opening the spool adopted is replayed here with the rest
        for record_id, record in list(self._spool):
            entry = self._entry(record_id, record)
            if entry is not None:
                yield entry

    def adopt(self) -> list[Journaled]:
        """Take over the journal segments of processes that are gone (a server killed while another runs on the
        same directory): their spans and log records, oldest first, tracked as if journaled here, to go back
        into the assembler and the joiner as `replay` puts them. `SpoolError` when the directory cannot be
        looked at."""
        self._spool.adopt_orphans()
        adopted: list[Journaled] = []
        for record_id in self._spool.take_adopted():
            record = self._spool.get(record_id)
            entry = self._entry(record_id, record) if record is not None else None
            if entry is not None:
                adopted.append(entry)
        return adopted

    def _entry(self, record_id: RecordId, record: SpoolRecord) -> Journaled | None:
        """A journal record's spans or log records, tracked; None (and the record removed) when it holds none."""
        if record.kind == "spans" and record.spans:
            self._track(record_id, record.spans)
            return Journaled(spans=record.spans)
        if record.kind == "records" and record.records:
            self._track(record_id, record.records)
            return Journaled(records=record.records)
        self._spool.ack(record_id)
        return None

    def close(self) -> None:
        self._spool.close()
