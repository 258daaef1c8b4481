"""The viewer's pages, read over the real app (Starlette's test client) from a real SQLite store: the session list
(search, filters, pages, the polled rows), a session's tree and waterfall, an event's detail, escaping, collapsed
values, and the read-only rule."""

from __future__ import annotations

import datetime
import html
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from otel_honeyhive.server.app import build_app
from otel_honeyhive.server.config import OtlpSettings, ServerConfig
from otel_honeyhive.server.viewer import viewer_routes
from otel_honeyhive.server.viewer.present import MAX_TIMELINE_ROWS
from otel_honeyhive.server.viewer.queries import PAGE_SIZE
from tests.server.viewer.stored import (
    CHAIN,
    CONVERSATION,
    FAILING_TOOL,
    LONG,
    MODEL,
    SESSION,
    T0,
    TOOL,
    StoreSink,
    conversation_session,
    event,
    plain_session,
    write,
)
from tests.server.viewer.stored import agent_session as agent_session
from tests.support.server import LOOPBACK


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "viewer.db"
    write(path, agent_session())
    write(path, [e for i in range(3) for e in plain_session(i, T0 - (i + 1) * 60_000, error=i == 1,
                                                               user="user-7" if i == 2 else None)])
    return path


@pytest.fixture
def client(db: Path) -> Iterator[TestClient]:
    with TestClient(build_app(ServerConfig(db_path=db), StoreSink(db)), base_url=LOOPBACK) as test_client:
        yield test_client


def names_listed(html: str) -> list[str]:
    return re.findall(r'<a href="\./sessions/[^"]+">([^<]+)</a>', html)


# -- the list ------------------------------------------------------------------------------------------------


