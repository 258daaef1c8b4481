"""Many processes, one spool directory: the servers and pools people run LLM apps in, through HoneyHive faults
and a worker killed with SIGKILL, lose no acknowledged span (issue 17).

Each scenario runs real processes against the tests' fake HoneyHive on one loopback port, with one spool
directory shared by every process, and the same fault timeline while the load runs: HoneyHive healthy, then
answering 503 to everything, then down (its port closed, connections kept alive from before reset), a worker
killed with SIGKILL half-way through the outage, then healthy again. After the load, the live processes get a
bounded time to deliver everything, including what dead and recycled processes left in the directory. If they
do not, a sweep (the next start: a fresh exporter on the directory) is given its own bounded time; either counts
(issue 17), and the figures say which one delivered.

Counted: spans made (as the apps report them), events delivered (distinct ids at the fake), duplicates (arrivals
beyond the first: at-least-once, ids are deterministic), lost (must be 0), faults (503 answers, resets on kept-alive
connections, outages, kills). No process may print a traceback.

What counts as made: every span of a trace the app reported. The gunicorn app calls the provider's
`force_flush()` before it answers (with a spool, the spans are on disk when it returns), so every span the client
saw acknowledged is durable; a request cut by the SIGKILL is sent again under the same id, and the spans of the
cut attempt are unknown to the test (they are not counted either way). Under `opentelemetry-instrument` the
exporter is built in gunicorn's master, with or without `--preload` (which only moves the app's import there), so
every worker inherits it through a fork. In the pool and Celery, tasks never flush (as users write them); the
victim task that is killed flushes during the outage, so its spans were acknowledged, and not yet deliverable,
when it dies. At the end, with every process stopped, no record may be left in the spool directory.

Two plain processes also share a directory with HoneyHive healthy, and a process killed while HoneyHive is down
has its acknowledged batches delivered by another one started on the same directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests

from otel_honeyhive.mapper.identity import session_id_for_trace
from tests.reliability.figures import FIGURES, StreamFigures
from tests.reliability.workers.traces import GO_SUFFIX, SPANS_PER_TRACE, Report, event_ids_of
from tests.support.fake_honeyhive import RESET, FakeHoneyHive, Reply
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow  # real gunicorn, Celery and multiprocessing workers through an outage

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
API_KEY = "hh-workers-key"
PROJECT = "reliability-workers"
DELIVERY_TIMEOUT = "3"
"""HH_TIMEOUT: seconds one delivery attempt may take with its retries (the shipper then backs off and tries
again); short, so that the processes notice HoneyHive is back within the test's bounds."""

# The fault timeline, in seconds from the start of the load.
HEALTHY_FIRST = 1.5
FAILING = 2.5
"""HoneyHive answers 503 to every request."""
DOWN = 3.0
"""HoneyHive's port is closed; the SIGKILL comes half-way through."""
LOAD_SECONDS = 10.0
"""The load outlasts the faults by a few seconds of healthy HoneyHive."""

LIVE_BOUND = 45.0
"""Seconds the live processes get, after the load, to deliver everything."""
SWEEP_BOUND = 30.0
"""Seconds the sweep (a fresh exporter on the directory) gets, if they did not."""
START_BOUND = 30.0
STOP_BOUND = 30.0


# -- HoneyHive, failing on cue ----------------------------------------------------------------------------------


class FlakyHoneyHive:
    """The tests' fake HoneyHive on one loopback port that can fail (503), go down (port closed: new connections
    are refused, and a connection kept alive from before is reset on its next request) and come back (a new fake
    on the same port). What arrived is the union over its incarnations."""

    def __init__(self) -> None:
        self._lives = [FakeHoneyHive().start()]
        self.url = self._lives[0].url
        self.port = int(self.url.rsplit(":", 1)[1])
        self._down_since: float | None = None
        self.outages: list[float] = []
        """Seconds each outage lasted."""
        self.back_at: float | None = None
        """When it last came back (time.monotonic(), the clock of `Received.at`)."""
        self.back_wall = 0.0
        """The same, by the wall clock (time.time(), as the apps' reports say when they made a trace)."""

    @property
    def _current(self) -> FakeHoneyHive:
        return self._lives[-1]

    @property
    def is_down(self) -> bool:
        return self._down_since is not None

    def fail(self) -> None:
        self._current.default = Reply(503)

    def heal(self) -> None:
        self._current.default = Reply(200)

    def go_down(self) -> None:
        self._current.default = Reply(fault="reset")
        self._current.stop()
        self._down_since = time.monotonic()

    def come_back(self) -> None:
        assert self._down_since is not None
        for attempt in range(50):
            try:
                self._lives.append(FakeHoneyHive(self.port).start())
                break
            except OSError:  # the port is not free again yet
                if attempt == 49:
                    raise
                time.sleep(0.1)
        self.back_at, self.back_wall = time.monotonic(), time.time()
        self.outages.append(self.back_at - self._down_since)
        self._down_since = None

    def events(self) -> list[dict[str, Any]]:
        return [event for fake in self._lives for event in fake.events]

    def arrived(self) -> list[str]:
        return [event["event_id"] for event in self.events()]

    def complete_at(self, expected: set[str]) -> float | None:
        """When the last of `expected` arrived (time.monotonic()); None if some never did."""
        missing = set(expected)
        accepted = sorted((r for fake in self._lives for r in fake.batches if 200 <= r.status < 300),
                          key=lambda r: r.at)
        for r in accepted:
            missing.difference_update(event["event_id"] for event in (r.body or {}).get("events", []))
            if not missing:
                return r.at
        return None

    def recovery(self, reports: list[Report]) -> str:
        """How long after it came back the traces made before then had all arrived."""
        backlog = event_ids_of(r for r in reports if r["made_at"] < self.back_wall)
        done = self.complete_at(backlog)
        if done is None or self.back_at is None:
            return ""
        return (f"; the {len(backlog)} events made before HoneyHive came back had all arrived "
                f"{max(0.0, done - self.back_at):.1f} s after it did")

    def answered(self, status: int) -> int:
        """Batch requests answered with `status` (RESET: the connection was reset instead)."""
        return sum(1 for fake in self._lives for r in fake.batches if r.status == status)

    def close(self) -> None:
        if not self.is_down:
            self._current.stop()

    def describe(self) -> str:
        outages = ", ".join(f"{s:.1f}" for s in self.outages)
        return (f"{self.answered(503)} × 503, {len(self.outages)} outage(s) of {outages} s "
                f"({self.answered(RESET)} kept-alive connections reset)")


