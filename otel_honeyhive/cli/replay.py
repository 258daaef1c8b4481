"""`otel-honeyhive replay FILE --to honeyhive|otlp`: ship a file of events or OTLP requests, resumably.

- Events files go out as they are: to HoneyHive through `HoneyHiveOutput` (the batch route `HH_API_VERSION`
  picks), to an OTLP endpoint through `OtlpOutput` (which turns them into spans with `events_to_spans`).
- OTLP files are mapped to events first (trace assembly + mapping, as the receiver does), then shipped the same
  way. To an OTLP endpoint that means spans made from the events, not the original spans forwarded: one code
  path, and what arrives is what a HoneyHive user would see (the HoneyHive attributes plus GenAI conventions).
  With `--sessions conversation`, a later turn's extension of its session is sent as the session event again,
  merged (same id), in the order the file gave it.

With `--logs FILE` (OTLP input), the GenAI log records of the same traffic go to the pipeline with the spans, as
`serve` takes them at `/v1/logs` (inputs/files/stream.py): joined to their spans' events before these are sent;
those that come after their span's event, or whose span never comes (kept on their session), are sent as updates
(`PUT /events`; to an OTLP endpoint, the event sent again with the update merged), each once the events before it
were acknowledged. An update that is not delivered is named at the end (exit status 1); the replay goes on.

Resuming: after every batch the output acknowledged, `{file, size, mtime, offset, items}` is written atomically
to a state file (default `FILE.replay-state.json`). A later run on the same, unchanged file (same size and mtime)
and the same target continues from that offset; a changed file, another target or other options that shape the
events (sessions mode, span filter, masking, project, source; recorded as flags) start over with a warning.
A batch that is not delivered (refused, or still failing when its retry deadline passes) stops the replay with
exit status 1, the state left at the last acknowledged batch. A batch of which only some events are refused (one
too large for the receiver even cut, `SendResult.refused`) counts as sent: the replay goes on, and ends with exit
status 1 naming the refused events; so does a replay whose OTLP receiver acknowledged requests but reported some
of their spans rejected (`partial_success`, which names none). Event ids are deterministic, so a batch sent again
after a crash between delivery and the state write is harmless. With `--logs` there is no position part way (the
records read ahead of one may be needed by spans after it): an interrupted replay starts over, sending again what
it had sent (the same ids: harmless), and the state records the logs files (path, size, mtime) with the options,
so that a complete replay is not repeated, and other logs files start over. No secret is ever written to the state file.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from otel_honeyhive.cli.convert import file_logs, file_sessions, file_span_filter, open_logs
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.file_formats import detect_format, parse_format
from otel_honeyhive.core.protocols import Output
from otel_honeyhive.core.redactors import Redactor
from otel_honeyhive.core.results import SendResult, Update
from otel_honeyhive.core.secrets import shown_url
from otel_honeyhive.inputs.files.readers import InputError, InputFile, Position
from otel_honeyhive.inputs.files.stream import EventStream
from otel_honeyhive.mapper.conversations import DEFAULT_SESSIONS
from otel_honeyhive.mapper.filtering import SpanFilter
from otel_honeyhive.outputs.honeyhive.settings import HoneyHiveSettings
from otel_honeyhive.server.config import HONEYHIVE_FLAGS, resolve_redactors

PROG = "otel-honeyhive replay"
STATE_VERSION = 1
STATE_SUFFIX = ".replay-state.json"
_PROGRESS_EVERY = 0.1
"""Seconds between progress-bar refreshes (updating per event would cost more than reading it)."""


def _say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def _fail(message: str, code: int = 1) -> int:
    _say(message)
    return code


# -- the state file ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayState:
    """Where a replay of `file` stands. `offset`/`line`/`items`/`array_depth` are the reader's `Position`
    after the last item whose events were all acknowledged, `events_sent` the events read up to there;
    `size`/`mtime_ns` tell whether the file changed."""

    file: str
    size: int
    mtime_ns: int
    format: str
    target: str
    offset: int = 0
    line: int = 1
    items: int = 0
    array_depth: int = 0
    events_sent: int = 0
    complete: bool = False
    options: tuple[str, ...] | None = None
    """The options that shape the events (sessions mode, span filter, masking, project, source), as flags: a run
    with others would make other events, so it starts over rather than mix them (None: a state written before
    they were recorded, all in the default sessions mode)."""
    version: int = STATE_VERSION

    @property
    def position(self) -> Position:
        return Position(self.offset, self.line, self.items, self.array_depth)

    def at(self, position: Position, events_sent: int, *, complete: bool = False) -> ReplayState:
        return replace(self, offset=position.offset, line=position.line, items=position.items,
                       array_depth=position.depth, events_sent=events_sent, complete=complete)

    @classmethod
    def load(cls, path: Path) -> ReplayState | None:
        """The stored state; None when there is none. ValueError when the file is not a state we wrote."""
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError("not a replay state of this version")
        try:
            state = cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except TypeError as exc:
            raise ValueError(str(exc)) from None
        numbers = (state.size, state.mtime_ns, state.offset, state.line, state.items, state.array_depth,
                   state.events_sent)
        if not all(type(n) is int and n >= 0 for n in numbers):
            raise ValueError("a position field is not a whole number")
        if state.options is None:
            return state
        if not isinstance(state.options, list | tuple) or not all(isinstance(o, str) for o in state.options):
            raise ValueError("options is not a list of strings")
        return replace(state, options=tuple(state.options))

    def save(self, path: Path) -> None:
        """Written to a temporary file, synced, then renamed over the old state: a crash leaves the old state or
        the new one, never half of one."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:  # owner-only
            f.write(orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def default_state_path(file: Path) -> Path:
    return file.with_name(file.name + STATE_SUFFIX)


# -- the target ----------------------------------------------------------------------------------------------------


@dataclass
class Target:
    output: Output
    description: str
    """Where events go, without secrets: stored in the state file, shown in messages."""
    project: str | None
    source: str | None


def open_target(args: argparse.Namespace) -> Target:
    """The output `--to` names; ValueError for a missing or contradictory option."""
    if args.to == "honeyhive":
        settings = HoneyHiveSettings.resolve(
            flags=HONEYHIVE_FLAGS, api_key=args.api_key, server_url=args.server_url, project=args.project,
            source=args.source, timeout=args.timeout,
        )
        if settings.api_key is None and settings.server_url == "https://api.honeyhive.ai":
            raise ValueError("--to honeyhive needs --api-key (or $HH_API_KEY), or --server-url for a "
                             "HoneyHive-compatible server that needs no key")
        from otel_honeyhive.outputs.honeyhive import HoneyHiveOutput

        return Target(HoneyHiveOutput(settings), f"honeyhive {shown_url(settings.server_url)}", settings.project,
                      settings.source)
    if not args.otlp_endpoint:
        raise ValueError("--to otlp needs --otlp-endpoint URL")
    headers: dict[str, str] = {}
    for item in args.otlp_header or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--otlp-header must be KEY=VALUE, got {item.split('=')[0]!r}…")
        headers[key.strip()] = value.strip()
    from otel_honeyhive.outputs.otlp import (
        DEFAULT_REMEMBERED_BYTES,
        DEFAULT_REMEMBERED_EVENTS,
        DEFAULT_REMEMBERED_SESSIONS,
        OtlpOutput,
    )

    # Nothing is remembered for `PUT /events` updates unless log records make some (`--logs`): a replay sends no
    # other updates (a session a later turn extends goes out again whole), and memory stays flat.
    remember = bool(getattr(args, "logs", None))
    output: Output = OtlpOutput(
        args.otlp_endpoint, protocol=args.otlp_protocol, headers=headers, timeout=args.timeout,
        compression="gzip" if args.otlp_compression == "gzip" else None,
        remember_events=DEFAULT_REMEMBERED_EVENTS if remember else 0,
        remember_bytes=DEFAULT_REMEMBERED_BYTES if remember else 0,
        remember_sessions=DEFAULT_REMEMBERED_SESSIONS if remember else 0,
    )
    return Target(output, f"otlp {args.otlp_protocol} {shown_url(args.otlp_endpoint)}", args.project,
                  args.source)


# -- progress --------------------------------------------------------------------------------------------------------


class Progress:
    """A rich progress bar on stderr (bytes of the file read / its size, events and events/s), or nothing."""

    def __init__(self, enabled: bool, total: int, description: str) -> None:
        self._bar: Any = None
        self._task: Any = None
        self._last = 0.0
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            ProgressColumn,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress
        from rich.text import Text

        class EventsColumn(ProgressColumn):
            def render(self, task: Any) -> Text:
                events = int(task.fields.get("events", 0))
                elapsed = task.elapsed or 0.0
                rate = f", {events / elapsed:,.0f}/s" if elapsed > 0.5 else ""
                return Text(f"{events:,} events{rate}", style="progress.data.speed")

        self._bar = RichProgress(
            TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), DownloadColumn(),
            EventsColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=False,
        )
        self._task = self._bar.add_task(description, total=total or None, events=0)

    @contextmanager
    def running(self) -> Iterator[Progress]:
        if self._bar is None:
            yield self
            return
        with self._bar:
            yield self

    def update(self, completed: int, events: int, *, force: bool = False) -> None:
        if self._bar is None:
            return
        now = time.monotonic()
        if force or now - self._last >= _PROGRESS_EVERY:
            self._last = now
            self._bar.update(self._task, completed=completed, events=events)


