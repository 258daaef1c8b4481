"""DNS-rebinding protection: which `Host` names the HTTP port answers.

A page the user visits can point its own name at 127.0.0.1 once loaded, and then read whatever answers on the
user's loopback port as its own origin: the viewer's pages, `/metrics`. The browser still sends the page's name
as `Host`, so a server meant for this machine only answers requests naming a loopback host (`localhost`,
`*.localhost`, 127.0.0.0/8, `[::1]`, any port), as Jupyter Server's local-host check, Vite's
`server.allowedHosts` and the MCP specification's transport guidance do. More names (a proxy's: JupyterHub and
code-server pass the browser's `Host` on) are allowed with `--allowed-host` / `HH_ALLOWED_HOSTS`.

Bound to another address, the operator has chosen to expose the port and the names it is reached by are theirs
to know (addresses, DNS names): no check, unless allowed hosts are given. gRPC (its own port) is not a browser's
protocol and serves nothing to read, so it has no check. `/healthz` holds no data and answers any name (probes
send the pod's address).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from otel_honeyhive.core.addresses import host_name, is_loopback
from otel_honeyhive.core.counters import HOST_REFUSALS, Counters
from otel_honeyhive.core.environment import HH_ALLOWED_HOSTS
from otel_honeyhive.inputs.honeyhive_api import error_response
from otel_honeyhive.inputs.otlp.http import OTLP_PATHS, refusal_response
from otel_honeyhive.server.config import ANY_HOST
from otel_honeyhive.server.viewer import forbidden, is_viewer_path

OPEN_PATHS = frozenset({"/healthz"})


@dataclass(frozen=True)
class HostPolicy:
    """The names served: loopback ones, and `allowed` (exact, or `.domain` for it and every name under it)."""

    allowed: tuple[str, ...] = ()

    def allows(self, name: str) -> bool:
        if is_loopback(name):
            return True
        return any(name == entry or (entry.startswith(".") and (name == entry[1:] or name.endswith(entry)))
                   for entry in self.allowed)


def host_policy(bind: str, allowed: Sequence[str]) -> HostPolicy | None:
    """The check for a server bound to `bind`; None for none: bound elsewhere than loopback with no allowed hosts
    given, or `*` among them."""
    if ANY_HOST in allowed:
        return None
    bound = bind.strip("[]").lower()
    if not allowed and not is_loopback(bound):
        return None
    return HostPolicy(tuple(allowed))


def refusal_message(header: str | None) -> str:
    shown = (header or "").strip()
    name = host_name(shown) if shown else None
    allow = f"--allowed-host {name}" if name else "--allowed-host NAME"
    return (f"host {shown!r} is not allowed: this server answers only requests for localhost and loopback "
            f"addresses, and names it is told to allow (a defence against DNS rebinding); to serve it under "
            f"that name, start it with `{allow}` (or {HH_ALLOWED_HOSTS}, or allowed-host in its --config file)")


class HostCheck:
    """ASGI middleware: 403 for a request whose `Host` the policy does not allow, told in each route's own
    error shape (a `google.rpc.Status` on OTLP routes, a page on the viewer's, `{"success": false, …}`
    elsewhere), and counted."""

    def __init__(self, app: ASGIApp, policy: HostPolicy, counters: Counters) -> None:
        self.app = app
        self.policy = policy
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        header = headers.get("host")
        name = host_name(header) if header is not None else None
        # No `Host` at all: an HTTP/1.0 client, never a browser (which always sends the page's name).
        if header is None or (name is not None and self.policy.allows(name)):
            await self.app(scope, receive, send)
            return
        self.counters.add(HOST_REFUSALS)
        message = refusal_message(header)
        if scope["path"] in OTLP_PATHS:
            response = refusal_response(headers, 403, message)
        elif is_viewer_path(scope["path"]) and scope.get("method") in ("GET", "HEAD"):
            response = forbidden(scope, message)
        else:
            response = error_response(403, message)
        await response(scope, receive, send)


__all__ = ["OPEN_PATHS", "HostCheck", "HostPolicy", "host_policy"]
