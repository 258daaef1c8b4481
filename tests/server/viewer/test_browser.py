"""The viewer in a real browser (headless Chromium from the system's packages, driven by Selenium): the page
`scripts/demo` prints shows the session's waterfall and, once the model call is selected, its conversation; event
content stays text; the token form lets a browser in and nothing else does.

`scripts/demo` runs for real (it installs into .venv, starts `serve`, runs the instrumented example); with
KEEP_SERVING=1 its server stays up for the browser until the test stops it. UPDATE_VIEWER_SCREENSHOT=1 also
writes the session page's screenshot to docs/images/viewer-session.png (the README shows it).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.viewer.browser import PROXY_NAME, chromium, require_browser
from tests.server.viewer.stored import (
    CHAIN,
    CONVERSATION,
    HOSTILE,
    LONG,
    MODEL,
    SESSION,
    T0,
    agent_session,
    conversation_session,
    plain_session,
    write,
)
from tests.support.prefix_proxy import prefix_proxy
from tests.support.server import run_server

pytestmark = pytest.mark.slow  # a browser, the demo and servers in subprocesses

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOT = ROOT / "docs" / "images" / "viewer-session.png"
DEMO_TIMEOUT = 240.0
"""Seconds scripts/demo may take to print the address: most of it is pip, slower while another pip runs."""
demo_time = pytest.mark.timeout(DEMO_TIMEOUT + 60)  # the fixture's time counts against the first test using it
WAIT = 10.0
"""Seconds any one thing may take to appear (the list polls every 5)."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_browser()
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The viewer address `scripts/demo` prints for the session it made (its server kept running)."""
    if not (ROOT / ".venv").exists():
        pytest.skip("scripts/demo installs into the project's .venv")
    if os.environ.get("OTEL_HONEYHIVE_EXPECT_COMPILED") == "1":
        pytest.skip("scripts/demo runs the source tree, which the first pass tested; this pass is the wheel's")
    where = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "OTEL_"))}
    env.update(DB=str(where / "demo.db"), KEEP_SERVING="1")
    stderr = (where / "demo.stderr").open("w")
    demo = subprocess.Popen(["bash", "scripts/demo"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr,
                            text=True, start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    assert demo.stdout is not None
    stdout = demo.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    printed: list[str] = []
    try:
        while True:
            try:
                line = lines.get(timeout=DEMO_TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"scripts/demo printed no viewer address:\n{''.join(printed)}") from None
            printed.append(line)
            found = re.match(r"viewer: (http://127\.0\.0\.1:\d+/sessions/[0-9a-f-]{36})$", line.strip())
            if found:
                break
        session = re.search(r"session rag-pipeline .*?([0-9a-f]{8}-[0-9a-f-]{27})", "".join(printed))
        assert session and found.group(1).endswith(session.group(1)), "the address is the session it made"
        yield found.group(1)
    finally:
        os.killpg(demo.pid, signal.SIGTERM)  # the demo's trap stops its server
        try:
            demo.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        stderr.close()


def wait_for(driver: Any, condition: Any, what: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(condition, message=f"waited {WAIT}s for {what}")


def by_css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def detail_title(driver: Any) -> str:
    """The detail panel's heading (type and name), read in one step: the panel is replaced as events are selected."""
    text = driver.execute_script("const h = document.getElementById('detail-heading'); return h && h.textContent")
    return " ".join(str(text or "").split())


