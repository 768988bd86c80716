"""What the site knows about each identifier it validated, and whether its certificate is renewed in time.

Three sources, all written where the site already is in the loop:

* the CA's fetches of each challenge (:class:`ChallengeFetch`), recorded by the serving view: the first fetch from
  each source address, for up to :data:`FETCHES_RECORDED` addresses, counted on the challenge's own row so that
  serving keeps its speed (an INSERT that does nothing for an address already recorded, nothing at all at the cap);
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

The models are in models.py, with the others; this module is the logic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from functools import cache
from typing import Any

from django.db import DatabaseError, IntegrityError, connections, router, transaction
from django.db.models import F, Max, Window
from django.db.models.functions import RowNumber
from django.http import HttpRequest
from django.utils import timezone

from .models import (
    HOOK_USER_AGENT,
    AuditRecord,
    CertificateName,
    CertificateReport,
    Challenge,
    ChallengeFetch,
    Identifier,
    Verdict,
    quoted_columns,
)

logger = logging.getLogger(__name__)

#: Source addresses whose first fetch is recorded, per challenge. Let's Encrypt fetches from its primary and several
#: remote perspectives (five in 2026), and the auth hook's self-check from one or two addresses, so sixteen hold a
#: whole validation with room to spare; further addresses, and repeated fetches, cost little or nothing.
FETCHES_RECORDED = 16
#: Lifetimes below this are renewed at half-life rather than two thirds (certbot's rule).
SHORT_LIFETIME = timedelta(days=10)


# ---------------------------------------------------------------------------------------------------------------
# The serving path: the first fetch from each address, for the first few addresses of each challenge.


def record_fetch(
    request: HttpRequest, challenge_id: int, fetch_count: int, token: str, domain: str, status: int
) -> None:
    """Record this fetch if it is the first from its source address and the challenge has fewer than
    :data:`FETCHES_RECORDED` addresses recorded. ``fetch_count`` is what the serving query read: at the cap this
    returns at once, with no query; under it, a fetch from an address already recorded costs one INSERT that
    inserts nothing. Never raises: the answer to the CA matters more than its record.

    Keyed by address, not by order of arrival: the first ten fetches used to be recorded, whoever made them, so one
    client fetching a dozen times hid every CA perspective after it."""
    if fetch_count >= FETCHES_RECORDED:
        return
    address = str(request.META.get("REMOTE_ADDR") or "")[:64]
    seen = (challenge_id, address, user_agent_is_hook(request))
    if seen in _recorded_here:
        return  # this process recorded (or found) it already: no query at all
    if len(_recorded_here) >= _RECORDED_HERE_MAX:
        _recorded_here.clear()
    _recorded_here.add(seen)
    alias = router.db_for_write(ChallengeFetch)
    connection = connections[alias]
    try:
        # One statement, outside any transaction, when another process recorded the address: it inserts nothing
        # (a transaction would add BEGIN and COMMIT).
        if not _insert_fetch(alias, token, domain, address, request, status):
            return
        with transaction.atomic(using=alias):
            # Conditional, so that concurrent fetches from new addresses on any number of processes record at most
            # the cap: the row of the one over it is deleted again.
            with connection.cursor() as cursor:
                cursor.execute(_count_fetch_sql(alias), [challenge_id, FETCHES_RECORDED])
                over_cap = cursor.rowcount != 1
            if over_cap:
                ChallengeFetch.objects.using(alias).filter(
                    token=token, remote_address=address, self_check=user_agent_is_hook(request)
                ).delete()
            elif domain:
                Identifier.objects.using(alias).get_or_create(name=domain)
    except DatabaseError:
        logger.warning("could not record a fetch of challenge %s", token, exc_info=True)


#: (challenge id, address, self-check) this process has recorded or found recorded: a repeated fetch from a known
#: address costs no query, which keeps serving at the speed of the lookup (scripts/bench, P3, fetches one token from
#: one address). Cleared when full; challenge ids are never reused, so an entry is never wrong, only forgotten.
_recorded_here: set[tuple[int, str, bool]] = set()
_RECORDED_HERE_MAX = 4096


def user_agent_is_hook(request: HttpRequest) -> bool:
    return str(request.META.get("HTTP_USER_AGENT") or "").startswith(HOOK_USER_AGENT)


def _insert_fetch(alias: str, token: str, domain: str, address: str, request: HttpRequest, status: int) -> bool:
    """Insert the fetch unless one from ``address`` is recorded for ``token``; whether it was inserted."""
    connection = connections[alias]
    user_agent = _printable(str(request.META.get("HTTP_USER_AGENT") or ""), 255)
    values: dict[str, Any] = {
        "time": timezone.now(),
        "domain": domain,
        "token": token,
        "remote_address": address,
        "user_agent": user_agent,
        "status": status,
        "self_check": user_agent.startswith(HOOK_USER_AGENT),
    }
    if connection.vendor in ("sqlite", "postgresql"):
        params: list[Any] = [connection.ops.adapt_datetimefield_value(values["time"]), domain, token, address]
        params += [user_agent, status, values["self_check"]]
        with connection.cursor() as cursor:
            cursor.execute(_insert_fetch_sql(alias), params)
            return bool(cursor.rowcount == 1)
    if (
        ChallengeFetch.objects.using(alias)
        .filter(token=token, remote_address=address, self_check=values["self_check"])
        .exists()
    ):
        return False
    try:
        with transaction.atomic(using=alias):
            ChallengeFetch.objects.using(alias).create(**values)
    except IntegrityError:
        return False
    return True


_FETCH_COLUMNS = ("time", "domain", "token", "remote_address", "user_agent", "status", "self_check")


@cache
def _insert_fetch_sql(alias: str) -> str:
    q = connections[alias].ops.quote_name
    columns = quoted_columns(alias, ChallengeFetch, *_FETCH_COLUMNS)
    token, address, self_check = quoted_columns(alias, ChallengeFetch, "token", "remote_address", "self_check")
    placeholders = ", ".join(["%s"] * len(columns))
    # Only quoted identifiers from the model are interpolated; the values are parameters.
    return (
        f"INSERT INTO {q(ChallengeFetch._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
        f"VALUES ({placeholders}) ON CONFLICT ({token}, {address}, {self_check}) DO NOTHING"
    )


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
    verified: bool = False,
    anchor: str = "",
    leaf: str = "",
    now: datetime | None = None,
) -> tuple[CertificateReport, bool]:
    """Store a certificate as ``user`` reported it (or refresh that user's report of it) and make it each name's
    certificate if it is the newest evidence for the name (:func:`evidence_order`). Returns the report and whether
    it is new for this user. Call inside a transaction. reports.py calls it only with facts it read from a
    certificate whose chain it verified."""
    values = {
        "time": now or timezone.now(),
        "serial": serial,
        "not_before": not_before,
        "not_after": not_after,
        "issuer": issuer,
        "lineage": lineage,
        "username": username,
        "key_fingerprint": key_fingerprint,
        "remote_address": remote_address,
        "verified": verified,
        "anchor": anchor,
        "leaf": leaf,
    }
    # Keyed by user too: another user's report of the same certificate is another row, never this one.
    report, created = CertificateReport.objects.update_or_create(fingerprint=fingerprint, user=user, defaults=values)
    CertificateName.objects.bulk_create(
        [CertificateName(certificate=report, name=name) for name in names], ignore_conflicts=True
    )
    for name in names:
        identifier, _ = Identifier.objects.select_for_update().get_or_create(name=name)
        current = identifier.certificate
        if current is None or current.pk == report.pk or evidence_order(report) > evidence_order(current):
            identifier.certificate, identifier.not_after = report, report.not_after
            identifier.save(update_fields=["certificate", "not_after"])
    return report, created


def evidence_order(report: CertificateReport) -> tuple[bool, datetime, datetime]:
    """How reports of one name compare: a verified one beats any unverified one (reports from before migration 0004
    were claims, and a claim dated 2098 must not outrank every real renewal), then the later ``not_before``, then the
    later ``not_after``. Of equals the one already in place stays."""
    return (report.verified, report.not_before, report.not_after)


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
    #: Recorded fetches of this name's challenges (CA and self-check), newest first, at most FETCHES_RECORDED.
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
                    "verified": c.verified,
                    "anchor": c.anchor,
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
    """Every identifier, soonest expiry first; identifiers never issued last, by name. The one place the verdicts are
    made: the status command, the metrics, system check W005 and the admin all read them from here."""
    now = now or timezone.now()
    identifiers = {i.name: i for i in Identifier.objects.select_related("certificate")}
    pushes = _last_pushes()
    fetches = _fetches_of()
    result = [
        _status(name, identifiers.get(name), pushes.get(name), now, fetches.get(name, ([], None)))
        for name in sorted(set(identifiers) | set(pushes))
    ]
    result.sort(key=lambda s: (s.days_left is None, s.days_left if s.days_left is not None else 0, s.name))
    return result


def status_of(name: str, now: datetime | None = None) -> Status:
    """What the site knows about one identifier (canonical, names.parse_identifier), at ``now``: the same facts and
    verdict :func:`statuses` gives for it, for a page or probe about one name. A name the site never saw is
    "never issued"."""
    now = now or timezone.now()
    identifier = Identifier.objects.select_related("certificate").filter(name=name).first()
    return _status(name, identifier, _last_pushes([name]).get(name), now)


def _last_pushes(names: list[str] | None = None) -> dict[str, Push]:
    """The last accepted push per name (of ``names``, or all), from the audit trail."""
    accepted = AuditRecord.objects.filter(action=AuditRecord.Action.PUSH, status__in=(200, 201)).exclude(domain="")
    if names is not None:
        accepted = accepted.filter(domain__in=names)
    wanted = {row["domain"]: row["last"] for row in accepted.values("domain").annotate(last=Max("time"))}
    pushes: dict[str, Push] = {}
    if wanted:
        for record in accepted.filter(domain__in=list(wanted)).order_by("time", "id"):
            if record.time == wanted[record.domain]:
                pushes[record.domain] = Push(
                    record.time, record.username, record.key_fingerprint, record.remote_address
                )
    return pushes


def _fetches_of(names: list[str] | None = None) -> dict[str, tuple[list[ChallengeFetch], ChallengeFetch | None]]:
    """Per name (of ``names``, or all): its newest recorded fetches (at most :data:`FETCHES_RECORDED`) and its newest
    fetch by the CA. Two queries for any number of names, ranked by the database (a window function: SQLite 3.25,
    PostgreSQL): a query per name cost the dashboard most of its time at 1,000 names."""
    newest_first = [F("time").desc(), F("id").desc()]
    fetches = ChallengeFetch.objects.exclude(domain="")
    if names is not None:
        fetches = fetches.filter(domain__in=names)
    rank = Window(RowNumber(), partition_by=[F("domain")], order_by=newest_first)
    found: dict[str, tuple[list[ChallengeFetch], ChallengeFetch | None]] = {}
    for fetch in fetches.annotate(rank=rank).filter(rank__lte=FETCHES_RECORDED).order_by("domain", *newest_first):
        found.setdefault(fetch.domain, ([], None))[0].append(fetch)
    by_ca = fetches.exclude(user_agent__startswith=HOOK_USER_AGENT).annotate(rank=rank).filter(rank=1)
    for fetch in by_ca:
        found[fetch.domain] = (found.get(fetch.domain, ([], None))[0], fetch)
    return found


def _status(
    name: str,
    identifier: Identifier | None,
    push: Push | None,
    now: datetime,
    known: tuple[list[ChallengeFetch], ChallengeFetch | None] | None = None,
) -> Status:
    certificate = identifier.certificate if identifier else None
    fetches, ca_fetch = known if known is not None else _fetches_of([name]).get(name, ([], None))
    return Status(
        name=name,
        verdict=verdict(
            certificate.not_before if certificate else None, certificate.not_after if certificate else None, now
        ),
        certificate=certificate,
        last_push=push,
        last_ca_fetch=ca_fetch,
        fetches=fetches,
        now=now,
    )


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
