"""`otel-honeyhive`: run the bridge server, and look at what the local store holds.

Start-up stays fast: only argparse and the light config modules load here; each command imports what it
needs (uvicorn and Starlette for `serve`, rich for the listings) when it runs. The commands need the `server`
extra; without it, they say so in one line instead of failing on an import.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otel_honeyhive._version import VERSION
from otel_honeyhive.core.environment import MAX_SECONDS
from otel_honeyhive.core.file_formats import FORMAT_HELP, WRITABLE_FORMAT_HELP
from otel_honeyhive.core.sizes import shown_size
from otel_honeyhive.server.config import (
    AUTH_TOKEN_ENV,
    DEFAULT_DB,
    DEFAULT_GRPC_PORT,
    DEFAULT_HOLD_SECONDS,
    DEFAULT_HOST,
    DEFAULT_HTTP_PORT,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_HELD_SPANS,
    DEFAULT_SPOOL_MAX_BYTES,
    OTLP_PROTOCOLS,
    ServerConfig,
)

if TYPE_CHECKING:
    from rich.console import Console

    from otel_honeyhive.outputs.store import SQLiteStore

PROG = "otel-honeyhive"
SERVER_EXTRA = {
    "starlette": "starlette",
    "uvicorn": "uvicorn",
    "grpc": "grpcio",
    "rich": "rich",
    "google.rpc": "googleapis-common-protos",
    "jinja2": "jinja2",
    "opentelemetry.proto": "opentelemetry-proto",
    "opentelemetry.exporter.otlp.proto.common": "opentelemetry-exporter-otlp-proto-common",
    **({} if sys.version_info >= (3, 14) else {"backports.zstd": "backports.zstd"}),
}
"""What the commands import, by module, with the distribution of `otel-honeyhive[server]` that provides it."""
_PIPED_WIDTH = 240
_SHOWN_MATCHES = 5


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 0 (off) and 65535, got {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1024**3, "gb": 1000**3, "gib": 1024**3}
_SIZE = re.compile(r"^\s*(\d+)\s*([a-z]*)\s*$", re.IGNORECASE)


def _byte_size(text: str) -> int:
    """A size in bytes, as a number or with a unit: 1048576, 64MiB, 1 GiB, 500MB (K/M/G alone are binary)."""
    found = _SIZE.match(text)
    unit = found.group(2).lower() if found else ""
    if found is None or unit not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (a number of bytes, or with a unit: 64MiB, 1GiB)")
    value = int(found.group(1)) * _UNITS[unit]
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 byte, got {text!r}")
    return value


def _seconds(minimum: float) -> Callable[[str], float]:
    """A number of seconds from `minimum` to a day (`MAX_SECONDS`): `inf` or `1e10` overflow the clocks a timeout
    is added to, and a negative hold time means nothing."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not math.isfinite(value) or not minimum <= value <= MAX_SECONDS:
            raise argparse.ArgumentTypeError(f"must be from {minimum:g} to {MAX_SECONDS:g} seconds, got {text!r}")
        return value

    return parse


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
MAX_DURATION_DAYS = 36_500
"""The longest `--retention` / `--older-than`: a century. The cutoff (now less the duration) must stay a date
the clock functions can show: a duration of many millennia made `prune` end in an OverflowError traceback."""


def _duration(text: str) -> float:
    """A length of time in seconds, as a number with a unit: 90s, 30m, 12h, 7d, 2w. A bare number is refused:
    these durations decide what is deleted, and `7` read as seconds would delete everything."""
    found = _DURATION.match(text)
    if found is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (a number with a unit: 90s, 30m, 12h, 7d, 2w)")
    if not found.group(2):
        number = found.group(1)
        raise argparse.ArgumentTypeError(f"{text!r} has no unit: {number}s, {number}m, {number}h, {number}d or "
                                         f"{number}w?")
    seconds = float(found.group(1)) * _DURATION_UNITS[found.group(2).lower()]
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be longer than 0, got {text!r}")
    if seconds > MAX_DURATION_DAYS * _DURATION_UNITS["d"]:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_DURATION_DAYS}d (a century), got {text!r}")
    return seconds


def _name(text: str) -> str:
    """A project or source name: an empty one would be sent as "" (HoneyHive's own default is `dev` for a source,
    and a project has none), so it is refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a name, or leave the flag out")
    return text


def _path(text: str) -> Path:
    """A file or directory path; an empty one (`--spool-dir ''` would mean the working directory) is refused. A
    leading `~` is the home directory: no shell expands it in `--db=~/x`, nor in a `--config` file."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a path")
    return Path(text).expanduser()


def _file(text: str) -> Path:
    """A file `convert`, `export` or `replay` reads or writes: a path (`_path`), never `-`, which would be a file of
    that name rather than stdin or stdout: a file is written in place only once complete, and resumed by offset."""
    if text == "-":
        raise argparse.ArgumentTypeError("'-' (stdin or stdout) is not supported here: give a file path")
    return _path(text)


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=_path, default=DEFAULT_DB, metavar="PATH",
                        help=f"the local event store (default: ./{DEFAULT_DB})")


