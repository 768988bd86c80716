"""The challenges certbot's hooks push, and the JWT nonces already used (the shared replay store)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

from django.db import connections, models, router
from django.utils import timezone

from . import conf

#: ACME tokens are 43 base64url characters and key authorizations 87; the issue caps both under 128 bytes.
MAX_VALUE_LENGTH = 127
#: The longest DNS name (RFC 1035), which is also longer than any IP address literal.
MAX_DOMAIN_LENGTH = 253


class ChallengeQuerySet(models.QuerySet["Challenge"]):
    def expired(self, now: datetime | None = None) -> ChallengeQuerySet:
        return self.filter(created__lt=expiry_cutoff(now))


def expiry_cutoff(now: datetime | None = None) -> datetime:
    """Challenges written before this moment are expired."""
    return (now or timezone.now()) - timedelta(seconds=conf.get_ttl())


def servable_validation(token: str, now: datetime | None = None) -> str | None:
    """The validation served for ``token``, or None: one query on the unique index.

    Raw SQL, because building the same query through the ORM on every request cost the challenge view more than
    half of its throughput against a trivial view (scripts/bench, P3). The SQL is built once per database alias.
    """
    alias = router.db_for_read(Challenge)
    connection = connections[alias]
    cutoff = connection.ops.adapt_datetimefield_value(expiry_cutoff(now))
    with connection.cursor() as cursor:
        cursor.execute(_servable_sql(alias), [token, cutoff])
        row = cursor.fetchone()
    return row[0] if row else None


@cache
def _servable_sql(alias: str) -> str:
    q = connections[alias].ops.quote_name
    table, validation, token, created = (
        q(name) for name in (Challenge._meta.db_table, "validation", "token", "created")
    )
    # Only quoted identifiers from the model are interpolated; the values are parameters.
    return f"SELECT {validation} FROM {table} WHERE {token} = %s AND {created} >= %s"  # noqa: S608


class Challenge(models.Model):
    """One pending HTTP-01 challenge: served at ``/.well-known/acme-challenge/<token>`` until deleted or expired."""

    token = models.CharField(max_length=MAX_VALUE_LENGTH, unique=True)
    #: The key authorization, ``<token>.<account key thumbprint>``, served as the body.
    validation = models.CharField(max_length=MAX_VALUE_LENGTH)
    #: The identifier certbot is validating, for the admin and the allow-list; empty if the client did not say.
    domain = models.CharField(max_length=MAX_DOMAIN_LENGTH, blank=True)
    #: Reset when the token is posted again, so a re-post also renews the TTL.
    created = models.DateTimeField(default=timezone.now, db_index=True)

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
