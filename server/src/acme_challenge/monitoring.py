"""What the site knows about each identifier it validated, and whether its certificate is renewed in time.

Three sources, all written where the site already is in the loop:

* the CA's fetches of each challenge (:class:`ChallengeFetch`), recorded by the serving view: only the first
  :data:`FETCHES_RECORDED` of each challenge, counted on the challenge's own row, so that serving keeps its speed
  (one conditional UPDATE and one INSERT for the first few fetches, nothing more afterwards);
* the pushes, from the audit trail (``AuditRecord``, kept ``ACME_CHALLENGE_AUDIT_RETENTION`` days): the push path is
  not slowed by a second write;
* the certificates the deploy hook reports (:class:`CertificateReport`, one :class:`CertificateName` per name), and
  per identifier the newest one (:class:`Identifier`).

The verdict follows certbot's own renewal rule (certbot/_internal/renewal.py, ``_default_renewal_time``): a
certificate is due for renewal once two thirds of its lifetime have passed (half, for lifetimes under 10 days). It is
**late** once half of that renewal window has passed too, i.e. at the midpoint between the time renewal became due and
the expiry: with certbot's timer running twice a day, a renewal that has not happened by then has failed many times.
For a 90-day certificate: due with 30 days left, late with 15 left; 45 days: due with 15, late with 7.5; 6 days: due
with 3, late with 1.5.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from functools import cache

from django.conf import settings
from django.db import DatabaseError, connections, models, router, transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone

from .models import MAX_DOMAIN_LENGTH, MAX_VALUE_LENGTH, AuditRecord, Challenge

logger = logging.getLogger(__name__)

#: Fetches recorded per challenge. Let's Encrypt fetches from its primary and several remote perspectives, and the
#: auth hook's self-check fetches once or twice, so ten hold a whole validation; later fetches cost nothing.
FETCHES_RECORDED = 10
#: The hooks' User-Agent product token: their self-check fetches are recorded but are not the CA's.
HOOK_USER_AGENT = "certbot-django-hooks"
#: Lifetimes below this are renewed at half-life rather than two thirds (certbot's rule).
SHORT_LIFETIME = timedelta(days=10)


class Verdict:
    OK = "ok"
    RENEW_DUE = "renew due"
    LATE = "late"
    EXPIRED = "expired"
    NEVER_ISSUED = "never issued"

    #: Verdicts that make acme_challenge_status exit non-zero and system check W005 warn.
    ALERTING = (LATE, EXPIRED)


class ChallengeFetch(models.Model):
    """One GET (or HEAD) of a stored challenge, as the CA or the auth hook's self-check made it."""

    time = models.DateTimeField(default=timezone.now, db_index=True)
    domain = models.CharField(max_length=MAX_DOMAIN_LENGTH, blank=True)
    token = models.CharField(max_length=MAX_VALUE_LENGTH)
    #: REMOTE_ADDR: behind a proxy, the proxy's address.
    remote_address = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    #: The HTTP status answered: 200, or 404 when the request's Host did not name the challenge's domain.
    status = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ("-time", "-id")
        indexes = [models.Index(fields=["domain", "time"], name="acme_fetch_domain_time")]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.domain or '-'} {self.status} {self.remote_address}"

    @property
    def by_hook(self) -> bool:
        """Whether the auth hook's self-check made it, rather than the CA."""
        return self.user_agent.startswith(HOOK_USER_AGENT)


class CertificateReport(models.Model):
    """A certificate the deploy hook reported: its public facts, who reported it and when."""

    #: When it was (last) reported: certbot runs the deploy hook right after each issuance or renewal.
    time = models.DateTimeField(default=timezone.now, db_index=True)
    #: Lower-case hex SHA-256 of the DER: one row per certificate, however often it is reported.
    fingerprint = models.CharField(max_length=64, unique=True)
    serial = models.CharField(max_length=64)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField(db_index=True)
    issuer = models.CharField(max_length=500, blank=True)
    #: certbot's name for the lineage (the live directory's name).
    lineage = models.CharField(max_length=255, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150, blank=True)
    key_fingerprint = models.CharField(max_length=64, blank=True)
    remote_address = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ("-time", "-id")

    def __str__(self) -> str:
        return f"{self.lineage or self.serial} (not after {self.not_after:%Y-%m-%d %H:%M})"


class CertificateName(models.Model):
    """One name (subjectAltName DNS name or IP address, canonical) of a reported certificate."""

    certificate = models.ForeignKey(CertificateReport, on_delete=models.CASCADE, related_name="names")
    name = models.CharField(max_length=MAX_DOMAIN_LENGTH, db_index=True)

    class Meta:
        ordering = ("certificate", "id")
        constraints = [models.UniqueConstraint(fields=["certificate", "name"], name="acme_certname_unique")]

    def __str__(self) -> str:
        return self.name


