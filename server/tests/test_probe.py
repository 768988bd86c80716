"""``acme_challenge_status --probe`` reads what each name's TLS endpoint really serves, from a real TLS server
on 127.0.0.1 presenting certificates of the tests' own CA, and compares it with the newest certificate reported."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from datetime import datetime, timedelta
from io import StringIO

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.management import call_command
from django.db import transaction
from django.test import Client, override_settings

from acme_challenge import probe
from acme_challenge.metrics import render
from acme_challenge.models import CertificateReport, Outcome, ProbeResult
from acme_challenge.monitoring import record_certificate
from acme_challenge.probe import Served

from .tls import UTC, TestCA, tls_server

NAME = "www.example.com"


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA()


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def report(certificate, *, username: str = "alice", when: datetime | None = None) -> CertificateReport:
    """Record ``certificate`` as the deploy hook's report of it."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    names = [name.value for name in certificate.extensions.get_extension_for_class(x509_san()).value]
    with transaction.atomic():
        found, _ = record_certificate(
            fingerprint=hashlib.sha256(der).hexdigest(),
            serial=format(certificate.serial_number, "x"),
            names=names,
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            issuer=certificate.issuer.rfc4514_string(),
            lineage=names[0],
            user=None,
            username=username,
            key_fingerprint="k" * 43,
            remote_address="192.0.2.7",
            now=when,
        )
    return found


def x509_san():
    from cryptography import x509

    return x509.SubjectAlternativeName


def status(*args: str, addresses: dict[str, str]) -> tuple[int, list[dict]]:
    out = StringIO()
    with override_settings(ACME_CHALLENGE_PROBE_ADDRESSES=addresses):
        try:
            call_command("acme_challenge_status", "--json", "--probe", *args, stdout=out)
            code = 0
        except SystemExit as exit:
            code = int(exit.code or 0)
    return code, json.loads(out.getvalue())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Judging what is served -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_newest_reported_certificate_served_is_ok_and_the_name_was_sent_as_sni(ca: TestCA) -> None:
    certificate, key = ca.issue([NAME, "example.com"], now() - timedelta(days=1), now() + timedelta(days=89))
    report(certificate)
    with tls_server(certificate, key) as server:
        where = f"127.0.0.1:{server.port}"
        code, found = status(addresses={NAME: where, "example.com": where})
    assert code == 0
    assert sorted(server.sni) == ["example.com", NAME]
    served = {entry["name"]: entry for entry in found}[NAME]["served"]
    assert served["outcome"] == "ok"
    assert served["fingerprint"] == hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    stored = ProbeResult.objects.get(name=NAME)
    assert (stored.outcome, stored.not_after, stored.address) == (
        "ok",
        certificate.not_valid_after_utc,
        f"127.0.0.1:{server.port}",
    )


@pytest.mark.django_db
def test_a_renewal_the_web_server_never_loaded_is_stale_and_counts_as_late(ca: TestCA) -> None:
    old, old_key = ca.issue([NAME], now() - timedelta(days=61), now() + timedelta(days=29))
    new, _ = ca.issue([NAME], now() - timedelta(hours=2), now() + timedelta(days=88))
    report(old, when=now() - timedelta(days=61))
    renewed = report(new, when=datetime(2026, 12, 5, 6, 0, tzinfo=UTC))
    assert renewed.not_before == new.not_valid_before_utc
    with tls_server(old, old_key) as server:
        code, found = status(addresses={NAME: f"127.0.0.1:{server.port}"})
    assert found[0]["verdict"] == "ok"  # the records alone say all is well
    assert found[0]["served"]["outcome"] == "stale"
    assert found[0]["served"]["message"].startswith(
        "served certificate is older than the one renewed on 2026-12-05: reload the TLS terminator; "
        "served certificate expires in 2"
    )
    assert code == 1
    assert ProbeResult.objects.get(name=NAME).outcome == Outcome.STALE


@pytest.mark.django_db
def test_a_served_certificate_without_the_name_counts_as_expired(ca: TestCA) -> None:
    wanted, _ = ca.issue([NAME], now() - timedelta(days=1), now() + timedelta(days=89))
    report(wanted)
    other, other_key = ca.issue(["other.example.org"], now() - timedelta(days=1), now() + timedelta(days=89))
    with tls_server(other, other_key) as server:
        code, found = status(addresses={NAME: f"127.0.0.1:{server.port}"})
    assert found[0]["served"]["outcome"] == "name missing"
    assert found[0]["served"]["message"] == "name not in the served certificate (it names other.example.org)"
    assert code == 2


@pytest.mark.django_db
def test_an_expired_served_certificate_counts_as_expired(ca: TestCA) -> None:
    expired, key = ca.issue([NAME], now() - timedelta(days=95), now() - timedelta(days=5))
    report(expired)
    fresh, _ = ca.issue([NAME], now() - timedelta(days=1), now() + timedelta(days=89))
    report(fresh)
    with tls_server(expired, key) as server:
        code, found = status(addresses={NAME: f"127.0.0.1:{server.port}"})
    assert found[0]["served"]["outcome"] == "expired"
    assert code == 2


@pytest.mark.django_db
def test_a_served_certificate_past_its_late_point_says_how_many_days_it_has_left(ca: TestCA) -> None:
    aging, key = ca.issue([NAME], now() - timedelta(days=80), now() + timedelta(days=10))
    report(aging)
    with tls_server(aging, key) as server:
        code, found = status(addresses={NAME: f"127.0.0.1:{server.port}"})
    assert found[0]["verdict"] == "late"
    assert found[0]["served"]["outcome"] == "expiring"
    assert found[0]["served"]["message"].startswith("served certificate expires in 10.0 days")
    assert code == 1


