"""A real headless Chromium (Debian's chromium + chromium-driver, driven by selenium) for the
report's browser tests. Flags: headless, no sandbox (tests run as root), and none of the
background networking a fresh profile would try (this machine has no network; Chromium
would only log refused connections)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1800",
)


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.skip("needs Debian's chromium and chromium-driver (scripts/setup.sh installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="kr-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_report(driver: Any, path: Path, *, timeout: float = 120) -> float:
    """Load a report and wait until its rows are ready; returns the seconds it took."""
    from selenium.webdriver.support.ui import WebDriverWait

    started = time.monotonic()
    driver.get(path.resolve().as_uri())
    WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: (
            d.execute_script("return document.documentElement.dataset.rows") == "ready"
            or "error" in (d.find_element("id", "status").get_attribute("class") or "")
        )
    )
    status = driver.find_element("id", "status")
    assert "error" not in (status.get_attribute("class") or ""), status.text
    return time.monotonic() - started


def console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def screenshot(driver: Any, path: Path) -> Path:
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path
