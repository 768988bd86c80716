"""``manage.py site_data WHAT``: the site's data as the end-to-end tests and benchmarks check it, one JSON document on
stdout, or a change they make to set a scene. Read straight from the database through Django's ORM, never from the
answers under test."""

from __future__ import annotations

import hashlib
import json
import random
import secrets
import sys
from datetime import timedelta
from typing import Any

from acme_challenge.dashboard import rows
from acme_challenge.models import AuditRecord, CertificateReport, Challenge, ChallengeFetch, Identifier, ProbeResult
from acme_challenge.monitoring import record_certificate
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

AUDIT_FIELDS = ("id", "username", "key_fingerprint", "action", "token", "domain", "remote_address", "status", "reason")
CERTIFICATE_FIELDS = ("id", "fingerprint", "username", "not_before", "not_after", "time", "verified", "anchor")


class Command(BaseCommand):
    help = "Read or seed the example site's data for the end-to-end tests and benchmarks (JSON on stdout)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        sub.add_parser("challenges", help="[domain, token] of every stored challenge")
        audit = sub.add_parser("audit", help="every audit record, oldest first")
        audit.add_argument("--action", help="only records of this action (push, delete, report, other)")
        sub.add_parser("certificates", help="every certificate record, oldest first")
        sub.add_parser("probe-results", help="{name: [outcome, served fingerprint]} of the stored probe results")
        sub.add_parser("dashboard-rows", help="{name: [verdict, urgency, probe outcome]} as the dashboard shows them")
        sub.add_parser("users", help='{"count": N, "usernames": [...]}')
        superuser = sub.add_parser("make-superuser", help="make an existing user staff and superuser")
        superuser.add_argument("username")
        revoke = sub.add_parser("revoke-permissions", help="take every permission of an existing user away")
        revoke.add_argument("username")
        sub.add_parser("seed-dashboard", help="the browser test's scene: a JSON document on stdin")
        bench = sub.add_parser("seed-bench", help="NAMES identifiers with certificates, pushes and fetches")
        bench.add_argument("names", type=int)
        seed = sub.add_parser("seed-challenges", help="replace the challenges by TOTAL rows; the token of one")
        seed.add_argument("total", type=int)
        seed.add_argument("--host", default="p3.example.com", help="the domain of the row whose token is printed")
        queries = sub.add_parser("serving-queries", help="[queries, status, query plan] of a repeated fetch")
        queries.add_argument("token")
        queries.add_argument("--host", default="p3.example.com")

    def handle(self, *args: Any, what: str, **options: Any) -> None:
        found: object
        if what == "challenges":
            found = list(Challenge.objects.order_by("id").values_list("domain", "token"))
        elif what == "audit":
            records = AuditRecord.objects.order_by("id")
            if options["action"]:
                records = records.filter(action=options["action"])
            found = list(records.values(*AUDIT_FIELDS))
        elif what == "certificates":
            found = list(CertificateReport.objects.order_by("id").values(*CERTIFICATE_FIELDS))
        elif what == "probe-results":
            found = {result.name: [result.outcome, result.fingerprint] for result in ProbeResult.objects.all()}
        elif what == "dashboard-rows":
            found = {row.name: [row.verdict, row.urgency, row.probe.outcome if row.probe else None] for row in rows()}
        elif what == "users":
            usernames = list(get_user_model().objects.order_by("pk").values_list("username", flat=True))
            found = {"count": len(usernames), "usernames": usernames}
        elif what == "make-superuser":
            found = (
                get_user_model().objects.filter(username=options["username"]).update(is_staff=True, is_superuser=True)
            )
        elif what == "revoke-permissions":
            user = get_user_model().objects.get(username=options["username"])
            user.user_permissions.clear()  # type: ignore[attr-defined]
            found = user.get_username()
        elif what == "seed-dashboard":
            found = seed_dashboard(json.loads(sys.stdin.read()))
        elif what == "seed-challenges":
            found = seed_challenges(options["total"], options["host"])
        elif what == "serving-queries":
            found = serving_queries(options["token"], options["host"])
        else:
            found = seed_bench(options["names"])
        self.stdout.write(json.dumps(found, default=str))


