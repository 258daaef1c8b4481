"""The viewer's routes: server-rendered pages (Jinja2, autoescaped) over the local store, read-only.

Every route is a GET (the token form's POST sets a cookie and changes nothing stored). Pages work without
JavaScript; `static/viewer.js` only makes them quicker: it swaps in an event's detail instead of loading the page,
polls the first page of the list for new sessions, and fetches collapsed values and the raw JSON when asked.

    /                                        sessions, newest first (?q= &since= &until= &errors=1 &page=)
    /sessions/{session}                      a session: tree and waterfall, the session event's detail
    /sessions/{session}/events/{event}       the same page with that event's detail (?part=detail: the panel)
    /sessions/{session}/events/{event}/raw   the event as stored (JSON)
    /sessions/{session}/events/{event}/value one value of it, whole (?at=JSON-Pointer)

Every link, form and redirect the viewer writes is relative to the page it is on (`root_of`), so the pages work
unchanged behind a proxy that serves them under a path prefix (docs/viewer.md#behind-a-proxy).
"""

from __future__ import annotations

import datetime
import functools
import urllib.parse
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

import otel_honeyhive.server.viewer.present as present
from otel_honeyhive.core.events import Event
from otel_honeyhive.core.secrets import Secret
from otel_honeyhive.server.viewer.auth import ICON_PATH, LOGIN_PATH, STATIC_PREFIX, ViewerCookie, safe_next
from otel_honeyhive.server.viewer.queries import SessionFilter, StoreReader

POLL_SECONDS = 5
"""How often the first page of the list asks for new sessions."""
MAX_FORM_BYTES = 4096
"""The token form's body: a token and a path; anything longer is refused before it is read whole."""
STATIC_FILES = {"viewer.css": "text/css; charset=utf-8", "viewer.js": "text/javascript; charset=utf-8",
                "favicon.svg": "image/svg+xml"}
ICON = "favicon.svg"
"""The icon every page links (`base.html`), also answered at `/favicon.ico` for clients that ask there anyway:
without it each page view cost a 404 (a 401 behind the token)."""
SECURITY_HEADERS = {
    # Scripts only from this server (no inline script, no eval): even a tag that slipped past escaping could not
    # run. Inline style attributes are allowed for the waterfall's bar positions.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MAX_PAGE = 1_000_000
"""Beyond this the offset would not fit SQLite's integers; nobody pages that far by hand."""
RANGES = {"15m": 15 * 60_000, "1h": 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000}
"""The list's "started within" choices, in milliseconds."""
RANGE_LABELS = {"15m": "15 minutes", "1h": "hour", "24h": "24 hours", "7d": "7 days"}


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("otel_honeyhive.server.viewer", "templates"),
        autoescape=True,  # every template, whatever its name: event content is untrusted
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        format_duration=present.format_duration,
        format_start=present.format_start,
        iso_start=present.iso_start,
        type_class=present.type_class,
        filled=present.filled,
        quote=lambda text: urllib.parse.quote(str(text), safe=""),
        static=lambda name: STATIC_PREFIX[1:] + name,  # after `root`, as every path the templates write
        login_path=LOGIN_PATH[1:],
    )
    return env


@functools.lru_cache(maxsize=len(STATIC_FILES))
def _asset(name: str) -> bytes:
    return (resources.files("otel_honeyhive.server.viewer") / "static" / name).read_bytes()


def root_of(scope: Scope) -> str:
    """The way from the page at this request's path back to the viewer's root, as a relative URL ("./", "../",
    "../../../"): every path the viewer writes starts with it. Counted on the path as sent, where an id's `/` is
    `%2F` and so no step."""
    raw = scope.get("raw_path") or str(scope.get("path", "/")).encode()
    depth = raw.split(b"?", 1)[0].count(b"/") - 1
    return "../" * depth if depth > 0 else "./"


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = environment().get_template(template).render(root=root_of(request.scope), **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def not_found(request: Request, message: str) -> HTMLResponse:
    return page(request, "not_found.html", 404, message=message)


def back_to(root: str, target: str) -> str:
    """`target`, a path from the viewer's root (`safe_next`), as a relative URL from a page whose way back to
    the root is `root`."""
    return root + target.lstrip("/")


TIME_FIELDS = {"since": "From (UTC)", "until": "Until (UTC)"}
"""The list's time bounds, by parameter, with their labels on the form."""


def _utc_ms(text: str | None) -> float | None:
    """A `datetime-local` value (or any ISO 8601 time) as milliseconds; read as UTC when it names no zone. None
    when not given; ValueError when given and not a time."""
    if not text or not text.strip():
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date and time (as 2026-09-21T14:30, UTC unless it names a zone): "
                         "this bound is not applied") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp() * 1000