# -- the replay ------------------------------------------------------------------------------------------------------


class Replay:
    """Reads, batches, sends; after each acknowledged batch, saves the furthest position whose events are all
    delivered. Positions come from the reader as `(events produced before it, position)` marks."""

    def __init__(self, source: InputFile, target: Target, state: ReplayState, state_path: Path,
                 args: argparse.Namespace, redactors: tuple[Redactor, ...] = (),
                 span_filter: SpanFilter | None = None, sessions: str = "trace",
                 logs: Sequence[InputFile] = ()) -> None:
        """`redactors`: what masks the events before they are sent (`--redact`, `--redact-regex`);
        `span_filter`: the spans of an OTLP file to drop before mapping; `sessions`: what a session is;
        `logs`: the `--logs` files, whose GenAI records join the spans."""
        self.source = source
        self.logs = tuple(logs)
        self.updates: deque[tuple[int, Update]] = deque()
        """Updates made by log records, each with the events produced before it: sent once those are."""
        self.updates_sent = 0
        self.update_failures: list[SendResult] = []
        self.records_read = 0
        self.redactors = redactors
        self.span_filter = span_filter
        self.sessions = sessions
        self.target = target
        self.state = state
        self.sent_before = state.events_sent
        self.state_path = state_path
        self.batch_size: int = args.batch_size
        self.max_held_spans: int = args.max_held_spans
        self.pending: list[Event] = []
        self.marks: deque[tuple[int, Position]] = deque()
        self.produced = 0
        self.sent = 0
        self.batches = 0
        self.failure: SendResult | None = None
        self.failed_count = 0
        self.refusals: list[SendResult] = []
        """Refusals of some events of a batch (`SendResult.refused`: too large even cut), the others delivered:
        the replay goes on, and reports them at the end."""

    @property
    def events_sent(self) -> int:
        """Delivered so far, including by the earlier runs this one resumes."""
        return self.sent_before + self.sent

    def run(self, progress: Progress) -> bool:
        """True when every event was delivered; False when a batch was not (see `failure`)."""
        stream = EventStream(self.source, project=self.target.project, event_source=self.target.source,
                             max_held_spans=self.max_held_spans, redactors=self.redactors,
                             span_filter=self.span_filter, sessions=self.sessions, logs=self.logs)
        last = self.state.position
        for chunk in stream.chunks(self.state.position):
            self.pending.extend(chunk.events)
            self.produced += len(chunk.events)
            self.updates.extend((self.produced, update) for update in chunk.updates)
            self.records_read = stream.records_read
            if chunk.resume_at is not None:
                self.marks.append((self.produced, chunk.resume_at))
                last = chunk.resume_at
            while len(self.pending) >= self.batch_size:
                if not self._send(self.batch_size):
                    return False
            progress.update(self.source.bytes_read, self.events_sent)
        while self.pending:
            if not self._send(self.batch_size):
                return False
        self._send_updates()
        self.state = self.state.at(last, self.events_sent, complete=True)
        self.state.save(self.state_path)
        progress.update(self.source.bytes_read, self.events_sent, force=True)
        return True

    def _send(self, n: int) -> bool:
        batch = self.pending[:n]
        result = self.target.output.send(batch)
        if result.refused:  # the data's fault, and the rest was delivered: sending it again cannot help
            self.refusals.append(result)
        elif not result.ok:
            self.failure, self.failed_count = result, len(batch)
            return False
        del self.pending[:n]
        self.sent += len(batch)
        self.batches += 1
        self._send_updates()
        acknowledged: tuple[int, Position] | None = None
        while self.marks and self.marks[0][0] <= self.sent:
            acknowledged = self.marks.popleft()
        if acknowledged is not None:
            # Counted up to the position only: events delivered past it are sent again by a resumed run.
            produced, position = acknowledged
            self.state = self.state.at(position, self.sent_before + produced)
            self.state.save(self.state_path)
        return True


    def _send_updates(self) -> None:
        """The updates whose events were all sent (every one, at the end: nothing is pending then). One that is
        not delivered is kept for the report; the replay goes on (its events were delivered)."""
        while self.updates and self.updates[0][0] <= self.sent:
            _, update = self.updates.popleft()
            result = self.target.output.update(update)
            if result.ok:
                self.updates_sent += 1
            else:
                self.update_failures.append(result)