def test_the_list_shows_sessions_newest_first_with_their_figures(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert names_listed(page.text) == ["checkout-agent", "job-0", "job-1", "job-2"]
    row = page.text.split("checkout-agent", 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r'<td[^>]*>(.*?)</td>', row, re.S)
    assert cells[0] == "viewer-test" and "2026-09-21 14:13:20 UTC" in cells[1]
    assert cells[2:] == ["1.20 s", "4", '<span class="err-count">1</span>', "150"]  # events, errors, tokens


def test_a_session_sent_in_seconds_is_listed_by_its_time_like_any_other(client: TestClient, db: Path) -> None:
    """HoneyHive's examples send seconds: a session sent in seconds a minute after the newest is listed first,
    not last (below every session sent in milliseconds)."""
    sid = "5ec00000-0000-4000-8000-000000000001"
    write(db, [event(sid, sid, "session", "sent-in-seconds", T0 / 1000 + 60, 2.0)])
    assert names_listed(client.get("/").text) == ["sent-in-seconds", "checkout-agent", "job-0", "job-1", "job-2"]


def test_the_raw_session_event_lists_the_children_posted_after_it(client: TestClient, db: Path) -> None:
    """The tree is told by each event's `parent_id`; the session event read back says the same in its
    `children_ids`, those posted after it included (HoneyHive's GET of a session lists its children)."""
    later = "7001c000-0000-4000-8000-000000000099"
    write(db, [event(SESSION, later, "tool", "late tool", T0 + 1100, 10.0, SESSION)])
    raw = client.get(f"/sessions/{SESSION}/events/{SESSION}/raw").json()
    assert raw["children_ids"] == [CHAIN, later]


def test_the_list_counts_the_tokens_the_session_page_counts(client: TestClient, db: Path) -> None:
    """A client of the HoneyHive-compatible API may report a model call's usage as prompt and completion tokens
    only, or a total that is not a whole number: the list said "–" where the session's page said 14."""
    sid = "70c50000-0000-4000-8000-000000000001"
    write(db, [event(sid, sid, "session", "usage-parts", T0 + 60_000, 100.0),
               event(sid, "70c50000-0000-4000-8000-000000000002", "model", "chat", T0 + 60_001, 10.0, sid,
                     metadata={"prompt_tokens": 3, "completion_tokens": 4}),
               event(sid, "70c50000-0000-4000-8000-000000000003", "model", "chat", T0 + 60_020, 10.0, sid,
                     metadata={"total_tokens": 7.0}),
               event(sid, "70c50000-0000-4000-8000-000000000004", "chain", "step", T0 + 60_040, 10.0, sid,
                     metadata={"total_tokens": 500})])  # not a model event: its children's usage again
    row = client.get("/", params={"q": "usage-parts"}).text.split(">usage-parts</a>", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'<td class="num">([^<]*)</td>', row)[-1] == "14"
    assert "<dt>Tokens</dt><dd>14</dd>" in client.get(f"/sessions/{sid}").text


@pytest.mark.parametrize(("query", "expected"), [
    ("checkout", ["checkout-agent"]),  # part of the name
    ("JOB-1", ["job-1"]),  # any case
    (SESSION[:8], ["checkout-agent"]),  # the start of the session id
    ("user-7", ["job-2"]),  # a user id, exactly
    ("user-4", []),  # not a part of one
    ("100%_", []),  # LIKE's wildcards are literal
])
def test_search_finds_sessions_by_name_id_or_user_id(client: TestClient, query: str, expected: list[str]) -> None:
    page = client.get("/", params={"q": query})
    assert names_listed(page.text) == expected
    if not expected:
        assert "No session matches these filters." in page.text


def test_filters_narrow_the_list_to_errors_and_to_a_time_range(client: TestClient) -> None:
    assert names_listed(client.get("/", params={"errors": "1"}).text) == ["checkout-agent", "job-1"]
    window = {"since": "2026-09-21T14:11:00", "until": "2026-09-21T14:13:00"}  # UTC: job-0 (14:12:20), job-1 (14:11:20)
    assert names_listed(client.get("/", params=window).text) == ["job-0", "job-1"]
    window = {"since": "2026-09-21T14:12:00+00:00"}  # any ISO 8601 time
    assert names_listed(client.get("/", params=window).text) == ["checkout-agent", "job-0"]
    assert names_listed(client.get("/", params={"within": "24h"}).text) == []  # all of them are in the past


@pytest.mark.parametrize("field", ["since", "until"])
def test_a_time_that_cannot_be_read_is_said_on_the_page_not_silently_dropped(client: TestClient, field: str) -> None:
    label = {"since": "From (UTC)", "until": "Until (UTC)"}[field]
    page = client.get("/", params={field: "2026-13-01", "q": "job"})
    assert page.status_code == 200
    said = html.unescape(page.text)
    assert f"{label}: '2026-13-01' is not a date and time" in said and 'role="alert"' in page.text
    assert "not applied" in said
    assert f'id="{field}" name="{field}" type="datetime-local" step="1" value="2026-13-01" aria-invalid="true"' \
        in page.text
    assert names_listed(page.text) == ["job-0", "job-1", "job-2"], "the rest of the filters still apply"
    rows = client.get("/", params={field: "2026-13-01", "part": "rows"})
    assert rows.status_code == 200 and names_listed(rows.text)
    assert 'role="alert"' not in client.get("/", params={field: "2026-09-21T14:12"}).text


def test_started_within_keeps_a_session_whose_start_was_stored_in_seconds(tmp_path: Path) -> None:
    """The page shows a start below 1e11 as seconds (HoneyHive's examples send seconds): the filter reads it so."""
    db = tmp_path / "seconds.db"
    now = datetime.datetime.now(datetime.timezone.utc).timestamp()
    session = plain_session(1, (now - 600) * 1000)
    write(db, [{**e, "start_time": e["start_time"] / 1000, "end_time": e["end_time"] / 1000} for e in session])
    write(db, plain_session(2, (now - 7200) * 1000))
    with TestClient(build_app(ServerConfig(db_path=db), StoreSink(db)), base_url=LOOPBACK) as client:
        assert names_listed(client.get("/", params={"within": "1h"}).text) == ["job-1"]
        started = datetime.datetime.fromtimestamp(now - 900, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        assert names_listed(client.get("/", params={"since": started}).text) == ["job-1"]
        assert names_listed(client.get("/", params={"until": started}).text) == ["job-2"]


def test_the_list_is_paginated(tmp_path: Path) -> None:
    db = tmp_path / "many.db"
    write(db, [e for i in range(PAGE_SIZE + 5) for e in plain_session(i, T0 + i * 1000)])
    with TestClient(build_app(ServerConfig(db_path=db), StoreSink(db)), base_url=LOOPBACK) as client:
        first = client.get("/")
        second = client.get("/", params={"page": "2"})
    assert len(names_listed(first.text)) == PAGE_SIZE and names_listed(first.text)[0] == f"job-{PAGE_SIZE + 4}"
    assert names_listed(second.text) == [f"job-{i}" for i in range(4, -1, -1)]
    assert 'href="./?page=2" rel="next"' in first.text
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text
    assert "data-poll" in first.text and "data-poll" not in second.text  # only the first page follows new sessions


def test_the_polled_rows_bring_a_new_session(client: TestClient, db: Path) -> None:
    page = client.get("/")
    rows_url = re.search(r'data-poll="([^"]+)"', page.text)
    assert rows_url and rows_url.group(1) == "./?part=rows"
    write(db, plain_session(99, T0 + 60_000))
    rows = client.get("/" + rows_url.group(1)[2:])
    assert names_listed(rows.text)[0] == "job-99" and "<html" not in rows.text  # the table alone


def test_an_empty_or_missing_store_says_how_sessions_arrive(tmp_path: Path) -> None:
    db = tmp_path / "none-yet.db"
    with TestClient(build_app(ServerConfig(db_path=db), StoreSink(db)), base_url=LOOPBACK) as client:
        page = client.get("/")
    assert page.status_code == 200 and "No sessions yet" in page.text


# -- a session -------------------------------------------------------------------------------------------------


def test_a_session_shows_its_events_as_a_tree_beside_the_waterfall(client: TestClient) -> None:
    page = client.get(f"/sessions/{SESSION}")
    assert page.status_code == 200
    rows = re.findall(r'<li class="row (t-\w+)( error)?">\s*<a class="label" data-event href="[^"]+/events/([^"]+)"'
                      r'\s*style="padding-left: ([\d.]+)rem".*?'
                      r'<span class="bar" style="left: ([\d.]+)%; width: ([\d.]+)%"', page.text, re.S)
    assert [(kind, bool(error), eid) for kind, error, eid, *_ in rows] == [
        ("t-session", False, SESSION), ("t-chain", False, CHAIN), ("t-model", False, MODEL), ("t-tool", False, TOOL),
        ("t-tool", True, FAILING_TOOL),
    ]
    depths = [float(r[3]) for r in rows]
    assert depths[0] < depths[1] < depths[2] == depths[3] == depths[4]  # indented by parent
    bars = {r[2]: (float(r[4]), float(r[5])) for r in rows}
    assert bars[SESSION] == (0.0, 100.0)
    assert bars[MODEL] == pytest.approx((20 / 1200 * 100, 800 / 1200 * 100), abs=0.01)  # at its start, its length
    assert 'class="err-mark">error</span>' in page.text
    assert 'aria-current="true"' in page.text.split(SESSION + '"', 2)[1][:200], "the session event is selected"


def test_a_long_timeline_is_shown_a_page_of_rows_at_a_time(tmp_path: Path) -> None:
    db = tmp_path / "long.db"
    count = 2 * MAX_TIMELINE_ROWS + 500
    ids = [SESSION] + [f"70010000-0000-4000-8000-{i:012d}" for i in range(1, count)]
    write(db, [event(SESSION, SESSION, "session", "crawl", T0, float(count))] + [
        event(SESSION, ids[i], "tool", f"fetch {i}", T0 + i, 1.0, SESSION) for i in range(1, count)])
    with TestClient(build_app(ServerConfig(db_path=db), StoreSink(db)), base_url=LOOPBACK) as client:
        first, third = client.get(f"/sessions/{SESSION}"), client.get(f"/sessions/{SESSION}", params={"page": "3"})
        held = client.get(f"/sessions/{SESSION}/events/{ids[MAX_TIMELINE_ROWS + 7]}")
        odd = [client.get(f"/sessions/{SESSION}", params={"page": p}).text for p in ("x", "-2", "99")]

    def shown(page: str) -> list[str]:
        return re.findall(r'<li class="row [^"]*">\s*<a class="label" data-event href="[^"]+/events/([^"]+)"', page)

    assert shown(first.text) == ids[:MAX_TIMELINE_ROWS]
    assert f"Events 1–{MAX_TIMELINE_ROWS:,} of {count:,}" in first.text and f"<dd>{count - 1}</dd>" in first.text
    assert f'sessions/{SESSION}?page=2" rel="next"' in first.text and 'rel="prev"' not in first.text
    assert shown(third.text) == ids[2 * MAX_TIMELINE_ROWS:] and 'rel="next"' not in third.text
    assert 'aria-current="true"' in third.text.split(ids[2 * MAX_TIMELINE_ROWS] + '"', 1)[1][:200]
    assert shown(held.text) == ids[MAX_TIMELINE_ROWS : 2 * MAX_TIMELINE_ROWS], "the page holding the event"
    assert 'aria-current="true"' in held.text.split(ids[MAX_TIMELINE_ROWS + 7] + '"', 1)[1][:200]
    assert [shown(page)[0] for page in odd] == [ids[0], ids[0], ids[2 * MAX_TIMELINE_ROWS]]


def test_an_events_page_selects_it_and_links_its_parent(client: TestClient) -> None:
    page = client.get(f"/sessions/{SESSION}/events/{TOOL}")
    detail = page.text.split('id="detail"', 1)[1]
    assert 'lookup_order</h2>' in detail
    assert f'href="../../../sessions/{SESSION}/events/{CHAIN}" data-event>{CHAIN}</a>' in detail
    assert re.search(r'<span class="j-key">&#34;carrier&#34;</span>: <span class="j-str">&#34;DHL&#34;</span>', detail)
    assert re.search(r'<details class="bucket" open>\s*<summary><h3>Feedback</h3>', detail)


def test_a_parent_that_is_not_stored_is_named_not_linked_to_a_404(client: TestClient, db: Path) -> None:
    """A trace shipped in parts (its hold time ran out) stores children before their parent: the tree hangs them
    under the session, and the detail must not link to a parent page that does not exist."""
    orphan, missing = "0afa0000-0000-4000-8000-000000000011", "0afa0000-0000-4000-8000-0000000000ff"
    write(db, [event(SESSION, orphan, "tool", "early child", T0 + 40, 5.0, missing)])
    detail = client.get(f"/sessions/{SESSION}/events/{orphan}", params={"part": "detail"}).text
    assert f"/events/{missing}" not in detail and "not stored in this session" in detail and missing in detail
    assert client.get(f"/sessions/{SESSION}/events/{missing}").status_code == 404  # what the link led to
    write(db, [event(SESSION, missing, "chain", "late parent", T0 + 30, 50.0, SESSION)])  # the parent arrives
    detail = client.get(f"/sessions/{SESSION}/events/{orphan}", params={"part": "detail"}).text
    assert f'href="../../../sessions/{SESSION}/events/{missing}" data-event>{missing}</a>' in detail


def test_a_conversation_session_reads_turn_by_turn_above_its_timeline(tmp_path: Path) -> None:
    """Each turn: what the user asked its first model call and what its last answered (a tool call between the
    two is skipped), in order, escaped, the turn linked to its event; a one-turn session has no such section."""
    db = tmp_path / "viewer.db"
    write(db, conversation_session())
    write(db, agent_session())
    with TestClient(build_app(ServerConfig(db_path=db), StoreSink(db)), base_url=LOOPBACK) as client:
        page = client.get(f"/sessions/{CONVERSATION}").text
        single = client.get(f"/sessions/{SESSION}").text
    section = page.split('id="transcript-heading"', 1)[1].split("</section>", 1)[0]
    assert page.index('id="transcript-heading"') < page.index('id="waterfall"')
    turns = re.findall(r'/events/(7a000000-[^"]+)" data-event>(turn \d)</a>', section)
    assert [name for _, name in turns] == ["turn 1", "turn 2", "turn 3"]
    said = re.findall(r'<li class="message m-(\w+)"><div class="role">\w+</div>\s*<div class="content">([^<]*)',
                      section)
    assert [(role, text.split(" &lt;")[0]) for role, text in said] == [
        ("user", "question 1"), ("assistant", "answer 1"), ("user", "question 2"), ("assistant", "answer 2"),
        ("user", "question 3"), ("assistant", "answer 3")]
    assert "&lt;script&gt;" in section and "<script>window" not in page
    assert 'id="transcript-heading"' not in single


def test_a_model_event_shows_its_conversation_output_model_and_tokens(client: TestClient) -> None:
    panel = client.get(f"/sessions/{SESSION}/events/{MODEL}", params={"part": "detail"})
    html = panel.text
    assert "<html" not in html and html.lstrip().startswith("<section class=\"detail\"")
    roles = re.findall(r'<li class="message m-(\w+)">', html)
    assert roles == ["system", "user", "assistant", "tool", "user", "assistant"]  # the conversation, then the output
    assert "calls <code>lookup_order</code>" in html and '<span class="j-key">&#34;order_id&#34;</span>' in html
    assert "result of <code>call_1</code>" in html
    assert "Order 7 has shipped." in html.split('id="output-heading"', 1)[1]
    assert "gpt-4o-mini-2024-07-18" in html and "150" in html and "(120 in," in html
    assert re.search(r'<th scope="row">temperature</th><td><div class="json"><span class="j-num">0.2</span>', html)


def test_multimodal_content_reads_as_text_and_labels_never_as_loaded_media(client: TestClient, db: Path) -> None:
    """A message of parts shows its text as text, its reasoning marked, and each image as a label: the page
    loads nothing a prompt names (no <img>, no link), shows no inline data, and escapes a hostile part."""
    picture = "0afa0000-0000-4000-8000-000000000021"
    data = "iVBORw0KGgo" * 400
    write(db, [event(SESSION, picture, "model", "describe", T0 + 50, 5.0, SESSION, inputs={"chat_history": [
        {"role": "user", "content": [
            {"type": "text", "text": "What is <b>this</b>?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/x.png\" onerror=\"alert(1)"}},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
        ]}]}, outputs={"role": "assistant", "content": [{"type": "thinking", "thinking": "A logo."},
                                                       {"type": "text", "text": "A logo."}]})])
    html = client.get(f"/sessions/{SESSION}/events/{picture}", params={"part": "detail"}).text
    assert '<div class="content">What is &lt;b&gt;this&lt;/b&gt;?</div>' in html
    assert '<span class="part-label">image · https://example.com/x.png&#34; onerror=&#34;alert(1)</span>' in html
    assert '<span class="part-label">image · image/png · 3,300 bytes inline, not shown</span>' in html
    assert '<div class="content reasoning"><span class="part-label">reasoning</span> A logo.</div>' in html
    assert "<img" not in html and "iVBORw0KGgo" not in html and 'href="https://example.com' not in html


def test_event_content_is_escaped_never_markup(client: TestClient) -> None:
    html = client.get(f"/sessions/{SESSION}/events/{MODEL}").text
    assert "<script>window" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned = true&lt;/script&gt;&lt;img src=x onerror=" in html


def test_long_values_are_collapsed_and_fetched_whole_on_demand(client: TestClient) -> None:
    html = client.get(f"/sessions/{SESSION}/events/{MODEL}").text
    more = re.search(r'<a class="more" href="([^"]+)" data-more>show all \(4,500 more characters\)</a>', html)
    assert more and LONG not in html
    whole = client.get(more.group(1).replace("&amp;", "&"))
    assert whole.status_code == 200 and whole.headers["content-type"].startswith("text/plain") and whole.text == LONG


def test_the_raw_event_and_any_value_of_it_are_served_as_stored(client: TestClient) -> None:
    raw = client.get(f"/sessions/{SESSION}/events/{TOOL}/raw")
    assert raw.headers["content-type"] == "application/json" and raw.json()["outputs"]["carrier"] == "DHL"
    base = f"/sessions/{SESSION}/events/{MODEL}/value"
    assert client.get(base, params={"at": "/inputs/chat_history/2/tool_calls/0/function/arguments/order_id"}
                      ).json() == 7  # into the arguments' JSON string
    assert client.get(base, params={"at": "/nothing"}).status_code == 404
    assert client.get(base, params={"at": "/inputs/chat_history/\u00b2"}).status_code == 404  # a digit, not ASCII
    assert client.get(f"/sessions/{SESSION}/events/{MODEL}-nope").status_code == 404
    assert client.get(f"/sessions/{SESSION[:-1]}0/events/{MODEL}/raw").status_code == 404  # not in that session


@pytest.mark.parametrize(("depth", "status"), [(100, 200), (1000, 422)])
def test_deeply_nested_tool_call_arguments_show_collapsed_never_a_500(client: TestClient, db: Path, depth: int,
                                                                       status: int) -> None:
    """Arguments are a JSON string (OpenInference's form), so no ingestion limit bounds their depth."""
    deep_model = "30de2000-0000-4000-8000-000000000009"
    arguments = '{"a":' * depth + "1" + "}" * depth
    write(db, [event(SESSION, deep_model, "model", "deep call", T0 + 50, 5.0, SESSION, inputs={"chat_history": [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}]}]})])
    page = client.get(f"/sessions/{SESSION}/events/{deep_model}")
    assert page.status_code == 200 and "calls <code>f</code>" in page.text
    more = re.search(r'<a class="more" href="([^"]+)" data-more>show the rest', page.text)
    assert more is not None
    rest = client.get(html.unescape(more.group(1)))
    assert rest.status_code == status
    if status == 200:
        assert rest.headers["content-type"] == "application/json"
    else:  # past what orjson writes: said in a line, and the raw event still has the arguments as stored
        assert "nested too deeply" in rest.text
        raw = client.get(f"/sessions/{SESSION}/events/{deep_model}/raw").json()
        assert raw["inputs"]["chat_history"][0]["tool_calls"][0]["function"]["arguments"] == arguments