@pytest.fixture
def flaky() -> Iterator[FlakyHoneyHive]:
    honeyhive = FlakyHoneyHive()
    try:
        yield honeyhive
    finally:
        honeyhive.close()


class FaultTimeline:
    """Runs the fault timeline in a thread from `start()`: healthy, 503s, down (calling `kill` half-way), healthy.
    `kill` returns what it killed, for the figures."""

    def __init__(self, honeyhive: FlakyHoneyHive, kill: Callable[[], str]) -> None:
        self.honeyhive = honeyhive
        self.killed = ""
        self.began: float | None = None
        """When HoneyHive started failing (time.monotonic())."""
        self._kill = kill
        self._error: BaseException | None = None
        self._abort = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-timeline", daemon=True)

    def start(self) -> FaultTimeline:
        self._thread.start()
        return self

    def _sleep(self, seconds: float) -> None:
        if self._abort.wait(seconds):
            raise RuntimeError("fault timeline aborted")

    def _run(self) -> None:
        try:
            self._sleep(HEALTHY_FIRST)
            self.began = time.monotonic()
            self.honeyhive.fail()
            self._sleep(FAILING)
            self.honeyhive.go_down()
            self._sleep(DOWN / 2)
            self.killed = self._kill()
            self._sleep(DOWN / 2)
        except BaseException as exc:
            self._error = exc
        finally:
            if self.honeyhive.is_down:
                self.honeyhive.come_back()

    def join(self) -> None:
        self._thread.join(DOWN + FAILING + HEALTHY_FIRST + 30)
        assert not self._thread.is_alive(), "the fault timeline did not finish"
        if self._error is not None:
            raise AssertionError(f"the fault timeline failed: {self._error!r}") from self._error

    def abort(self) -> None:
        self._abort.set()
        self._thread.join(10)


# -- processes --------------------------------------------------------------------------------------------------