def _add_open(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--open", action="store_true",
                        help="print the web viewer's address for this and open it in a browser (the viewer is "
                        "`serve` itself, on the same store: see --viewer)")
    parser.add_argument("--viewer", default=f"http://{DEFAULT_HOST}:{DEFAULT_HTTP_PORT}", metavar="URL",
                        help="where `serve` runs, for --open (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="A bridge between OpenTelemetry tracing and HoneyHive's event model."
    )
    from otel_honeyhive._version import compiled

    build = "compiled hot path" if compiled() else "pure Python"
    parser.add_argument("--version", action="version", version=f"{PROG} {VERSION} ({build})")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="run the bridge server",
        description="Receive OTLP spans and events on a HoneyHive-compatible API and keep them in the local "
        "store, or forward them to HoneyHive when an API key is given, or as OTLP spans to any OTLP endpoint "
        "when --otlp-endpoint is given (one output per server).",
    )
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default: {DEFAULT_HOST})")
    serve.add_argument("--http-port", type=_port, default=DEFAULT_HTTP_PORT, metavar="PORT",
                       help=f"HTTP port (default: {DEFAULT_HTTP_PORT}; 0: off)")
    serve.add_argument("--grpc-port", type=_port, default=DEFAULT_GRPC_PORT, metavar="PORT",
                       help=f"OTLP/gRPC port (default: {DEFAULT_GRPC_PORT}; 0: off)")
    serve.add_argument("--api-key", help="HoneyHive API key: forward events to HoneyHive (else $HH_API_KEY; "
                       "without one, events stay in the local store)")
    serve.add_argument("--server-url", metavar="URL",
                       help="HoneyHive API URL (else $HH_API_URL, else https://api.honeyhive.ai)")
    serve.add_argument("--project", type=_name, help="project for events that have none (else $HH_PROJECT)")
    serve.add_argument("--source", type=_name, help="source for events that have none (else $HH_SOURCE, else 'dev')")
    serve.add_argument("--api-version", choices=("auto", "v1", "legacy"),
                       help="HoneyHive batch route: v1 (/v1/events/batch), legacy (/events/batch) or auto: v1, "
                       "then legacy if HoneyHive answers v1 with 404/405 and legacy accepts (else $HH_API_VERSION, "
                       "else auto)")
    serve.add_argument("--otlp-endpoint", metavar="URL",
                       help="forward events as OTLP spans to this endpoint instead (OTLP/HTTP: a base URL, "
                       "/v1/traces is added unless given; gRPC: host:port or http(s)://host:port); not "
                       "with --api-key")
    serve.add_argument("--otlp-protocol", choices=OTLP_PROTOCOLS, metavar="PROTOCOL",
                       help=f"{' or '.join(OTLP_PROTOCOLS)} (default: http/protobuf)")
    serve.add_argument("--otlp-header", action="append", metavar="KEY=VALUE",
                       help="a header (gRPC: metadata) on every OTLP request, e.g. an API key; repeatable; "
                       "never logged")
    serve.add_argument("--otlp-compression", choices=("gzip", "none"),
                       help="compress OTLP requests (default: none)")
    _add_db(serve)
    serve.add_argument("--spool-dir", type=_path, metavar="DIR",
                       help="durable spool: held spans and GenAI log records waiting for their span are "
                       "journaled, and events for a remote output queued, on disk before a request is "
                       "acknowledged (else $HH_SPOOL_DIR)")
    serve.add_argument("--spool-max-bytes", type=_byte_size, default=DEFAULT_SPOOL_MAX_BYTES, metavar="SIZE",
                       help="cap of the spool (bytes, or 512MiB, 2GiB); past it requests get 503 with Retry-After "
                       f"(default: {shown_size(DEFAULT_SPOOL_MAX_BYTES)})")
    serve.add_argument("--hold-timeout", type=_seconds(0), default=DEFAULT_HOLD_SECONDS, metavar="SECONDS",
                       help="how long spans wait for their trace's root before being shipped in parts "
                       f"(default: {DEFAULT_HOLD_SECONDS:g})")
    serve.add_argument("--max-held-spans", type=_positive_int, default=DEFAULT_MAX_HELD_SPANS, metavar="N",
                       help="memory cap on held spans; the oldest traces are shipped first "
                       f"(default: {DEFAULT_MAX_HELD_SPANS})")
    serve.add_argument("--auth-token", metavar="TOKEN",
                       help=f"require 'Authorization: Bearer TOKEN' on every request but /healthz and the viewer's "
                       f"token form, /metrics included (else ${AUTH_TOKEN_ENV}, which, unlike a flag, other users "
                       "cannot see in ps)")
    serve.add_argument("--allowed-host", action="append", metavar="NAME",
                       help="also answer HTTP requests whose Host is NAME (a proxy's name: .example.org for it and "
                       "every name under it, * for any); bound to a loopback address the server answers only "
                       "localhost and loopback names otherwise, against DNS rebinding; repeatable (else "
                       "$HH_ALLOWED_HOSTS, comma-separated)")
    serve.add_argument("--max-body-bytes", type=_byte_size, default=DEFAULT_MAX_BODY_BYTES, metavar="SIZE",
                       help="largest request body after decompression (bytes, or 16MiB), also the gRPC message "
                       f"limit: under 2 GiB (default: {shown_size(DEFAULT_MAX_BODY_BYTES)})")
    serve.add_argument("--tls-cert", type=_path, metavar="FILE",
                       help="PEM certificate (chain): serve HTTPS and gRPC over TLS on both ports; with --tls-key")
    serve.add_argument("--tls-key", type=_path, metavar="FILE",
                       help="PEM private key of --tls-cert (unencrypted; keep it readable by this user only)")
    _add_masking(serve)
    serve.add_argument("--span-filter", action="append", metavar="PRESET",
                       help="keep only the spans a preset recognises, and the root: genai (a GenAI, OpenInference, "
                       "Traceloop or HoneyHive convention recognises them) (else $HH_SPAN_FILTER)")
    serve.add_argument("--drop-scope", action="append", metavar="NAME",
                       help="drop the spans of an instrumentation scope (a name or a glob such as "
                       "'opentelemetry.instrumentation.http*'); their children move up to the nearest kept "
                       "ancestor; repeatable (else $HH_DROP_SCOPES, comma-separated)")
    serve.add_argument("--drop-span", action="append", metavar="NAME",
                       help="drop the spans of this name (or glob), children moved up likewise; repeatable "
                       "(else $HH_DROP_SPANS, comma-separated)")
    _add_sessions(serve)
    serve.add_argument("--retention", type=_duration, metavar="DURATION",
                       help="local store: delete each session, whole, once it has had no new event for this long "
                       "(7d, 12h, 90m), and give its space back; checked at start and then every tenth of DURATION "
                       "(at least every 10 minutes) "
                       "(default: keep everything)")
    serve.add_argument("--config", type=_path, metavar="FILE",
                       help="a TOML or YAML file holding any of these options (same names, - or _) and a "
                       "[routing] table sending each service to its own HoneyHive project and key "
                       "(docs/routing.md); flags given here win over the file")
    serve.set_defaults(run=_serve)

    sessions = commands.add_parser("sessions", help="list the sessions in the local store, newest first")
    _add_db(sessions)
    sessions.add_argument("--limit", type=_positive_int, default=20, metavar="N",
                          help="how many sessions to show (default: 20)")
    sessions.add_argument("--json", action="store_true", help="print them as a JSON array, for scripts")
    _add_open(sessions)
    sessions.set_defaults(run=_sessions)

    show = commands.add_parser(
        "show", help="show one session as a tree of its events, or one event in full",
        description="Show a session as a tree of its events (type, name, duration, model, tokens, errors); "
        "--full adds each event's inputs, outputs, config, metadata and the rest. Given an event id, show "
        "that event in full.",
    )
    show.add_argument("id", metavar="ID", help="a session id or an event id, or a unique prefix of either")
    show.add_argument("--full", action="store_true",
                      help="every field of every event: inputs, outputs, config, metadata, metrics, feedback")
    show.add_argument("--json", action="store_true",
                      help="print the events as stored, as a JSON array (an event id: that event's object)")
    _add_db(show)
    _add_open(show)
    show.set_defaults(run=_show)

    prune = commands.add_parser(
        "prune", help="delete old sessions from the local store and give their space back",
        description="Delete every session of the local store whose last event ended more than DURATION ago, "
        "whole (a conversation with a recent turn stays), and events without a session likewise; then delete "
        "the body segments nothing points into any more. Safe while `serve` writes the same store. `serve "
        "--retention DURATION` does the same as it runs.",
    )
    prune.add_argument("--older-than", type=_duration, required=True, metavar="DURATION",
                       help="how long a session must have been quiet to go: 90m, 12h, 7d, 2w")
    prune.add_argument("--dry-run", action="store_true", help="count what would go, delete nothing")
    _add_db(prune)
    prune.set_defaults(run=_prune)

    export = commands.add_parser(
        "export", help="write the local store's events to a file (events or OTLP/JSON)",
        description="Write whole sessions from the local store to OUTPUT, oldest first: events as stored "
        "(.ndjson, .json) or as OTLP/JSON spans (.otlp.jsonl, .otlp.json), as `convert` writes them; the "
        "format comes from OUTPUT's name (" + WRITABLE_FORMAT_HELP + ").",
    )
    export.add_argument("output", type=_file, metavar="OUTPUT",
                        help="file to write (put in place only once complete)")
    export.add_argument("--to", dest="to_format", metavar="FORMAT",
                        help="format of OUTPUT when its name does not tell (ndjson, json, otlp-jsonl, otlp-json)")
    export.add_argument("--session", action="append", metavar="ID",
                        help="only this session (an id or a unique prefix); repeatable")
    export.add_argument("--since", metavar="TIME",
                        help="only sessions that started at or after TIME (ISO 8601, local time unless a zone "
                        "is given: 2026-12-06, 2026-12-06T15:30)")
    export.add_argument("--until", metavar="TIME", help="only sessions that started before TIME")
    _add_db(export)
    export.add_argument("-q", "--quiet", action="store_true", help="no summary line on stderr")
    export.set_defaults(run=_export)

    convert = commands.add_parser(
        "convert", help="convert between event files and OTLP/JSON files",
        description="Convert HoneyHive events (NDJSON, JSON array) and OTLP/JSON traces (one request per line, "
        "or one request) into one another, streaming: only a single-request .otlp.json is read whole. The "
        "Collector file exporter's length-prefixed protobuf and zstd files are read too (not written). "
        "Formats come from the file names (" + FORMAT_HELP + "); --from/--to override them. "
        "Spans become events as the bridge maps them; events become spans with events_to_spans. --logs FILE adds "
        "the OTLP logs of the same traffic (the file exporter's logs file): their GenAI records (prompts and "
        "completions) are joined to the events as serve joins those sent to /v1/logs.",
    )
    convert.add_argument("input", type=_file, metavar="INPUT", help="file to read")
    convert.add_argument("output", type=_file, metavar="OUTPUT",
                         help="file to write (put in place only once the conversion has succeeded)")
    _add_formats(convert, "INPUT")
    convert.add_argument("--to", dest="to_format", metavar="FORMAT",
                         help="format of OUTPUT when its name does not tell: ndjson, json, otlp-jsonl or "
                         "otlp-json (--from's names but otlp-proto, which is only read)")
    convert.add_argument("--project", type=_name,
                         help="project for events made from spans (and for events without one)")
    convert.add_argument("--source", type=_name, help="source for events made from spans (else 'dev'), and for events "
                         "without one")
    _add_max_held(convert)
    _add_logs(convert, "INPUT", "OTLP input to events: ")
    _add_sessions(convert, "OTLP input: ")
    _add_file_span_filter(convert, "OTLP input to events: ")
    _add_masking(convert)
    convert.add_argument("-q", "--quiet", action="store_true", help="no summary line on stderr")
    convert.set_defaults(run=_convert)

    explain = commands.add_parser(
        "explain", help="show the event each span of an OTLP file becomes, and why",
        description="Map the spans of FILE (OTLP/JSON, one request or one per line, an OTLP protobuf "
        "ExportTraceServiceRequest, or the Collector file exporter's length-prefixed requests; gzip, zstd or "
        "neither; - for stdin) as the exporter does, and print per span the event "
        "it becomes and, per attribute, the rule that took it, the value that won, the values that lost "
        "(shadowed, kept in metadata) and what fell through to metadata.",
    )
    explain.add_argument("input", metavar="FILE", help="the OTLP file, or - for stdin")
    explain.add_argument("--json", action="store_true", help="every decision and the events, as JSON")
    explain.add_argument("--full", action="store_true", help="do not shorten long values in the table")
    explain.add_argument("--project", type=_name, help="project set on the events (as the exporter's project)")
    explain.add_argument("--source", type=_name, help="source set on the events (else 'dev')")
    explain.add_argument("--logs", type=_file, action="append", metavar="FILE",
                         help="an OTLP logs file of the same traffic (repeatable): the GenAI log records naming a "
                         "span of FILE are joined to it before it is explained (details as the attributes it lacks, "
                         "messages as its span events), as the pipeline joins them; evaluation results and records "
                         "whose span is not in FILE are not shown")
    _add_sessions(explain)
    _add_file_span_filter(explain, "")
    _add_masking(explain)
    explain.set_defaults(run=_explain)

    replay = commands.add_parser(
        "replay", help="ship a file of events or OTLP/JSON traces to HoneyHive or an OTLP endpoint, resumably",
        description="Send FILE in batches to HoneyHive (by the batch route $HH_API_VERSION picks, as serve "
        "--api-version does) or to an OTLP endpoint. OTLP files are "
        "mapped to events first (to an OTLP endpoint they then go as spans made from those events). After every "
        "acknowledged batch the position is saved to a state file; running the same command again resumes "
        "there if FILE is unchanged. A batch that is not delivered stops the replay (exit status 1); events refused "
        "alone as too large even cut are named at the end, and spans an OTLP receiver rejects in partial_success "
        "counted there (exit status 1). --logs FILE joins the GenAI log records of the same traffic to the events "
        "(late and unmatched ones are sent as updates); with it, an interrupted replay starts over.",
    )
    replay.add_argument("file", type=_file, metavar="FILE",
                        help="events or OTLP file, JSON or the Collector file exporter's protobuf (format from its "
                        "name)")
    _add_formats(replay, "FILE")
    replay.add_argument("--to", required=True, choices=("honeyhive", "otlp"), help="where to send the events")
    replay.add_argument("--server-url", metavar="URL",
                        help="HoneyHive API URL (else $HH_API_URL, else https://api.honeyhive.ai)")
    replay.add_argument("--api-key", help="HoneyHive API key (else $HH_API_KEY); never written anywhere")
    replay.add_argument("--project", type=_name, help="project for events that have none (else $HH_PROJECT)")
    replay.add_argument("--source", type=_name, help="source for events that have none (else $HH_SOURCE, else 'dev')")
    replay.add_argument("--otlp-endpoint", metavar="URL",
                        help="OTLP endpoint for --to otlp (OTLP/HTTP: a base URL, /v1/traces is added unless "
                        "given; gRPC: host:port or http(s)://host:port)")
    replay.add_argument("--otlp-protocol", choices=OTLP_PROTOCOLS, default="http/protobuf", metavar="PROTOCOL",
                        help=f"{' or '.join(OTLP_PROTOCOLS)} (default: http/protobuf)")
    replay.add_argument("--otlp-header", action="append", metavar="KEY=VALUE",
                        help="header (gRPC: metadata) on every OTLP request, e.g. an API key; repeatable; never "
                        "written to the state file")
    replay.add_argument("--otlp-compression", choices=("gzip", "none"), help="compress OTLP requests "
                        "(default: none)")
    replay.add_argument("--batch-size", type=_positive_int, default=500, metavar="N",
                        help="events per batch (default: 500)")
    replay.add_argument("--timeout", type=_seconds(0.001), default=30.0, metavar="SECONDS",
                        help="how long one batch may be retried before the replay stops (default: 30)")
    replay.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="continue from the saved position when FILE is unchanged (default: on)")
    replay.add_argument("--state", type=Path, metavar="PATH",
                        help="the state file (default: FILE.replay-state.json)")
    _add_max_held(replay)
    _add_logs(replay, "FILE", "OTLP input: ")
    _add_sessions(replay, "OTLP input: ")
    _add_file_span_filter(replay, "OTLP input: ")
    _add_masking(replay)
    replay.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary")
    replay.set_defaults(run=_replay)
    _add_spool(commands)
    return parser


