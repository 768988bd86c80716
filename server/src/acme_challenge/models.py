"""The challenges certbot's hooks push, and the JWT nonces already used (the shared replay store)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone

from . import conf

#: ACME tokens are 43 base64url characters and key authorizations 87; the issue caps both under 128 bytes.
MAX_VALUE_LENGTH = 127
#: The longest DNS name (RFC 1035), which is also longer than any IP address literal.
MAX_DOMAIN_LENGTH = 253


class ChallengeQuerySet(models.QuerySet["Challenge"]):
    def servable(self, now: datetime | None = None) -> ChallengeQuerySet:
        """Challenges younger than the TTL."""
        return self.filter(created__gte=expiry_cutoff(now))

    def expired(self, now: datetime | None = None) -> ChallengeQuerySet:
        return self.filter(created__lt=expiry_cutoff(now))


def expiry_cutoff(now: datetime | None = None) -> datetime:
    """Challenges written before this moment are expired."""
    return (now or timezone.now()) - timedelta(seconds=conf.get_ttl())


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