class Process:
    """A subprocess in its own process group, its output in files under `logs`, which is also its working
    directory: Python, gunicorn and Celery put the working directory first on the import path, and it must not
    be this repository's root (the run against the compiled wheel puts the wheel first on PYTHONPATH)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path, *, stdin: bool = False,
                 dumps_stacks: bool = False) -> None:
        self.name = name
        self.dumps_stacks = dumps_stacks
        """Its processes write every thread's Python stack to stderr on SIGUSR2 (`faulthandler.register`), which
        a stop that times out asks for before killing them."""
        self.stuck = ""
        """What each process of its group was doing when it did not stop in time (`group_state`)."""
        self.stdout_path = logs / f"{name}.stdout"
        self.stderr_path = logs / f"{name}.stderr"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                argv, cwd=logs, env=env, stdout=out, stderr=err,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return "".join(path.read_text(errors="replace") for path in (self.stdout_path, self.stderr_path)
                       if path.exists())

    def tail(self, lines: int = 40) -> str:
        """The last lines of each stream (Celery says "Warm shutdown" on stdout, and logs on stderr)."""
        parts = []
        if self.stuck and self.dumps_stacks:
            lines = max(lines, 200)  # the stacks it dumped
        for path in (self.stdout_path, self.stderr_path):
            text = path.read_text(errors="replace") if path.exists() else ""
            shown = "\n".join(text.splitlines()[-lines:])
            parts.append(f"--- {self.name} {path.suffix[1:]} (last {lines} lines) ---\n{shown}")
        if self.stuck:
            parts.append(f"--- {self.name}: its processes when it did not stop ---\n{self.stuck}")
        return "\n".join(parts)

    def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()

    def wait(self, timeout: float) -> int | None:
        """Its exit status, or None if it is still running after `timeout` seconds."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_BOUND) -> int | None:
        """Signal the process and wait for it; None (and the whole group killed) if it did not exit in time."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
        status = self.wait(timeout)
        if status is None:
            self.record_stuck()
        return status

    def finish(self, timeout: float = STOP_BOUND) -> int | None:
        """Close its standard input (the scripts' cue to shut down) and wait for it; None (and the whole group
        killed) if it did not exit in time."""
        self.close_stdin()
        status = self.wait(timeout)
        if status is None:
            self.record_stuck()
        return status

    def record_stuck(self) -> None:
        """Note what its processes wait in (and their Python stacks, when they dump them), then kill them."""
        self.stuck = group_state(self.proc.pid)
        if self.dumps_stacks:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGUSR2)
            time.sleep(2.0)
        self.kill_group()

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.wait(10)
        self.close_stdin()


def group_state(pgid: int) -> str:
    """One line per live process of a process group: pid, state and the kernel function it waits in."""
    lines = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[2]) != pgid:  # fields after the command: state, ppid, pgrp, ...
                continue
            wchan = (proc / "wchan").read_text()
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
        except (OSError, ValueError, IndexError):
            continue
        lines.append(f"{proc.name} {stat[0]} {wchan or '-'} {cmd}")
    return "\n".join(sorted(lines)) or "(none left)"


class Processes:
    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[Process] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], *, stdin: bool = False,
              dumps_stacks: bool = False) -> Process:
        process = Process(name, argv, env, self.logs, stdin=stdin, dumps_stacks=dumps_stacks)
        self.started.append(process)
        return process

    def tracebacks(self) -> list[str]:
        """The output of every process that printed a traceback, but for billiard's own race when a pool child
        exits normally (recycled after its tasks, or at shutdown) as a job is handed to it: the job is reported
        lost (`WorkerLostError ... exitcode 0`, https://github.com/celery/celery/issues/3085 and /3631), which
        no exporter causes; what the test's tasks made is checked by their reports."""
        return [p.tail(80) for p in self.started if "Traceback" in _without_billiard_race(p.output())]

    def diagnose(self) -> str:
        return "\n".join(p.tail() for p in self.started)


_BILLIARD_RACE = "WorkerLostError('Worker exited prematurely: exitcode 0"


def _without_billiard_race(output: str) -> str:
    """`output` less the log entries (a line starting with "[", and what follows it up to the next) reporting
    the race above."""
    entries = re.split(r"(?m)^(?=\[)", output)
    return "".join(entry for entry in entries if _BILLIARD_RACE not in entry.partition("\n")[0])


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    logs = tmp_path / "logs"
    logs.mkdir()
    started = Processes(logs)
    try:
        yield started
    finally:
        for process in started.started:  # whatever a failed test left running, its whole process group
            process.kill_group()


def environment(honeyhive: FlakyHoneyHive, spool: Path, **extra: str) -> dict[str, str]:
    """The processes' environment: the caller's, less any HH_* or OTEL_* setting of its own, plus HoneyHive's
    address, key, project and the shared spool directory, and this repository after the caller's PYTHONPATH
    (so `tests` imports, and `otel_honeyhive` is the one the tests run: the compiled wheel's, in that run)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_"))}
    path = os.pathsep.join(part for part in (env.get("PYTHONPATH", ""), str(ROOT)) if part)
    env.update(
        HH_API_URL=honeyhive.url, HH_API_KEY=API_KEY, HH_PROJECT=PROJECT, HH_SPOOL_DIR=str(spool),
        HH_TIMEOUT=DELIVERY_TIMEOUT, PYTHONPATH=path, PYTHONUNBUFFERED="1",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update(extra)
    return env


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def children_of(pid: int) -> list[int]:
    done = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, timeout=10)
    return [int(line) for line in done.stdout.split()]


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def flushed_result(path: Path) -> dict[str, Any]:
    """A spool process's result once it has flushed (it writes its acknowledgements first), else {} (falsy: not
    yet)."""
    result = read_json(path)
    return result if isinstance(result, dict) and "flushed" in result else {}


def permissions(root: Path) -> dict[str, int]:
    """The permission bits of `root` and of everything under it, by path relative to `root` (folders end in
    /; `./` is root itself)."""
    modes = {"./": root.stat().st_mode & 0o777}
    for path in root.rglob("*"):
        with contextlib.suppress(FileNotFoundError):  # a segment emptied and removed meanwhile
            relative = path.relative_to(root).as_posix() + ("/" if path.is_dir() else "")
            modes[relative] = path.stat().st_mode & 0o777
    return modes


def kill_victim(report: Path, owner: Process) -> str:
    """Tell the victim task to trace (traces.traced_and_killed), wait for its report, SIGKILL its process."""
    report.with_name(report.name + GO_SUFFIX).touch()
    victim = wait_until(lambda: read_json(report), 10, explain="the victim task's report", diagnose=owner.tail)
    kill(victim["pid"])
    return f"pool child {victim['pid']}"


# -- delivery and figures ---------------------------------------------------------------------------------------


def await_delivery(
    honeyhive: FlakyHoneyHive, expected: set[str], processes: Processes, spool: Path, env: dict[str, str],
    stop_live: Callable[[], None],
) -> str:
    """Give the live processes `LIVE_BOUND` seconds to deliver every expected event; then stop them
    (`stop_live`, which must not raise: it notes what went wrong) and, if events are still missing, run a sweep
    (a fresh exporter on the directory) for `SWEEP_BOUND` seconds. Says who delivered what."""
    started = time.monotonic()
    with contextlib.suppress(AssertionError):
        wait_until(lambda: expected <= set(honeyhive.arrived()), LIVE_BOUND, explain="live delivery")
    live = expected & set(honeyhive.arrived())
    took = time.monotonic() - started
    stop_live()
    if live == expected:
        return f"by the live processes, within {took:.1f} s after the load"
    missing = len(expected - live)
    sweep = processes.start("sweep", python_module("tests.reliability.workers.sweep", "--spool-dir", str(spool),
                                                   "--timeout", str(SWEEP_BOUND)), env)
    with contextlib.suppress(AssertionError):
        wait_until(lambda: expected <= set(honeyhive.arrived()), SWEEP_BOUND, explain="the sweep's delivery")
    swept = len((expected & set(honeyhive.arrived())) - live)
    sweep.stop(timeout=10)
    return (f"the live processes delivered {len(live)} events within {LIVE_BOUND:g} s, but not {missing}; "
            f"then a sweep (a fresh exporter on the directory) delivered {swept} of those")


def leftovers(spool: Path) -> str:
    """Records still in the directory once every process has stopped, everything having been delivered: none
    should be (one would be sent again by the next start: a duplicate), nor any set aside as refused or corrupt."""
    left = [path.relative_to(spool).as_posix() for path in spool.rglob("*.rec")]
    return f"{len(left)} records left in the spool directory" + (f": {left[:5]}" if left else "")


def record(
    scenario: str, honeyhive: FlakyHoneyHive, reports: list[Report], *, kills: int, detail: str,
) -> StreamFigures:
    """Tally the scenario into FIGURES. `detail` says more than the figures (it may use {unexpected}: events
    that arrived although no app reported making them)."""
    expected = event_ids_of(reports)
    detail = detail.format(unexpected=len(set(honeyhive.arrived()) - expected)) + honeyhive.recovery(reports)
    spans = len(reports) * SPANS_PER_TRACE
    faults = honeyhive.answered(503) + honeyhive.answered(RESET) + len(honeyhive.outages) + kills
    figures = StreamFigures.tally(scenario, sent=spans, acknowledged=spans, expected=expected,
                                  arrived=honeyhive.arrived(), faults=faults, detail=detail)
    FIGURES.streams.append(figures)
    return figures


def missing_report(honeyhive: FlakyHoneyHive, reports: list[Report]) -> str:
    arrived = set(honeyhive.arrived())
    lost = [r for r in reports if not event_ids_of([r]) <= arrived]
    by_pid: dict[int, int] = {}
    for r in lost:
        by_pid[r["pid"]] = by_pid.get(r["pid"], 0) + 1
    return (f"{len(lost)} of {len(reports)} traces incomplete at HoneyHive; by process: {by_pid}; "
            f"first: {[r['label'] for r in lost[:10]]}")


def mislabelled(honeyhive: FlakyHoneyHive, reports: list[Report]) -> list[str]:
    """Labels of traces whose session event arrived without the project of the processes' environment
    (HH_PROJECT) or without its root's `job.id`: what a forked child ships must be mapped as its parent would."""
    sessions = {event["event_id"]: event for event in honeyhive.events() if event.get("event_type") == "session"}
    wrong = []
    for report in reports:
        event = sessions.get(session_id_for_trace(int(report["trace_id"], 16)))
        if event is not None and (event.get("project") != PROJECT
                                  or (event.get("metadata") or {}).get("job.id") != report["label"]):
            wrong.append(report["label"])
    return wrong


