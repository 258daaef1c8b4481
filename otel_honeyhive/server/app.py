"""The bridge server's ASGI app: one route list composed from every input, in front of one output.

Inputs are route providers (`ApiContext -> routes`): the HoneyHive-compatible API and OTLP/HTTP
(`POST /v1/traces`). They hand what they receive to a `Sink` (the `Pipeline`). The app owns neither:
whoever built them (`run.serve`) closes them once the server has stopped, after the last request.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from otel_honeyhive.core.counters import Counters
from otel_honeyhive.core.protocols import Output, Sink
from otel_honeyhive.core.secrets import shown_url
from otel_honeyhive.inputs.event_validation import EventDefaults
from otel_honeyhive.inputs.honeyhive_api import error_response, honeyhive_api_routes, json_response
from otel_honeyhive.inputs.http_common import ApiContext
from otel_honeyhive.inputs.otlp.http import otlp_http_routes
from otel_honeyhive.server.auth import BearerTokenAuth
from otel_honeyhive.server.config import ServerConfig
from otel_honeyhive.server.hosts import HostCheck, host_policy
from otel_honeyhive.server.in_flight import InFlightLimit
from otel_honeyhive.server.metrics import RequestCounter
from otel_honeyhive.server.prometheus import CONTENT_TYPE, Family, render
from otel_honeyhive.server.viewer import viewer_routes

RouteProvider = Callable[[ApiContext], Sequence[BaseRoute]]
ROUTE_PROVIDERS: tuple[RouteProvider, ...] = (honeyhive_api_routes, otlp_http_routes)


def open_output(config: ServerConfig) -> Output:
    """HoneyHive when an API key is configured, an OTLP endpoint when one is, else the local store (the config
    never has both remote outputs). Raises when it cannot be opened."""
    if config.honeyhive is not None and config.routing is not None:
        from otel_honeyhive.outputs.honeyhive.routed import RoutedHoneyHiveOutput

        return RoutedHoneyHiveOutput(config.honeyhive, config.routing)
    if config.honeyhive is not None:
        from otel_honeyhive.outputs.honeyhive import HoneyHiveOutput

        output: Output = HoneyHiveOutput(config.honeyhive)
        return output
    if config.otlp is not None:
        from otel_honeyhive.outputs.otlp import OtlpOutput

        otlp = config.otlp
        return OtlpOutput(
            otlp.endpoint, protocol=otlp.protocol, headers=otlp.headers, timeout=otlp.timeout,
            compression=otlp.compression,
        )
    from otel_honeyhive.outputs.store import SQLiteStore

    return SQLiteStore(config.db_path)


def describe_output(config: ServerConfig) -> str:
    """For the start-up line: where events go, without any secret (credentials in the URL, a query string,
    headers)."""
    if config.honeyhive is not None:
        routed = (f", projects routed by {config.routing.where} ({', '.join(config.routing.projects)})"
                  if config.routing is not None else "")
        return f"output: HoneyHive at {shown_url(config.honeyhive.server_url)}{routed}"
    if config.otlp is not None:
        return f"output: OTLP ({config.otlp.protocol}) at {shown_url(config.otlp.endpoint)}"
    return f"store: {config.db_path}"


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


def metrics_route(collect: Callable[[], Iterable[Family]]) -> Route:
    """`GET /metrics` in the Prometheus text format (behind the bearer token when one is set)."""

    async def metrics(request: Request) -> Response:
        return Response(render(collect()), media_type=CONTENT_TYPE)

    return Route("/metrics", metrics, methods=["GET"])


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no route for {request.method} {request.url.path}"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"method {request.method} not allowed on {request.url.path}; allowed: {allowed}"
    else:
        message = exc.detail
    return error_response(exc.status_code, message, dict(exc.headers or {}))


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this response, so the traceback reaches the server log once.
    return error_response(500, "internal server error")


def build_app(
    config: ServerConfig,
    sink: Sink,
    *,
    stop: threading.Event | None = None,
    providers: Sequence[RouteProvider] = ROUTE_PROVIDERS,
    counters: Counters | None = None,
    metrics: Callable[[], Iterable[Family]] | None = None,
) -> Starlette:
    """The app serving every input into `sink`. `stop` is set when the app shuts down (and may be set
    earlier, on a signal) to cut short any output backoff a request is waiting in. `counters` receives what
    the inputs count (requests, rejected spans); `metrics`, when given, is served on `GET /metrics`."""
    counters = counters if counters is not None else Counters()
    ctx = ApiContext(
        sink=sink,
        defaults=EventDefaults(source=config.event_source, project=config.project),
        max_body_bytes=config.max_body_bytes,
        remote=config.remote,
        stop=stop or threading.Event(),
        counters=counters,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        ctx.stop.set()

    routes: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET"])]
    if metrics is not None:
        routes.append(metrics_route(metrics))
    for provide in providers:
        routes.extend(provide(ctx))
    # The read-only web viewer, at `/`, over the local store; with a remote output `/` says where events went.
    local = config.honeyhive is None and config.otlp is None
    routes.extend(viewer_routes(config.db_path if local else None, token=config.auth_token,
                                elsewhere=describe_output(config), retention=config.retention))
    middleware = [Middleware(RequestCounter, counters=counters)]  # outermost: 401s and 503s are counted too
    policy = host_policy(config.host, config.allowed_hosts)
    if policy is not None:  # before the token: a page under a foreign name learns nothing, not even the form
        middleware.append(Middleware(HostCheck, policy=policy, counters=counters))
    if config.auth_token:
        middleware.append(Middleware(BearerTokenAuth, token=config.auth_token))
    middleware.append(Middleware(InFlightLimit))  # inside the token check: a stranger takes no slot
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        lifespan=lifespan,
    )