def seed_dashboard(seed: dict[str, Any]) -> str:
    """Users with passwords and permissions, pushes and CA fetches of six names, and stored probe results: the scene
    tests/test_dashboard_browser.py reports its certificates into."""
    for username, permissions in seed["users"].items():
        user = get_user_model().objects.create_user(username, password=seed["password"], is_staff=True)
        granted = Permission.objects.filter(content_type__app_label="acme_challenge", codename__in=permissions)
        user.user_permissions.set(granted)
    Identifier.objects.get_or_create(name="never.example.com")
    AuditRecord.objects.create(
        action="push",
        status=201,
        domain="never.example.com",
        username="carol",
        key_fingerprint="carolkey0123456789abcdef0123456789abcdef012",
        token="tok1",
        remote_address="192.0.2.9",
    )
    for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        ChallengeFetch.objects.create(
            domain="never.example.com",
            token="tok1",
            remote_address=address,
            status=200,
            user_agent="Mozilla/5.0 (compatible; Let's Encrypt validation server)",
        )
    pushed = [
        ("fresh.example.com", "alice"),
        ("shortlived.example.com", "alice"),
        ("due.example.com", "alice"),
        ("late.example.com", "bob"),
        ("expired.example.com", "bob"),
    ]
    for name, user in pushed:
        AuditRecord.objects.create(
            action="push",
            status=201,
            domain=name,
            username=user,
            key_fingerprint=user + "key0123456789abcdef0123456789abcdef0123",
            token="tok-" + name[:4],
            remote_address="192.0.2.9",
        )
        for address in ("198.51.100.1", "198.51.100.2"):
            ChallengeFetch.objects.create(domain=name, token="tok-" + name[:4], remote_address=address, status=200)
    # What acme_challenge_status --probe stored (it is tested against nginx in test_probe_tls.py).
    for name, outcome, message in seed["probes"]:
        ProbeResult.objects.create(name=name, address=name + ":443", outcome=outcome, message=message)
    return "seeded"


def seed_bench(names: int) -> dict[str, str]:
    """``names`` identifiers with a certificate (random age, lifetimes of 6, 45 and 90 days), a push, three CA fetches
    and a probe result each, and a staff user who may view the dashboard: scripts/bench_dashboard.py's scene. Returns
    that user's session cookie."""
    from django.test import Client

    now, rng = timezone.now(), random.Random(23)
    with transaction.atomic():
        for i in range(names):
            name = f"n{i}.bench.example"
            start = now - timedelta(days=rng.uniform(0, 100))
            lifetime = timedelta(days=rng.choice((6, 45, 90)))
            record_certificate(
                fingerprint=hashlib.sha256(name.encode()).hexdigest(),
                serial=f"{i:x}",
                names=[name],
                not_before=start,
                not_after=start + lifetime,
                issuer="CN=Bench",
                lineage=name,
                user=None,
                username=f"user{i % 7}",
                key_fingerprint="k" * 43,
                remote_address="192.0.2.1",
                now=start,
            )
        AuditRecord.objects.bulk_create(
            AuditRecord(
                action="push",
                status=201,
                domain=f"n{i}.bench.example",
                username=f"user{i % 7}",
                key_fingerprint="k" * 43,
                token=f"t{i}",
                remote_address="192.0.2.1",
            )
            for i in range(names)
        )
        ChallengeFetch.objects.bulk_create(
            ChallengeFetch(domain=f"n{i}.bench.example", token=f"t{i}", remote_address=f"198.51.100.{k}", status=200)
            for i in range(names)
            for k in range(3)
        )
        ProbeResult.objects.bulk_create(
            ProbeResult(name=f"n{i}.bench.example", address="127.0.0.1:443", outcome="ok", message="bench")
            for i in range(names)
        )
    user = get_user_model().objects.create(username="bench-operator", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_identifier"))  # type: ignore[attr-defined]
    client = Client()
    client.force_login(user)
    return {"session": client.cookies["sessionid"].value}


def seed_challenges(total: int, host: str) -> str:
    """Replace every challenge by ``total`` rows; the one in the middle is pushed for ``host`` (the site serves a
    challenge only to requests whose Host names it). Returns its token: what scripts/bench's P3 fetches."""
    Challenge.objects.all().delete()
    rows = [Challenge(token=secrets.token_urlsafe(32), domain=f"p3-{i}.example.com") for i in range(total)]
    for row in rows:
        row.validation = row.token + "." + "x" * 43
    middle = rows[len(rows) // 2]
    middle.domain = host
    Challenge.objects.bulk_create(rows, batch_size=5000)
    return middle.token


def serving_queries(token: str, host: str) -> list[object]:
    """How many queries the second fetch of ``token`` from one address runs (the first records the fetch), its
    status, and SQLite's plan for the first query: what scripts/bench reports beside P3."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST=host)
    client.get(f"/.well-known/acme-challenge/{token}")
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/.well-known/acme-challenge/{token}")
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + captured.captured_queries[0]["sql"])
        plan = cursor.fetchall()[-1][-1]
    return [len(captured.captured_queries), response.status_code, plan]