def untraced(reports: list[Report]) -> list[Report]:
    """Reports of traces made with tracing off (a no-op tracer: all-zero ids)."""
    return [r for r in reports if int(r["trace_id"], 16) == 0]


def assert_no_tracebacks(processes: Processes) -> None:
    found = processes.tracebacks()
    assert not found, "a process printed a traceback:\n" + "\n".join(found)


# -- gunicorn ---------------------------------------------------------------------------------------------------

REQUESTS = 400
CLIENT_THREADS = 4


def gunicorn_has(setting: str) -> bool:
    import gunicorn.config

    return any(known.name == setting for known in gunicorn.config.KNOWN_SETTINGS)


def start_gunicorn(processes: Processes, env: dict[str, str], *, preload: bool) -> tuple[Process, str]:
    # Since 25.1 gunicorn opens a control socket under ~/.gunicorn unless told not to: nothing outside tmp_path.
    quiet = ["--no-control-socket"] if gunicorn_has("control_socket_disable") else []
    argv = [str(BIN / "opentelemetry-instrument"), "gunicorn", "--workers", "4", "--worker-class", "sync",
            "--bind", "127.0.0.1:0", "--max-requests", "20", "--max-requests-jitter", "5", "--timeout", "30",
            "--graceful-timeout", "10", *quiet, *(["--preload"] if preload else []),
            "tests.reliability.workers.wsgi_app:application"]
    env = {**env, "OTEL_TRACES_EXPORTER": "honeyhive", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
           "OTEL_SERVICE_NAME": "gunicorn-app"}
    gunicorn = processes.start("gunicorn" + ("-preload" if preload else ""), argv, env)
    found = wait_until(lambda: re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", gunicorn.output())
                       or gunicorn.proc.poll() is not None, START_BOUND, explain="gunicorn listening",
                       diagnose=gunicorn.tail)
    assert isinstance(found, re.Match), gunicorn.tail()
    url = f"http://127.0.0.1:{found.group(1)}"
    wait_until(lambda: len(children_of(gunicorn.pid)) >= 4, START_BOUND, explain="4 gunicorn workers",
               diagnose=gunicorn.tail)
    return gunicorn, url


