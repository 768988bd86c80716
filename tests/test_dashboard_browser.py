"""Issue 23, in a real browser: an operator logs in to the example site's admin, opens the dashboard from the app's
index and sees every name most urgent first, with the verdict in words and colour; filters to the names that need
attention; follows a name's link to its audit trail. A staff user without the view permission gets no dashboard. The
page logs nothing to the console. The certificates come from a CA of the test's own, with chosen dates; the status
command and the metrics say the same as the page for every name."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import harness as h
from harness.browser import browser_missing, chromium
from harness.pki import TestCA


@pytest.fixture(autouse=True, scope="module")
def _browser_installed() -> None:
    """A missing browser fails the test, naming the fix: a skipped browser test would pass CI unseen."""
    if (why := browser_missing()) is not None:
        pytest.fail(why)


DEPLOY_HOOK = h.ROOT / "target" / "release" / "deploy-hook"
METRICS_TOKEN = "browser-metrics-token-0123456789abcdef"
PASSWORD = "correct horse battery staple 23"
#: name → (days since issued, lifetime in days, reporter); None: validated, never issued.
PLAN: dict[str, tuple[float, float, str] | None] = {
    "fresh.example.com": (2, 90, "alice"),
    "shortlived.example.com": (1, 160 / 24, "alice"),
    "due.example.com": (64, 90, "alice"),
    "late.example.com": (78, 90, "bob"),
    "expired.example.com": (93, 90, "bob"),
    "never.example.com": None,
}
#: Most urgent first, as the page must show them, with the colour of each verdict (the dashboard's CSS).
EXPECTED = [
    ("expired.example.com", "expired", "rgba(198, 40, 40, 1)"),
    ("late.example.com", "late", "rgba(230, 81, 0, 1)"),
    ("due.example.com", "renew due", "rgba(181, 137, 0, 1)"),
    ("never.example.com", "never issued", "rgba(117, 117, 117, 1)"),
    ("shortlived.example.com", "ok", "rgba(46, 125, 50, 1)"),
    ("fresh.example.com", "ok", "rgba(46, 125, 50, 1)"),
]

#: Stored probe findings: name → outcome and message.
PROBES = [
    ("fresh.example.com", "ok", "serves the newest reported certificate; served certificate expires in 88.0 days"),
    ("due.example.com", "stale", "served certificate is older than the one renewed on 2026-12-04: reload nginx"),
    ("expired.example.com", "expired", "served certificate expired on 2026-12-02"),
]


def report_certificates(site: h.Site, ca: TestCA, work: Path) -> None:
    """One certificate per planned name, with the planned dates, from a CA of this test's own that the site trusts
    (ACME_CHALLENGE_TRUST_ROOTS), each reported by the real deploy-hook with its reporter's key, as certbot runs it."""
    now = datetime.now(UTC)
    keys = {}
    for user in ("alice", "bob"):
        keys[user] = work / f"{user}.key"
        site.register_key(user, h.keygen(keys[user]))
    for name, plan in PLAN.items():
        if plan is None:
            continue
        age, lifetime, reporter = plan
        leaf = ca.issue([name], now - timedelta(days=age), timedelta(days=lifetime))
        lineage = ca.lineage(work / "live" / name, leaf)
        hook = subprocess.run(
            [str(DEPLOY_HOOK), *h.hook_args(site, keys[reporter], username=reporter)],
            env={"PATH": os.environ["PATH"], "RENEWED_LINEAGE": str(lineage), "RENEWED_DOMAINS": name},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert hook.returncode == 0, f"deploy-hook failed for {name}:\n{hook.stderr}"
    for user in keys.values():
        user.unlink()  # the private keys first


@pytest.fixture
def site(tmp_path: Path) -> Iterator[h.Site]:
    h.require_built_hooks([h.AUTH_HOOK, DEPLOY_HOOK], programs=())
    ca = TestCA("Browser Test")
    # runserver --insecure serves the admin's static files with DEBUG off, as a real site's web server would. A port of
    # its own: Pebble is not involved, so this story needs neither its fixed port nor the end-to-end lock.
    s = h.Site(
        tmp_path / "site",
        port=h.free_port(),
        server="runserver",
        server_args=("--insecure",),
        extra_env={
            "ACME_CHALLENGE_METRICS_TOKEN": METRICS_TOKEN,
            "ACME_CHALLENGE_TRUST_ROOTS": str(ca.write_root(tmp_path / "root.pem")),
        },
    )
    with h.running(s):
        report_certificates(s, ca, tmp_path)
        seed = {
            "password": PASSWORD,
            "users": {"operator": ["view_identifier", "view_auditrecord"], "clerk": ["view_auditrecord"]},
            "probes": PROBES,
        }
        assert json.loads(s.manage("site_data", "seed-dashboard", input=json.dumps(seed)).splitlines()[-1]) == "seeded"
        yield s


def log_in(driver, site: h.Site, username: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{site.url}/admin/login/?next=/admin/acme_challenge/")
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    arrive(driver, f"{site.url}/admin/acme_challenge/")


def arrive(driver, url: str) -> None:
    """Wait until the browser has navigated to ``url`` (a click returns before the next page may have loaded)."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15).until(expected_conditions.url_to_be(url))
    WebDriverWait(driver, 15).until(lambda d: d.execute_script("return document.readyState") == "complete")


def console_errors(driver) -> list[dict]:
    """The console's errors, but for the browser's own request of /favicon.ico, which no page asked for (the example
    site has no icon)."""
    return [
        entry
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "/favicon.ico - " not in entry["message"]
    ]


def test_an_operator_sees_every_name_most_urgent_first_and_follows_one_to_its_audit_trail(
    site: h.Site, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    with chromium(tmp_path) as driver:
        log_in(driver, site, "operator")
        driver.find_element(By.LINK_TEXT, "Dashboard").click()
        arrive(driver, f"{site.url}/admin/acme_challenge/identifier/dashboard/")

        rows = driver.find_elements(By.CSS_SELECTOR, "#certificates tbody tr")
        seen = [
            (
                row.get_attribute("data-name"),
                row.find_element(By.CSS_SELECTOR, "span.verdict").text,
                row.find_element(By.CSS_SELECTOR, "span.verdict").value_of_css_property("background-color"),
            )
            for row in rows
        ]
        assert seen == EXPECTED
        # The last probe's findings, the stale one in the colour of late (it counts as late).
        served = {row.get_attribute("data-name"): row.find_element(By.CSS_SELECTOR, "td.served") for row in rows}
        assert served["due.example.com"].text.startswith("stale served certificate is older than the one renewed")
        badge = served["due.example.com"].find_element(By.CSS_SELECTOR, "span.verdict")
        assert badge.value_of_css_property("background-color") == "rgba(230, 81, 0, 1)"
        assert served["expired.example.com"].text.startswith("expired served certificate expired")
        assert served["never.example.com"].text == "not probed"
        # Every row with a certificate has its timeline drawn, with now marked; the short-lived one stands out.
        for row in rows:
            svg = row.find_element(By.CSS_SELECTOR, "svg.timeline")
            assert svg.size["width"] == 220
            if row.get_attribute("data-verdict") != "never issued":
                assert len(row.find_elements(By.CSS_SELECTOR, "svg.timeline rect")) == 3
                assert len(row.find_elements(By.CSS_SELECTOR, "svg.timeline line.now")) == 1
        short = driver.find_element(By.CSS_SELECTOR, 'tr[data-name="shortlived.example.com"] td.short-lived')
        assert short.text == "6.7 days"
        never = driver.find_element(By.CSS_SELECTOR, 'tr[data-name="never.example.com"]').text
        assert "198.51.100.1 200" in never
        assert "198.51.100.3 200" in never
        assert "carol" in never
        # The artifact: in the test's directory, and where DASHBOARD_SCREENSHOT says (the README's docs/dashboard.png).
        driver.save_screenshot(str(tmp_path / "dashboard.png"))
        if os.environ.get("DASHBOARD_SCREENSHOT"):
            shutil.copyfile(tmp_path / "dashboard.png", os.environ["DASHBOARD_SCREENSHOT"])
        assert console_errors(driver) == []

        driver.find_element(By.ID, "filter-attention").click()
        arrive(driver, f"{site.url}/admin/acme_challenge/identifier/dashboard/?attention=1")
        attention = [
            row.get_attribute("data-name") for row in driver.find_elements(By.CSS_SELECTOR, "#certificates tbody tr")
        ]
        assert attention == [name for name, verdict, _ in EXPECTED if verdict != "ok"]

        driver.find_element(By.CSS_SELECTOR, 'tr[data-name="never.example.com"] a.audit-link').click()
        arrive(driver, f"{site.url}/admin/acme_challenge/auditrecord/?domain=never.example.com")
        records = driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
        assert len(records) == 1
        assert "carol" in records[0].text
        assert console_errors(driver) == []

    # The status command and the metrics give every name the verdict the page showed.
    code, found = status(site)
    assert code == 2
    assert {entry["name"]: entry["verdict"] for entry in found} == {name: verdict for name, verdict, _ in EXPECTED}
    request = urllib.request.Request(
        f"{site.url}/.well-known/acme-challenge-metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        metrics = response.read().decode()
    by_metrics = dict(re.findall(r'acme_certificate_verdict\{identifier="([^"]+)",verdict="([^"]+)"\} 1\n', metrics))
    assert by_metrics == {name: verdict for name, verdict, _ in EXPECTED}


def test_a_staff_user_without_the_view_permission_gets_no_dashboard(site: h.Site, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    with chromium(tmp_path) as driver:
        log_in(driver, site, "clerk")
        assert driver.find_elements(By.LINK_TEXT, "Dashboard") == []
        assert console_errors(driver) == []
        driver.get(f"{site.url}/admin/acme_challenge/identifier/dashboard/")
        assert driver.find_element(By.TAG_NAME, "h1").text == "403 Forbidden"
        assert driver.find_elements(By.ID, "certificates") == []
        # The one console error is the browser's note of the 403 itself.
        errors = console_errors(driver)
        assert len(errors) == 1
        assert "403 (Forbidden)" in errors[0]["message"]


def status(site: h.Site) -> tuple[int, list[dict]]:
    result = subprocess.run(
        [str(h.PYTHON), "manage.py", "acme_challenge_status", "--json"],
        cwd=h.SITE_DIR,
        env=site.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode, json.loads(result.stdout)