def test_a_session_known_only_from_its_events_still_has_a_page(client: TestClient, db: Path) -> None:
    write(db, [e for e in agent_session("5e551011-0000-4000-8000-00000000000f") if e["event_type"] != "session"])
    page = client.get("/sessions/5e551011-0000-4000-8000-00000000000f")
    assert page.status_code == 200 and "Session (no session event)" in page.text
    assert "<dd>1.10 s</dd>" in page.text  # what its events span: the chain's 1,100 ms


def test_a_session_made_through_the_honeyhive_api_shows_whatever_fields_its_client_sent(client: TestClient) -> None:
    started = client.post("/session/start", json={"session": {"project": "p", "session_name": "only-start"}})
    session_id = started.json()["session_id"]
    posted = client.post("/events", json={"event": {"project": "p", "session_id": session_id, "event_type": "tool",
                                                    "event_name": "bare", "inputs": {"a": 1}}})
    event_id = posted.json()["event_id"]
    for path in (f"/sessions/{session_id}", f"/sessions/{session_id}/events/{event_id}"):
        page = client.get(path)
        assert page.status_code == 200, page.text
        assert "only-start" in page.text and "bare" in page.text


def test_ids_of_any_text_open_from_their_links(client: TestClient, db: Path) -> None:
    """Ids are whatever a client gave the HoneyHive-compatible API: a `/`, `%`, `?`, `#` or space in one is
    quoted in every link and read back exactly."""
    sid, child = "tenant/a?b#c 100%", "tenant/a/events/call/raw"
    write(db, [event(sid, sid, "session", "odd ids", T0 + 5_000, 100.0),
               event(sid, child, "tool", "lookup", T0 + 5_001, 10.0, sid, inputs={"q": "odd"})])
    listed = re.search(r'<a href="\.(/sessions/[^"]+)">odd ids</a>', client.get("/").text)
    assert listed is not None
    session_page = client.get(listed.group(1))
    assert session_page.status_code == 200 and "lookup" in session_page.text
    link = re.search(r'href="\.\.(/sessions/[^"/]+/events/tenant%2Fa%2Fevents%2Fcall%2Fraw)"', session_page.text)
    assert link is not None
    assert client.get(link.group(1)).status_code == 200
    assert client.get(link.group(1) + "/raw").json()["event_id"] == child
    assert client.get(link.group(1) + "/value", params={"at": "/inputs/q"}).text == "odd"
    assert client.get("/sessions/" + "tenant/a").status_code == 404  # unquoted, it is another path


