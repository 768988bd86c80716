"""The operator's page in the admin: every name at a glance, the most urgent first.

It reads :func:`monitoring.statuses`, the code behind ``acme_challenge_status`` and the metrics, so the three always
agree on a verdict; it adds only presentation (colour, a timeline drawn as inline SVG by the server: no JavaScript,
nothing fetched from elsewhere) and the stored results of the last TLS probe (probe.py), which only the status
command gathers. Staff holding ``acme_challenge.view_identifier`` may see it; the admin links it as "Dashboard" from
the app's index.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from urllib.parse import urlencode

from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from . import monitoring
from .models import ChallengeFetch, ProbeResult, Verdict
from .monitoring import SHORT_LIFETIME, Status
from .probe import recent_results

PERMISSION = "acme_challenge.view_identifier"

#: Most urgent first. A name validated but never reported (no deploy hook, or issuance failed) comes before the
#: names that are fine.
URGENCY = (Verdict.EXPIRED, Verdict.LATE, Verdict.RENEW_DUE, Verdict.NEVER_ISSUED, Verdict.OK)
#: CSS class per verdict (the colours are in the template); the verdict is always written out too.
CSS_CLASS = {
    Verdict.OK: "ok",
    Verdict.RENEW_DUE: "due",
    Verdict.LATE: "late",
    Verdict.EXPIRED: "expired",
    Verdict.NEVER_ISSUED: "never",
}
#: The timeline's colours: the same as the verdicts' (the template's CSS).
COLOURS = {"ok": "#2e7d32", "due": "#b58900", "late": "#e65100", "expired": "#c62828", "never": "#757575"}
TIMELINE_WIDTH, TIMELINE_HEIGHT = 220, 22


@dataclass(frozen=True)
class Row:
    status: Status
    probe: ProbeResult | None
    #: The worse of the verdict and what the probe's finding counts as.
    urgency: str
    #: The audit trail's changelist, filtered on this name.
    audit_url: str = ""

    @property
    def name(self) -> str:
        return self.status.name

    @property
    def verdict(self) -> str:
        return self.status.verdict

    @property
    def css(self) -> str:
        return CSS_CLASS[self.status.verdict]

    @property
    def needs_attention(self) -> bool:
        return self.urgency != Verdict.OK

    @property
    def days_left(self) -> str:
        days = self.status.days_left
        return "" if days is None else f"{days:.1f}"

    @property
    def lifetime(self) -> timedelta | None:
        certificate = self.status.certificate
        return None if certificate is None else certificate.not_after - certificate.not_before

    @property
    def lifetime_text(self) -> str:
        lifetime = self.lifetime
        if lifetime is None:
            return ""
        days = lifetime.total_seconds() / 86400
        # Let's Encrypt's shortlived profile is 160 hours: 6.7 days, not "7".
        return f"{days:.1f} days" if lifetime < SHORT_LIFETIME else f"{days:.0f} days"

    @property
    def short_lived(self) -> bool:
        lifetime = self.lifetime
        return lifetime is not None and lifetime < SHORT_LIFETIME

    @property
    def users(self) -> set[str]:
        found = set()
        if self.status.last_push and self.status.last_push.username:
            found.add(self.status.last_push.username)
        if self.status.certificate and self.status.certificate.username:
            found.add(self.status.certificate.username)
        return found

    @property
    def last_validation(self) -> list[ChallengeFetch]:
        """The recorded fetches of the newest challenge fetched for this name, the CA's and the self-check's."""
        fetches = self.status.fetches
        if not fetches:
            return []
        token = fetches[0].token
        return [fetch for fetch in fetches if fetch.token == token]

    @property
    def probe_css(self) -> str:
        if self.probe is None:
            return ""
        return CSS_CLASS[self.probe.counts_as]

    @property
    def timeline(self) -> SafeString:
        return timeline(self.status)


def rows(now: datetime | None = None, probes: dict[str, ProbeResult] | None = None) -> list[Row]:
    """Every name the status command lists, with its last probe, most urgent first (then soonest expiry, then
    name)."""
    now = now or timezone.now()
    if probes is None:
        probes = recent_results(now)
    audit = reverse("admin:acme_challenge_auditrecord_changelist")
    result = []
    for status in monitoring.statuses(now):
        probe = probes.get(status.name)
        urgency = status.verdict
        if probe is not None and URGENCY.index(probe.counts_as) < URGENCY.index(urgency):
            urgency = probe.counts_as
        result.append(Row(status, probe, urgency, f"{audit}?{urlencode({'domain': status.name})}"))
    result.sort(
        key=lambda row: (
            URGENCY.index(row.urgency),
            row.status.days_left is None,
            row.status.days_left or 0.0,
            row.name,
        )
    )
    return result


def timeline(status: Status) -> SafeString:
    """The certificate's validity as a bar: issued to due (green), due to late (amber), late to expiry (orange);
    a black line for now (red, at the end, once expired). Each mark has a title, read on hover and by screen
    readers."""
    certificate = status.certificate
    w, h = TIMELINE_WIDTH, TIMELINE_HEIGHT
    if certificate is None:
        return format_html(
            '<svg class="timeline" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">'
            '<rect x="0" y="6" width="{}" height="10" fill="none" stroke="{}" stroke-dasharray="4 3"/></svg>',
            w, h, w, h, "no certificate reported", w, COLOURS["never"],
        )  # fmt: skip
    start, end = certificate.not_before, certificate.not_after
    due = monitoring.renewal_due(start, end)
    late = monitoring.renewal_late(start, end)
    span = (end - start).total_seconds() or 1.0

    def x(moment: datetime) -> float:
        return round(max(0.0, min(1.0, (moment - start).total_seconds() / span)) * w, 1)

    segments = format_html_join(
        "",
        '<rect class="{}" x="{}" y="6" width="{}" height="10" fill="{}"><title>{}</title></rect>',
        (
            (css, x(a), round(x(b) - x(a), 1), COLOURS[css], text)
            for css, a, b, text in (
                ("ok", start, due, f"issued {_when(start)}"),
                ("due", due, late, f"renewal due {_when(due)}"),
                ("late", late, end, f"late from {_when(late)}, expires {_when(end)}"),
            )
        ),
    )
    now = status.now
    now_colour = COLOURS["expired"] if now >= end else "#000"
    label = (
        f"issued {_when(start)}, renewal due {_when(due)}, late {_when(late)}, expires {_when(end)}; now {_when(now)}"
    )
    return format_html(
        '<svg class="timeline" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">{}'
        '<line class="now" x1="{}" x2="{}" y1="1" y2="21" stroke="{}" stroke-width="2"><title>now {}</title></line>'
        "</svg>",
        w, h, w, h, label, segments, x(now), x(now), now_colour, _when(now),
    )  # fmt: skip


def view(request: HttpRequest, admin_site: AdminSite) -> HttpResponse:
    """The dashboard, mounted by ``admin_site`` (``admin_view``: staff only), and refused without the permission."""
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    now = timezone.now()
    every = rows(now)
    attention = request.GET.get("attention") == "1"
    user = request.GET.get("user", "")
    shown = [row for row in every if (not attention or row.needs_attention) and (not user or user in row.users)]
    counts = Counter(row.verdict for row in every)
    context = {
        **admin_site.each_context(request),
        "title": "Certificates",
        "subtitle": None,
        "rows": shown,
        "total": len(every),
        "now": now,
        "counts": [(verdict, CSS_CLASS[verdict], counts.get(verdict, 0)) for verdict in URGENCY],
        "attention": attention,
        "user_filter": user,
        "users": sorted(set().union(*(row.users for row in every))) if every else [],
        "audit_url": reverse("admin:acme_challenge_auditrecord_changelist"),
        "probed": any(row.probe is not None for row in every),
    }
    return TemplateResponse(request, "acme_challenge/dashboard.html", context)


def _when(moment: datetime) -> str:
    return moment.astimezone(dt_timezone.utc).strftime("%Y-%m-%d %H:%M")
