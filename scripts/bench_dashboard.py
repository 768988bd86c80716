"""The dashboard's time for many names (issue 23: under a second for 1,000), for scripts/bench.

:func:`dashboard_time` fills a running example site with ``names`` names (a certificate each, spread over every
verdict, one push in the audit trail, three recorded fetches and a stored probe result), logs a staff user in, and
times ``GET /admin/acme_challenge/identifier/dashboard/`` over HTTP, checking every time that the page holds one row
per name. Standalone: ``.venv/bin/python scripts/bench_dashboard.py [NAMES] [RUNS]`` starts its own site on a free
port (no CA involved, so no end-to-end lock).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import harness as h

DASHBOARD = "/admin/acme_challenge/identifier/dashboard/"

SEED = """
import hashlib, json, random
from datetime import timedelta
from django.contrib.auth.models import Permission, User
from django.db import transaction
from django.test import Client
from django.utils import timezone
from acme_challenge.models import AuditRecord
from acme_challenge.models import ChallengeFetch
from acme_challenge.monitoring import record_certificate
from acme_challenge.models import ProbeResult

names, now, rng = {names}, timezone.now(), random.Random(23)
with transaction.atomic():
    for i in range(names):
        name = f"n{{i}}.bench.example"
        start = now - timedelta(days=rng.uniform(0, 100))
        lifetime = timedelta(days=rng.choice((6, 45, 90)))
        fingerprint = hashlib.sha256(name.encode()).hexdigest()
        record_certificate(
            fingerprint=fingerprint, serial=f"{{i:x}}", names=[name], not_before=start, not_after=start + lifetime,
            issuer="CN=Bench", lineage=name, user=None, username=f"user{{i % 7}}", key_fingerprint="k" * 43,
            remote_address="192.0.2.1", now=start,
        )
    AuditRecord.objects.bulk_create(
        AuditRecord(action="push", status=201, domain=f"n{{i}}.bench.example", username=f"user{{i % 7}}",
                    key_fingerprint="k" * 43, token=f"t{{i}}", remote_address="192.0.2.1")
        for i in range(names)
    )
    ChallengeFetch.objects.bulk_create(
        ChallengeFetch(domain=f"n{{i}}.bench.example", token=f"t{{i}}", remote_address=f"198.51.100.{{k}}", status=200)
        for i in range(names) for k in range(3)
    )
    ProbeResult.objects.bulk_create(
        ProbeResult(name=f"n{{i}}.bench.example", address="127.0.0.1:443", outcome="ok", message="bench")
        for i in range(names)
    )
user = User.objects.create(username="bench-operator", is_staff=True)
user.user_permissions.set(Permission.objects.filter(codename="view_identifier"))
client = Client()
client.force_login(user)
print(json.dumps({{"session": client.cookies["sessionid"].value}}))
"""


def dashboard_time(site: h.Site, names: int = 1000, runs: int = 5) -> float:
    """Median seconds of one dashboard page for ``names`` names, on ``site`` (running, with an empty database)."""
    out = site.manage("shell", input=SEED.format(names=names))
    session = json.loads(out.strip().splitlines()[-1])["session"]
    request = urllib.request.Request(f"{site.url}{DASHBOARD}", headers={"Cookie": f"sessionid={session}"})
    samples = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            page = response.read().decode()
        samples.append(time.perf_counter() - started)
        rows = page.count(' data-urgency="')
        if rows != names:
            raise h.HarnessError(f"the dashboard showed {rows} rows for {names} names")
    return statistics.median(samples[1:])  # the first request warms the process up


def main(argv: list[str]) -> int:
    names = int(argv[0]) if argv else 1000
    runs = int(argv[1]) if len(argv) > 1 else 5
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as work:
        site = h.Site(Path(work) / "site", port=h.free_port(), workers=1)
        with h.running(site):
            seconds = dashboard_time(site, names, runs)
    print(f"dashboard: {seconds * 1000:.0f} ms for {names} names (median of {runs}, gunicorn, SQLite)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