def test_odd_page_numbers_are_read_as_a_page(client: TestClient) -> None:
    for given in ("0", "-3", "x", "9" * 40):
        assert client.get("/", params={"page": given}).status_code == 200


def test_an_unknown_session_is_a_404_page(client: TestClient) -> None:
    page = client.get("/sessions/not-a-session")
    assert page.status_code == 404 and "no session not-a-session in this store" in page.text


# -- what the viewer never does --------------------------------------------------------------------------------


def test_every_viewer_route_only_reads(db: Path) -> None:
    """GET only: the token form's POST (which sets a cookie) is the one exception, and it changes nothing stored."""
    methods = {r.path: sorted(r.methods or ()) for r in viewer_routes(db) if isinstance(r, Route)}
    assert {path for path, m in methods.items() if m != ["GET", "HEAD"]} == {"/viewer/login"}
    assert methods["/viewer/login"] in (["GET", "HEAD"], ["POST"])
    app = build_app(ServerConfig(db_path=db), StoreSink(db))
    with TestClient(app, base_url=LOOPBACK) as client:
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            assert client.request(method, f"/sessions/{SESSION}").status_code == 405
            assert client.request(method, f"/sessions/{SESSION}/events/{MODEL}").status_code == 405


def test_every_page_links_a_packaged_icon_so_no_favicon_request_is_a_404(client: TestClient, tmp_path: Path) -> None:
    icon = '<link rel="icon" href="{root}viewer/static/favicon.svg" type="image/svg+xml">'
    assert icon.format(root="./") in client.get("/").text
    assert icon.format(root="../") in client.get(f"/sessions/{SESSION}").text
    assert icon.format(root="../../../") in client.get(f"/sessions/{SESSION}/events/{MODEL}").text
    assert icon.format(root="../") in client.get("/sessions/nope").text  # the 404 page too
    served = client.get("/viewer/static/favicon.svg")
    assert served.status_code == 200 and served.headers["content-type"] == "image/svg+xml"
    assert served.content.startswith(b"<svg") and b"http" not in served.content.replace(
        b"http://www.w3.org/2000/svg", b"")  # nothing fetched from elsewhere
    assert client.get("/favicon.ico").content == served.content  # for clients that ask the root regardless
    elsewhere = ServerConfig(db_path=tmp_path / "unused.db",
                             otlp=OtlpSettings(endpoint="http://127.0.0.1:9/v1/traces"))
    with TestClient(build_app(elsewhere, StoreSink(tmp_path / "unused.db")), base_url=LOOPBACK) as other:
        assert other.get("/favicon.ico").status_code == 200


