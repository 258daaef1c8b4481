"""The HoneyHive-compatible API (`POST /v1/events`, `POST /v1/events/batch`,
`POST /v1/sessions/{session_id}/events/batch`, `PUT /v1/events/{event_id}`, the legacy `POST /events`,
`POST /events/batch`, `POST /session/start`, `PUT /events`), so code written for HoneyHive's SDK or REST API
can point at the bridge instead. Each route validates as HoneyHive documents it (`event_validation`): the v1
routes refuse unknown fields and the legacy aliases, so a client that gets past the local API gets past HoneyHive.

Every request is read within the body limit, parsed, and validated whole (`event_validation`) before the
output sees any of it; the client gets 200 only once the output said DELIVERED (for the local store: the
transaction committed). Errors are `{"success": false, "error": "<message>"}`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from otel_honeyhive.core.events import Event
from otel_honeyhive.core.results import SendResult, Update
from otel_honeyhive.core.status import refusal
from otel_honeyhive.inputs.event_validation import (
    Batch,
    ValidationError,
    parse_batch,
    parse_batch_v1,
    parse_create,
    parse_create_v1,
    parse_session_batch_v1,
    parse_session_start,
    parse_update,
    parse_update_v1,
)
from otel_honeyhive.inputs.http_common import (
    ApiContext,
    BodyError,
    check_json_content_type,
    parse_json,
    read_body,
)

logger = logging.getLogger("otel_honeyhive.server")

Endpoint = Callable[[Request], Awaitable[Response]]

LOCAL_ORG_ID = LOCAL_WORKSPACE_ID = LOCAL_PROJECT_ID = "otel-honeyhive"
"""What `POST /session/start` answers for the organisation, workspace and project ids HoneyHive keeps for a
session: the bridge has none of its own (the project, when the session names one, is its name)."""


def json_response(
    payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(payload), status_code=status, headers=headers, media_type="application/json")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"success": False, "error": message}, status, headers)


class HoneyHiveApi:
    """The route handlers, bound to one `ApiContext`."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    async def _body(self, request: Request) -> Any:
        check_json_content_type(request)
        return parse_json(await read_body(request, self.ctx.max_body_bytes))

    def _undelivered(self, request: Request, result: SendResult, *, update: bool = False) -> Response:
        answer = refusal(result, remote=self.ctx.remote, update=update)
        if answer.http_status >= 500:
            logger.warning("%s %s: output %s did not deliver (answered %s): %s", request.method,
                           request.url.path, self.ctx.sink.output_name, answer.http_status, result.detail)
        return error_response(answer.http_status, answer.message, answer.headers)

    async def events(self, request: Request) -> Response:
        if request.method == "PUT":
            return await self.update_event(request)
        return await self.create_event(request)

    async def create_event(self, request: Request) -> Response:
        return await self._store_event(request, parse_create(await self._body(request), self.ctx.defaults))

    async def create_event_v1(self, request: Request) -> Response:
        return await self._store_event(request, parse_create_v1(await self._body(request), self.ctx.defaults))

    async def _store_event(self, request: Request, event: Event) -> Response:
        result = await self.ctx.send([event])
        if not result.ok:
            return self._undelivered(request, result)
        return json_response({"success": True, "event_id": event["event_id"]})

    async def create_batch(self, request: Request) -> Response:
        return await self._store_batch(request, parse_batch(await self._body(request), self.ctx.defaults))

    async def create_batch_v1(self, request: Request) -> Response:
        return await self._store_batch(request, parse_batch_v1(await self._body(request), self.ctx.defaults))

    async def add_to_session_v1(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        batch = parse_session_batch_v1(await self._body(request), session_id, self.ctx.defaults)
        return await self._store_batch(request, batch)

    async def _store_batch(self, request: Request, batch: Batch) -> Response:
        if batch.events:
            result = await self.ctx.send(batch.events)
            if not result.ok:
                return self._undelivered(request, result)
        payload: dict[str, Any] = {"success": True, "event_ids": batch.event_ids}
        if batch.session_id is not None:
            payload["session_id"] = batch.session_id
        return json_response(payload)

    async def start_session(self, request: Request) -> Response:
        session = parse_session_start(await self._body(request), self.ctx.defaults)
        result = await self.ctx.send([session])
        if not result.ok:
            return self._undelivered(request, result)
        # As HoneyHive answers: the session event itself, with the ids of where it lives. HoneyHive's SDK (1.7)
        # refuses an answer without org_id, workspace_id and project_id and then starts a session of its own.
        return json_response({
            "success": True, **session, "org_id": LOCAL_ORG_ID, "workspace_id": LOCAL_WORKSPACE_ID,
            "project_id": session.get("project") or LOCAL_PROJECT_ID,
        })

    async def update_event(self, request: Request) -> Response:
        return await self._apply_update(request, parse_update(await self._body(request)))

    async def update_event_v1(self, request: Request) -> Response:
        update = parse_update_v1(await self._body(request), request.path_params["event_id"])
        return await self._apply_update(request, update)

    async def _apply_update(self, request: Request, update: Update) -> Response:
        result = await self.ctx.update(update)
        if not result.ok:
            return self._undelivered(request, result, update=True)
        return json_response({"success": True, "event_id": update.event_id})


def _refusing_bad_requests(endpoint: Endpoint) -> Endpoint:
    """Answer a refused body or a broken field rule as a JSON error instead of an exception."""

    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except BodyError as exc:
            return error_response(exc.status, exc.message)
        except ValidationError as exc:
            return error_response(400, str(exc))

    return guarded


def honeyhive_api_routes(ctx: ApiContext) -> list[BaseRoute]:
    """The routes of the HoneyHive-compatible API, handing events to `ctx.sink`."""
    api = HoneyHiveApi(ctx)
    return [
        Route("/events", _refusing_bad_requests(api.events), methods=["POST", "PUT"]),
        Route("/events/batch", _refusing_bad_requests(api.create_batch), methods=["POST"]),
        Route("/v1/events/batch", _refusing_bad_requests(api.create_batch_v1), methods=["POST"]),
        Route("/v1/sessions/{session_id}/events/batch", _refusing_bad_requests(api.add_to_session_v1),
              methods=["POST"]),
        Route("/v1/events", _refusing_bad_requests(api.create_event_v1), methods=["POST"]),
        Route("/v1/events/{event_id}", _refusing_bad_requests(api.update_event_v1), methods=["PUT"]),
        Route("/session/start", _refusing_bad_requests(api.start_session), methods=["POST"]),
    ]


__all__ = ["HoneyHiveApi", "error_response", "honeyhive_api_routes", "json_response"]
