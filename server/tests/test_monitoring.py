"""What the site records per identifier (fetches, reports, pushes), the verdict rule, the status command,
system check W005 and the admin's list of identifiers."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core import checks
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from acme_challenge import monitoring
from acme_challenge.models import AuditRecord, CertificateReport, Challenge, ChallengeFetch, Identifier, Verdict
from acme_challenge.monitoring import FETCHES_RECORDED, record_certificate, renewal_due, renewal_late, statuses, verdict

from .conftest import SERVE, TOKEN, VALIDATION

UTC = dt_timezone.utc
START = datetime(2026, 1, 1, tzinfo=UTC)
NINETY_DAYS = START + timedelta(days=90)


def at(days: float, start: datetime = START) -> datetime:
    return start + timedelta(days=days)


# The rule ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lifetime_days", "due_left", "late_left"),
    [
        (90, 30, 15),  # Let's Encrypt today: due with a third left, late with half of that
        (45, 15, 7.5),  # from February 2028
        (64, 64 / 3, 64 / 6),
        (6, 3, 1.5),  # short-lived: half the lifetime (certbot's rule under 10 days)
        (9.9, 4.95, 2.475),
    ],
)
def test_renewal_is_due_with_a_third_left_and_late_halfway_to_expiry(lifetime_days, due_left, late_left) -> None:
    end = at(lifetime_days)
    assert abs((end - renewal_due(START, end)) - timedelta(days=due_left)) < timedelta(seconds=1)
    assert abs((end - renewal_late(START, end)) - timedelta(days=late_left)) < timedelta(seconds=1)


def test_the_verdict_moves_from_ok_to_renew_due_to_late_to_expired() -> None:
    assert verdict(None, None, START) == Verdict.NEVER_ISSUED
    assert verdict(START, NINETY_DAYS, at(59.9)) == Verdict.OK
    assert verdict(START, NINETY_DAYS, at(60)) == Verdict.RENEW_DUE
    assert verdict(START, NINETY_DAYS, at(74.9)) == Verdict.RENEW_DUE
    assert verdict(START, NINETY_DAYS, at(75)) == Verdict.LATE
    assert verdict(START, NINETY_DAYS, at(89.99)) == Verdict.LATE
    assert verdict(START, NINETY_DAYS, NINETY_DAYS) == Verdict.EXPIRED


# Fetches ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def pushed(db) -> Challenge:
    return Challenge.objects.create(token=TOKEN, validation=VALIDATION, domain="example.com")


def fetch(
    client: Client, host: str = "example.com", agent: str = "Mozilla/5.0 (compatible; CA)", address: str = "192.0.2.7"
):
    return client.get(SERVE + TOKEN, headers={"Host": host, "User-Agent": agent}, REMOTE_ADDR=address)


def test_the_first_fetch_from_each_address_is_recorded_with_address_agent_and_status(client, pushed) -> None:
    assert fetch(client).status_code == 200
    assert fetch(client, host="other.example.com", address="192.0.2.8").status_code == 404
    first, second = ChallengeFetch.objects.order_by("id")
    assert (first.domain, first.token, first.remote_address, first.status) == ("example.com", TOKEN, "192.0.2.7", 200)
    assert first.user_agent == "Mozilla/5.0 (compatible; CA)"
    assert second.status == 404, "a fetch with another Host is recorded as answered: 404"
    assert Identifier.objects.get().name == "example.com"


def test_a_dozen_fetches_from_one_address_do_not_crowd_out_the_next_address(client, pushed) -> None:
    # Issue 19: the first ten fetches were recorded, whoever made them; the CA's fetch after them was lost.
    for number in range(12):
        assert fetch(client, agent=f"Made-up/{number}", address="203.0.113.66").status_code == 200
    assert fetch(client, agent="Pebble", address="192.0.2.200").status_code == 200
    assert sorted(ChallengeFetch.objects.values_list("remote_address", "user_agent")) == [
        ("192.0.2.200", "Pebble"),
        ("203.0.113.66", "Made-up/0"),
    ]
    assert Challenge.objects.get().fetch_count == 2


def test_a_repeated_fetch_from_a_recorded_address_takes_one_query(client, pushed, django_assert_num_queries) -> None:
    fetch(client)
    with django_assert_num_queries(1):  # the lookup: this process knows the address is recorded
        assert fetch(client).status_code == 200
    monitoring._recorded_here.clear()  # as another process, which did not record it
    with django_assert_num_queries(2):  # the lookup, and the INSERT ... ON CONFLICT DO NOTHING
        assert fetch(client).status_code == 200
    assert ChallengeFetch.objects.count() == 1


def test_at_most_sixteen_addresses_are_recorded_and_later_fetches_take_one_query(
    client, pushed, django_assert_num_queries
) -> None:
    for number in range(FETCHES_RECORDED + 5):
        assert fetch(client, address=f"192.0.2.{number + 1}").status_code == 200
    assert FETCHES_RECORDED == 16
    assert ChallengeFetch.objects.count() == FETCHES_RECORDED
    assert Challenge.objects.get().fetch_count == FETCHES_RECORDED
    with django_assert_num_queries(1):
        assert fetch(client, address="198.51.100.1").status_code == 200


def test_fetches_of_unknown_tokens_are_not_recorded(client, db) -> None:
    assert fetch(client).status_code == 404
    assert not ChallengeFetch.objects.exists()


def test_the_hooks_self_check_is_recorded_but_is_not_the_last_ca_fetch(client, pushed) -> None:
    fetch(client, agent="certbot-django-hooks/0.1.0", address="127.0.0.1")
    [status] = statuses()
    assert status.last_ca_fetch is None
    assert [f.by_hook for f in status.fetches] == [True]
    fetch(client)
    assert statuses()[0].last_ca_fetch.user_agent.startswith("Mozilla")


# Reports, pushes and the status -----------------------------------------------------------------------------------


def report(names: list[str], not_before: datetime = START, days: float = 90, fingerprint: str = "a" * 64, **extra):
    values = {
        "fingerprint": fingerprint,
        "serial": "0a",
        "names": names,
        "not_before": not_before,
        "not_after": not_before + timedelta(days=days),
        "issuer": "CN=Test",
        "lineage": names[0],
        "user": None,
        "username": "certbot",
        "key_fingerprint": "f" * 64,
        "remote_address": "198.51.100.1",
        "now": not_before + timedelta(hours=1),
    }
    values.update(extra)
    return record_certificate(**values)


def test_each_name_keeps_its_newest_certificate_whatever_order_reports_come_in(db) -> None:
    report(["a.example.com", "b.example.com"], fingerprint="1" * 64)
    newer, _ = report(["a.example.com"], not_before=at(60), fingerprint="2" * 64)
    report(["a.example.com"], not_before=at(-30), fingerprint="3" * 64)  # an old one, reported late
    assert Identifier.objects.get(name="a.example.com").certificate == newer
    assert Identifier.objects.get(name="b.example.com").certificate.fingerprint == "1" * 64


def test_reporting_the_same_certificate_again_refreshes_it(db) -> None:
    _, created = report(["a.example.com"])
    _, again = report(["a.example.com"], now=at(1))
    assert (created, again) == (True, False)
    assert CertificateReport.objects.get().time == at(1)


def test_statuses_join_certificate_last_push_and_fetches_sorted_by_days_left(db) -> None:
    report(["late.example.com"], not_before=at(-80), fingerprint="1" * 64)
    report(["fresh.example.com"], fingerprint="2" * 64)
    user = User.objects.create(username="certbot")
    for when, fingerprint in ((at(-1), "old"), (at(-0.5), "new")):
        AuditRecord.objects.create(
            time=when, user=user, username="certbot", key_fingerprint=fingerprint, action="push",
            domain="pushed.example.com", status=201,
        )  # fmt: skip
    AuditRecord.objects.create(action="push", domain="refused.example.com", status=403)
    found = statuses(at(1))
    assert [s.name for s in found] == ["late.example.com", "fresh.example.com", "pushed.example.com"]
    assert [s.verdict for s in found] == [Verdict.LATE, Verdict.OK, Verdict.NEVER_ISSUED]
    assert found[2].last_push.key_fingerprint == "new"
    assert found[0].as_json()["not_after"] == "2026-01-11T00:00:00+00:00"


def status_command(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("acme_challenge_status", *args, stdout=out)
        code = 0
    except SystemExit as exit:
        code = int(exit.code)
    return code, out.getvalue()


def test_the_status_command_prints_a_line_per_name_and_its_exit_status_follows_the_clock(db) -> None:
    report(["example.com"])
    code, out = status_command("--now", "2026-01-10T00:00:00Z")
    assert code == 0
    assert out.startswith("example.com  expires 2026-04-01 00:00 (81.0 days left)  renewed 2026-01-01 01:00  ")
    assert out.rstrip().endswith("CA fetch never  ok")
    for now, expected, code_expected in (
        ("2026-03-05T00:00:00Z", Verdict.RENEW_DUE, 0),
        ("2026-03-20T00:00:00", Verdict.LATE, 1),  # no zone: UTC
        ("2026-04-02T00:00:00+02:00", Verdict.EXPIRED, 2),
    ):
        code, out = status_command("--json", "--now", now)
        assert (json.loads(out)[0]["verdict"], code) == (expected, code_expected)


def test_the_status_command_says_so_when_there_is_nothing_and_refuses_a_bad_now(db) -> None:
    assert status_command() == (0, "no identifier yet: none validated here and no certificate reported (deploy-hook)\n")
    with pytest.raises(Exception, match="not an ISO 8601 time"):
        call_command("acme_challenge_status", "--now", "tomorrow")


def test_w005_warns_of_late_and_expired_certificates_only(db) -> None:
    now = datetime.now(UTC)
    report(["ok.example.com"], not_before=now - timedelta(days=10), fingerprint="1" * 64)
    report(["due.example.com"], not_before=now - timedelta(days=65), fingerprint="2" * 64)
    report(["late.example.com"], not_before=now - timedelta(days=80), fingerprint="3" * 64)
    report(["gone.example.com"], not_before=now - timedelta(days=95), fingerprint="4" * 64)
    w005 = [m for m in checks.run_checks(include_deployment_checks=True) if m.id == "acme_challenge.W005"]
    assert len(w005) == 2
    assert any("late.example.com" in m.msg and "it is late" in m.msg for m in w005)
    assert any("gone.example.com" in m.msg and "expired on" in m.msg for m in w005)
    # Once, with --database too; not without --deploy.
    both = checks.run_checks(include_deployment_checks=True, databases=["default"])
    assert len([m for m in both if m.id == "acme_challenge.W005"]) == 2
    assert not [m for m in checks.run_checks() if m.id == "acme_challenge.W005"]


def test_the_admin_lists_identifiers_with_their_verdict_soonest_expiry_first(admin_client, db) -> None:
    now = datetime.now(UTC)
    report(["later.example.com"], not_before=now - timedelta(days=10), fingerprint="1" * 64)
    report(["sooner.example.com"], not_before=now - timedelta(days=80), fingerprint="2" * 64)
    Identifier.objects.create(name="never.example.com")
    page = admin_client.get(reverse("admin:acme_challenge_identifier_changelist")).content.decode()
    positions = [page.index(name) for name in ("sooner.example.com", "later.example.com", "never.example.com")]
    assert positions == sorted(positions)
    assert '<td class="field-verdict">late</td>' in page
    assert '<td class="field-verdict">never issued</td>' in page
    assert admin_client.get(reverse("admin:acme_challenge_identifier_add")).status_code == 403


def test_the_cas_fetch_from_the_self_checks_address_is_recorded_beside_it(client, pushed) -> None:
    # A site validated from the host certbot runs on: the self-check and the CA fetch from one address.
    fetch(client, agent="certbot-django-hooks/0.1.0", address="127.0.0.1")
    fetch(client, agent="certbot-django-hooks/0.1.0", address="127.0.0.1")
    fetch(client, agent="Pebble", address="127.0.0.1")
    assert sorted(ChallengeFetch.objects.values_list("self_check", "user_agent")) == [
        (False, "Pebble"),
        (True, "certbot-django-hooks/0.1.0"),
    ]
    assert statuses()[0].last_ca_fetch.user_agent == "Pebble"
