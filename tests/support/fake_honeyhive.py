"""A small real HTTP server that speaks HoneyHive's batch routes and misbehaves on cue.

Which batch routes it serves is `routes`: "legacy" (the default: `/events/batch` only, as an older deployment;
`/v1/events/batch` is answered 404), "v1" (`/v1/events/batch` only; `/events/batch` is answered 404), "both", or
"none" (both answered 404, as a misconfigured proxy in front would); tests may change it while it runs.
On the v1 route it checks bodies as HoneyHive documents it (`v1_problems`: unknown fields, the legacy aliases, a
missing `inputs`) and answers 400 naming them. Such refusals (a route not served, a v1 body refused) are answered
before the script or policy is consulted and do not use up a scripted reply; they are kept in `refused`, not in
`requests`, so tests written for one route see the same requests as before.

Tests script its answers (status, headers, delay, and faults: a connection reset without an answer, a body
trickled out slowly) and read back every request it received, decoded. It runs on a real loopback socket so the
exporter's real HTTP client, retries and timeouts are what gets tested.

What counts as accepted (`events`): the batches it answered 2xx, including answers the client gave up waiting
for (a stall past the client's timeout, a body too slow): HoneyHive would have stored those too, so a client
that sends them again makes duplicates, which is exactly what a fault-injection test must count.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import orjson

RESET = 0
"""`Received.status` of a request answered by closing the connection (nothing was accepted)."""


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (a stall, when longer than the client's timeout)."""
    body: bytes = b'{"success": true}'
    fault: Literal["reset", "slow_body"] | None = None
    """reset: read the request, then close the connection with a TCP RST and no answer (not accepted).
    slow_body: send the status line and headers, then the body one byte every `byte_delay` seconds."""
    byte_delay: float = 0.05


TOO_LARGE = Reply(413, body=b'{"success": false, "error": "request entity too large"}')
"""The answer to a body over `FakeHoneyHive.max_body_bytes`."""

Policy = Callable[[int], Reply]
"""Chooses the reply to the n-th request (0-based) when the script is empty: a fault plan."""

Routes = Literal["legacy", "v1", "both", "none"]
LEGACY_BATCH = "/events/batch"
V1_BATCH = "/v1/events/batch"
BATCH_PATHS = (LEGACY_BATCH, V1_BATCH)
V1_TOP_FIELDS = frozenset({"events", "single_session", "session_properties"})
V1_EVENT_FIELDS = frozenset({
    "event_type", "inputs", "project_id", "source", "event_name", "event_id", "session_id", "parent_id",
    "children_ids", "config", "outputs", "error", "start_time", "end_time", "duration", "metadata", "feedback",
    "metrics", "user_properties",
})
"""Written out from https://docs.honeyhive.ai/v2/api-reference-autogen/events/create-a-batch-of-events, not
imported from the code under test."""
V1_SESSION_PROPERTIES = frozenset({"session_name", "start_time", "user_properties", "metadata"})


def v1_problems(body: Any) -> list[str]:
    """What HoneyHive's v1 batch route refuses in `body`, each named by its path; [] for a good body."""
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        return ["events: required; must be a list"]
    problems = [f"{name}: unknown field" for name in body if name not in V1_TOP_FIELDS]
    props = body.get("session_properties")
    if isinstance(props, dict):
        problems += [f"session_properties.{k}: unknown field" for k in props if k not in V1_SESSION_PROPERTIES]
    for i, event in enumerate(body["events"]):
        if not isinstance(event, dict):
            problems.append(f"events[{i}]: must be an object")
            continue
        problems += [f"events[{i}].{k}: unknown field" for k in event if k not in V1_EVENT_FIELDS]
        if event.get("event_type") not in ("chain", "model", "tool", "session"):
            problems.append(f"events[{i}].event_type: required; one of chain, model, tool, session")
        if not isinstance(event.get("inputs"), dict):
            problems.append(f"events[{i}].inputs: required; must be an object")
    return problems


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any
    at: float
    status: int