@demo_time
def test_the_demos_page_shows_the_waterfall_and_the_model_calls_conversation(browser: Any, demo_url: str,
                                                                            tmp_path: Path) -> None:
    browser.get(demo_url)
    rows = wait_for(browser, lambda d: by_css(d, "#waterfall li.row") if len(by_css(d, "#waterfall li.row")) == 4
                    else None, "the session's four events")
    labels = [" ".join(r.find_element("css selector", f".label {part}").text for part in (".type", ".name"))
              for r in rows]
    assert labels == ["SESSION rag-pipeline", "TOOL retrieve documents", "MODEL chat gpt-4o-mini",
                      "TOOL execute_tool word_count"]
    bars = [r.find_element("css selector", ".bar").rect for r in rows]
    track = rows[0].find_element("css selector", ".track").rect
    assert bars[0]["width"] == pytest.approx(track["width"], abs=2)  # the session spans the timeline
    assert bars[1]["x"] < bars[2]["x"] < bars[3]["x"] and 0 < bars[1]["width"] < bars[2]["width"]  # in time order
    assert [r.get_attribute("class").split()[1] for r in rows] == ["t-session", "t-tool", "t-model", "t-tool"]

    model_link = rows[2].find_element("css selector", "a.label")
    model_link.click()
    wait_for(browser, lambda d: detail_title(d) == "model chat gpt-4o-mini", "the model call's detail")
    assert re.search(r"/events/[0-9a-f-]{36}$", browser.current_url), "the address follows the selection"
    assert model_link.get_attribute("aria-current") == "true"
    status = by_css(browser, "#detail-status")[0]  # what a screen reader is told
    assert status.get_attribute("role") == "status" and status.text == "Showing model chat gpt-4o-mini"
    messages = by_css(browser, "#conversation-heading ~ ol .message")
    assert [m.find_element("css selector", ".role").text for m in messages] == ["SYSTEM", "USER"]
    assert messages[0].find_element("css selector", ".content").text == "Answer only from the context."
    assert messages[1].find_element("css selector", ".content").text.startswith(
        "How does the bridge relate OTel and HoneyHive?")
    answer = by_css(browser, "#output-heading ~ ol .message")[0]
    assert answer.find_element("css selector", ".role").text == "ASSISTANT"
    assert answer.find_element("css selector", ".content").text.startswith("OpenTelemetry is a vendor-neutral")
    facts = by_css(browser, "#model-heading ~ dl")[0].text
    assert "gpt-4o-mini" in facts and "89" in facts

    from selenium.webdriver.common.keys import Keys

    model_link.send_keys(Keys.ARROW_DOWN)  # keyboard: ↓ from the model call selects the next event
    wait_for(browser, lambda d: detail_title(d) == "tool execute_tool word_count", "the next event by keyboard")
    browser.switch_to.active_element.send_keys(Keys.ARROW_UP)  # focus moved along with the selection
    wait_for(browser, lambda d: detail_title(d) == "model chat gpt-4o-mini", "the model call again")

    browser.set_window_size(1440, 1040)  # the conversation and the answer in view
    browser.execute_script("document.activeElement.blur()")
    shot = tmp_path / "viewer-session.png"
    assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("UPDATE_VIEWER_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)

    browser.back()  # history: the session event again
    wait_for(browser, lambda d: detail_title(d).startswith("tool "), "the previous selection after Back")


@demo_time
def test_the_list_links_to_the_demos_session(browser: Any, demo_url: str) -> None:
    base = demo_url.split("/sessions/")[0]
    browser.get(base + "/")
    link = wait_for(browser, lambda d: [a for a in by_css(d, "table.sessions a") if a.text == "rag-pipeline"],
                    "the demo's session in the list")[0]
    link.click()
    wait_for(browser, lambda d: d.current_url == demo_url, "the session page")
    assert by_css(browser, "h1")[0].text == "rag-pipeline"


def test_the_list_shows_a_new_session_without_a_reload(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    write(db, agent_session())
    with run_server(tmp_path, "--db", str(db)) as server:
        browser.get(server.url + "/")
        wait_for(browser, lambda d: by_css(d, "table.sessions a"), "the list")
        browser.execute_script("window.__sameDocument = true")
        write(db, plain_session(99, T0 + 60_000))  # newer than any: the top row
        first = wait_for(browser, lambda d: [a.text for a in by_css(d, "table.sessions a")][:1] == ["job-99"],
                         "the new session (the list asks every 5 s)")
        assert first and browser.execute_script("return window.__sameDocument === true"), "no reload"


def test_event_content_stays_text_in_the_browser(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "hostile.db"
    write(db, agent_session())
    with run_server(tmp_path, "--db", str(db)) as server:
        browser.get(f"{server.url}/sessions/{SESSION}/events/{MODEL}")
        user = wait_for(browser, lambda d: by_css(d, ".message.m-user .content"), "the user messages")[0]
        assert HOSTILE in user.text  # shown, as written
        assert browser.execute_script("return window.__pwned === undefined")  # and never run
        assert not by_css(browser, ".message img")

        more = by_css(browser, "a[data-more]")[0]  # the long message, collapsed
        more.click()
        wait_for(browser, lambda d: any(e.text.strip() == LONG.strip() for e in by_css(d, ".expanded")),
                 "the whole long message")

        raw = by_css(browser, "details.raw")[0]
        raw.find_element("css selector", "summary").click()
        wait_for(browser, lambda d: '"event_id": "' + MODEL in raw.find_element("css selector", "pre").text,
                 "the raw event JSON, fetched when opened")


def test_a_conversations_turn_opens_in_the_detail_beside_the_timeline(browser: Any, tmp_path: Path) -> None:
    """The conversation, turn by turn, above the timeline; a turn's link shows that turn in the detail column
    without leaving the page, its question still text."""
    db = tmp_path / "conversation.db"
    write(db, conversation_session())
    with run_server(tmp_path, "--db", str(db)) as server:
        browser.get(f"{server.url}/sessions/{CONVERSATION}")
        asked = wait_for(browser, lambda d: by_css(d, ".transcript .message.m-user .content"), "the turns")
        assert [e.text.split(" <")[0] for e in asked] == ["question 1", "question 2", "question 3"]
        assert HOSTILE in asked[1].text and browser.execute_script("return window.__pwned === undefined")
        before = browser.current_url
        by_css(browser, ".transcript .turn-head a")[2].click()
        wait_for(browser, lambda d: "turn 3" in detail_title(d), "turn 3 in the detail")
        assert browser.current_url != before and browser.current_url.endswith("-000000000003")
        assert by_css(browser, "#waterfall"), "still the session page"


def test_with_a_token_the_browser_gets_the_form_then_the_pages(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "guarded.db"
    write(db, agent_session())
    with run_server(tmp_path, "--db", str(db), "--auth-token", "browser-token-123") as server:
        browser.delete_all_cookies()
        browser.get(f"{server.url}/sessions/{SESSION}")
        assert "checkout-agent" not in browser.page_source
        field = wait_for(browser, lambda d: by_css(d, "input#token"), "the token form")[0]
        field.send_keys("wrong")
        field.submit()
        wait_for(browser, lambda d: by_css(d, "p.error"), "the refusal")
        assert "checkout-agent" not in browser.page_source
        field = by_css(browser, "input#token")[0]
        field.send_keys("browser-token-123")
        field.submit()
        wait_for(browser, lambda d: d.current_url == f"{server.url}/sessions/{SESSION}", "the page asked for")
        assert by_css(browser, "h1")[0].text == "checkout-agent"
        cookie = next(c for c in browser.get_cookies() if c["name"] == "otel_honeyhive_viewer")
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and "expiry" not in cookie
        assert browser.execute_script("return document.cookie") == ""  # no script can read it


def test_under_a_proxys_path_prefix_every_page_and_link_stays_under_it(browser: Any, tmp_path: Path) -> None:
    """Served at /proxy/4318/ by a proxy that strips the prefix (remote development environments do): the token
    form, the session, selecting events, the parent link, the raw JSON and the way back to the list all work
    without the server knowing the prefix."""
    db = tmp_path / "proxied.db"
    write(db, agent_session())
    with run_server(tmp_path, "--db", str(db), "--auth-token", "proxied-token-42") as server, \
            prefix_proxy(server.url) as base:
        assert base.endswith("/proxy/4318/")
        browser.delete_all_cookies()
        browser.get(f"{base}sessions/{SESSION}")
        field = wait_for(browser, lambda d: by_css(d, "input#token"), "the token form")[0]
        assert browser.execute_script("return document.styleSheets[0].cssRules.length") > 0, "its stylesheet"
        field.send_keys("proxied-token-42")
        field.submit()
        wait_for(browser, lambda d: d.current_url == f"{base}sessions/{SESSION}", "the session, under the prefix")
        assert by_css(browser, "h1")[0].text == "checkout-agent"

        model = wait_for(browser, lambda d: [a for a in by_css(d, "#waterfall a.label")
                                             if a.get_attribute("href").endswith(MODEL)], "the model call")[0]
        model.click()
        wait_for(browser, lambda d: detail_title(d) == "model chat gpt-4o-mini", "the model call's detail")
        assert browser.current_url == f"{base}sessions/{SESSION}/events/{MODEL}"
        assert by_css(browser, "#conversation-heading ~ ol .message"), "its conversation"
        links = browser.execute_script(
            "return Array.from(document.querySelectorAll('a[href], [data-src]'), e => e.href || e.dataset.src)")
        assert links and all(link.startswith(base) for link in links), links

        parent = next(a for a in by_css(browser, "#detail a[data-event]") if a.text == CHAIN)
        parent.click()  # a link inside a part fetched for another address than the page's
        wait_for(browser, lambda d: detail_title(d) == "chain plan", "the parent's detail")
        assert browser.current_url == f"{base}sessions/{SESSION}/events/{CHAIN}"
        raw = by_css(browser, "details.raw")[0]
        raw.find_element("css selector", "summary").click()
        wait_for(browser, lambda d: '"event_id": "' + CHAIN in raw.find_element("css selector", "pre").text,
                 "the raw event JSON")

        by_css(browser, "nav.crumbs a")[0].click()
        wait_for(browser, lambda d: d.current_url == base, "the list, under the prefix")
        assert "checkout-agent" in [a.text for a in by_css(browser, "table.sessions a")]


def test_a_proxy_that_passes_the_browsers_name_on_is_served_once_that_name_is_allowed(browser: Any,
                                                                                      tmp_path: Path) -> None:
    """The browser reaches the proxy by a name that is not loopback (a hub's, here resolved to 127.0.0.1 by the
    browser alone, as a rebinding page's would be): refused with a page saying which option allows it, until the
    server is started with `--allowed-host`."""
    db = tmp_path / "named.db"
    write(db, agent_session())
    with run_server(tmp_path, "--db", str(db)) as server, prefix_proxy(server.url) as base:
        named = base.replace("127.0.0.1", PROXY_NAME)
        browser.get(f"{named}sessions/{SESSION}")
        heading = wait_for(browser, lambda d: by_css(d, "h1"), "the refusal")[0]
        assert heading.text == "Not allowed under this name"
        assert f"--allowed-host {PROXY_NAME}" in by_css(browser, "main p")[0].text
        assert "checkout-agent" not in browser.page_source
    with run_server(tmp_path, "--db", str(db), "--allowed-host", PROXY_NAME) as server, \
            prefix_proxy(server.url) as base:
        named = base.replace("127.0.0.1", PROXY_NAME)
        browser.get(f"{named}sessions/{SESSION}")
        wait_for(browser, lambda d: [h for h in by_css(d, "h1") if h.text == "checkout-agent"], "the session")
        by_css(browser, "nav.crumbs a")[0].click()
        wait_for(browser, lambda d: d.current_url == named, "the list, under the proxy's name")