class Load:
    """`count` requests to `/job?id=req-<n>`, evenly spread over `seconds` from `CLIENT_THREADS` threads. A
    request cut short (its worker killed) is sent again under the same id, up to 3 times."""

    def __init__(self, url: str, count: int = REQUESTS, seconds: float = LOAD_SECONDS) -> None:
        self.url = url
        self.count = count
        self.seconds = seconds
        self.reports: list[Report] = []
        self.cut = 0
        self.failed: list[str] = []
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(CLIENT_THREADS)]
        for thread in self._threads:
            thread.start()

    def _run(self, k: int) -> None:
        interval = self.seconds / self.count
        with requests.Session() as session:
            for n in range(k, self.count, CLIENT_THREADS):
                time.sleep(max(0.0, self._start + n * interval - time.monotonic()))
                self._one(session, f"req-{n}")

    def _one(self, session: requests.Session, label: str) -> None:
        for _ in range(3):
            try:
                response = session.get(f"{self.url}/job", params={"id": label}, timeout=20)
                response.raise_for_status()
                report = response.json()
            except (requests.RequestException, ValueError):
                with self._lock:
                    self.cut += 1
                continue
            report["answered_at"] = time.monotonic()
            with self._lock:
                self.reports.append(report)
            return
        with self._lock:
            self.failed.append(label)

    def served_by(self, since: float = 0.0) -> dict[int, int]:
        """Requests answered (since `since`, a time.monotonic()), by worker pid."""
        with self._lock:
            counts: dict[int, int] = {}
            for report in self.reports:
                if report["answered_at"] >= since:
                    counts[report["pid"]] = counts.get(report["pid"], 0) + 1
            return counts

    def join(self) -> None:
        for thread in self._threads:
            thread.join(self.seconds + 120)
            assert not thread.is_alive(), "the load did not finish"


@pytest.mark.timeout(240)
@pytest.mark.parametrize("preload", [False, True], ids=["no-preload", "preload"])
def test_gunicorn_sync_workers_recycled_and_killed_lose_no_acknowledged_span(
    tmp_path: Path, flaky: FlakyHoneyHive, processes: Processes, preload: bool
) -> None:
    """gunicorn, 4 sync workers recycled every 20-25 requests, under `opentelemetry-instrument` with
    `OTEL_TRACES_EXPORTER=honeyhive` and one `HH_SPOOL_DIR`; the app flushes before answering (see the module's
    docstring), so every span of every answered request must arrive, those of the SIGKILLed worker included."""
    spool = tmp_path / "spool"
    env = environment(flaky, spool)
    gunicorn, url = start_gunicorn(processes, env, preload=preload)
    load = Load(url)
    victim: dict[str, int] = {}

    def kill_a_worker() -> str:
        """The worker that answered the most requests since HoneyHive began failing: their spans are in its
        segment of the spool, not delivered."""
        assert faults.began is not None
        served = load.served_by(since=faults.began)
        pid = max(children_of(gunicorn.pid), key=lambda p: served.get(p, 0))
        victim.update(pid=pid, answered=load.served_by().get(pid, 0), during_faults=served.get(pid, 0))
        kill(pid)
        return f"worker {pid}"

    faults = FaultTimeline(flaky, kill_a_worker)
    faults.start()
    try:
        load.join()
        faults.join()
    finally:
        faults.abort()
    expected = event_ids_of(load.reports)

    stopped: list[int | None] = []
    how = await_delivery(flaky, expected, processes, spool, env, lambda: stopped.append(gunicorn.stop()))
    left = leftovers(spool)
    workers = len(load.served_by())
    killed = [r for r in load.reports if r["pid"] == victim.get("pid")]
    figures = record(
        f"gunicorn, 4 sync workers{', --preload' if preload else ''}", flaky, load.reports, kills=1,
        detail=(f"{len(load.reports)} requests answered by {workers} worker processes (recycled every 20-25), "
                f"{load.cut} attempts cut by the kill and sent again (their spans not counted: {{unexpected}} "
                f"such events arrived); faults: {flaky.describe()}, SIGKILL of {faults.killed} after "
                f"{victim.get('answered', 0)} answered requests, {victim.get('during_faults', 0)} of them since "
                f"HoneyHive began failing; delivered {how}; {left}"),
    )
    assert stopped == [0], f"gunicorn's master did not stop cleanly (status {stopped})\n{gunicorn.tail()}"
    assert not untraced(load.reports), f"requests served untraced:\n{processes.diagnose()}"
    assert not mislabelled(flaky, load.reports)
    assert not load.failed, f"requests that never got an answer: {load.failed}"
    assert len(load.reports) == REQUESTS
    assert all(r["flushed"] for r in load.reports), "force_flush() returned False in a worker"
    assert workers > 4 + 1, f"workers were not recycled: {workers} processes served the requests"
    assert victim.get("during_faults"), "the killed worker had answered no request since HoneyHive began failing"
    assert event_ids_of(killed) <= set(flaky.arrived()), (
        "the SIGKILLed worker's acknowledged spans did not all arrive: " + missing_report(flaky, killed))
    assert figures.lost == 0, missing_report(flaky, load.reports) + "\n" + processes.diagnose()
    unexpected = set(flaky.arrived()) - expected
    assert len(unexpected) <= load.cut * SPANS_PER_TRACE, f"{len(unexpected)} events arrived that no request made"
    assert_no_tracebacks(processes)
    assert left.startswith("0 records"), left