def _add_spool(commands: Any) -> None:
    spool = commands.add_parser(
        "spool", help="look at a spool directory, and send again what it kept",
        description="DIR is an exporter's spool_dir (HH_SPOOL_DIR), a server's --spool-dir, or the outbox/ "
        "inside either.",
    )
    actions = spool.add_subparsers(dest="action", metavar="ACTION")
    status = actions.add_parser(
        "status", help="what waits, and what was set aside (dead letters, corrupt records) and why",
        description="Show the records waiting in each segment (the process that owns it and whether it still "
        "runs, records, bytes, the oldest record's age) and the dead letters and corrupt records with their "
        "reasons, newest first. Reads only: safe while exporters and servers use the directory.",
    )
    status.add_argument("directory", type=_path, metavar="DIR", help="the spool directory")
    status.add_argument("--json", action="store_true", help="everything as one JSON object, reasons whole")
    status.add_argument("--limit", type=_positive_int, default=20, metavar="N",
                        help="dead letters and corrupt records shown in the tables (default: 20)")
    status.set_defaults(run=_spool_status)
    redrive = actions.add_parser(
        "redrive", help="ship what processes that are gone left, or (--dead) send dead letters again",
        description="Without --dead: adopt and ship the records of segments whose process is gone (a running "
        "process's segment is left to it). With --dead: send the dead letters again, oldest first; those "
        "accepted leave dead/, those refused again stay with the new reason appended. An outage or a refusal "
        "of the key or URL (401, 403, 404, 405) stops the run; what was not sent stays. Exit status 1 when "
        "something was refused or not sent.",
    )
    redrive.add_argument("directory", type=_path, metavar="DIR", help="the spool directory")
    redrive.add_argument("--dead", action="store_true", help="send the dead letters (dead/) again")
    redrive.add_argument("--to", choices=("honeyhive", "otlp", "store"), default="honeyhive",
                         help="where to send: HoneyHive (--server-url, --api-key), an OTLP endpoint "
                         "(--otlp-endpoint), or the local store (--db) (default: honeyhive)")
    redrive.add_argument("--server-url", metavar="URL",
                         help="HoneyHive API URL (else $HH_API_URL, else https://api.honeyhive.ai)")
    redrive.add_argument("--api-key", help="HoneyHive API key (else $HH_API_KEY); never written anywhere")
    redrive.add_argument("--config", type=_path, metavar="FILE",
                         help="the `serve --config` file whose [routing] table names each project's key: each "
                         "event goes with its project's key (docs/routing.md)")
    redrive.add_argument("--project", type=_name, help="project for events that have none (else $HH_PROJECT)")
    redrive.add_argument("--source", type=_name, help="source for events that have none (else $HH_SOURCE, else 'dev')")
    redrive.add_argument("--otlp-endpoint", metavar="URL",
                         help="OTLP endpoint for --to otlp (OTLP/HTTP: a base URL; gRPC: host:port)")
    redrive.add_argument("--otlp-protocol", choices=OTLP_PROTOCOLS, default="http/protobuf", metavar="PROTOCOL",
                         help=f"{' or '.join(OTLP_PROTOCOLS)} (default: http/protobuf)")
    redrive.add_argument("--otlp-header", action="append", metavar="KEY=VALUE",
                         help="header (gRPC: metadata) on every OTLP request; repeatable; never logged")
    redrive.add_argument("--otlp-compression", choices=("gzip", "none"),
                         help="compress OTLP requests (default: none)")
    _add_db(redrive)
    redrive.add_argument("--timeout", type=_seconds(0.001), default=30.0, metavar="SECONDS",
                         help="how long one record may be retried before the run stops (default: 30)")
    redrive.add_argument("-q", "--quiet", action="store_true", help="only what went wrong")
    redrive.set_defaults(run=_spool_redrive)
    spool.set_defaults(run=lambda args: _usage(spool))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _add_formats(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--from", dest="from_format", metavar="FORMAT",
                        help=f"format of {name} when its name does not tell: " + FORMAT_HELP)