class FakeHoneyHive:
    def __init__(
        self, port: int = 0, *, announce: Callable[[str], None] | None = None, max_body_bytes: int | None = None,
        routes: Routes = "legacy",
    ) -> None:
        """A fake on `127.0.0.1:port` (0: any free port). `announce`, when given, is told of every batch it
        accepts, one line each (the command line prints them). `max_body_bytes`: a body longer than this (as
        received) is answered 413, as a gateway in front of HoneyHive would, before the script or policy is
        consulted (None: no limit). `routes`: which batch routes it serves (see the module docstring)."""
        self.max_body_bytes = max_body_bytes
        self.routes: Routes = routes
        self.refused: list[Received] = []
        """Requests for a batch route it does not serve (404) and v1 bodies it refused (400)."""
        self.requests: list[Received] = []
        self.script: list[Reply] = []
        self.default = Reply()
        self.policy: Policy | None = None
        self._lock = threading.Lock()
        self._count = 0
        self._announce = announce
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms delayed-ACK stalls

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                data = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                try:
                    body = orjson.loads(data) if data else None
                except orjson.JSONDecodeError:
                    body = None
                refusal = outer._refusal(self.path, body)
                if refusal is not None:
                    with outer._lock:
                        outer.refused.append(Received(self.command, self.path, dict(self.headers), raw, body,
                                                      time.monotonic(), refusal.status))
                    self._answer(refusal)
                    return
                with outer._lock:
                    n, outer._count = outer._count, outer._count + 1
                    if outer.max_body_bytes is not None and len(raw) > outer.max_body_bytes:
                        reply = TOO_LARGE
                    elif outer.script:
                        reply = outer.script.pop(0)
                    else:
                        reply = outer.policy(n) if outer.policy is not None else outer.default
                    outer.requests.append(
                        Received(self.command, self.path, dict(self.headers), raw, body, time.monotonic(),
                                 RESET if reply.fault == "reset" else reply.status)
                    )
                if outer._announce is not None and 200 <= reply.status < 300 and reply.fault is None:
                    outer._announce(_summary(self.command, self.path, body))
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.fault == "reset":
                    # SO_LINGER on with a zero timeout: close() sends RST, the client sees a reset connection.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                self._answer(reply)

            def _answer(self, reply: Reply) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    if reply.fault == "slow_body":
                        for i in range(len(reply.body)):
                            self.wfile.write(reply.body[i:i + 1])
                            self.wfile.flush()
                            time.sleep(reply.byte_delay)
                    else:
                        self.wfile.write(reply.body)

            do_POST = _handle
            do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # Polling for shutdown every 50 ms (not the default 0.5 s): stop() returns quickly, after every test.
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def _refusal(self, path: str, body: Any) -> Reply | None:
        """The 404 for a batch route not served, the 400 for a v1 body HoneyHive would refuse; else None."""
        path = urllib.parse.urlsplit(path).path  # a proxy's request names the absolute URL
        if path in BATCH_PATHS and (self.routes == "none" or (path == V1_BATCH and self.routes == "legacy")
                                    or (path == LEGACY_BATCH and self.routes == "v1")):
            return Reply(404, body=b'{"success": false, "error": "Not Found"}')
        if path == V1_BATCH:
            problems = v1_problems(body)
            if problems:
                return Reply(400, body=orjson.dumps({"success": False, "error": "; ".join(problems)}))
        return None

    def start(self) -> FakeHoneyHive:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def then(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    @property
    def too_large(self) -> int:
        """Requests answered 413."""
        with self._lock:
            return sum(1 for r in self.requests if r.status == 413)

    @property
    def batches(self) -> list[Received]:
        """Requests to either batch route it served."""
        return [r for r in self.requests if r.path in BATCH_PATHS]

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event of every accepted (2xx-answered) batch, in arrival order."""
        with self._lock:
            batches = [r for r in self.requests if r.path in BATCH_PATHS]
        return [e for r in batches if 200 <= r.status < 300 for e in (r.body or {}).get("events", [])]


def _summary(method: str, path: str, body: Any) -> str:
    """One line about an accepted request: for a batch, its events by session."""
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list):
        return f"{method} {path}"
    sessions: dict[str, int] = {}
    for event in events:
        if isinstance(event, dict):
            sid = str(event.get("session_id"))
            sessions[sid] = sessions.get(sid, 0) + 1
    return f"{method} {path}: " + ", ".join(f"{n} events of session {sid}" for sid, n in sessions.items())


@contextmanager
def fake_honeyhive(routes: Routes = "legacy") -> Iterator[FakeHoneyHive]:
    server = FakeHoneyHive(routes=routes).start()
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """`python -m tests.support.fake_honeyhive [--port N]`: the stand-in for HoneyHive the tests use, on its own,
    accepting everything and printing what arrives, until interrupted."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m tests.support.fake_honeyhive", description=main.__doc__)
    parser.add_argument("--port", type=int, default=8181, help="loopback port to listen on (default: 8181)")
    parser.add_argument("--max-body-bytes", type=int, default=None,
                        help="answer 413 to bodies longer than this, as a gateway would (default: no limit)")
    parser.add_argument("--routes", choices=("legacy", "v1", "both", "none"), default="legacy",
                        help="which batch routes to serve (default: legacy)")
    args = parser.parse_args(argv)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    server = FakeHoneyHive(args.port, announce=lambda line: print(f"fake HoneyHive: {line}", flush=True),
                           max_body_bytes=args.max_body_bytes, routes=args.routes).start()
    print(f"fake HoneyHive: listening on {server.url}", flush=True)
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
