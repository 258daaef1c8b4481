"""Headless Chromium from the system's packages, driven by Selenium, with nothing downloaded at run time.

Selenium Manager (which would fetch a browser and a driver) never runs: the driver and the browser are given by
path. Chromium is told not to reach the network on its own (no component updates, no sync, no QUIC), and gets
a fresh profile each time.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PROXY_NAME = "hub.example.test"
"""A name the browser resolves to 127.0.0.1 itself (no DNS asked): a remote proxy's name, or a rebinding page's."""
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1440,900", f"--host-resolver-rules=MAP {PROXY_NAME} 127.0.0.1",
)


def require_browser() -> None:
    """Skip with the command that installs them when Chromium or its driver is missing (`scripts/test` installs
    both before it runs the suite, so CI never skips)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(f"no {' and '.join(missing)}: apt-get install chromium chromium-driver (scripts/test does)")


@contextmanager
def chromium(width: int = 1440, height: int = 900) -> Iterator[object]:
    """A headless Chromium WebDriver, quit (and its profile removed) on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    require_browser()
    profile = tempfile.mkdtemp(prefix="viewer-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        driver.set_page_load_timeout(20)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