def _time_bounds(params: Any) -> tuple[dict[str, float | None], dict[str, str]]:
    """`since` and `until` as milliseconds, and for each that cannot be read, why (said on the page, and the
    bound left out, rather than a list that silently looks unfiltered)."""
    bounds: dict[str, float | None] = {}
    problems: dict[str, str] = {}
    for name, label in TIME_FIELDS.items():
        try:
            bounds[name] = _utc_ms(params.get(name))
        except ValueError as exc:
            bounds[name] = None
            problems[name] = f"{label}: {exc}"
    return bounds, problems


def _now_ms() -> float:
    return datetime.datetime.now(datetime.timezone.utc).timestamp() * 1000


_SHOWN_FIELDS: dict[str, Any] = dict.fromkeys(("event_type", "event_name", "duration", "start_time", "source", "error"))
"""The fields event.html reads, for an event that lacks some (one posted to the HoneyHive-compatible API carries
only what its client sent)."""


@dataclass(frozen=True)
class TimelinePage:
    """Which `MAX_TIMELINE_ROWS` rows of a session's timeline a page shows (1-based), of how many."""

    page: int
    pages: int
    first: int
    """The first row shown, counted from 1."""
    last: int
    total: int


def _timeline_page(request: Request, rows: list[present.Row], event_id: str | None) -> TimelinePage:
    """`?page=N` (clamped), else the page holding the event asked for, else the first."""
    size = present.MAX_TIMELINE_ROWS
    pages = max(1, -(-len(rows) // size))
    asked = request.query_params.get("page")
    number = 1
    if asked is not None:
        try:
            number = min(max(1, int(asked)), pages)
        except ValueError:
            number = 1
    elif event_id is not None and pages > 1:
        at = next((i for i, row in enumerate(rows) if row.event.event_id == event_id), 0)
        number = at // size + 1
    first = (number - 1) * size
    return TimelinePage(number, pages, first + 1, min(first + size, len(rows)), len(rows))


class Viewer:
    """The routes over one store."""

    def __init__(self, db_path: Path, token: Secret | None = None, retention: float | None = None) -> None:
        self.reader = StoreReader(db_path)
        self.cookie = ViewerCookie(token) if token is not None else None
        self.kept_for = present.format_span(retention) if retention is not None else None
        """How long sessions are kept (`serve --retention`), said under the list; None: for good."""

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.sessions, methods=["GET"]),
            Route("/sessions/{rest:path}", self.under_session, methods=["GET"]),
            *common_routes(self.cookie),
        ]

    # -- the list --------------------------------------------------------------------------------------

    def sessions(self, request: Request) -> Response:
        params = request.query_params
        within = params.get("within", "")
        bounds, problems = _time_bounds(params)
        since = bounds["since"]
        if within in RANGES:
            since = max(since or 0.0, _now_ms() - RANGES[within])
        where = SessionFilter(
            query=params.get("q") or None,
            since=since,
            until=bounds["until"],
            errors_only=params.get("errors") == "1",
        )
        try:
            number = min(max(1, int(params.get("page", "1"))), MAX_PAGE)
        except ValueError:
            number = 1
        found = self.reader.sessions(where, number)
        form = {k: params.get(k, "") for k in ("q", "since", "until", "within", "errors")}
        root = root_of(request.scope)

        def link(to_page: int) -> str:
            kept = {k: v for k, v in form.items() if v}
            return root + "?" + urllib.parse.urlencode({**kept, "page": to_page}) if to_page > 1 or kept else root

        rows_url = root + "?" + urllib.parse.urlencode({**{k: v for k, v in form.items() if v}, "part": "rows"})
        context: dict[str, Any] = dict(
            page=found, form=form, ranges=RANGE_LABELS, link=link, rows_url=rows_url,
            poll_seconds=POLL_SECONDS if number == 1 else 0, filtered=any(form.values()), kept_for=self.kept_for,
            problems=problems,
        )
        if params.get("part") == "rows":
            return page(request, "session_rows.html", **context)
        return page(request, "sessions.html", **context)

    # -- a session and its events ----------------------------------------------------------------------

    def under_session(self, request: Request) -> Response:
        """`/sessions/{session_id}[/events/{event_id}[/raw|/value]]`, read from the path as it was sent: ids are
        any strings (the HoneyHive-compatible API takes them as given), so one holding a `/` arrives as `%2F`,
        which the decoded path would have turned into a separator."""
        raw = request.scope.get("raw_path") or request.url.path.encode()
        parts = [urllib.parse.unquote(p) for p in raw.decode("latin-1").split("?", 1)[0].split("/")[2:]]
        if len(parts) == 1 and parts[0]:
            return self._session_page(request, parts[0], None)
        if len(parts) >= 3 and parts[1] == "events" and parts[0] and parts[2]:
            session_id, event_id = parts[0], parts[2]
            if len(parts) == 3:
                return self.event(request, session_id, event_id)
            if parts[3:] == ["raw"]:
                return self.raw(request, session_id, event_id)
            if parts[3:] == ["value"]:
                return self.value(request, session_id, event_id)
        return not_found(request, "no such page")

    def event(self, request: Request, session_id: str, event_id: str) -> Response:
        if request.query_params.get("part") == "detail":
            event = self._event_of(session_id, event_id)
            if event is None:
                return not_found(request, f"no event {event_id} in session {session_id}")
            return page(request, "event.html", **self._detail(root_of(request.scope), session_id, event))
        return self._session_page(request, session_id, event_id)

    def _session_page(self, request: Request, session_id: str, event_id: str | None) -> Response:
        outline = self.reader.outline(session_id)
        if not outline:
            return not_found(request, f"no session {session_id} in this store")
        rows = present.session_rows(session_id, outline)
        timeline = _timeline_page(request, rows, event_id)
        shown = rows[(timeline.page - 1) * present.MAX_TIMELINE_ROWS : timeline.page * present.MAX_TIMELINE_ROWS]
        selected_id = event_id or shown[0].event.event_id
        event = self._event_of(session_id, selected_id)
        if event is None:
            return not_found(request, f"no event {selected_id} in session {session_id}")
        root = next((r.event for r in rows if r.event.event_id == session_id), None)
        tokens = [r.event.tokens for r in rows if r.event.event_type == "model" and r.event.tokens is not None]
        start = min((s for r in rows if (s := present.number(r.event.start_time)) is not None), default=None)
        end = max((e for r in rows if (e := present.number(r.event.end_time)) is not None), default=None)
        summary = dict(
            name=root.event_name if root is not None else None,
            start=start,
            # without a session event, what its events span (as the list says)
            duration=root.duration if root is not None else (end - start if start is not None and end is not None
                                                               else None),
            events=sum(1 for r in rows if r.event is not root),
            errors=sum(1 for r in rows if r.event.has_error),
            tokens=sum(tokens) if tokens else None,
        )
        root_url = root_of(request.scope)
        exchanges, more_turns = self._conversation(root_url, session_id, rows)
        return page(request, "session.html", session_id=session_id, rows=shown, timeline=timeline,
                    selected=selected_id, summary=summary, exchanges=exchanges, more_turns=more_turns,
                    **self._detail(root_url, session_id, event))

    def _conversation(self, root: str, session_id: str, rows: list[present.Row]) -> tuple[
        list[tuple[present.Exchange, present.JsonHtml, present.JsonHtml]], int
    ]:
        """The session's conversation, turn by turn, when at least two turns made a model call (one turn is the
        model event's own conversation, in its detail), each with the renderers of the events its texts come
        from; and how many turns were left out past `MAX_TRANSCRIPT_TURNS`."""
        turns = present.turns_with_models(session_id, rows)
        if len(turns) < 2:
            return [], 0
        shown = turns[:present.MAX_TRANSCRIPT_TURNS]
        base = f"{root}sessions/{_q(session_id)}/events/"
        bodies = {event_id: event for event_id, event in self.reader.events(
            [event_id for turn in shown for event_id in (turn.first_model, turn.last_model)]
        ).items() if event.get("session_id") == session_id}
        exchanges = []
        for turn in shown:
            found = present.exchange(turn, bodies.get(turn.first_model), bodies.get(turn.last_model))
            exchanges.append((found, present.JsonHtml(f"{base}{_q(found.asked_in)}/value"),
                              present.JsonHtml(f"{base}{_q(found.answered_in)}/value")))
        return exchanges, len(turns) - len(shown)

    def _event_of(self, session_id: str, event_id: str) -> Event | None:
        event = self.reader.event(event_id)
        return event if event is not None and event.get("session_id") == session_id else None

    def _detail(self, root: str, session_id: str, event: Event) -> dict[str, Any]:
        """What event.html shows of `event`, its links starting with `root` (the page's way back to the root)."""
        event_id = str(event.get("event_id"))
        base = f"{root}sessions/{_q(session_id)}/events/{_q(event_id)}"
        renderer = present.JsonHtml(base + "/value")
        inputs: dict[str, Any] = event["inputs"] if isinstance(event.get("inputs"), dict) else {}
        is_model = event.get("event_type") == "model"
        messages = present.conversation(event) if is_model else []
        replies = present.answers(event) if is_model else []
        other_inputs = {k: v for k, v in inputs.items() if not (is_model and k == "chat_history" and messages)}
        outputs = event.get("outputs")
        config: dict[str, Any] = event["config"] if isinstance(event.get("config"), dict) else {}
        parent_id = event.get("parent_id")
        has_parent = isinstance(parent_id, str) and bool(parent_id) and parent_id != event_id
        # A parent that is not stored (not arrived yet, or in another session) is named, not linked: its link
        # would be a 404. The timeline hangs such an event under the session.
        parent_stored = has_parent and self.reader.has_event(session_id, str(parent_id))
        parent_url = f"{root}sessions/{_q(session_id)}/events/{_q(parent_id)}" if parent_stored else None
        return dict(
            event={**_SHOWN_FIELDS, **event}, event_id=event_id, base_url=base, render=renderer,
            pointer=present.pointer,
            is_model=is_model, messages=messages, replies=replies,
            other_inputs=other_inputs if inputs and other_inputs else None,
            inputs_value=event.get("inputs"),
            outputs=outputs if not replies else None,
            model=config.get("model"), provider=config.get("provider"),
            hyperparameters=config.get("hyperparameters") if isinstance(config.get("hyperparameters"), dict)
            else None,
            response_model=event["metadata"].get("response_model") if isinstance(event.get("metadata"), dict)
            else None,
            usage=present.usage(event),
            parent_url=parent_url, parent_id=parent_id if has_parent else None,
            buckets=[(name, event.get(name)) for name in
                     ("config", "metadata", "metrics", "feedback", "user_properties")],
        )

    def raw(self, request: Request, session_id: str, event_id: str) -> Response:
        event = self._event_of(session_id, event_id)
        if event is None:
            return not_found(request, f"no event {event_id} in session {session_id}")
        return Response(orjson.dumps(event, option=orjson.OPT_INDENT_2), media_type="application/json",
                        headers=SECURITY_HEADERS)

    def value(self, request: Request, session_id: str, event_id: str) -> Response:
        """One value of an event, whole: text as text, anything else as JSON (what a collapsed value expands
        to)."""
        event = self._event_of(session_id, event_id)
        if event is None:
            return not_found(request, f"no event {event_id} in session {session_id}")
        try:
            found = present.resolve(event, request.query_params.get("at", ""))
        except KeyError:
            return not_found(request, "no such value in this event")
        if isinstance(found, str):
            return Response(found, media_type="text/plain; charset=utf-8", headers=SECURITY_HEADERS)
        try:
            whole = orjson.dumps(found, option=orjson.OPT_INDENT_2)
        except orjson.JSONEncodeError:  # nested past orjson's limit: only a JSON string (tool-call arguments) is
            return Response(  # so deep, and the raw event has it as that string
                "this value is nested too deeply to show as JSON (orjson writes 254 levels); the raw event holds "
                "it as the text it was stored as", status_code=422, media_type="text/plain; charset=utf-8",
                headers=SECURITY_HEADERS)
        return Response(whole, media_type="application/json", headers=SECURITY_HEADERS)


