"""Debian's chromium, headless, driven by Selenium through Debian's chromedriver: the dashboard's browser test.

Nothing is downloaded: the driver and the browser are given by path, and Selenium Manager (which would fetch them)
is told to stay offline. As root chromium needs ``--no-sandbox``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def browser_missing() -> str | None:
    """Why the browser test cannot run here, or None: the message names the fix."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        return (
            f"{', '.join(missing)} missing: apt-get install chromium chromium-driver (scripts/bootstrap --with-browser)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed in this venv: pip install -r requirements-dev.txt"
    return None


@contextmanager
def chromium(workdir: Path, width: int = 1680, height: int = 1000) -> Iterator[object]:
    """A headless chromium session (a ``selenium.webdriver.Chrome``), quit and its profile removed at the end. Its
    console messages are kept: ``driver.get_log("browser")``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")
    profile = workdir / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(str(CHROMEDRIVER), log_output=str(workdir / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