class Identifier(models.Model):
    """A name the site has seen validated (a challenge fetched) or certified (a certificate reported), with the
    newest certificate reported for it. The admin lists these with their verdict."""

    name = models.CharField(max_length=MAX_DOMAIN_LENGTH, unique=True)
    first_seen = models.DateTimeField(default=timezone.now)
    certificate = models.ForeignKey(
        CertificateReport, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    #: The certificate's notAfter, copied so that the admin and the status command sort by it; null: never issued.
    not_after = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = (models.F("not_after").asc(nulls_last=True), "name")

    def __str__(self) -> str:
        return self.name


# ---------------------------------------------------------------------------------------------------------------
# The serving path: the first few fetches of each challenge.


def record_fetch(
    request: HttpRequest, challenge_id: int, fetch_count: int, token: str, domain: str, status: int
) -> None:
    """Record this fetch if the challenge has had fewer than :data:`FETCHES_RECORDED`. ``fetch_count`` is what the
    serving query read: once it reaches the cap this returns at once, with no query. Never raises: the answer to the
    CA matters more than its record."""
    if fetch_count >= FETCHES_RECORDED:
        return
    alias = router.db_for_write(ChallengeFetch)
    try:
        with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
            # Conditional, so that concurrent fetches on any number of processes record at most the cap.
            cursor.execute(_count_fetch_sql(alias), [challenge_id, FETCHES_RECORDED])
            if cursor.rowcount != 1:
                return
            ChallengeFetch.objects.using(alias).create(
                domain=domain,
                token=token,
                remote_address=str(request.META.get("REMOTE_ADDR") or "")[:64],
                user_agent=_printable(str(request.META.get("HTTP_USER_AGENT") or ""), 255),
                status=status,
            )
            if domain:
                Identifier.objects.using(alias).get_or_create(name=domain)
    except DatabaseError:
        logger.warning("could not record a fetch of challenge %s", token, exc_info=True)


@cache
def _count_fetch_sql(alias: str) -> str:
    q = connections[alias].ops.quote_name
    table, count, pk = q(Challenge._meta.db_table), q("fetch_count"), q(Challenge._meta.pk.column)
    # Only quoted identifiers from the model are interpolated; the values are parameters.
    return f"UPDATE {table} SET {count} = {count} + 1 WHERE {pk} = %s AND {count} < %s"  # noqa: S608


def _printable(text: str, limit: int) -> str:
    return "".join(char if char.isprintable() else " " for char in text)[:limit]


# ---------------------------------------------------------------------------------------------------------------
# Reports


def record_certificate(
    *,
    fingerprint: str,
    serial: str,
    names: list[str],
    not_before: datetime,
    not_after: datetime,
    issuer: str,
    lineage: str,
    user: object,
    username: str,
    key_fingerprint: str,
    remote_address: str,
    now: datetime | None = None,
) -> tuple[CertificateReport, bool]:
    """Store a reported certificate (or refresh the report of one already known) and make it each name's
    certificate unless a newer one is known. Returns the report and whether it is new. Call inside a transaction."""
    values = {
        "time": now or timezone.now(),
        "serial": serial,
        "not_before": not_before,
        "not_after": not_after,
        "issuer": issuer,
        "lineage": lineage,
        "user": user,
        "username": username,
        "key_fingerprint": key_fingerprint,
        "remote_address": remote_address,
    }
    report, created = CertificateReport.objects.update_or_create(fingerprint=fingerprint, defaults=values)
    CertificateName.objects.bulk_create(
        [CertificateName(certificate=report, name=name) for name in names], ignore_conflicts=True
    )
    for name in names:
        identifier, _ = Identifier.objects.select_for_update().get_or_create(name=name)
        current = identifier.certificate
        if (
            current is None
            or current.pk == report.pk
            or (current.not_before, current.time)
            <= (
                report.not_before,
                report.time,
            )
        ):
            identifier.certificate, identifier.not_after = report, report.not_after
            identifier.save(update_fields=["certificate", "not_after"])
    return report, created


# ---------------------------------------------------------------------------------------------------------------
# Verdicts


def renewal_due(not_before: datetime, not_after: datetime) -> datetime:
    """When certbot starts renewing: after two thirds of the lifetime, or half of it below 10 days."""
    lifetime = not_after - not_before
    return not_before + (lifetime / 2 if lifetime < SHORT_LIFETIME else lifetime * 2 / 3)


def renewal_late(not_before: datetime, not_after: datetime) -> datetime:
    """When a renewal that has not happened is late: halfway from :func:`renewal_due` to the expiry."""
    due = renewal_due(not_before, not_after)
    return due + (not_after - due) / 2


def verdict(not_before: datetime | None, not_after: datetime | None, now: datetime) -> str:
    if not_before is None or not_after is None:
        return Verdict.NEVER_ISSUED
    if now >= not_after:
        return Verdict.EXPIRED
    if now >= renewal_late(not_before, not_after):
        return Verdict.LATE
    if now >= renewal_due(not_before, not_after):
        return Verdict.RENEW_DUE
    return Verdict.OK


@dataclass(frozen=True)
class Push:
    time: datetime
    username: str
    key_fingerprint: str
    remote_address: str


@dataclass(frozen=True)
class Status:
    """Everything the site knows about one identifier, at ``now``."""

    name: str
    verdict: str
    certificate: CertificateReport | None
    last_push: Push | None
    last_ca_fetch: ChallengeFetch | None
    #: Recorded fetches of this name's challenges (CA and self-check), newest first, at most ten.
    fetches: list[ChallengeFetch]
    now: datetime

    @property
    def days_left(self) -> float | None:
        if self.certificate is None:
            return None
        return (self.certificate.not_after - self.now).total_seconds() / 86400

    @property
    def renewal_due(self) -> datetime | None:
        c = self.certificate
        return None if c is None else renewal_due(c.not_before, c.not_after)

    @property
    def renewal_late(self) -> datetime | None:
        c = self.certificate
        return None if c is None else renewal_late(c.not_before, c.not_after)

    def as_json(self) -> dict[str, object]:
        c = self.certificate
        iso = _iso
        return {
            "name": self.name,
            "verdict": self.verdict,
            "not_before": iso(c.not_before) if c else None,
            "not_after": iso(c.not_after) if c else None,
            "days_left": round(self.days_left, 2) if self.days_left is not None else None,
            "renewal_due": iso(self.renewal_due),
            "renewal_late": iso(self.renewal_late),
            "last_renewal": iso(c.time) if c else None,
            "certificate": (
                {
                    "serial": c.serial,
                    "fingerprint": c.fingerprint,
                    "issuer": c.issuer,
                    "lineage": c.lineage,
                    "reported_by": c.username,
                    "key": c.key_fingerprint,
                }
                if c
                else None
            ),
            "last_push": (
                {
                    "time": iso(self.last_push.time),
                    "user": self.last_push.username,
                    "key": self.last_push.key_fingerprint,
                    "remote_address": self.last_push.remote_address,
                }
                if self.last_push
                else None
            ),
            "last_ca_fetch": _fetch_json(self.last_ca_fetch),
            "fetches": [_fetch_json(fetch) for fetch in self.fetches],
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt_timezone.utc).isoformat(timespec="seconds")


def _fetch_json(fetch: ChallengeFetch | None) -> dict[str, object] | None:
    if fetch is None:
        return None
    return {
        "time": _iso(fetch.time),
        "remote_address": fetch.remote_address,
        "user_agent": fetch.user_agent,
        "status": fetch.status,
        "by": "self-check" if fetch.by_hook else "ca",
    }


def statuses(now: datetime | None = None) -> list[Status]:
    """Every identifier, soonest expiry first; identifiers never issued last, by name."""
    now = now or timezone.now()
    identifiers = {i.name: i for i in Identifier.objects.select_related("certificate")}
    pushes: dict[str, Push] = {}
    last_push_times = (
        AuditRecord.objects.filter(action=AuditRecord.Action.PUSH, status__in=(200, 201))
        .exclude(domain="")
        .values("domain")
        .annotate(last=Max("time"))
    )
    wanted = {row["domain"]: row["last"] for row in last_push_times}
    if wanted:
        for record in AuditRecord.objects.filter(
            action=AuditRecord.Action.PUSH, status__in=(200, 201), domain__in=list(wanted)
        ).order_by("time", "id"):
            if record.time == wanted[record.domain]:
                pushes[record.domain] = Push(
                    record.time, record.username, record.key_fingerprint, record.remote_address
                )
    names = sorted(set(identifiers) | set(pushes))
    result = []
    for name in names:
        identifier = identifiers.get(name)
        certificate = identifier.certificate if identifier else None
        fetches = list(ChallengeFetch.objects.filter(domain=name).order_by("-time", "-id")[:FETCHES_RECORDED])
        ca_fetch = (
            ChallengeFetch.objects.filter(domain=name)
            .exclude(user_agent__startswith=HOOK_USER_AGENT)
            .order_by("-time", "-id")
            .first()
        )
        result.append(
            Status(
                name=name,
                verdict=verdict(
                    certificate.not_before if certificate else None, certificate.not_after if certificate else None, now
                ),
                certificate=certificate,
                last_push=pushes.get(name),
                last_ca_fetch=ca_fetch,
                fetches=fetches,
                now=now,
            )
        )
    result.sort(key=lambda s: (s.days_left is None, s.days_left if s.days_left is not None else 0, s.name))
    return result


def purge_fetches(before: datetime) -> int:
    """Delete fetch records older than ``before``; returns how many."""
    deleted, _ = ChallengeFetch.objects.filter(time__lt=before).delete()
    return deleted


def alerting(now: datetime | None = None) -> list[Status]:
    """The identifiers whose certificate is late or expired."""
    return [status for status in statuses(now) if status.verdict in Verdict.ALERTING]


def safe_alerting(now: datetime | None = None) -> list[Status] | None:
    """:func:`alerting`, or None when the tables do not exist yet (``migrate`` runs database checks first)."""
    try:
        with transaction.atomic():
            return alerting(now)
    except DatabaseError:
        return None