def event_options(args: argparse.Namespace, target: Target, sessions: str,
                  redactors: tuple[Redactor, ...], logs: Sequence[InputFile] = ()) -> tuple[str, ...]:
    """The options that shape the events sent, as flags, for the state file (no secret among them); the logs
    files with their size and modification time, so that other or changed ones start over."""
    options = [f"--sessions {sessions}"]
    for flag, values in (("--span-filter", args.span_filter), ("--drop-scope", args.drop_scope),
                         ("--drop-span", args.drop_span)):
        options += [f"{flag} {value}" for value in values or ()]
    options += [f"--redact-regex {r.pattern.pattern}" if r.name == "regex" else f"--redact {r.name}"
                for r in redactors]
    options += [f"{flag} {value}" for flag, value in (("--project", target.project), ("--source", target.source))
                if value is not None]
    options += [f"--logs {file.path.resolve()} ({file.size} bytes, mtime_ns {file.mtime_ns})" for file in logs]
    return tuple(dict.fromkeys(options))  # a built-in redactor has several patterns: named once


def _shown(options: tuple[str, ...] | None) -> str:
    return " ".join(options or ()) or "none"


def _again(args: argparse.Namespace) -> str:
    """How to resume: the same command, or, after `--no-resume` (which starts over), that command without it."""
    return "running the same command again" if args.resume else "running the command again without --no-resume"