@pytest.mark.timeout(120)
def test_gunicorn_workers_with_an_unusable_spool_directory_ship_directly_after_one_line(
    tmp_path: Path, flaky: FlakyHoneyHive, processes: Processes
) -> None:
    """`HH_SPOOL_DIR` names a directory that cannot be made (its parent is a file): one error line naming it and
    the fix, no traceback, and every worker, recycled ones included, ships directly (HoneyHive healthy)."""
    (tmp_path / "not-a-dir").write_text("")
    spool = tmp_path / "not-a-dir" / "spool"
    gunicorn, url = start_gunicorn(processes, environment(flaky, spool), preload=False)
    load = Load(url, count=100, seconds=3.0)
    load.join()
    expected = event_ids_of(load.reports)
    with contextlib.suppress(AssertionError):
        wait_until(lambda: expected <= set(flaky.arrived()), 30, explain="direct delivery")
    status = gunicorn.stop()
    lines = [line for line in gunicorn.output().splitlines() if "cannot use spool directory" in line]
    figures = record("gunicorn, unusable HH_SPOOL_DIR (direct)", flaky, load.reports, kills=0,
                     detail=(f"{len(load.reports)} requests answered by {len(load.served_by())} worker processes; "
                             f"{len(lines)} error line(s) about the directory"))
    assert status == 0, gunicorn.tail()
    assert len(load.reports) == 100 and not untraced(load.reports), gunicorn.tail()
    assert figures.lost == 0, missing_report(flaky, load.reports) + "\n" + gunicorn.tail()
    assert_no_tracebacks(processes)
    assert len(lines) == 1, "one line, not one per process:\n" + "\n".join(lines)
    assert str(tmp_path / "not-a-dir") in lines[0] and "HH_SPOOL_DIR" in lines[0], lines[0]


# -- multiprocessing --------------------------------------------------------------------------------------------

POOL_TASKS = 120


@pytest.mark.timeout(240)
def test_a_fork_pool_with_maxtasksperchild_1_loses_no_span(
    tmp_path: Path, flaky: FlakyHoneyHive, processes: Processes
) -> None:
    """`multiprocessing.get_context("fork").Pool(4, maxtasksperchild=1)` created after the parent set tracing up
    with `spool_dir`: every task runs in a fresh child that exits when done, and no task flushes. The victim
    child (which flushed) is killed during the outage."""
    spool = tmp_path / "spool"
    env = environment(flaky, spool)
    out, victim_file = tmp_path / "pool.json", tmp_path / "victim.json"
    job = processes.start("pool_job", python_module(
        "tests.reliability.workers.pool_job", "--spool-dir", str(spool), "--tasks", str(POOL_TASKS),
        "--out", str(out), "--victim", str(victim_file)), env, stdin=True)

    def kill_the_victim() -> str:
        return kill_victim(victim_file, job)

    faults = FaultTimeline(flaky, kill_the_victim).start()
    try:
        results = wait_until(lambda: read_json(out) or job.proc.poll() is not None, 120,
                             explain="the pool's tasks", diagnose=job.tail)
        faults.join()
    finally:
        faults.abort()
    assert isinstance(results, dict), job.tail()
    victim = read_json(victim_file)
    reports: list[Report] = [results["parent"], *results["tasks"], victim]

    stopped: list[int | None] = []

    how = await_delivery(flaky, event_ids_of(reports), processes, spool, env, lambda: stopped.append(job.finish()))
    left = leftovers(spool)
    figures = record(
        "multiprocessing fork Pool(4, maxtasksperchild=1)", flaky, reports, kills=1,
        detail=(f"{len(results['tasks'])} tasks in {results['children']} children + the parent's trace + the "
                f"victim's; faults: {flaky.describe()}, SIGKILL of {faults.killed} (its trace flushed during "
                f"the outage); {{unexpected}} unexpected events; delivered {how}; {left}"),
    )
    assert stopped == [0], f"the pool's parent did not exit cleanly (status {stopped})\n{job.tail()}"
    assert not untraced(reports), f"tasks ran untraced:\n{processes.diagnose()}"
    assert not mislabelled(flaky, reports)
    assert victim["flushed"]
    assert event_ids_of([victim]) <= set(flaky.arrived()), (
        "the SIGKILLed child's acknowledged spans did not arrive")
    assert figures.lost == 0, missing_report(flaky, reports) + "\n" + processes.diagnose()
    assert set(flaky.arrived()) <= event_ids_of(reports), "events arrived that no task made"
    assert_no_tracebacks(processes)
    assert left.startswith("0 records"), left


