"""`otel-honeyhive`: run the bridge server, and look at what the local store holds.

Start-up stays fast: only argparse and the light config modules load here; each command imports what it
needs (uvicorn and Starlette for `serve`, rich for the listings) when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from otel_honeyhive._version import VERSION
from otel_honeyhive.server.config import (
    AUTH_TOKEN_ENV,
    DEFAULT_DB,
    DEFAULT_GRPC_PORT,
    DEFAULT_HOST,
    DEFAULT_HTTP_PORT,
    DEFAULT_MAX_BODY_BYTES,
    ServerConfig,
)

if TYPE_CHECKING:
    from rich.console import Console

    from otel_honeyhive.outputs.store import SQLiteStore

PROG = "otel-honeyhive"
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


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, metavar="PATH",
                        help=f"the local event store (default: ./{DEFAULT_DB})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="A bridge between OpenTelemetry tracing and HoneyHive's event model."
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {VERSION}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="run the bridge server",
        description="Receive events on a HoneyHive-compatible API and keep them in the local store, or "
        "forward them to HoneyHive when an API key is given.",
    )
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default: {DEFAULT_HOST})")
    serve.add_argument("--http-port", type=_port, default=DEFAULT_HTTP_PORT, metavar="PORT",
                       help=f"HTTP port (default: {DEFAULT_HTTP_PORT}; 0: off)")
    serve.add_argument("--grpc-port", type=_port, default=DEFAULT_GRPC_PORT, metavar="PORT",
                       help=f"OTLP/gRPC port (default: {DEFAULT_GRPC_PORT}; 0: off; the gRPC receiver is not "
                       "available yet, nothing listens there)")
    serve.add_argument("--api-key", help="HoneyHive API key: forward events to HoneyHive (else $HH_API_KEY; "
                       "without one, events stay in the local store)")
    serve.add_argument("--server-url", metavar="URL",
                       help="HoneyHive API URL (else $HH_API_URL, else https://api.honeyhive.ai)")
    serve.add_argument("--project", help="project for events that have none (else $HH_PROJECT)")
    serve.add_argument("--source", help="source for events that have none (else $HH_SOURCE, else 'unknown')")
    _add_db(serve)
    serve.add_argument("--spool-dir", type=Path, metavar="DIR",
                       help="durable spool: held spans are journaled and events for a remote output queued on "
                       "disk before a request is acknowledged (else $HH_SPOOL_DIR)")
    serve.add_argument("--spool-max-bytes", type=_positive_int, default=1024 * 1024 * 1024, metavar="N",
                       help="cap of the spool; past it requests get 503 with Retry-After (default: 1 GiB)")
    serve.add_argument("--hold-timeout", type=float, default=30.0, metavar="SECONDS",
                       help="how long spans wait for their trace's root before being shipped in parts "
                       "(default: 30)")
    serve.add_argument("--max-held-spans", type=_positive_int, default=100_000, metavar="N",
                       help="memory cap on held spans; the oldest traces are shipped first (default: 100000)")
    serve.add_argument("--auth-token", metavar="TOKEN",
                       help=f"require 'Authorization: Bearer TOKEN' on every request but /healthz "
                       f"(else ${AUTH_TOKEN_ENV})")
    serve.add_argument("--max-body-bytes", type=_positive_int, default=DEFAULT_MAX_BODY_BYTES, metavar="N",
                       help=f"largest request body after decompression (default: {DEFAULT_MAX_BODY_BYTES})")
    serve.set_defaults(run=_serve)

    sessions = commands.add_parser("sessions", help="list the sessions in the local store, newest first")
    _add_db(sessions)
    sessions.add_argument("--limit", type=_positive_int, default=20, metavar="N",
                          help="how many sessions to show (default: 20)")
    sessions.set_defaults(run=_sessions)

    show = commands.add_parser("show", help="show one session as a tree of its events")
    show.add_argument("session_id", metavar="SESSION_ID", help="a session id, or a unique prefix of one")
    _add_db(show)
    show.set_defaults(run=_show)
    return parser


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 1


def _serve(args: argparse.Namespace) -> int:
    try:
        config = ServerConfig.resolve(
            host=args.host, http_port=args.http_port, grpc_port=args.grpc_port, db_path=args.db,
            spool_dir=args.spool_dir, auth_token=args.auth_token, max_body_bytes=args.max_body_bytes,
            api_key=args.api_key, server_url=args.server_url, project=args.project, source=args.source,
            hold_timeout=args.hold_timeout, max_held_spans=args.max_held_spans,
            spool_max_bytes=args.spool_max_bytes,
        )
    except ValueError as exc:
        print(f"{PROG} serve: {exc}", file=sys.stderr)
        return 2
    if config.http_port == 0 and config.grpc_port == 0:
        print(f"{PROG} serve: nothing to serve: --http-port and --grpc-port are both 0", file=sys.stderr)
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


def _sessions(args: argparse.Namespace) -> int:
    from otel_honeyhive.cli.render import sessions_table

    store = _open_store(args.db)
    if store is None:
        return 1
    with store:
        sessions = store.list_sessions(limit=args.limit)
    console = _console()
    if not sessions:
        console.print(f"no sessions in {args.db}")
        return 0
    console.print(sessions_table(sessions))
    return 0


def _show(args: argparse.Namespace) -> int:
    from otel_honeyhive.cli.render import session_tree

    store = _open_store(args.db)
    if store is None:
        return 1
    with store:
        matches = store.match_sessions(args.session_id, limit=_SHOWN_MATCHES + 1)
        if not matches:
            return _fail(f"no session matches {args.session_id!r} in {args.db}")
        if len(matches) > 1:
            count = str(len(matches)) if len(matches) <= _SHOWN_MATCHES else f"more than {_SHOWN_MATCHES}"
            listed = ", ".join(matches[:_SHOWN_MATCHES])
            return _fail(f"{args.session_id!r} is ambiguous: it starts {count} sessions ({listed})")
        events = store.session_events(matches[0])
    _console().print(session_tree(matches[0], events))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `otel-honeyhive sessions | head`
        sys.stderr.close()
        return 0
