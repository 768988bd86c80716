"""The audit trail: every call of the challenge API, accepted or refused, as one row written in the call's own
transaction. Rows older than ``ACME_CHALLENGE_AUDIT_RETENTION`` days are purged by ``acme_challenge_purge`` and, at
most once an hour per process, by the API itself."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from functools import cache

from django.contrib.auth.models import AbstractBaseUser
from django.db import connections, router
from django.http import HttpRequest
from django.utils import timezone

from .conf import conf
from .models import AuditRecord, quoted_columns

#: Monotonic time of this process's last purge.
_last_purge = float("-inf")
_PURGE_INTERVAL = 3600


class Call:
    """What is known about one API call so far; the view fills it in as it learns, then :meth:`record` writes it."""

    def __init__(self, request: HttpRequest, action: str) -> None:
        self.action = action
        self.remote_address = str(request.META.get("REMOTE_ADDR") or "")[:64]
        self.user: AbstractBaseUser | None = None
        self.key_fingerprint = ""
        #: Set only to values already validated as an ACME token or a canonical name, never to raw input.
        self.token = ""
        self.domain = ""

    def record(self, status: int, reason: str) -> None:
        """Write the call's audit record: one INSERT, its SQL built once per database alias (through the ORM the
        INSERT cost a fifth of the API call's time at the site; scripts/bench, P1)."""
        alias = router.db_for_write(AuditRecord)
        connection = connections[alias]
        values = [
            connection.ops.adapt_datetimefield_value(timezone.now()),
            self.user.pk if self.user is not None else None,
            self.user.get_username()[:150] if self.user is not None else "",
            self.key_fingerprint,
            self.action,
            self.token,
            self.domain,
            self.remote_address,
            status,
            one_line(reason, 500),
        ]
        with connection.cursor() as cursor:
            cursor.execute(_insert_sql(alias), values)


#: The columns :meth:`Call.record` writes, in its order.
_COLUMNS = (
    "time",
    "user",
    "username",
    "key_fingerprint",
    "action",
    "token",
    "domain",
    "remote_address",
    "status",
    "reason",
)


@cache
def _insert_sql(alias: str) -> str:
    q = connections[alias].ops.quote_name
    columns = ", ".join(quoted_columns(alias, AuditRecord, *_COLUMNS))
    placeholders = ", ".join(["%s"] * len(_COLUMNS))
    # Only quoted identifiers from the model are interpolated; the values are parameters.
    return f"INSERT INTO {q(AuditRecord._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608


def one_line(text: str, limit: int) -> str:
    """Control characters dropped, shortened to ``limit`` characters: a reason can never forge a line of a report."""
    cleaned = "".join(char if char.isprintable() else " " for char in text).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def purge(now: datetime | None = None) -> int:
    """Delete records older than the retention period; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=conf.audit_retention_days)
    deleted, _ = AuditRecord.objects.filter(time__lt=cutoff).delete()
    return deleted


def maybe_purge() -> None:
    global _last_purge
    now = time.monotonic()
    if now - _last_purge >= _PURGE_INTERVAL:
        _last_purge = now
        purge()