def _starting_state(
    source: InputFile, fresh: ReplayState, state_path: Path, resume: bool, quiet: bool
) -> ReplayState | None:
    """Where to start: the stored state when it is for this unchanged file and this target, else the start.
    None when the stored state says the file was fully replayed already."""
    if not resume:
        return fresh
    try:
        stored = ReplayState.load(state_path)
    except (OSError, ValueError) as exc:
        _say(f"warning: ignoring the replay state {state_path} ({exc}); starting from the beginning")
        return fresh
    if stored is None:
        return fresh
    if stored.file != fresh.file:
        _say(f"warning: the replay state {state_path} is for {stored.file}; starting from the beginning")
        return fresh
    if (stored.size, stored.mtime_ns) != (fresh.size, fresh.mtime_ns) or stored.format != fresh.format:
        _say(f"warning: {source.display} changed since the replay state {state_path} was written (size or "
             "modification time differ); starting from the beginning")
        return fresh
    if stored.target != fresh.target:
        _say(f"warning: the replay state {state_path} is for another target ({stored.target}); starting from "
             "the beginning")
        return fresh
    if stored.options is not None and stored.options != fresh.options:
        _say(f"warning: the replay state {state_path} was made with other options ({_shown(stored.options)}, not "
             f"{_shown(fresh.options)}); starting from the beginning")
        return fresh
    if stored.options is None and f"--sessions {DEFAULT_SESSIONS}" not in (fresh.options or ()):
        _say(f"warning: the replay state {state_path} is for --sessions {DEFAULT_SESSIONS}; starting from the "
             "beginning")
        return fresh
    past_end = not source.compressed and stored.offset > fresh.size  # a gzip file's offsets are uncompressed
    if stored.offset < 0 or past_end or stored.line < 0 or stored.events_sent < 0:
        _say(f"warning: the replay state {state_path} points outside {source.display} (byte {stored.offset} of "
             f"{fresh.size}); starting from the beginning")
        return fresh
    if stored.complete:
        _say(f"nothing to do: {source.display} was replayed completely ({stored.events_sent} events) according "
             f"to {state_path}; --no-resume replays it again")
        return None
    if stored.offset and not quiet:
        _say(f"resuming {source.display} at byte {stored.offset} ({source.unit} {stored.line}, {stored.events_sent} "
             f"events already delivered), from {state_path}")
    return stored


