"""What the reliability suite measured, printed at the end of the run by `tests/conftest.py`.

Tests record here as they go, in whichever process runs them; under pytest-xdist each worker hands its figures to
the controller, which prints the sum. Nothing is printed when no reliability test ran.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StreamFigures:
    """One stream of spans through faults: how many went in, and what arrived at the (fake) HoneyHive."""

    scenario: str
    spans_sent: int
    spans_acknowledged: int
    events_expected: int
    events_delivered: int
    """Distinct event ids that arrived."""
    duplicates: int
    """Arrivals beyond the first of an event id (at-least-once: harmless, ids are deterministic)."""
    lost: int
    """Expected event ids that never arrived."""
    faults: int
    """Faulty answers the fake HoneyHive gave (or server kills, full disks)."""
    detail: str = ""
    """What the figures alone do not say (the faults by kind, who delivered), printed under the table."""

    @classmethod
    def tally(
        cls, scenario: str, *, sent: int, acknowledged: int, expected: Iterable[str], arrived: Iterable[str],
        faults: int, detail: str = "",
    ) -> StreamFigures:
        wanted = set(expected)
        counts = Counter(arrived)
        return cls(
            scenario=scenario,
            spans_sent=sent,
            spans_acknowledged=acknowledged,
            events_expected=len(wanted),
            events_delivered=len(wanted & counts.keys()),
            duplicates=sum(n - 1 for n in counts.values()),
            lost=len(wanted - counts.keys()),
            faults=faults,
            detail=detail,
        )


@dataclass
class Figures:
    streams: list[StreamFigures] = field(default_factory=list)
    bad_inputs: Counter[str] = field(default_factory=Counter)
    """Bad inputs tried, by entry point."""
    memory: list[tuple[str, int, int]] = field(default_factory=list)
    """(what, server RSS before, after) in bytes."""
    servers_started: int = 0
    server_crashes: int = 0
    secrets_checked: list[tuple[str, int]] = field(default_factory=list)
    """(what was searched, bytes searched) for the secret-leak check."""

    api_fuzz: Counter[tuple[str, int]] = field(default_factory=Counter)
    """The structural fuzz of the HoneyHive-compatible API: answers by (route, HTTP status)."""

    def tried(self, entry_point: str, n: int = 1) -> None:
        self.bad_inputs[entry_point] += n

    def answered(self, route: str, status: int) -> None:
        self.api_fuzz[(route, status)] += 1

    def merge(self, other: Figures) -> None:
        """Add what another process measured (a pytest-xdist worker's figures, gathered by the controller)."""
        self.streams += other.streams
        self.bad_inputs.update(other.bad_inputs)
        self.memory += other.memory
        self.servers_started += other.servers_started
        self.server_crashes += other.server_crashes
        self.secrets_checked += other.secrets_checked
        self.api_fuzz.update(other.api_fuzz)

    @property
    def empty(self) -> bool:
        return not (self.streams or self.bad_inputs or self.memory or self.servers_started or self.secrets_checked
                    or self.api_fuzz)

    def lines(self) -> list[str]:
        out: list[str] = []
        if self.streams:
            header = ("scenario", "spans sent", "acked", "events expected", "delivered", "duplicated", "lost",
                      "faults")
            rows = [(s.scenario, s.spans_sent, s.spans_acknowledged, s.events_expected, s.events_delivered,
                     s.duplicates, s.lost, s.faults) for s in self.streams]
            out += _table(header, rows)
            total = (sum(s.spans_sent for s in self.streams), sum(s.events_delivered for s in self.streams),
                     sum(s.duplicates for s in self.streams), sum(s.lost for s in self.streams))
            out.append(f"total: {total[0]} spans sent, {total[1]} events delivered, {total[2]} duplicated, "
                       f"{total[3]} lost")
            out += [f"{s.scenario}: {s.detail}" for s in self.streams if s.detail]
        if self.bad_inputs:
            detail = ", ".join(f"{name} {n}" for name, n in sorted(self.bad_inputs.items()))
            out.append(f"bad inputs tried: {sum(self.bad_inputs.values())} ({detail})")
        if self.api_fuzz:
            out.append(_fuzz_line(self.api_fuzz))
        for what, before, after in self.memory:
            out.append(f"server memory, {what}: VmRSS {_mib(before)} before, {_mib(after)} after "
                       f"({_mib(after - before, sign=True)})")
        for what, size in self.secrets_checked:
            out.append(f"secrets (API key, auth token; plain, base64, hex) searched in {what}: {size / 1024:.0f} KiB, "
                       "found 0 times")
        out.append(f"servers started: {self.servers_started}; server crashes: {self.server_crashes}")
        return out


def _fuzz_line(answers: Counter[tuple[str, int]]) -> str:
    by_route: Counter[str] = Counter()
    by_class: Counter[str] = Counter()
    for (route, status), n in answers.items():
        by_route[route] += n
        by_class[f"{status // 100}xx"] += n
    routes = ", ".join(f"{route} {n}" for route, n in sorted(by_route.items()))
    classes = ", ".join(f"{cls} {n}" for cls, n in sorted(by_class.items()))
    return (f"HoneyHive API structural fuzz: {sum(by_route.values())} requests ({routes}); answers: {classes}; "
            f"5xx: {by_class['5xx']}")


def _mib(n: int, sign: bool = False) -> str:
    return f"{n / 2**20:{'+' if sign else ''}.1f} MiB"


def _table(header: tuple[str, ...], rows: Iterable[tuple[object, ...]]) -> list[str]:
    cells = [tuple(str(c) for c in header), *[tuple(str(c) for c in row) for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        first = row[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))])

    return [line(cells[0]), "  ".join("-" * w for w in widths), *(line(r) for r in cells[1:])]


FIGURES = Figures()


def record_memory(what: str, before: int, after: int) -> None:
    FIGURES.memory.append((what, before, after))
