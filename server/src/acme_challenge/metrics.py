"""``GET /.well-known/acme-challenge-metrics``: the monitoring facts in the Prometheus text format (version 0.0.4).

Off unless a setting turns it on, and never public by accident: with neither ``ACME_CHALLENGE_METRICS_TOKEN`` nor
``ACME_CHALLENGE_METRICS_ADDRESSES`` set the URL answers 404, as if it did not exist. With the token set, a request
must carry ``Authorization: Bearer <token>``; with addresses set, its REMOTE_ADDR must be in one of them; with both,
both. Anything else is 403. Behind a reverse proxy REMOTE_ADDR is the proxy's, so use the token there.

Per identifier: the certificate's expiry, when its renewal is due and when it is late, the last push and the last CA
fetch, and the verdict (one series per verdict, 1 for the current one). Site-wide: the API calls in the audit trail by
action and status, and the recorded challenge fetches by client and status. The counts cover what is kept (the audit
trail's retention, the first fetches of each challenge), so they are gauges, not counters.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Iterable
from datetime import datetime

from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from . import monitoring
from .conf import METRICS_ADDRESSES_SETTING, METRICS_TOKEN_SETTING, conf, is_valid_metrics_token
from .models import HOOK_USER_AGENT, AuditRecord, ChallengeFetch, Verdict
from .monitoring import Status
from .probe import recent_results
from .refusal import TEXT

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
VERDICTS = (Verdict.OK, Verdict.RENEW_DUE, Verdict.LATE, Verdict.EXPIRED, Verdict.NEVER_ISSUED)


@csrf_exempt
def metrics(request: HttpRequest) -> HttpResponse:
    token, networks = conf.metrics_token, conf.metrics_networks
    if token is None and networks is None:
        return _answer(404, "not found\n")
    if request.method not in ("GET", "HEAD"):
        response = _answer(405, "method not allowed: GET the metrics\n")
        response["Allow"] = "GET, HEAD"
        return response
    if token is not None:
        if not is_valid_metrics_token(token):
            return _answer(403, f"forbidden: {METRICS_TOKEN_SETTING} is not valid (system check E010)\n")
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), str(token).encode()):
            return _answer(403, f"forbidden: send 'Authorization: Bearer <{METRICS_TOKEN_SETTING}>'\n")
    if networks is not None and not _address_in(str(request.META.get("REMOTE_ADDR") or ""), networks):
        return _answer(403, f"forbidden: this address is not in {METRICS_ADDRESSES_SETTING}\n")
    response = HttpResponse(render(), content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response


def _answer(status: int, text: str) -> HttpResponse:
    response = HttpResponse(text, status=status, content_type=TEXT)
    response["Cache-Control"] = "no-store"
    return response


def _address_in(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def render(now: datetime | None = None) -> str:
    """The exposition text."""
    statuses = monitoring.statuses(now)
    lines: list[str] = []

    def family(name: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        lines.extend(f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples)

    def per_identifier(value_of: Callable[[Status], datetime | None]) -> list[tuple[dict[str, str], float]]:
        samples = []
        for status in statuses:
            value = value_of(status)
            if value is not None:
                samples.append(({"identifier": status.name}, value.timestamp()))
        return samples

    family(
        "acme_certificate_expiry_timestamp_seconds",
        "notAfter of the newest certificate the deploy hook reported for the identifier.",
        per_identifier(lambda s: s.certificate.not_after if s.certificate else None),
    )
    family(
        "acme_certificate_renewal_due_timestamp_seconds",
        "When certbot starts renewing: two thirds of the lifetime (half below 10 days).",
        per_identifier(lambda s: s.renewal_due),
    )
    family(
        "acme_certificate_renewal_late_timestamp_seconds",
        "When a renewal that has not happened is late: halfway from due to expiry.",
        per_identifier(lambda s: s.renewal_late),
    )
    family(
        "acme_certificate_last_renewal_timestamp_seconds",
        "When the newest certificate was reported.",
        per_identifier(lambda s: s.certificate.time if s.certificate else None),
    )
    family(
        "acme_challenge_last_push_timestamp_seconds",
        "The last accepted push of a challenge for the identifier (from the audit trail).",
        per_identifier(lambda s: s.last_push.time if s.last_push else None),
    )
    family(
        "acme_challenge_last_ca_fetch_timestamp_seconds",
        "The last recorded fetch of the identifier's challenge by the CA (not the hooks' self-check).",
        per_identifier(lambda s: s.last_ca_fetch.time if s.last_ca_fetch else None),
    )
    probes = recent_results(now)  # the served certificates, as acme_challenge_status --probe stored them
    family(
        "acme_served_certificate_expiry_timestamp_seconds",
        "notAfter of the certificate the identifier's TLS endpoint served at the last probe (--probe).",
        (({"identifier": n}, p.not_after.timestamp()) for n, p in sorted(probes.items()) if p.not_after is not None),
    )
    family(
        "acme_served_certificate_probe_timestamp_seconds",
        "When the identifier's TLS endpoint was last probed (acme_challenge_status --probe).",
        (({"identifier": n, "outcome": p.outcome}, p.time.timestamp()) for n, p in sorted(probes.items())),
    )
    family(
        "acme_certificate_verdict",
        "1 for the identifier's verdict: ok, renew due, late, expired or never issued.",
        (
            ({"identifier": status.name, "verdict": verdict}, 1.0 if status.verdict == verdict else 0.0)
            for status in statuses
            for verdict in VERDICTS
        ),
    )
    # Summed, not counted: refusals of requests that proved no key are counted in one row per minute and reason.
    calls = AuditRecord.objects.values("action", "status").annotate(calls=Sum("count")).order_by("action", "status")
    family(
        "acme_challenge_api_calls",
        f"API calls in the audit trail (kept {conf.audit_retention_days} days) by action and status answered.",
        (({"action": row["action"], "status": str(row["status"])}, row["calls"]) for row in calls),
    )
    fetches: dict[tuple[str, int], int] = {}
    for row in ChallengeFetch.objects.values("user_agent", "status").annotate(count=Count("id")):
        client = "self-check" if row["user_agent"].startswith(HOOK_USER_AGENT) else "ca"
        fetches[client, row["status"]] = fetches.get((client, row["status"]), 0) + row["count"]
    family(
        "acme_challenge_fetches",
        f"Recorded fetches of challenges (the first from each address, {monitoring.FETCHES_RECORDED} addresses per "
        "challenge at most) by client and status.",
        (({"client": client, "status": str(status)}, count) for (client, status), count in sorted(fetches.items())),
    )
    return "\n".join(lines) + "\n"


def _labels(labels: dict[str, str]) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{key}="{escape(value)}"' for key, value in labels.items()) + "}"


def _number(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))
