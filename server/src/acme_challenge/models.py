"""Every model of the app, in one module that imports none of the others (only conf and names): the challenges
certbot's hooks push, the JWT nonces already used (the shared replay store), each key's domain scope, the audit trail
of API calls, and what monitoring records (the CA's fetches, the certificates reported, each identifier's newest, the
probe's last finding per name). The logic that writes and reads the monitoring rows is in monitoring.py and
probe.py; the hand-written SQL of the serving and push paths is here, beside the model it reads."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.db import IntegrityError, connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from .conf import conf
from .names import MAX_HOSTNAME_LENGTH, matches

#: ACME tokens are 43 base64url characters and key authorizations 87; hooks and site both cap them at 127.
MAX_VALUE_LENGTH = 127
#: The longest DNS name (RFC 1035), which is also longer than any IP address literal.
MAX_DOMAIN_LENGTH: int = MAX_HOSTNAME_LENGTH


def quoted_columns(alias: str, model: type[models.Model], *names: str) -> list[str]:
    """The quoted database columns of a model's concrete fields, for the SQL written by hand here and in nonce.py,
    audit.py and accounts.py: the only identifiers those statements interpolate."""
    q = connections[alias].ops.quote_name
    columns = []
    for name in names:
        field = model._meta.get_field(name)
        if not isinstance(field, models.Field):
            raise TypeError(f"{model.__name__}.{name} is not a concrete field")
        columns.append(q(field.column))
    return columns


class ChallengeQuerySet(models.QuerySet["Challenge"]):
    def expired(self, now: datetime | None = None) -> ChallengeQuerySet:
        return self.filter(created__lt=expiry_cutoff(now))


def expiry_cutoff(now: datetime | None = None) -> datetime:
    """Challenges written before this moment are expired."""
    return (now or timezone.now()) - timedelta(seconds=conf.ttl)


def servable_challenge(token: str, now: datetime | None = None) -> tuple[str, str, int, int] | None:
    """The validation served for ``token``, the domain it was pushed for (``""`` if none), the row's id and how many
    fetches of it were recorded (monitoring.record_fetch), or None: one query on the unique index. The caller compares
    the domain with the request's Host, in Python, on the one row.

    Raw SQL, because building the same query through the ORM on every request cost the challenge view more than
    half of its throughput against a trivial view (scripts/bench, P3). The SQL is built once per database alias.
    """
    alias = router.db_for_read(Challenge)
    connection = connections[alias]
    cutoff = connection.ops.adapt_datetimefield_value(expiry_cutoff(now))
    with connection.cursor() as cursor:
        cursor.execute(_servable_sql(alias), [token, cutoff])
        row = cursor.fetchone()
    return (row[0], row[1], row[2], row[3]) if row else None


@cache
def _servable_sql(alias: str) -> str:
    q = connections[alias].ops.quote_name
    table, validation, domain, pk, fetch_count, token, created = (
        q(name)
        for name in (
            Challenge._meta.db_table,
            "validation",
            "domain",
            Challenge._meta.pk.column,
            "fetch_count",
            "token",
            "created",
        )
    )
    # Only quoted identifiers from the model are interpolated; the values are parameters.
    return (
        f"SELECT {validation}, {domain}, {pk}, {fetch_count} FROM {table} "  # noqa: S608
        f"WHERE {token} = %s AND {created} >= %s"
    )


#: Databases whose ``INSERT ... ON CONFLICT ... DO UPDATE ... WHERE`` Django's supported versions all have.
UPSERT_VENDORS = ("sqlite", "postgresql")


def write_challenge(token: str, validation: str, domain: str, owner_id: int, now: datetime | None = None) -> bool:
    """Store the challenge for ``owner_id``, or replace the one stored under ``token`` and restart its TTL when that
    one is the owner's or has no owner; return False, changing nothing, when another user owns ``token``.

    One statement on SQLite and PostgreSQL, an upsert whose update is conditional on the owner, so two pushes of one
    token race safely on any number of processes and nodes. Elsewhere: the SELECT ... FOR UPDATE and INSERT or UPDATE
    it replaces."""
    alias = router.db_for_write(Challenge)
    connection = connections[alias]
    created = now or timezone.now()
    if connection.vendor in UPSERT_VENDORS:
        params = [token, validation, domain, connection.ops.adapt_datetimefield_value(created), owner_id]
        with connection.cursor() as cursor:
            cursor.execute(_upsert_sql(alias), params)
            return bool(cursor.rowcount == 1)
    values = {"validation": validation, "domain": domain, "owner_id": owner_id, "created": created}
    existing = Challenge.objects.using(alias).select_for_update().filter(token=token).first()
    if existing is None:
        try:
            with transaction.atomic(using=alias):
                Challenge.objects.using(alias).create(token=token, **values)
        except IntegrityError:
            # Pushed by someone else between the SELECT and the INSERT.
            existing = Challenge.objects.using(alias).select_for_update().get(token=token)
        else:
            return True
    if existing.owner_id is not None and existing.owner_id != owner_id:
        return False
    Challenge.objects.using(alias).filter(pk=existing.pk).update(**values)
    return True


def write_challenges(challenges: list[tuple[str, str, str]], owner_id: int, now: datetime | None = None) -> bool:
    """Store each ``(token, validation, domain)`` for ``owner_id`` as :func:`write_challenge` does; return False when
    another user holds any of the tokens (others may have been written: the caller rolls back). On SQLite and
    PostgreSQL one ``executemany`` of the same upsert, whose summed row count tells whether all were written."""
    alias = router.db_for_write(Challenge)
    connection = connections[alias]
    created = now or timezone.now()
    if connection.vendor not in UPSERT_VENDORS:
        written = [
            write_challenge(token, validation, domain, owner_id, created) for token, validation, domain in challenges
        ]
        return all(written)
    stamp = connection.ops.adapt_datetimefield_value(created)
    params = [[token, validation, domain, stamp, owner_id] for token, validation, domain in challenges]
    with connection.cursor() as cursor:
        cursor.executemany(_upsert_sql(alias), params)
        return bool(cursor.rowcount == len(challenges))


@cache
def _upsert_sql(alias: str) -> str:
    q = connections[alias].ops.quote_name
    table = q(Challenge._meta.db_table)
    token, validation, domain, created, owner = quoted_columns(
        alias, Challenge, "token", "validation", "domain", "created", "owner"
    )
    # Only quoted identifiers from the model are interpolated; the values are parameters.
    return (
        f"INSERT INTO {table} ({token}, {validation}, {domain}, {created}, {owner}) "  # noqa: S608
        "VALUES (%s, %s, %s, %s, %s) "
        f"ON CONFLICT ({token}) DO UPDATE SET {validation} = excluded.{validation}, {domain} = excluded.{domain}, "
        f"{created} = excluded.{created}, {owner} = excluded.{owner} "
        f"WHERE {table}.{owner} = excluded.{owner} OR {table}.{owner} IS NULL"
    )


def delete_owned_challenge(token: str, owner_id: int, *, or_ownerless: bool) -> str | None:
    """Delete the challenge stored under ``token`` if ``owner_id`` owns it (or, with ``or_ownerless``, if it has no
    owner); return its domain, or None if nothing was deleted. One statement where ``DELETE ... RETURNING`` exists
    (PostgreSQL, SQLite 3.35)."""
    alias = router.db_for_write(Challenge)
    connection = connections[alias]
    owned = models.Q(owner_id=owner_id) | models.Q(owner__isnull=True) if or_ownerless else models.Q(owner_id=owner_id)
    if not _can_delete_returning(connection):
        found = Challenge.objects.using(alias).select_for_update().filter(owned, token=token).first()
        if found is None:
            return None
        Challenge.objects.using(alias).filter(pk=found.pk).delete()
        return found.domain
    with connection.cursor() as cursor:
        cursor.execute(_delete_sql(alias, or_ownerless=or_ownerless), [token, owner_id])
        row = cursor.fetchone()
    return None if row is None else row[0]


def delete_challenges(tokens: list[str], owner_id: int, scope: tuple[str, ...]) -> dict[str, str]:
    """Delete the challenges stored under ``tokens`` that ``owner_id`` owns, and those without an owner whose domain
    ``scope`` covers (any, when ``scope`` is empty), as :func:`delete_owned_challenge` and the single DELETE do; return
    the tokens deleted, each with its domain. Two statements whatever the number: the rows read (locked where the
    database can), then one DELETE."""
    alias = router.db_for_write(Challenge)
    rows = (
        Challenge.objects.using(alias)
        .select_for_update()
        .filter(models.Q(owner_id=owner_id) | models.Q(owner__isnull=True), token__in=tokens)
        .values_list("pk", "token", "domain", "owner_id")
    )
    deleted = {
        pk: (token, domain)
        for pk, token, domain, owner in rows
        if owner == owner_id or not scope or (domain and matches(domain, list(scope)))
    }
    if deleted:
        Challenge.objects.using(alias).filter(pk__in=list(deleted)).delete()
    return dict(deleted.values())


def _can_delete_returning(connection: BaseDatabaseWrapper) -> bool:
    if connection.vendor == "postgresql":
        return True
    if connection.vendor == "sqlite":
        import sqlite3

        return sqlite3.sqlite_version_info >= (3, 35)
    return False


@cache
def _delete_sql(alias: str, *, or_ownerless: bool) -> str:
    q = connections[alias].ops.quote_name
    table = q(Challenge._meta.db_table)
    token, domain, owner = quoted_columns(alias, Challenge, "token", "domain", "owner")
    owned = f"({owner} = %s OR {owner} IS NULL)" if or_ownerless else f"{owner} = %s"
    # Only quoted identifiers from the model are interpolated; the values are parameters.
    return f"DELETE FROM {table} WHERE {token} = %s AND {owned} RETURNING {domain}"  # noqa: S608


#: Monotonic time of this process's last purge of expired challenges, and the least time between two.
_last_expiry_purge = float("-inf")
EXPIRY_PURGE_INTERVAL = 600


def maybe_purge_expired(now: datetime | None = None) -> int:
    """Delete expired challenges, at most once per :data:`EXPIRY_PURGE_INTERVAL` seconds per process; returns how many.
    They are never served once expired (:func:`servable_challenge` compares ``created``), so this only bounds the
    table; ``manage.py acme_challenge_purge`` does the same on demand."""
    global _last_expiry_purge
    clock = time.monotonic()
    if clock - _last_expiry_purge < EXPIRY_PURGE_INTERVAL:
        return 0
    _last_expiry_purge = clock
    deleted, _ = Challenge.objects.expired(now).delete()
    return deleted


class Challenge(models.Model):
    """One pending HTTP-01 challenge: served at ``/.well-known/acme-challenge/<token>`` until deleted or expired."""

    token = models.CharField(max_length=MAX_VALUE_LENGTH, unique=True)
    #: The key authorization, ``<token>.<account key thumbprint>``, served as the body.
    validation = models.CharField(max_length=MAX_VALUE_LENGTH)
    #: The identifier certbot is validating, canonical (see names.py). The challenge is served only to requests whose
    #: Host names it. Empty only for pushes of legacy clients (ACME_CHALLENGE_LEGACY_CLIENTS), served for any Host.
    domain = models.CharField(max_length=MAX_DOMAIN_LENGTH, blank=True)
    #: Reset when the token is posted again, so a re-post also renews the TTL.
    created = models.DateTimeField(default=timezone.now, db_index=True)
    #: The user who pushed it: only that user may replace or delete it. Null for rows pushed before owners existed,
    #: which any permitted user may replace or delete (they expire within the TTL anyway).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="acme_challenges"
    )

    #: Source addresses whose fetch of this challenge is recorded (monitoring.FETCHES_RECORDED at most); a database
    #: default, so that the push path's raw INSERT need not name it.
    fetch_count = models.PositiveSmallIntegerField(default=0, db_default=0, editable=False)

    objects = ChallengeQuerySet.as_manager()

    class Meta:
        ordering = ("-created",)

    def __str__(self) -> str:
        return f"{self.domain or '(no domain)'}: {self.token}"


class UsedNonce(models.Model):
    """A JWT nonce that has been accepted once. The unique constraint is what makes replay checks atomic: of two
    requests carrying the same token, on any process or node sharing this database, only one INSERT succeeds."""

    username = models.CharField(max_length=255)
    nonce = models.CharField(max_length=255)
    #: The JWT's ``time`` claim. Rows are pruned once it is older than twice the tolerance: by then the token it came
    #: from is rejected on its time alone.
    timestamp = models.BigIntegerField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["username", "nonce"], name="acme_challenge_usednonce_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.username} {self.nonce}"


class KeyScope(models.Model):
    """One name or ``*.suffix`` pattern a registered key may push challenges for, as ``from=`` limits an SSH key in
    ``authorized_keys``. A key with no scope rows may push for any name the site-wide allow-list admits."""

    key = models.ForeignKey("asymmetric_jwt_auth.PublicKey", on_delete=models.CASCADE, related_name="acme_scope")
    #: Canonical (see names.parse_pattern): lower case, IP addresses in ipaddress's form.
    pattern = models.CharField(max_length=MAX_DOMAIN_LENGTH + 2)

    class Meta:
        verbose_name = "domain scope entry"
        verbose_name_plural = "domain scope"
        ordering = ("key", "id")
        constraints = [models.UniqueConstraint(fields=["key", "pattern"], name="acme_challenge_keyscope_unique")]

    def __str__(self) -> str:
        return self.pattern

    def clean(self) -> None:
        """Store the pattern in canonical form, or say what is wrong with it (the admin shows this)."""
        from django.core.exceptions import ValidationError

        from .names import InvalidName, normalise_pattern

        try:
            self.pattern = normalise_pattern(self.pattern)
        except InvalidName as error:
            raise ValidationError(
                {"pattern": f"'{self.pattern}' is not a name, an IP address or '*.' and a name: {error}"}
            ) from None


class AuditRecord(models.Model):
    """One call of the challenge API, accepted or refused. Never holds a JWT: the token field holds only a value that
    is a valid ACME token (which has no dots, so it cannot be a JWT), and reasons never quote the Authorization
    header."""

    class Action(models.TextChoices):
        PUSH = "push"
        DELETE = "delete"
        #: The deploy hook's certificate report.
        REPORT = "report"
        OTHER = "other"

    time = models.DateTimeField(default=timezone.now, db_index=True)
    #: Set once the JWT's signature verified: a refused call by an unknown or forged key has no user.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    #: The user's name when the call was made; kept if the user is deleted.
    username = models.CharField(max_length=150, blank=True)
    #: The fingerprint (JWT ``kid`` form) of the key whose signature verified, or empty.
    key_fingerprint = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=8, choices=Action.choices)
    token = models.CharField(max_length=MAX_VALUE_LENGTH, blank=True)
    domain = models.CharField(max_length=MAX_DOMAIN_LENGTH, blank=True)
    #: REMOTE_ADDR: behind a proxy, the proxy's address (forwarded-for headers can be forged, so they are not used).
    remote_address = models.CharField(max_length=64, blank=True)
    #: The HTTP status answered.
    status = models.PositiveSmallIntegerField()
    #: Why, in one line: the message the client got, or for a 401 the precise reason it was not told.
    reason = models.CharField(max_length=500, blank=True)
    #: How many calls this row stands for: 1 for a call whose key was proved (one row each); for refusals of
    #: requests that never proved a key, the calls with this action, kind and reason in the minute ``time`` starts
    #: (audit.count_refusal). A database default, so that the raw INSERT of audit.Call.record need not name it.
    count = models.PositiveIntegerField(default=1, db_default=1, editable=False)
    #: The aggregation key of a counted row (minute, action, kind, reason digest); null for a row of its own. Unique,
    #: so that the counter is one atomic upsert on any number of processes.
    bucket = models.CharField(max_length=96, null=True, blank=True, unique=True, editable=False)

    class Meta:
        ordering = ("-time", "-id")
        indexes = [models.Index(fields=["key_fingerprint", "time"], name="acme_audit_key_time")]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.action} {self.token or '-'} {self.status}"


# ---------------------------------------------------------------------------------------------------------------
# Monitoring (monitoring.py writes and reads these)

#: The hooks' User-Agent product token: their self-check fetches are recorded but are not the CA's.
HOOK_USER_AGENT = "certbot-django-hooks"


class Verdict:
    """Where a name's certificate stands (monitoring.verdict); a probe finding counts as one (:data:`COUNTS_AS`)."""

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
    #: Whether the hooks' self-check made it (its User-Agent): a record apart from the CA's, because the CA's
    #: fetch from the certbot host's own address (a site validated from where it runs) must not be taken for it.
    self_check = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ("-time", "-id")
        indexes = [models.Index(fields=["domain", "time"], name="acme_fetch_domain_time")]
        # One record per source address (and self-check or not) per challenge, the first fetch from it: a client
        # that fetches many times cannot crowd out the CA's other perspectives. ACME tokens are unique per challenge.
        constraints = [
            models.UniqueConstraint(
                fields=["token", "remote_address", "self_check"], name="acme_fetch_token_address_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.domain or '-'} {self.status} {self.remote_address}"

    @property
    def by_hook(self) -> bool:
        """Whether the auth hook's self-check made it, rather than the CA."""
        return self.self_check or self.user_agent.startswith(HOOK_USER_AGENT)


class CertificateReport(models.Model):
    """A certificate the deploy hook reported, as the site read it from the certificate itself (reports.py): its
    facts, the root it chains to, who reported it and when.

    One row per certificate and reporting user, never one per certificate: the facts come from the certificate, so
    two users reporting it record the same facts, and keying by user means nobody's report can change, or reveal,
    another user's row (a refusal or a "refreshed" answer would tell a key that someone else reported it)."""

    #: When it was (last) reported by this user: certbot runs the deploy hook right after each issuance or renewal.
    time = models.DateTimeField(default=timezone.now, db_index=True)
    #: Lower-case hex SHA-256 of the leaf's DER.
    fingerprint = models.CharField(max_length=64, db_index=True)
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
    #: Whether the site verified the chain to a trust anchor itself. False only for reports recorded before
    #: migration 0004, which were the reporter's claims; any verified report for a name replaces them as its status.
    verified = models.BooleanField(default=False)
    #: The subject of the trust anchor the chain was verified to (empty for unverified reports).
    anchor = models.CharField(max_length=500, blank=True)
    #: The leaf certificate, PEM: public, and enough for anyone to verify the record again.
    leaf = models.TextField(blank=True)

    class Meta:
        ordering = ("-time", "-id")
        constraints = [
            models.UniqueConstraint(fields=["fingerprint", "user"], name="acme_certreport_fingerprint_user_unique")
        ]

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
# The TLS probe's findings (probe.py writes these)


class Outcome(models.TextChoices):
    OK = "ok"
    EXPIRING = "expiring"
    STALE = "stale"
    UNREACHABLE = "unreachable"
    NAME_MISSING = "name missing"
    EXPIRED = "expired"


#: The monitoring verdict each finding counts as, for the exit status and the dashboard's order.
COUNTS_AS = {
    Outcome.OK: Verdict.OK,
    Outcome.EXPIRING: Verdict.LATE,
    Outcome.STALE: Verdict.LATE,
    Outcome.UNREACHABLE: Verdict.LATE,
    Outcome.NAME_MISSING: Verdict.EXPIRED,
    Outcome.EXPIRED: Verdict.EXPIRED,
}


class ProbeResult(models.Model):
    """The last probe of one name: where it connected, what was presented, and the finding."""

    name = models.CharField(max_length=MAX_DOMAIN_LENGTH, unique=True)
    time = models.DateTimeField(default=timezone.now)
    #: host:port connected to (or tried).
    address = models.CharField(max_length=300)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    #: One line for the operator: what is wrong and what to do.
    message = models.CharField(max_length=500)
    #: The served certificate; empty/null when none was read.
    fingerprint = models.CharField(max_length=64, blank=True)
    serial = models.CharField(max_length=64, blank=True)
    not_before = models.DateTimeField(null=True, blank=True)
    not_after = models.DateTimeField(null=True, blank=True)
    issuer = models.CharField(max_length=500, blank=True)
    #: Its subjectAltName entries, space-separated.
    served_names = models.TextField(blank=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return f"{self.name}: {self.outcome} ({self.time:%Y-%m-%d %H:%M})"

    @property
    def counts_as(self) -> str:
        return COUNTS_AS[Outcome(self.outcome)]
