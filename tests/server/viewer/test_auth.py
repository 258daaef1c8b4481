"""The viewer behind `--auth-token`: no page and no data without the token; the token by header, or by the form
whose cookie (HttpOnly, SameSite=Strict, session-only) opens the viewer's reading routes and nothing else."""

from __future__ import annotations

import html
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from otel_honeyhive.core.secrets import Secret
from otel_honeyhive.server.app import build_app
from otel_honeyhive.server.config import ServerConfig
from otel_honeyhive.server.viewer.auth import COOKIE, safe_next
from tests.server.viewer.stored import MODEL, SESSION, StoreSink, agent_session, write
from tests.support.server import LOOPBACK

TOKEN = "s3cret-viewer-token"
SERVER = "http://testserver"
PAGES = ["/", "/?part=rows", f"/sessions/{SESSION}", f"/sessions/{SESSION}/events/{MODEL}",
         f"/sessions/{SESSION}/events/{MODEL}?part=detail", f"/sessions/{SESSION}/events/{MODEL}/raw",
         f"/sessions/{SESSION}/events/{MODEL}/value?at=/inputs"]
"""Every kind of viewer page and data route."""


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "viewer.db"
    write(path, agent_session())
    return path


@pytest.fixture
def client(db: Path) -> Iterator[TestClient]:
    app = build_app(ServerConfig(db_path=db, auth_token=Secret(TOKEN)), StoreSink(db))
    with TestClient(app, follow_redirects=False, base_url=LOOPBACK) as test_client:
        yield test_client


@pytest.mark.parametrize("path", PAGES)
def test_without_the_token_no_page_or_data_is_served_only_the_form(client: TestClient, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Cookie": f"{COOKIE}=wrong"}):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 401
        action = re.search(r'<form method="post" action="([^"]+)">', answer.text)
        assert action and urllib.parse.urljoin(SERVER + path, action.group(1)) == SERVER + "/viewer/login"
        back_here = f'<input type="hidden" name="next" value="{html.escape(path)}">'
        assert back_here in answer.text  # the address asked for, nothing read from the store
        rest = answer.text.replace(back_here, "")
        assert "checkout-agent" not in rest and "shop assistant" not in rest and MODEL not in rest


@pytest.mark.parametrize("path", PAGES)
def test_the_bearer_header_opens_every_page(client: TestClient, path: str) -> None:
    assert client.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_the_form_sets_a_strict_httponly_session_cookie_that_opens_the_viewer(client: TestClient) -> None:
    target = f"/sessions/{SESSION}/events/{MODEL}"
    wrong = client.post("/viewer/login", data={"token": "nope", "next": target})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers and "not the server" in wrong.text

    right = client.post("/viewer/login", data={"token": TOKEN, "next": target})
    assert right.status_code == 303
    assert urllib.parse.urljoin(SERVER + "/viewer/login", right.headers["location"]) == SERVER + target
    cookie = right.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert attributes == {"path", "httponly", "samesite"} and "SameSite=Strict" in cookie  # no Expires: session
    assert "Secure" not in cookie  # plain HTTP here; over HTTPS it is Secure
    for path in PAGES:
        assert client.get(path).status_code == 200, path  # the client keeps the cookie


def test_behind_a_proxys_prefix_the_form_and_its_answer_stay_under_it(client: TestClient) -> None:
    """A proxy serving the viewer at /proxy/4318/ and stripping that: the form posts, and its answer sends the
    browser back, within the prefix."""
    proxied = "https://dev.example/proxy/4318"
    target = f"/sessions/{SESSION}/events/{MODEL}"
    form = client.get(target).text
    action = re.search(r'<form method="post" action="([^"]+)">', form)
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)">', form)
    assert action and stylesheet
    assert urllib.parse.urljoin(proxied + target, action.group(1)) == proxied + "/viewer/login"
    assert urllib.parse.urljoin(proxied + target, stylesheet.group(1)) == proxied + "/viewer/static/viewer.css"
    answer = client.post("/viewer/login", data={"token": TOKEN, "next": target})
    assert urllib.parse.urljoin(proxied + "/viewer/login", answer.headers["location"]) == proxied + target


def test_the_cookie_is_found_beside_other_apps_cookies(client: TestClient) -> None:
    other = 'prefs={"theme": "dark"}; junk=a,b'  # what http.cookies would stop parsing at
    client.cookies.clear()
    assert client.get("/", headers={"Cookie": f"{other}; {COOKIE}={TOKEN}"}).status_code == 200
    assert client.get("/", headers={"Cookie": f"{other}; {COOKIE}=x{TOKEN}"}).status_code == 401


def test_the_cookie_opens_no_ingestion_route(client: TestClient, db: Path) -> None:
    """A page (or another site) cannot make a browser post events with it."""
    client.post("/viewer/login", data={"token": TOKEN, "next": "/"})
    event = {"event_type": "tool", "event_name": "forged", "session_id": SESSION, "inputs": {}}
    assert client.post("/events", json={"event": event}).status_code == 401
    assert client.post("/v1/traces", content=b"", headers={"Content-Type": "application/x-protobuf"}
                       ).status_code == 401


def test_the_form_and_its_stylesheet_need_no_token_but_probes_and_apis_still_do(client: TestClient) -> None:
    assert client.get("/viewer/login").status_code == 401  # the form itself, asking
    assert client.get("/viewer/static/viewer.css").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics").json()["success"] is False  # the API's own error shape, not the form


@pytest.mark.parametrize(("given", "safe"), [
    ("/sessions/x?q=1", "/sessions/x?q=1"), ("//evil.example/", "/"), ("https://evil.example/", "/"),
    ("/\\evil.example", "/"), ("", "/"), (None, "/"), ("sessions", "/"),
])
def test_after_the_form_the_browser_only_goes_to_a_path_of_this_server(given: str | None, safe: str) -> None:
    assert safe_next(given) == safe


def test_without_a_token_configured_the_form_is_not_needed(db: Path) -> None:
    with TestClient(build_app(ServerConfig(db_path=db), StoreSink(db)), follow_redirects=False,
                    base_url=LOOPBACK) as client:
        assert client.get("/").status_code == 200
        location = client.get("/viewer/login?next=/sessions").headers["location"]
        assert urllib.parse.urljoin(SERVER + "/viewer/login", location) == SERVER + "/sessions"


def test_the_icon_is_served_without_the_token_it_holds_no_data(client: TestClient) -> None:
    for path in ("/viewer/static/favicon.svg", "/favicon.ico"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["content-type"] == "image/svg+xml" and answer.content.startswith(b"<svg")
    assert 'rel="icon"' in client.get("/").text  # the token form links it too