def test_pages_forbid_inline_scripts_and_framing(client: TestClient) -> None:
    headers = client.get("/").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-store"


def test_assets_are_packaged_and_served(client: TestClient) -> None:
    css, js = client.get("/viewer/static/viewer.css"), client.get("/viewer/static/viewer.js")
    assert css.status_code == js.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "http://" not in css.text + js.text and "https://" not in css.text + js.text  # nothing from elsewhere
    assert client.get("/viewer/static/../app.py").status_code == 404


def test_with_a_remote_output_the_root_says_where_the_events_went(tmp_path: Path) -> None:
    config = ServerConfig(db_path=tmp_path / "unused.db", otlp=OtlpSettings("http://127.0.0.1:9/v1/traces"))
    with TestClient(build_app(config, StoreSink(tmp_path / "unused.db")), base_url=LOOPBACK) as client:
        page = client.get("/")
        assert page.status_code == 200 and "No local store on this server" in page.text
        assert "OTLP (http/protobuf) at http://127.0.0.1:9/v1/traces" in page.text
        assert client.get(f"/sessions/{SESSION}").status_code == 404


# -- behind a proxy ---------------------------------------------------------------------------------------------

PROXIED = "https://dev.example/proxy/4318"
"""Where a proxy that strips its prefix would serve the viewer (JupyterHub's and code-server's `/proxy/<port>`)."""
ADDRESSES = re.compile(r'\s(?:href|src|action|data-src|data-poll)="([^"]*)"')


