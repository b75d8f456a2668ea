"""Headless Debian Chromium for the browser tests, the dashboards' benchmark and the
docs' screenshots: one set of flags (selenium is a dev dependency: ``dash[testing]``)."""

from __future__ import annotations

from typing import Any

__all__ = ["CHROMEDRIVER", "chromium_options"]

CHROMEDRIVER = "/usr/bin/chromedriver"


def chromium_options(width: int = 1600, height: int = 1000) -> Any:
    """selenium's ChromeOptions for Debian's chromium, headless, quiet, no network calls
    of its own (so a test sees only the page's)."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--hide-scrollbars", f"--window-size={width},{height}"):
        options.add_argument(flag)  # type: ignore[no-untyped-call]
    return options
