"""``manage.py acme_challenge_status``: one line per identifier: its certificate's expiry and days left, the last
renewal, the last push and the last CA fetch, and a verdict (ok, renew due, late, expired, never issued).

Exit status for cron and monitors: 0 when nothing is late or expired, 1 when something is late (and nothing
expired), 2 when something expired. ``--json`` prints the same facts for machines; ``--now`` moves the clock, to see
what the verdicts will be (and to test an alert) without waiting. The rule behind the verdicts is in monitoring.py.

``--probe`` also connects to each name's TLS endpoint and compares the certificate it serves with the newest one
reported (probe.py), stores the findings for the dashboard and the metrics, and prints one more line per name. A
stale or unreachable served certificate counts as late (exit 1), an expired one or a name missing from it as expired
(exit 2). Run it from cron or a systemd timer: nothing else probes.
"""

from __future__ import annotations

import json
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ...models import Verdict
from ...monitoring import Status, statuses
from ...probe import PROBE_CONCURRENCY, PROBE_TIMEOUT, Finding, probe_all

EXIT_LATE = 1
EXIT_EXPIRED = 2


class Command(BaseCommand):
    help = (
        "One line per identifier: certificate expiry and days left, last renewal, last push, last CA fetch, and "
        "a verdict (ok, renew due, late, expired, never issued). Exits 1 when any is late, 2 when any expired. "
        "With --probe, also what each name's TLS endpoint serves."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print a JSON array of objects, one per identifier")
        parser.add_argument(
            "--now",
            metavar="ISO8601",
            help="judge as if it were this time (e.g. 2026-03-01T12:00:00Z; no zone means UTC) instead of now",
        )
        parser.add_argument(
            "--probe",
            action="store_true",
            help=(
                "connect to each name's TLS endpoint (port 443, or its entry in ACME_CHALLENGE_PROBE_ADDRESSES), "
                "read the certificate served and compare it with the newest reported; stores the findings "
                f"({PROBE_TIMEOUT:g} s per name at most, {PROBE_CONCURRENCY} at a time)"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = _parse_now(options["now"]) if options["now"] else timezone.now()
        found = statuses(now)
        probed: dict[str, Finding] = {}
        if options["probe"]:
            findings = probe_all({status.name: status.certificate for status in found}, now)
            probed = {finding.name: finding for finding in findings}
        if options["json"]:
            self.stdout.write(json.dumps([_json(status, probed) for status in found], indent=2))
        elif not found:
            self.stdout.write("no identifier yet: none validated here and no certificate reported (deploy-hook)")
        else:
            for status in found:
                self.stdout.write(_line(status))
                if status.name in probed:
                    finding = probed[status.name]
                    self.stdout.write(f"  served ({finding.address}): {finding.outcome.value}: {finding.message}")
        verdicts = {status.verdict for status in found} | {finding.counts_as for finding in probed.values()}
        if Verdict.EXPIRED in verdicts:
            raise SystemExit(EXIT_EXPIRED)
        if Verdict.LATE in verdicts:
            raise SystemExit(EXIT_LATE)


def _parse_now(value: str) -> datetime:
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        raise CommandError(f"--now {value!r}: not an ISO 8601 time; give e.g. 2026-03-01T12:00:00Z")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt_timezone.utc)


def _json(status: Status, probed: dict[str, Finding]) -> dict[str, object]:
    entry = status.as_json()
    if status.name in probed:
        finding = probed[status.name]
        served = finding.served
        entry["served"] = {
            "address": finding.address,
            "outcome": finding.outcome.value,
            "counts_as": finding.counts_as,
            "message": finding.message,
            "fingerprint": served.fingerprint if served else None,
            "serial": served.serial if served else None,
            "not_before": served.not_before.isoformat() if served else None,
            "not_after": served.not_after.isoformat() if served else None,
            "names": list(served.names) if served else None,
        }
    return entry


def _when(value: datetime | None) -> str:
    return value.astimezone(dt_timezone.utc).strftime("%Y-%m-%d %H:%M") if value is not None else "never"


def _line(status: Status) -> str:
    certificate = status.certificate
    if certificate is None:
        expiry = "no certificate reported"
    else:
        expiry = f"expires {_when(certificate.not_after)} ({status.days_left:.1f} days left)"
    renewal = f"renewed {_when(certificate.time)}" if certificate else "renewed never"
    push = status.last_push
    pushed = (
        f"pushed {_when(push.time)} by {push.username or '?'} key {push.key_fingerprint[:16] or '?'}"
        if push
        else ("pushed never (in the audit trail)")
    )
    fetch = status.last_ca_fetch
    fetched = (
        f"CA fetch {_when(fetch.time)} ({fetch.status} to {fetch.remote_address or '?'})"
        if fetch
        else ("CA fetch never")
    )
    return f"{status.name}  {expiry}  {renewal}  {pushed}  {fetched}  {status.verdict}"
