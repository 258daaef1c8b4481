"""The HoneyHive output for a routing table: each project's events in requests of their own, with its key.

HoneyHive's v1 batch route takes the project from the API key alone (docs/honeyhive-api.md), so an event sent
with another project's key lands in that project. This output holds one `HoneyHiveOutput` per project of the
table, each with that project's key in its session headers, and never puts two projects' events in one request:
a batch is split by each event's `project` (sessions stay whole: every event of a trace has one project) and each
part goes through its project's output, so the 413 split, the v1/legacy switch and the retry policy work per
project as they do for one key. Keys live only in memory: the spool keeps the project name, and the key is looked
up here when a request is sent (docs/routing.md).

An event whose project the table has no key for (a spooled event after the routing file changed, an event
posted to the HoneyHive-compatible API naming another project) is a configuration refusal, status 403: the
shipper keeps it and tries again every minute, as for a refused key; it is never sent with another key. An update
(`PUT /events`) goes with the key of the project its event was sent to, remembered for recent events; one whose
event this process has not sent is refused likewise (never guessed).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Sequence

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.results import DELIVERED, Outcome, SendResult, Update
from otel_honeyhive.core.routing import RoutingTable
from otel_honeyhive.outputs.honeyhive.client import HoneyHiveOutput
from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
from otel_honeyhive.shipping.retry import RetryPolicy

NO_KEY_STATUS = 403
"""The status of a refusal for an event whose project has no key: a configuration refusal, kept and retried."""
REMEMBERED_EVENTS = 200_000
"""Event ids whose project is remembered for updates (about 100 bytes each)."""
REMEMBERED_GROUPS = 4096
"""Project parts of failed batches remembered as delivered (see `_mark`)."""


class RoutedHoneyHiveOutput:
    """One `HoneyHiveOutput` per project of `table`, chosen by each event's `project`. Thread-safe."""

    name = "honeyhive"
    reads_encoded = False
    """Events are grouped by their `project` field, so they are taken as objects (a spooled batch is decoded)."""

    def __init__(self, settings: HoneyHiveSettings, table: RoutingTable, policy: RetryPolicy | None = None) -> None:
        self.settings = settings
        self.table = table
        self.outputs: dict[str, HoneyHiveOutput] = {
            project: HoneyHiveOutput(dataclasses.replace(settings, api_key=key, project=project), policy)
            for project, key in table.keys.items()
        }
        self._projects_of: OrderedDict[str, str] = OrderedDict()
        self._delivered: set[tuple[object, ...]] = set()
        """Project groups delivered in sends that failed for another project: skipped when the batch goes again."""
        self._lock = threading.Lock()
        self.refused_unkeyed = 0
        """Events refused because their project has no key in the table."""

    def __repr__(self) -> str:
        return f"RoutedHoneyHiveOutput({self.settings!r}, projects={sorted(self.outputs)})"

    @property
    def requests_sent(self) -> int:
        return sum(output.requests_sent for output in self.outputs.values())

    def send(self, events: Sequence[Event], *, stop: threading.Event | None = None) -> SendResult:
        """Each project's events through its output, in order of first appearance. A project that fails does not
        stop the others; the result is the first failure (the batch is sent again as a whole: event ids are
        deterministic, and each output skips the bodies it had acknowledged in an unfinished send). Refusals
        that name their events (`SendResult.refused`) are answered as one, naming them all, only when every other
        part was delivered: otherwise the batch goes again, and they are refused again then."""
        groups: dict[str | None, list[Event]] = {}
        for event in events:
            project = event.get("project")
            groups.setdefault(project if isinstance(project, str) else None, []).append(event)
        failure: SendResult | None = None
        partial: list[SendResult] = []
        delivered: list[tuple[object, ...]] = []
        for project, group in groups.items():
            output = self.outputs.get(project) if project is not None else None
            mark = _mark(project, group)
            with self._lock:
                done = mark in self._delivered
            if done:  # delivered in an earlier send of this batch that failed for another project
                delivered.append(mark)
                continue
            if output is None or project is None:
                with self._lock:
                    self.refused_unkeyed += len(group)
                result = SendResult(
                    Outcome.REJECTED,
                    f"{len(group)} event(s) of project {project!r} not sent: the routing table "
                    f"({self.table.where}) has no API key for it (projects with keys: {', '.join(self.outputs)}); "
                    "add it under [routing.projects], or route its services elsewhere",
                    status=NO_KEY_STATUS)
            else:
                result = output.send(group, stop=stop)
                if result.ok:
                    self._remember(project, group)
                    delivered.append(mark)
            if result.refused:  # some events refused, the others delivered: said only if all else went
                partial.append(result)
            elif not result.ok and (failure is None or _worse(result, failure)):
                failure = result
        with self._lock:
            if failure is None:
                self._delivered.difference_update(delivered)
            else:
                self._delivered.update(delivered)
                while len(self._delivered) > REMEMBERED_GROUPS:
                    self._delivered.pop()
        if failure is None and partial:
            refused = tuple(i for r in partial for i in r.refused)
            return SendResult(Outcome.REJECTED, "; ".join(r.detail for r in partial), status=413, refused=refused)
        return failure or DELIVERED

    def _remember(self, project: str, events: Sequence[Event]) -> None:
        with self._lock:
            known = self._projects_of
            for event in events:
                event_id = event.get("event_id")
                if isinstance(event_id, str):
                    known[event_id] = project
                    known.move_to_end(event_id)
            while len(known) > REMEMBERED_EVENTS:
                known.popitem(last=False)

    def update(self, update: Update, *, stop: threading.Event | None = None) -> SendResult:
        """With the key of the project the update names (`Update.project`: one event id may be in two projects,
        a UUID conversation's session), else of the project its event was sent to."""
        project = update.project
        if project is None:
            with self._lock:
                project = self._projects_of.get(update.event_id)
        if project is None and isinstance(update.fields.get("project"), str):
            project = update.fields["project"]
        output = self.outputs.get(project) if project is not None else None
        if output is None:
            return SendResult(
                Outcome.REJECTED,
                f"update of event {update.event_id} not sent: its project is not known to this process, and the "
                "routing table sends nothing without its project's key", status=404)
        return output.update(update, stop=stop)

    def after_fork_in_child(self) -> None:
        for output in self.outputs.values():
            output.after_fork_in_child()
        self._lock = threading.Lock()

    def close(self) -> None:
        for output in self.outputs.values():
            output.close()


def _mark(project: object, group: Sequence[Event]) -> tuple[object, ...]:
    """What identifies one project's part of a batch: its project, size and first and last event ids (event ids
    are derived from span ids, so the same part of a batch sent again has the same mark)."""
    return (project, len(group), group[0].get("event_id"), group[-1].get("event_id"))


def _worse(result: SendResult, than: SendResult) -> bool:
    """A transient fault is reported over a refusal: the batch is then sent again, which the refused part needs
    as much (a configuration refusal is kept too)."""
    return result.outcome is Outcome.RETRY_LATER and than.outcome is not Outcome.RETRY_LATER


__all__ = ["RoutedHoneyHiveOutput"]
