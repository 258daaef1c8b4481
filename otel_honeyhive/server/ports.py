"""The listening ports, bound before anything else starts, so that a taken port or a wrong `--host` is one line
naming the address and the flag to change, not uvicorn's or grpcio's log lines and traceback."""

from __future__ import annotations

import errno
import socket

from otel_honeyhive.core.addresses import address


class ListenError(OSError):
    """A port the server cannot listen on; the message names the address, the reason and the flag."""


_REASONS = {
    errno.EADDRINUSE: "the port is in use (by another `otel-honeyhive serve`, or a Collector?)",
    errno.EACCES: "permission denied (ports below 1024 need privileges)",
    errno.EADDRNOTAVAIL: "no such address on this machine",
}


def _reason(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return f"not a host name or address this machine can resolve ({exc.strerror or exc})"
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    return exc.strerror or str(exc)


def bind(host: str, port: int, *, what: str, flag: str) -> socket.socket:
    """A TCP socket bound to `host:port` as uvicorn would bind it (SO_REUSEADDR, IPv6 when the host is an IPv6
    literal), not yet listening; `ListenError` when it cannot be."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)[0][0]
        # IPPROTO_TCP named, not left 0: asyncio sets TCP_NODELAY only on sockets whose `proto` says TCP, and
        # without it every request on a kept-alive connection waits for the peer's delayed ACK (~40 ms).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except OSError as exc:
        raise ListenError(f"cannot listen for {what} on {address(host, port)}: {_reason(exc)}; "
                          "check --host") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        where = "check --host" if exc.errno == errno.EADDRNOTAVAIL else f"choose another port with {flag}"
        raise ListenError(f"cannot listen for {what} on {address(host, port)}: {_reason(exc)}; {where} "
                          f"({flag} 0 turns {what} off)") from None
    sock.set_inheritable(True)
    return sock


def check_free(host: str, port: int, *, what: str, flag: str) -> None:
    """Fail as `bind` would, for a server that binds its port itself (grpcio): the port is released again."""
    bind(host, port, what=what, flag=flag).close()


__all__ = ["ListenError", "bind", "check_free"]