# -- Celery -----------------------------------------------------------------------------------------------------

CELERY_TASKS = 120


@pytest.mark.timeout(240)
@pytest.mark.parametrize("shutdown_hook", [False, True], ids=["init-only", "init-and-shutdown"])
def test_celery_prefork_recycled_children_lose_no_span(
    tmp_path: Path, flaky: FlakyHoneyHive, processes: Processes, shutdown_hook: bool
) -> None:
    """Celery's prefork pool (concurrency 4, `worker_max_tasks_per_child=2`) on kombu's filesystem broker, no
    result backend; each child sets tracing up in `worker_process_init`, and shuts it down in
    `worker_process_shutdown` or leaves that to the exporter (celery_app.py). The victim child is killed during
    the outage."""
    from tests.reliability.workers.celery_app import make_app

    spool, broker, reports_dir = tmp_path / "spool", tmp_path / "broker", tmp_path / "reports"
    for folder in (broker / "queue", broker / "processed", reports_dir):
        folder.mkdir(parents=True)
    env = environment(flaky, spool, WORKERS_BROKER_DIR=str(broker), WORKERS_REPORT_DIR=str(reports_dir),
                      WORKERS_CELERY_SHUTDOWN_HOOK="1" if shutdown_hook else "0")
    worker = processes.start("celery", [
        str(BIN / "celery"), "-A", "tests.reliability.workers.celery_app", "worker", "--pool", "prefork",
        "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--hostname", "reliability@localhost"], env, dumps_stacks=True)
    wait_until(lambda: "ready." in worker.output() or worker.proc.poll() is not None, START_BOUND,
               explain="the Celery worker ready", diagnose=worker.tail)
    assert worker.proc.poll() is None, worker.tail()

    app = make_app(broker)
    labels = [f"task-{i}" for i in range(CELERY_TASKS)]
    for i, label in enumerate(labels):
        if i == 3:
            app.send_task("reliability.victim", args=["victim"])
        app.send_task("reliability.job", args=[label])

    def kill_the_victim() -> str:
        return kill_victim(reports_dir / "victim.json", worker)

    faults = FaultTimeline(flaky, kill_the_victim).start()
    try:
        wait_until(lambda: all((reports_dir / f"{label}.json").exists() for label in labels), 120,
                   explain="every task's report", diagnose=worker.tail)
        faults.join()
    finally:
        faults.abort()
    reports: list[Report] = [read_json(reports_dir / f"{label}.json") for label in [*labels, "victim"]]

    stopped: list[int | None] = []  # SIGTERM: a warm shutdown, the children shut down (worker_process_shutdown)
    how = await_delivery(flaky, event_ids_of(reports), processes, spool, env, lambda: stopped.append(worker.stop()))
    left = leftovers(spool)
    children = len({r["pid"] for r in reports})
    figures = record(
        "celery prefork (4, max-tasks-per-child 2)" + (", shutdown hook" if shutdown_hook else ""), flaky, reports,
        kills=1,
        detail=(f"{CELERY_TASKS} tasks + the victim's in {children} children (filesystem broker); faults: "
                f"{flaky.describe()}, SIGKILL of {faults.killed} (its trace flushed during the outage); "
                f"{{unexpected}} unexpected events; delivered {how}; {left}"),
    )
    assert stopped == [0], f"the Celery worker did not stop cleanly (status {stopped})\n{worker.tail()}"
    assert not untraced(reports), f"tasks ran untraced:\n{processes.diagnose()}"
    assert not mislabelled(flaky, reports)
    assert reports[-1]["flushed"]
    assert children > 4 + 1, f"children were not recycled: {children} processes ran the tasks"
    assert event_ids_of(reports[-1:]) <= set(flaky.arrived()), "the SIGKILLed child's acknowledged spans did not arrive"
    assert figures.lost == 0, missing_report(flaky, reports) + "\n" + processes.diagnose()
    assert set(flaky.arrived()) <= event_ids_of(reports), "events arrived that no task made"
    assert_no_tracebacks(processes)
    assert left.startswith("0 records"), left