def _q(text: Any) -> str:
    return urllib.parse.quote(str(text), safe="")


def common_routes(cookie: ViewerCookie | None) -> list[BaseRoute]:
    """The assets and the token form, served whichever output the server has."""

    def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            return not_found(request, f"no asset {name}")
        return Response(_asset(name), media_type=STATIC_FILES[name],
                        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    def icon(request: Request) -> Response:
        return Response(_asset(ICON), media_type=STATIC_FILES[ICON],
                        headers={**SECURITY_HEADERS, "Cache-Control": "max-age=86400"})

    def login_form(request: Request) -> Response:
        target = safe_next(request.query_params.get("next"))
        root = root_of(request.scope)
        if cookie is None:
            return RedirectResponse(back_to(root, target), status_code=303)
        return login_page(root, target)

    async def login(request: Request) -> Response:
        root = root_of(request.scope)
        if cookie is None:
            return RedirectResponse(root, status_code=303)
        declared = request.headers.get("content-length", "")
        if not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
            return login_page(root, "/", "the form is too large", status=413)
        body = await request.body()
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
        token = (form.get("token") or [""])[0]
        target = safe_next((form.get("next") or ["/"])[0])
        if not cookie.matches(token):
            return login_page(root, target, "that token is not the server's --auth-token", status=401)
        response = RedirectResponse(back_to(root, target), status_code=303, headers=SECURITY_HEADERS)
        response.headers["Set-Cookie"] = ViewerCookie.header(token, secure=request.url.scheme == "https")
        return response

    return [
        Route(STATIC_PREFIX + "{name}", asset, methods=["GET"]),
        Route(ICON_PATH, icon, methods=["GET"]),
        Route(LOGIN_PATH, login_form, methods=["GET"]),
        Route(LOGIN_PATH, login, methods=["POST"]),
    ]


def login_page(root: str, target: str, error: str | None = None, status: int = 401) -> HTMLResponse:
    """The token form (what any viewer page answers without the token), on a page whose way back to the root is
    `root`; `target` is where to go once the token is given, from the root."""
    headers = {**SECURITY_HEADERS, "WWW-Authenticate": 'Bearer realm="otel-honeyhive"'}
    html = environment().get_template("login.html").render(root=root, next=target, error=error)
    return HTMLResponse(html, status_code=status, headers=headers)


def viewer_routes(db_path: Path | None, *, token: Secret | None = None,
                  elsewhere: str | None = None, retention: float | None = None) -> list[BaseRoute]:
    """The viewer over the store at `db_path`; without a store, `/` says where the events go (`elsewhere`).
    `retention`: seconds the store keeps a session after its last event, said under the list."""
    if db_path is not None:
        return Viewer(db_path, token, retention).routes()

    def where(request: Request) -> Response:
        return page(request, "elsewhere.html", output=elsewhere or "another output")

    return [Route("/", where, methods=["GET"]), *common_routes(ViewerCookie(token) if token else None)]


def forbidden(scope: Scope, message: str) -> HTMLResponse:
    """A 403 page saying why (`message`: a host the server does not answer to, `server/hosts.py`), rendered from
    the scope alone, before any route."""
    html = environment().get_template("forbidden.html").render(root=root_of(scope), message=message)
    return HTMLResponse(html, status_code=403, headers=SECURITY_HEADERS)


def refusal(scope: Scope) -> Response:
    """What a viewer page answers without the token: the form, coming back here after."""
    raw = scope.get("raw_path") or str(scope.get("path", "/")).encode()
    query = scope.get("query_string", b"")
    target = raw.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
    return login_page(root_of(scope), safe_next(target))


__all__ = ["POLL_SECONDS", "Viewer", "forbidden", "login_page", "refusal", "viewer_routes"]
