"""The metrics endpoint: off (404) unless configured, refused (403) without the token or from another
address, and served in the Prometheus text format as prometheus_client's own parser reads it."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.core import checks
from prometheus_client.parser import text_string_to_metric_families

from acme_challenge.models import AuditRecord, Challenge
from acme_challenge.monitoring import record_certificate

from .conftest import SERVE, TOKEN, VALIDATION

METRICS = "/.well-known/acme-challenge-metrics"
SECRET = "s3cret-metrics-token-of-32-chars"


@pytest.fixture
def facts(db, client) -> datetime:
    """One certificate, two pushes (one refused), a CA fetch and a self-check fetch."""
    not_after = datetime(2026, 4, 1, tzinfo=dt_timezone.utc)
    record_certificate(
        fingerprint="a" * 64, serial="0a", names=["a.example.com"], not_before=not_after - timedelta(days=90),
        not_after=not_after, issuer="CN=Test", lineage="a", user=None, username="certbot", key_fingerprint="f" * 64,
        remote_address="198.51.100.1",
    )  # fmt: skip
    AuditRecord.objects.create(action="push", domain="a.example.com", status=201, username="certbot")
    AuditRecord.objects.create(action="push", domain="x.example.com", status=403)
    Challenge.objects.create(token=TOKEN, validation=VALIDATION, domain="a.example.com")
    client.get(SERVE + TOKEN, headers={"Host": "a.example.com", "User-Agent": "certbot-django-hooks/0.1.0"})
    client.get(SERVE + TOKEN, headers={"Host": "a.example.com", "User-Agent": "Pebble"}, REMOTE_ADDR="192.0.2.1")
    return not_after


def test_the_endpoint_does_not_exist_until_a_setting_turns_it_on(client, facts) -> None:
    response = client.get(METRICS, headers={"Authorization": f"Bearer {SECRET}"})
    assert response.status_code == 404
    assert b"acme_" not in response.content


def test_with_a_token_it_is_refused_without_it_or_with_another(client, facts, settings) -> None:
    settings.ACME_CHALLENGE_METRICS_TOKEN = SECRET
    assert client.get(METRICS).status_code == 403
    assert client.get(METRICS, headers={"Authorization": "Bearer wrong-token-wrong-token"}).status_code == 403
    assert client.get(METRICS, headers={"Authorization": f"JWT {SECRET}"}).status_code == 403
    assert client.get(METRICS, headers={"Authorization": f"Bearer {SECRET}"}).status_code == 200


def test_with_addresses_it_is_refused_from_elsewhere(client, facts, settings) -> None:
    settings.ACME_CHALLENGE_METRICS_ADDRESSES = ["10.0.0.0/8", "::1"]
    assert client.get(METRICS, REMOTE_ADDR="192.0.2.1").status_code == 403
    assert client.get(METRICS, REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get(METRICS, REMOTE_ADDR="::1").status_code == 200
    # Both set: both are required.
    settings.ACME_CHALLENGE_METRICS_TOKEN = SECRET
    assert client.get(METRICS, REMOTE_ADDR="10.1.2.3").status_code == 403
    assert client.get(METRICS, REMOTE_ADDR="10.1.2.3", headers={"Authorization": f"Bearer {SECRET}"}).status_code == 200


def test_a_short_token_opens_nothing_and_check_e010_says_so(client, facts, settings) -> None:
    settings.ACME_CHALLENGE_METRICS_TOKEN = ""
    assert client.get(METRICS, headers={"Authorization": "Bearer "}).status_code == 403
    assert [m.id for m in checks.run_checks() if m.id.startswith("acme_challenge.E01")] == ["acme_challenge.E010"]
    settings.ACME_CHALLENGE_METRICS_TOKEN = None
    settings.ACME_CHALLENGE_METRICS_ADDRESSES = ["10.0.0.0/8", "not-an-address"]
    assert [m.id for m in checks.run_checks() if m.id.startswith("acme_challenge.E01")] == ["acme_challenge.E011"]


def test_the_metrics_parse_as_prometheus_text_with_expiry_pushes_and_fetches(client, facts, settings) -> None:
    settings.ACME_CHALLENGE_METRICS_TOKEN = SECRET
    response = client.get(METRICS, headers={"Authorization": f"Bearer {SECRET}"})
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    families = {family.name: family for family in text_string_to_metric_families(response.content.decode())}
    samples = {
        (name, tuple(sorted(sample.labels.items()))): sample.value
        for name, family in families.items()
        for sample in family.samples
    }
    assert samples[("acme_certificate_expiry_timestamp_seconds", (("identifier", "a.example.com"),))] == (
        facts.timestamp()
    )
    verdicts = {labels: value for (name, labels), value in samples.items() if name == "acme_certificate_verdict"}
    assert sum(verdicts.values()) == 1
    assert samples[("acme_challenge_api_calls", (("action", "push"), ("status", "201")))] == 1
    assert samples[("acme_challenge_api_calls", (("action", "push"), ("status", "403")))] == 1
    assert samples[("acme_challenge_fetches", (("client", "ca"), ("status", "200")))] == 1
    assert samples[("acme_challenge_fetches", (("client", "self-check"), ("status", "200")))] == 1
    assert ("acme_challenge_last_ca_fetch_timestamp_seconds", (("identifier", "a.example.com"),)) in samples
    assert all(family.type == "gauge" for family in families.values())