def _add_masking(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redact", action="append", metavar="NAME",
                        help="mask what a built-in redactor finds in every string value before anything is "
                        "written or sent: email, credit_card, api_key, ip, or all; repeatable or comma-separated "
                        "(else $HH_REDACT)")
    parser.add_argument("--redact-regex", action="append", metavar="REGEX",
                        help="mask every match of a regular expression (Python syntax) as <redacted>; repeatable")


def _add_file_span_filter(parser: argparse.ArgumentParser, where: str) -> None:
    parser.add_argument("--span-filter", action="append", metavar="PRESET",
                        help=f"{where}keep only the spans a preset recognises, and the root: genai")
    parser.add_argument("--drop-scope", action="append", metavar="NAME",
                        help=f"{where}drop the spans of an instrumentation scope (a name or a glob), their children "
                        "moved up to the nearest kept ancestor; repeatable")
    parser.add_argument("--drop-span", action="append", metavar="NAME",
                        help=f"{where}drop the spans of this name (or glob), likewise; repeatable")


def _add_sessions(parser: argparse.ArgumentParser, where: str = "") -> None:
    parser.add_argument("--sessions", choices=("trace", "conversation"), metavar="MODE",
                        help=f"{where}what a session is: trace (a trace's root span; the default) or conversation "
                        "(every trace carrying the same conversation id: session.id, gen_ai.conversation.id, "
                        "Traceloop's session_id) (else $HH_SESSIONS)")


