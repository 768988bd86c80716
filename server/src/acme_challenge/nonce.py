"""An atomic nonce store shared by every process and node that shares the database.

asymmetric_jwt_auth's default backend does ``cache.get`` in ``validate_nonce`` and ``cache.set`` in
``log_used_nonce``: two requests carrying the same JWT can both pass the get before either sets, and with the
default per-process LocMemCache a second process or node never sees the first's nonces at all. Here the check and the
record are one INSERT against a unique constraint, so exactly one request per nonce wins. On SQLite and PostgreSQL it
is ``INSERT ... ON CONFLICT DO NOTHING`` and its row count: no savepoint around an expected IntegrityError, so the
API call's transaction holds the nonce with no extra statements.
"""

from __future__ import annotations

import math
import time
from functools import cache
from typing import TypeGuard

from asymmetric_jwt_auth.nonce.base import BaseNonceBackend
from django.db import IntegrityError, connections, router, transaction

from .conf import conf
from .models import UsedNonce, quoted_columns

#: Monotonic time of this process's last prune. Pruning is a cheap indexed DELETE, but it need not run on every request.
_last_prune = float("-inf")


class DatabaseNonceBackend(BaseNonceBackend):
    """Use as ``ASYMMETRIC_JWT_AUTH = {"NONCE_BACKEND": "acme_challenge.nonce.DatabaseNonceBackend"}``."""

    def validate_nonce(self, username: str, timestamp: int, nonce: str) -> bool:
        """Record the nonce, and say whether it was new. asymmetric_jwt_auth calls this only after the signature and
        the time claim verified, so rows come only from holders of a registered key."""
        # The original certbot-django client (asymmetric-jwt-auth 0.4) sends time.time() and random.random(): floats.
        text = _as_text(nonce)
        if isinstance(timestamp, float) and math.isfinite(timestamp):
            timestamp = int(timestamp)
        if not _fits(username) or not _fits(text) or not isinstance(timestamp, int) or isinstance(timestamp, bool):
            return False
        if not -(2**63) <= timestamp < 2**63:
            # A 64-bit column cannot hold it (10**400 raised OverflowError: a 500). authentication.py refuses such a
            # time before asking; this keeps the backend safe for any other caller.
            return False
        _maybe_prune()
        alias = router.db_for_write(UsedNonce)
        connection = connections[alias]
        if connection.vendor in UPSERT_VENDORS:
            with connection.cursor() as cursor:
                cursor.execute(_insert_sql(alias), [username, text, timestamp])
                return bool(cursor.rowcount == 1)
        try:
            # Other databases: a savepoint when the request already runs in a transaction (the API call's own
            # transaction), so the expected IntegrityError of a replay does not break the outer transaction.
            with transaction.atomic():
                UsedNonce.objects.create(username=username, nonce=text, timestamp=timestamp)
        except IntegrityError:
            return False
        return True

    def log_used_nonce(self, username: str, timestamp: int, nonce: str) -> None:
        """Nothing to do: ``validate_nonce`` already recorded the nonce, atomically."""


#: Databases whose ``INSERT ... ON CONFLICT`` Django's supported versions all have (SQLite 3.24, PostgreSQL 9.5).
UPSERT_VENDORS = ("sqlite", "postgresql")


@cache
def _insert_sql(alias: str) -> str:
    q = connections[alias].ops.quote_name
    meta = UsedNonce._meta
    username, nonce, timestamp = quoted_columns(alias, UsedNonce, "username", "nonce", "timestamp")
    # Only quoted identifiers from the model are interpolated; the values are parameters.
    return (
        f"INSERT INTO {q(meta.db_table)} ({username}, {nonce}, {timestamp}) VALUES (%s, %s, %s) "  # noqa: S608
        f"ON CONFLICT ({username}, {nonce}) DO NOTHING"
    )


def prune(now: float | None = None) -> int:
    """Delete nonces whose tokens are too old to be accepted anyway; returns how many."""
    cutoff = (time.time() if now is None else now) - 2 * conf.timestamp_tolerance
    deleted, _ = UsedNonce.objects.filter(timestamp__lt=cutoff).delete()
    return deleted


def _maybe_prune() -> None:
    global _last_prune
    now = time.monotonic()
    if now - _last_prune >= conf.timestamp_tolerance:
        _last_prune = now
        prune()


def _as_text(nonce: object) -> object:
    """A numeric nonce as its exact decimal text (``repr`` of a float round-trips); anything else unchanged."""
    if isinstance(nonce, bool):
        return nonce
    # math.isfinite(10**400) raises OverflowError, so an int is never asked; its text is refused by length.
    if isinstance(nonce, int) or (isinstance(nonce, float) and math.isfinite(nonce)):
        return repr(nonce)
    return nonce


def _fits(value: object) -> TypeGuard[str]:
    max_length = UsedNonce._meta.get_field("nonce").max_length or 0
    # PostgreSQL rejects NUL in text with an exception; such a nonce is simply invalid.
    return isinstance(value, str) and 0 < len(value) <= max_length and "\x00" not in value
