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


def dashboard_time(site: h.Site, names: int = 1000, runs: int = 5) -> float:
    """Median seconds of one dashboard page for ``names`` names, on ``site`` (running, with an empty database)."""
    out = site.manage("site_data", "seed-bench", str(names))
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