def _add_logs(parser: argparse.ArgumentParser, traces: str, applies: str) -> None:
    parser.add_argument("--logs", type=_file, action="append", metavar="FILE",
                        help=f"{applies}an OTLP logs file of the same traffic (the Collector file exporter's logs "
                        f"file, or the OTLP file log exporter's; repeatable): its GenAI log records (prompts and "
                        f"completions of EVENT_ONLY instrumentations) are joined to their spans' events as serve "
                        f"joins those sent to /v1/logs. Read in any framing {traces} is; its format from its name "
                        f"when that names an OTLP format, else {traces}'s")


def _add_max_held(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-held-spans", type=_positive_int, default=100_000, metavar="N",
                        help="OTLP input: spans held waiting for their trace's root before the oldest trace is "
                        "mapped in parts; bounds memory (default: 100000)")


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 1


def _serve_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices["serve"]
            return found
    raise LookupError("no serve command")  # pragma: no cover


def _apply_config_file(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> None:
    """`serve --config FILE`: the file's options fill in what the command line did not give (flags win), each
    converted and checked as its flag is; its `[routing]` table is kept for `ServerConfig.resolve`. ValueError:
    one line naming the file and the key."""
    from otel_honeyhive.server.config_file import load_config_file

    serve = _serve_parser(parser)
    actions = {a.dest: a for a in serve._actions if a.option_strings and a.dest not in ("help", "config")}
    known = {}
    for dest, action in actions.items():
        for flag in action.option_strings:
            if flag.startswith("--"):
                known[flag[2:]] = dest
                known[flag[2:].replace("-", "_")] = dest
    known.update({dest: dest for dest in actions})
    options, routing = load_config_file(args.config, known)
    # What the command line gave: the same arguments parsed again with every default suppressed.
    given = set(vars(_given_options(argv)))
    for dest, value in options.items():
        if dest in given:
            continue
        action = actions[dest]
        setattr(args, dest, _option_value(args.config, action, value))
    args.routing = routing


def _given_options(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    serve = _serve_parser(parser)
    for action in serve._actions:
        action.default = argparse.SUPPRESS
    serve.set_defaults(run=argparse.SUPPRESS)
    namespace = argparse.Namespace()
    serve.parse_known_args(argv[argv.index("serve") + 1:] if "serve" in argv else argv, namespace)
    return namespace


def _option_value(file: Path, action: argparse.Action, value: Any) -> Any:
    """A file's value for `action`, converted by the flag's own type and checked against its choices."""
    name = action.option_strings[-1].lstrip("-")
    many = isinstance(action, argparse._AppendAction)
    items = value if isinstance(value, list) else [value]
    if not many and isinstance(value, list):
        raise ValueError(f"{file}: {name}: takes one value, got a list")
    converted = []
    for item in items:
        if item is None:
            raise ValueError(f"{file}: {name}: has no value (YAML's null): give one, or leave the key out")
        if isinstance(item, (dict, list)):
            raise ValueError(f"{file}: {name}: must be a string or a number, got {type(item).__name__}")
        if isinstance(item, bool):
            raise ValueError(f"{file}: {name}: must be a string or a number, got {str(item).lower()}")
        if action.type is not None and callable(action.type):
            try:
                item = action.type(str(item))
            except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
                raise ValueError(f"{file}: {name}: {exc}") from None
        elif not isinstance(item, str):
            item = str(item)
        if action.choices is not None and item not in action.choices:
            raise ValueError(f"{file}: {name}: must be one of {', '.join(map(str, action.choices))}, got {item!r}")
        converted.append(item)
    return converted if many else converted[0]


def _serve(args: argparse.Namespace) -> int:
    try:
        config = ServerConfig.resolve(
            host=args.host, http_port=args.http_port, grpc_port=args.grpc_port, db_path=args.db,
            spool_dir=args.spool_dir, auth_token=args.auth_token, max_body_bytes=args.max_body_bytes,
            api_key=args.api_key, server_url=args.server_url, project=args.project, source=args.source,
            api_version=args.api_version, hold_timeout=args.hold_timeout, max_held_spans=args.max_held_spans,
            spool_max_bytes=args.spool_max_bytes,
            otlp_endpoint=args.otlp_endpoint, otlp_protocol=args.otlp_protocol, otlp_headers=args.otlp_header,
            otlp_compression=args.otlp_compression, tls_cert=args.tls_cert, tls_key=args.tls_key,
            redact=args.redact, redact_regex=args.redact_regex,
            span_filter=args.span_filter, drop_scopes=args.drop_scope, drop_spans=args.drop_span,
            sessions=args.sessions, retention=args.retention, allowed_hosts=args.allowed_host,
            routing=getattr(args, "routing", None), config_file=str(args.config) if args.config else None,
        )
    except ValueError as exc:
        print(f"{PROG} serve: {exc}", file=sys.stderr)
        return 2
    if config.http_port == 0 and config.grpc_port == 0:
        print(f"{PROG} serve: nothing to serve: --http-port and --grpc-port are both 0", file=sys.stderr)
        return 2
    if config.http_port == config.grpc_port:
        print(f"{PROG} serve: --http-port and --grpc-port are both {config.http_port}: HTTP and gRPC each need "
              "their own port (the defaults are 4318 and 4317)", file=sys.stderr)
        return 2
    from otel_honeyhive.server.run import serve

    return serve(config)


def _open_store(path: Path) -> SQLiteStore | None:
    import sqlite3

    from otel_honeyhive.outputs.store import SQLiteStore

    try:
        return SQLiteStore(path, readonly=True)
    except FileNotFoundError:
        _fail(f"no event store at {path} (start `{PROG} serve` first, or pass --db PATH)")
    except (OSError, RuntimeError, sqlite3.Error) as exc:
        _fail(f"cannot read the event store {path}: {exc}")
    return None


def _console() -> Console:
    """A terminal's own width; piped output is not squeezed into 80 columns (ids stay whole, lines stay
    as long as their content)."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=_PIPED_WIDTH)


def _print_json(value: Any) -> None:
    import orjson

    sys.stdout.buffer.write(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
    sys.stdout.flush()


def _sessions(args: argparse.Namespace) -> int:
    from otel_honeyhive.cli.render import sessions_table

    store = _open_store(args.db)
    if store is None:
        return 1
    with store:
        sessions = store.list_sessions(limit=args.limit)
    if args.open:
        _open_viewer(args.viewer, "/", args.db)
    if args.json:
        _print_json([dataclasses.asdict(s) for s in sessions])
        return 0
    console = _console()
    if not sessions:
        console.print(f"no sessions in {args.db}")
        return 0
    console.print(sessions_table(sessions))
    return 0


VIEWER_PROBE_SECONDS = 1.0
"""How long `--open` waits for the viewer's page before saying that nothing answers there."""


def _viewer_problem(base: str, url: str, db: Path) -> str | None:
    """Why the page at `url` will not show what was printed, when that is certain: nothing listens there (the
    demo's server has gone, or `serve` was never started), or the server there has no such page (it serves
    another store). Anything else (a token to give, a proxy's login, TLS) is left to the browser."""
    import http.client
    import urllib.error
    import urllib.request

    start = f"start `{PROG} serve --db {db} --grpc-port 0`, or pass --viewer URL"
    try:
        with urllib.request.urlopen(url, timeout=VIEWER_PROBE_SECONDS):
            return None
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return f"{base} has no page for this: is it `{PROG} serve` on {db}? ({start})"
        return None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError):
            return f"nothing answers at {base} ({start})"
        return None
    except (OSError, ValueError, http.client.HTTPException):
        return None


def _open_viewer(base: str, path: str, db: Path) -> None:
    """Say the page's address (on stderr, so `--json` stays parsable) and ask for a browser to open it; first
    say so when no viewer will answer there (a browser's connection error would not say what to do)."""
    import webbrowser

    url = base.rstrip("/") + path
    print(f"viewer: {url}", file=sys.stderr)
    problem = _viewer_problem(base.rstrip("/"), url, db)
    if problem is not None:
        print(f"{PROG}: {problem}", file=sys.stderr)
    try:
        opened = webbrowser.open(url)
    except webbrowser.Error:
        opened = False
    if not opened:
        print(f"{PROG}: no browser to open here; open the address above yourself", file=sys.stderr)


def _ambiguous(given: str, kind: str, matches: list[str]) -> int:
    count = str(len(matches)) if len(matches) <= _SHOWN_MATCHES else f"more than {_SHOWN_MATCHES}"
    listed = ", ".join(matches[:_SHOWN_MATCHES])
    return _fail(f"{given!r} is ambiguous: it starts {count} {kind}s ({listed}); give more of it")


def _show(args: argparse.Namespace) -> int:
    from otel_honeyhive.cli.render import event_detail, session_tree

    if not args.id.strip():
        return _fail("ID is empty: give a session id or an event id (or a unique prefix); "
                     f"`{PROG} sessions` lists the sessions")
    store = _open_store(args.db)
    if store is None:
        return 1
    with store:
        sessions = store.match_sessions(args.id, limit=_SHOWN_MATCHES + 1)
        if len(sessions) > 1:
            return _ambiguous(args.id, "session", sessions)
        if sessions:
            events = store.session_events(sessions[0])
            event = None
        else:
            found = store.match_events(args.id, limit=_SHOWN_MATCHES + 1)
            if not found:
                return _fail(f"no session or event id starts with {args.id!r} in {args.db} "
                             f"(`{PROG} sessions` lists the sessions)")
            if len(found) > 1:
                return _ambiguous(args.id, "event", found)
            event = store.get_event(found[0])
    if args.open:
        from urllib.parse import quote

        if event is None:
            _open_viewer(args.viewer, f"/sessions/{quote(sessions[0], safe='')}", args.db)
        else:
            where = f"/sessions/{quote(str(event.get('session_id')), safe='')}/events/{quote(found[0], safe='')}"
            _open_viewer(args.viewer, where, args.db)
    if event is not None:
        if args.json:
            _print_json(event)
        else:
            _console().print(event_detail(event))
        return 0
    if args.json:
        _print_json(events)
        return 0
    _console().print(session_tree(sessions[0], events, full=args.full))
    return 0


def _prune(args: argparse.Namespace) -> int:
    import sqlite3
    import time

    from otel_honeyhive.outputs.store import SQLiteStore
    from otel_honeyhive.server.retention import describe_pruned

    if not args.db.is_file():
        return _fail(f"no event store at {args.db} (pass --db PATH)")
    before = time.time() * 1000 - args.older_than * 1000
    try:
        with SQLiteStore(args.db) as store:
            pruned = store.prune(before, dry_run=args.dry_run)
    except (OSError, sqlite3.Error, RuntimeError) as exc:
        return _fail(f"cannot prune {args.db}: {exc}")
    print(describe_pruned(pruned, before, dry_run=args.dry_run))
    return 0


def _export(args: argparse.Namespace) -> int:
    from otel_honeyhive.cli.export import run_export

    return run_export(args)


def _explain(args: argparse.Namespace) -> int:
    from otel_honeyhive.cli.explain import run_explain

    return run_explain(args)


def _convert(args: argparse.Namespace) -> int:
    from otel_honeyhive.cli.convert import run_convert

    return run_convert(args)


def _replay(args: argparse.Namespace) -> int:
    from otel_honeyhive.cli.replay import run_replay

    return run_replay(args)


def _spool_status(args: argparse.Namespace) -> int:
    from otel_honeyhive.cli.spool import run_status

    return run_status(args)


def _spool_redrive(args: argparse.Namespace) -> int:
    from otel_honeyhive.cli.spool import run_redrive

    return run_redrive(args)


def missing_server_extra() -> list[str]:
    """The distributions of the `server` extra that are not installed."""
    from importlib.util import find_spec

    missing = []
    for module, distribution in SERVER_EXTRA.items():
        try:
            found = find_spec(module) is not None
        except ModuleNotFoundError:  # a parent package is missing too (`google` for `google.rpc`)
            found = False
        if not found:
            missing.append(distribution)
    return missing


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    missing = missing_server_extra()
    if missing:
        return _fail(f"`{PROG} {args.command}` needs the server extra: pip install '.[server]' in a clone, or "
                     f"pip install 'otel-honeyhive[server] @ git+<URL>' (not installed: {', '.join(missing)})")
    if args.command == "serve" and args.config is not None:
        try:
            _apply_config_file(parser, args, sys.argv[1:] if argv is None else list(argv))
        except ValueError as exc:
            print(f"{PROG} serve: {exc}", file=sys.stderr)
            return 2
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `otel-honeyhive sessions | head`
        sys.stderr.close()
        return 0