# -- plain processes sharing a directory ------------------------------------------------------------------------


def spool_process(
    processes: Processes, env: dict[str, str], spool: Path, name: str, traces: int, out: Path, *, hang: bool = False
) -> Process:
    return processes.start(name, python_module(
        "tests.reliability.workers.spool_process", "--spool-dir", str(spool), "--name", name, "--traces", str(traces),
        "--out", str(out), *(["--hang"] if hang else [])), env, stdin=True)


@pytest.mark.timeout(120)
def test_two_processes_given_the_same_spool_directory_both_deliver_everything(
    tmp_path: Path, flaky: FlakyHoneyHive, processes: Processes
) -> None:
    spool = tmp_path / "spool"
    env = environment(flaky, spool)
    outs = {name: tmp_path / f"{name}.json" for name in ("first", "second")}
    started = [spool_process(processes, env, spool, name, 200, out) for name, out in outs.items()]
    results = {name: wait_until(partial(flushed_result, out), 60, explain=f"{name} to export and flush",
                                diagnose=processes.diagnose)
               for name, out in outs.items()}
    modes = permissions(spool)  # while both processes hold their part of the directory
    acked = {event for result in results.values() for event in result["acked"]}
    with contextlib.suppress(AssertionError):
        wait_until(lambda: acked <= set(flaky.arrived()), 30, explain="both processes' events")
    stopped = [process.finish() for process in started]
    left = leftovers(spool)
    spans = sum(result["spans"] for result in results.values())
    figures = StreamFigures.tally(
        "2 processes, one spool directory", sent=spans, acknowledged=sum(len(r["acked"]) for r in results.values()),
        expected=acked, arrived=flaky.arrived(), faults=0,
        detail="; ".join([*(f"{name}: {len(r['acked'])} events acknowledged, {r['refused_spans']} spans refused, "
                            f"force_flush {r['flushed']}" for name, r in results.items()), left]),
    )
    FIGURES.streams.append(figures)
    assert stopped == [0, 0], processes.diagnose()
    for name, result in results.items():
        assert result["refused_spans"] == 0, f"{name}'s exporter refused spans:\n{processes.diagnose()}"
        assert len(result["acked"]) == result["spans"], name
        assert result["flushed"], f"{name}'s force_flush() did not see its spool drain"
    assert figures.lost == 0, processes.diagnose()
    assert_no_tracebacks(processes)
    assert left.startswith("0 records"), left
    private = {path: oct(mode) for path, mode in modes.items() if mode != (0o700 if path.endswith("/") else 0o600)}
    assert not private, f"a shared spool directory stays private (0700 folders, 0600 files): {private}"


@pytest.mark.timeout(150)
def test_a_process_killed_mid_run_has_its_acknowledged_batches_delivered_by_another(
    tmp_path: Path, flaky: FlakyHoneyHive, processes: Processes
) -> None:
    """HoneyHive is down while process A spools its batches; A is killed with SIGKILL; HoneyHive comes back and
    process B starts on the same directory: B (alive) delivers A's records, or else the next start does."""
    spool = tmp_path / "spool"
    env = environment(flaky, spool)
    flaky.go_down()
    a_out, b_out = tmp_path / "a.json", tmp_path / "b.json"
    a = spool_process(processes, env, spool, "A", 200, a_out, hang=True)
    a_result = wait_until(lambda: read_json(a_out), 60, explain="A's batches acknowledged", diagnose=a.tail)
    time.sleep(0.5)  # A's shipper has tried, and failed, to deliver
    a.stop(signal.SIGKILL)
    flaky.come_back()
    b = spool_process(processes, env, spool, "B", 20, b_out)
    b_result = wait_until(partial(flushed_result, b_out), 60, explain="B to export and flush", diagnose=b.tail)
    a_acked, b_acked = set(a_result["acked"]), set(b_result["acked"])

    stopped: list[int | None] = []
    how = await_delivery(flaky, a_acked | b_acked, processes, spool, env, lambda: stopped.append(b.finish()))
    left = leftovers(spool)
    figures = StreamFigures.tally(
        "kill -9 of A, B on the same directory", sent=a_result["spans"] + b_result["spans"],
        acknowledged=len(a_acked) + len(b_acked), expected=a_acked | b_acked, arrived=flaky.arrived(),
        faults=1 + len(flaky.outages) + flaky.answered(RESET),
        detail=(f"A: {len(a_acked)} events acknowledged while HoneyHive was down, then SIGKILL; delivered {how}; "
                f"{left}"),
    )
    FIGURES.streams.append(figures)
    assert stopped == [0], b.tail()
    assert a_result["refused_spans"] == 0 and len(a_acked) == a_result["spans"], a.tail()
    assert a_acked <= set(flaky.arrived()), f"A's acknowledged batches were not delivered:\n{processes.diagnose()}"
    assert figures.lost == 0, processes.diagnose()
    assert_no_tracebacks(processes)
    assert left.startswith("0 records"), left
