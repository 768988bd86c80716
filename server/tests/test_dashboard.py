"""The dashboard in the admin shows every name, most urgent first, with the verdict the status command and
the metrics give, to staff holding acme_challenge.view_identifier only. Certificates come from the tests' own CA with
chosen dates."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from acme_challenge.dashboard import rows
from acme_challenge.metrics import render
from acme_challenge.models import AuditRecord, ChallengeFetch, Identifier

from .test_probe import report
from .tls import TestCA

DASHBOARD = "/admin/acme_challenge/identifier/dashboard/"
#: name → (days since issued, lifetime in days, reporter); None: never issued.
CERTIFICATES: dict[str, tuple[float, float, str] | None] = {
    "fresh.example.com": (1, 90, "alice"),
    "due.example.com": (65, 90, "alice"),
    "late.example.com": (80, 90, "bob"),
    "expired.example.com": (95, 90, "bob"),
    "short.example.com": (1, 6, "alice"),
    "never.example.com": None,
}
#: Most urgent first; among equals the soonest expiry.
EXPECTED = [
    ("expired.example.com", "expired"),
    ("late.example.com", "late"),
    ("due.example.com", "renew due"),
    ("never.example.com", "never issued"),
    ("short.example.com", "ok"),
    ("fresh.example.com", "ok"),
]


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


@pytest.fixture
def names(db, ca: TestCA) -> datetime:
    now = timezone.now()
    for name, plan in CERTIFICATES.items():
        if plan is None:
            Identifier.objects.create(name=name)
            continue
        age, lifetime, reporter = plan
        start = now - timedelta(days=age)
        certificate, _ = ca.issue(
            [name], start.replace(microsecond=0), (start + timedelta(days=lifetime)).replace(microsecond=0)
        )
        report(certificate, username=reporter, when=start)
    AuditRecord.objects.create(
        action=AuditRecord.Action.PUSH, status=201, domain="never.example.com", username="carol",
        key_fingerprint="carolkey0123456789abcdef", token="t1", remote_address="192.0.2.9",
    )  # fmt: skip
    for address in ("198.51.100.1", "198.51.100.2"):
        ChallengeFetch.objects.create(domain="never.example.com", token="t1", remote_address=address, status=200)
    ChallengeFetch.objects.create(
        domain="never.example.com", token="t1", remote_address="192.0.2.9", status=200,
        user_agent="certbot-django-hooks/0.1",
    )  # fmt: skip
    return now


def operator(*permissions: str, staff: bool = True) -> Client:
    user = User.objects.create(username=f"op{User.objects.count()}", is_staff=staff)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="acme_challenge", codename__in=permissions)
    )
    client = Client()
    client.force_login(user)
    return client


def shown(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr class="[^"]*" data-name="([^"]+)" data-verdict="([^"]+)"', html)


def test_rows_come_most_urgent_first_with_the_verdict_in_words_and_colour(names: datetime) -> None:
    page = operator("view_identifier").get(DASHBOARD)
    assert page.status_code == 200
    html = page.content.decode()
    assert shown(html) == EXPECTED
    row = html.split('data-name="late.example.com"')[1].split("</tr>")[0]
    assert '<span class="verdict late">late</span>' in row
    assert 'class="timeline"' in row
    assert '<line class="now"' in row
    assert "10.0" in row  # days left
    # A 6-day certificate stands out from the 90-day ones.
    short = html.split('data-name="short.example.com"')[1].split("</tr>")[0]
    assert "short-lived" in short
    assert "6.0 days" in short
    assert "90 days" in row
    # The CA's two perspectives and the self-check of the last validation, and the last push.
    never = html.split('data-name="never.example.com"')[1].split("</tr>")[0]
    assert "198.51.100.1 200" in never
    assert "198.51.100.2 200" in never
    assert "(self-check)" in never
    assert "carol" in never
    assert "carolkey01234567" in never
    # Nothing from elsewhere.
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_the_timeline_marks_due_late_and_now_where_they_fall(names: datetime) -> None:
    by_name = {row.name: row for row in rows(names)}
    svg = str(by_name["due.example.com"].timeline)
    # 90 days over 220 px: due at 2/3 (146.7), late at 5/6 (183.3), now at 65/90 (158.9).
    assert re.search(r'<rect class="due" x="146.7"', svg)
    assert re.search(r'<rect class="late" x="183.3"', svg)
    assert 'x1="158.9"' in svg
    expired = str(by_name["expired.example.com"].timeline)
    assert 'x1="220.0"' in expired
    assert 'stroke="#c62828"' in expired


def test_the_status_command_the_dashboard_and_the_metrics_agree_on_every_name(names: datetime) -> None:
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("acme_challenge_status", "--json", stdout=out)
    by_command = {entry["name"]: entry["verdict"] for entry in json.loads(out.getvalue())}
    by_dashboard = dict(shown(operator("view_identifier").get(DASHBOARD).content.decode()))
    by_metrics = {
        name: verdict
        for name, verdict in re.findall(
            r'acme_certificate_verdict\{identifier="([^"]+)",verdict="([^"]+)"\} 1\n', render()
        )
    }
    assert by_command == by_dashboard == by_metrics == dict(EXPECTED)


def test_needs_attention_hides_the_names_that_are_fine(names: datetime) -> None:
    html = operator("view_identifier").get(DASHBOARD, {"attention": "1"}).content.decode()
    assert shown(html) == EXPECTED[:4]


def test_the_user_filter_shows_the_names_a_user_pushed_or_reported(names: datetime) -> None:
    client = operator("view_identifier")
    assert [name for name, _ in shown(client.get(DASHBOARD, {"user": "bob"}).content.decode())] == [
        "expired.example.com",
        "late.example.com",
    ]
    assert [name for name, _ in shown(client.get(DASHBOARD, {"user": "carol"}).content.decode())] == [
        "never.example.com"
    ]
    both = client.get(DASHBOARD, {"user": "alice", "attention": "1"}).content.decode()
    assert shown(both) == [("due.example.com", "renew due")]


def test_each_row_links_to_its_names_audit_trail(names: datetime) -> None:
    client = operator("view_identifier", "view_auditrecord")
    html = client.get(DASHBOARD).content.decode()
    link = re.search(r'data-name="never.example.com".*?<a href="([^"]+)" class="audit-link"', html, re.S)
    assert link is not None
    trail = client.get(link.group(1).replace("&amp;", "&"))
    assert trail.status_code == 200
    assert "carolkey01234567" in trail.content.decode()
    assert trail.context["cl"].result_count == 1


def test_only_staff_with_the_view_permission_see_it(names: datetime) -> None:
    assert operator("view_auditrecord").get(DASHBOARD).status_code == 403
    assert operator("view_identifier", staff=False).get(DASHBOARD).status_code == 302
    assert Client().get(DASHBOARD).status_code == 302
    assert operator("view_identifier").get(DASHBOARD).status_code == 200


def test_the_apps_admin_index_links_to_the_dashboard_for_those_who_may_see_it(names: datetime) -> None:
    allowed = operator("view_identifier").get("/admin/acme_challenge/").content.decode()
    assert f'<a href="{DASHBOARD}">Dashboard</a>' in allowed
    other = operator("view_auditrecord").get("/admin/acme_challenge/").content.decode()
    assert DASHBOARD not in other


def test_an_empty_site_says_where_names_come_from(db) -> None:
    html = operator("view_identifier").get(DASHBOARD).content.decode()
    assert "No name yet" in html


def test_a_probe_finding_raises_a_names_urgency(names: datetime) -> None:
    from acme_challenge.models import ProbeResult

    ProbeResult.objects.create(
        name="fresh.example.com", address="127.0.0.1:443", outcome="stale", message="served certificate is older"
    )
    order = [row.name for row in rows()]
    assert order.index("fresh.example.com") < order.index("due.example.com")
    html = operator("view_identifier").get(DASHBOARD).content.decode()
    row = html.split('data-name="fresh.example.com"')[1].split("</tr>")[0]
    assert 'data-urgency="late"' in html.split('data-name="fresh.example.com"')[1][:80]
    assert '<span class="verdict ok">ok</span>' in row
    assert '<span class="verdict late">stale</span>' in row