@pytest.mark.parametrize("path", [
    "/", "/?page=2&q=job", "/?part=rows", f"/sessions/{SESSION}", f"/sessions/{SESSION}/events/{MODEL}",
    f"/sessions/{SESSION}/events/{MODEL}?part=detail", "/sessions/nope", f"/sessions/{SESSION}/events/nope/",
])
def test_every_address_a_page_writes_stays_under_a_proxys_prefix_and_opens(client: TestClient, path: str) -> None:
    """The viewer writes each link relative to the page it is on, so one served under a prefix it does not know
    still links within it; each address, the prefix taken off as the proxy does, is a page of this server."""
    page = client.get(path)
    written = [html.unescape(a) for a in ADDRESSES.findall(page.text)]
    assert written
    for address in written:
        seen = urllib.parse.urljoin(PROXIED + path, address)
        assert seen.startswith(PROXIED + "/"), f"{address!r} on {path} leaves the prefix: {seen}"
        if address.startswith("#"):
            continue
        assert client.get(seen[len(PROXIED):]).status_code == 200, f"{address!r} on {path}: {seen}"


def test_with_a_retention_the_list_says_how_long_sessions_are_kept(db: Path) -> None:
    config = ServerConfig(db_path=db, retention=7 * 86_400.0)
    with TestClient(build_app(config, StoreSink(db)), base_url=LOOPBACK) as client:
        page = client.get("/")
    assert "deletes a session once it has had no new event for 7 days" in page.text
    assert "no new event for" not in client_page_without_retention(db)


def client_page_without_retention(db: Path) -> str:
    with TestClient(build_app(ServerConfig(db_path=db), StoreSink(db)), base_url=LOOPBACK) as client:
        page: str = client.get("/").text  # Any to mypy: starlette's TestClient uses typing.Self (3.11+)
        return page