@pytest.mark.django_db
def test_a_wildcard_covers_one_label_only(ca: TestCA) -> None:
    wildcard, _ = ca.issue(["*.example.com"], now() - timedelta(days=1), now() + timedelta(days=89))
    der = wildcard.public_bytes(serialization.Encoding.DER)
    served = Served.from_der(der)
    assert served.covers("www.example.com")
    assert not served.covers("example.com")
    assert not served.covers("a.www.example.com")


# Reaching it --------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_closed_port_is_unreachable_and_counts_as_late(ca: TestCA) -> None:
    certificate, _ = ca.issue([NAME], now() - timedelta(days=1), now() + timedelta(days=89))
    report(certificate)
    port = closed_port()
    code, found = status(addresses={NAME: f"127.0.0.1:{port}"})
    assert found[0]["served"]["outcome"] == "unreachable"
    assert found[0]["served"]["message"] == f"connection refused by 127.0.0.1:{port}"
    assert code == 1


@pytest.mark.django_db
def test_an_endpoint_that_never_completes_a_handshake_is_given_up_after_five_seconds(ca: TestCA) -> None:
    certificate, _ = ca.issue([NAME], now() - timedelta(days=1), now() + timedelta(days=89))
    report(certificate)
    # Listening, so the connection is made by the kernel, but nobody ever answers the ClientHello.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        started = time.monotonic()
        code, found = status(addresses={NAME: f"127.0.0.1:{port}"})
        took = time.monotonic() - started
    assert found[0]["served"]["outcome"] == "unreachable"
    assert found[0]["served"]["message"] == f"no TLS handshake with 127.0.0.1:{port} within 5 s"
    assert 4.5 < took < 10
    assert code == 1


def test_sixteen_names_are_probed_at_a_time() -> None:
    running, most = 0, 0
    changed = threading.Condition()

    def slow(name, newest, when, addresses) -> probe.Finding:
        nonlocal running, most
        with changed:
            running += 1
            most = max(most, running)
            changed.notify_all()
            # Hold on until a whole batch runs (or 2 s pass), so that the count does not hang on thread start-up.
            changed.wait_for(lambda: running >= probe.PROBE_CONCURRENCY, timeout=2)
        time.sleep(0.05)
        with changed:
            running -= 1
        return probe.Finding(name, "-", Outcome.UNREACHABLE, "test", None)

    names = {f"n{i}.example.com": None for i in range(48)}
    original = probe.store
    probe.store = lambda findings, when: None  # type: ignore[assignment]
    try:
        findings = probe.probe_all(names, now(), addresses={}, probe_one=slow)
    finally:
        probe.store = original
    assert [finding.name for finding in findings] == sorted(names)
    assert most == probe.PROBE_CONCURRENCY == 16


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (None, ("www.example.com", 443)),
        ("10.0.0.5", ("10.0.0.5", 443)),
        ("lb.internal:8443", ("lb.internal", 8443)),
        (":8443", ("www.example.com", 8443)),
        ("[2001:db8::1]:443", ("2001:db8::1", 443)),
        ("2001:db8::1", ("2001:db8::1", 443)),
    ],
)
def test_a_name_is_probed_where_the_setting_says(setting, expected) -> None:
    where = probe.target(NAME, {NAME: setting} if setting else {})
    assert (where.host, where.port) == expected


@pytest.mark.parametrize("setting", ["host:https", "host:0", "[2001:db8::1]x", "host:99999"])
def test_an_address_that_is_not_one_is_reported_with_the_setting_to_fix(setting) -> None:
    found = probe.probe(NAME, None, now(), {NAME: setting})
    assert found.outcome == Outcome.UNREACHABLE
    assert found.message == (
        f"ACME_CHALLENGE_PROBE_ADDRESSES['{NAME}'] is '{setting}': give host, host:port, [IPv6]:port or :port"
    )


# Only the command probes --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_dashboard_and_the_metrics_show_the_last_probe_without_probing(ca: TestCA, admin_client: Client) -> None:
    certificate, key = ca.issue([NAME], now() - timedelta(days=1), now() + timedelta(days=89))
    report(certificate)
    with tls_server(certificate, key) as server:
        status(addresses={NAME: f"127.0.0.1:{server.port}"})
        connections_seen = len(server.sni)

        def refuse(*args, **kwargs):
            raise AssertionError("a request probed")

        original = probe.fetch_served
        probe.fetch_served = refuse  # type: ignore[assignment]
        try:
            page = admin_client.get("/admin/acme_challenge/identifier/dashboard/")
            text = render()
        finally:
            probe.fetch_served = original
        assert len(server.sni) == connections_seen == 1
    assert page.status_code == 200
    assert "serves the newest reported certificate" in page.content.decode()
    expiry = int(certificate.not_valid_after_utc.timestamp())
    assert f'acme_served_certificate_expiry_timestamp_seconds{{identifier="{NAME}"}} {expiry}' in text

    # Results older than ACME_CHALLENGE_PROBE_MAX_AGE are not shown: a probe that stopped running is not news.
    ProbeResult.objects.update(time=now() - timedelta(days=3))
    assert "acme_served_certificate_expiry_timestamp_seconds{" not in render()
    with override_settings(ACME_CHALLENGE_PROBE_MAX_AGE=4 * 86400):
        assert "acme_served_certificate_expiry_timestamp_seconds{" in render()