def _receiver_rejections(target: Target) -> str:
    """The spans an OTLP receiver took requests for but said it rejected (`partial_success`), as a clause; ""
    when none. It does not say which: sending them again cannot help, but they were not delivered."""
    if target.output.name != "otlp":
        return ""
    from otel_honeyhive.outputs.otlp import OtlpOutput

    output = target.output
    if not isinstance(output, OtlpOutput) or not output.spans_rejected_by_receiver:
        return ""
    n = output.spans_rejected_by_receiver
    return (f"the OTLP receiver rejected {n} span{'' if n == 1 else 's'} in its answers' partial_success (the "
            f"latest: {output.last_rejection or 'no message'!r})")


def run_replay(args: argparse.Namespace) -> int:
    """The `replay` command; 0 when everything was delivered, 1 when a batch was not or the input is bad,
    2 for bad usage."""
    path: Path = args.file
    try:
        fmt = parse_format(args.from_format) if args.from_format else detect_format(path)
        sessions = file_sessions(args, fmt.is_otlp, f"sessions are made when OTLP input is mapped to events; "
                                 f"{path} is {fmt.value}")
        span_filter = file_span_filter(args, fmt.is_otlp, f"spans are filtered when OTLP input is mapped to "
                                       f"events; {path} is {fmt.value}")
        logs = file_logs(args, fmt, fmt.is_otlp, f"log records are joined when OTLP input is mapped to events; "
                         f"{path} is {fmt.value}")
        redactors = resolve_redactors(args.redact, args.redact_regex, os.environ)
        target = open_target(args)
    except (ValueError, TypeError) as exc:
        return _fail(str(exc), 2)
    state_path: Path = args.state or default_state_path(path)
    files = ExitStack()
    try:
        source = files.enter_context(InputFile(path, fmt))
        log_files = open_logs(files, logs)
    except OSError as exc:
        files.close()
        target.output.close()
        return _fail(f"cannot read {exc.filename or path}: {exc.strerror or exc}")
    except InputError as exc:  # a zstd file without the zstd module
        files.close()
        target.output.close()
        return _fail(str(exc))
    began = time.monotonic()
    with files:
        try:
            fresh = ReplayState(str(path.resolve()), source.size, source.mtime_ns, fmt.value, target.description,
                                options=event_options(args, target, sessions, redactors, log_files))
            state = _starting_state(source, fresh, state_path, args.resume, args.quiet)
            if state is None:
                return 0
            try:
                state.save(state_path)  # fail now, not after the first batch, when the state cannot be written
            except OSError as exc:
                return _fail(f"cannot write the replay state {state_path}: {exc.strerror or exc} (--state PATH "
                             "puts it elsewhere)")
            replay = Replay(source, target, state, state_path, args, redactors, span_filter, sessions, log_files)
            show = not args.quiet and sys.stderr.isatty()
            progress = Progress(show, source.size, f"{path.name} → {args.to}")
            try:
                with progress.running():
                    done = replay.run(progress)
            except InputError as exc:
                return _fail(f"{exc} ({replay.events_sent} events before it were delivered)")
            except KeyboardInterrupt:
                if log_files:
                    _say(f"interrupted: {replay.events_sent} events delivered; with --logs a replay is not resumed "
                         "part way: running it again sends everything again (the same event ids)")
                else:
                    _say(f"interrupted: {replay.events_sent} events delivered; {_again(args)} resumes from "
                         f"{state_path}")
                return 130
        finally:
            target.output.close()
    if not done:
        failure = replay.failure
        assert failure is not None
        at = replay.state
        # Bodies of the failed batch HoneyHive acknowledged before the failure were delivered too (and are sent
        # again on resuming, from the last acknowledged batch: harmless, ids are deterministic).
        through = min(failure.acknowledged, replay.failed_count)
        which = (f"a batch of {replay.failed_count} events was not delivered" if not through else
                 f"{replay.failed_count - through} of a batch of {replay.failed_count} events were not delivered")
        return _fail(
            f"stopped: {which} ({failure.outcome.value}: {failure.detail}). {replay.events_sent + through} events "
            f"were delivered so far; {state_path} records where to continue ({source.display} {source.unit} "
            f"{at.line}, byte {at.offset}): {_again(args)} resumes there."
        )
    if replay.update_failures:
        n = len(replay.update_failures)
        first = replay.update_failures[0]
        return _fail(
            f"{replay.sent} events delivered, but {n} update{'' if n == 1 else 's'} from log records "
            f"{'was' if n == 1 else 'were'} not ({first.outcome.value}: {first.detail}"
            f"{f'; and {n - 1} more' if n > 1 else ''})"
        )
    if replay.refusals:
        refused = [i for r in replay.refusals for i in r.refused]
        return _fail(
            f"{len(refused)} event(s) refused for good, the rest delivered: {replay.refusals[0].detail}"
            f"{f' (and {len(replay.refusals) - 1} more refusals)' if len(replay.refusals) > 1 else ''}; refused "
            f"ids: {', '.join(refused[:20])}{' …' if len(refused) > 20 else ''}"
            f"{'; ' + rejections if (rejections := _receiver_rejections(target)) else ''}"
        )
    rejections = _receiver_rejections(target)
    if rejections:
        batches = "1 acknowledged batch" if replay.batches == 1 else f"{replay.batches} acknowledged batches"
        return _fail(f"{replay.sent} events sent in {batches}, but {rejections}; sending them again would not "
                     "change that")
    if not args.quiet:
        batches = "1 batch" if replay.batches == 1 else f"{replay.batches} batches"
        records = (f" ({replay.records_read} log records joined or sent as {replay.updates_sent} updates)"
                   if log_files else "")
        _say(f"{replay.sent} events in {batches} from {path}{records} to {target.description} in "
             f"{time.monotonic() - began:.1f}s")
    return 0


__all__ = ["STATE_SUFFIX", "Progress", "Replay", "ReplayState", "default_state_path", "event_options", "open_target",
           "run_replay"]
