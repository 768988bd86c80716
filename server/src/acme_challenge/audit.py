"""The audit trail: every call of the challenge API, accepted or refused, written in the call's own transaction.
Rows older than ``ACME_CHALLENGE_AUDIT_RETENTION`` days are purged by ``acme_challenge_purge`` and, at most once an
hour per process, by the API itself.

A call whose key was proved (its JWT's signature verified) gets a row of its own, a batch call one row per item. A
refusal of a request that never proved a key (no header, a malformed token, an unknown user, a bad signature, a wrong
method, an oversized body) is *counted* instead (:func:`count_refusal`): one row per minute, action, status, kind and
reason for the whole site, whose ``count`` goes up by one, atomically. Anyone can send those requests, from as many
addresses as IPv6 gives them, so they are not keyed by address, and at most :data:`MAX_REASONS_PER_MINUTE` distinct
reasons are kept per minute (reasons quote what the client sent, e.g. a username): further ones share one row per
action, status and kind.
3,000 requests without a header used to add 3,000 rows; now they add to one.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connections, router, transaction
from django.http import HttpRequest
from django.utils import timezone

from .conf import conf
from .models import AuditRecord, quoted_columns

#: Monotonic time of this process's last purge.
_last_purge = float("-inf")
_PURGE_INTERVAL = 3600


#: The reason recorded for an item of a refused batch that was not refused itself.
NOT_STORED = "not stored: another item of the batch was refused"


@dataclass
class Item:
    """One challenge of a batch call (views.py's batch push and delete): a row of its own in the audit trail, with the
    call's status. Like :class:`Call`'s, ``token`` and ``domain`` are only values already validated."""

    token: str = ""
    domain: str = ""
    #: Its own outcome ("created ...", "deleted ...") or, with ``refused``, why it was refused.
    reason: str = ""
    refused: bool = False


class Call:
    """What is known about one API call so far; the view fills it in as it learns, then :meth:`finish` writes it: one
    row for the call, or one per item for a batch (:meth:`add_item`)."""

    def __init__(self, request: HttpRequest, action: str) -> None:
        self.action = action
        self.remote_address = str(request.META.get("REMOTE_ADDR") or "")[:64]
        self.user: AbstractBaseUser | None = None
        self.key_fingerprint = ""
        #: Set only to values already validated as an ACME token or a canonical name, never to raw input.
        self.token = ""
        self.domain = ""
        #: A batch's items, once its body was read; empty for a call of one challenge (or a batch refused whole).
        self.items: list[Item] = []

    def add_item(self, token: str = "", domain: str = "") -> Item:
        item = Item(token, domain)
        self.items.append(item)
        return item

    def record(self, status: int, reason: str) -> None:
        """Write the call's audit record: one INSERT, its SQL built once per database alias (through the ORM the
        INSERT cost a fifth of the API call's time at the site; scripts/bench, P1). A batch's items are one row each,
        in one ``executemany``: each with the call's status, and its own reason; on a refusal, an item that was not
        refused itself says it was not stored, and after an unexpected error every item has the call's reason."""
        alias = router.db_for_write(AuditRecord)
        connection = connections[alias]
        common = [
            connection.ops.adapt_datetimefield_value(timezone.now()),
            self.user.pk if self.user is not None else None,
            self.user.get_username()[:150] if self.user is not None else "",
            self.key_fingerprint,
            self.action,
        ]
        if not self.items:
            rows = [[*common, self.token, self.domain, self.remote_address, status, one_line(reason, 500)]]
        else:
            any_refused = any(item.refused for item in self.items)
            rows = [
                [
                    *common,
                    item.token,
                    item.domain,
                    self.remote_address,
                    status,
                    one_line(_item_reason(item, status, reason, any_refused), 500),
                ]
                for item in self.items
            ]
        with connection.cursor() as cursor:
            if len(rows) == 1:
                cursor.execute(_insert_sql(alias), rows[0])
            else:
                cursor.executemany(_insert_sql(alias), rows)

    def finish(self, status: int, reason: str, kind: str) -> None:
        """Record the call: its rows once a key was proved, else counted (:func:`count_refusal`), never per item."""
        if self.user is not None:
            self.record(status, reason)
        else:
            count_refusal(self.action, status, kind, reason)


def _item_reason(item: Item, status: int, reason: str, any_refused: bool) -> str:
    if status >= 500:
        return reason
    if item.refused:
        return item.reason
    if status >= 400:
        return NOT_STORED if any_refused else reason
    return item.reason or reason


#: Distinct reasons counted per minute for the whole site, beyond which a minute's further reasons share one row per
#: action, status and kind. With the kinds authentication.py and views.py name, a flood adds at most this many rows
#: plus a handful per minute, whatever it sends.
MAX_REASONS_PER_MINUTE = 20


def count_refusal(action: str, status: int, kind: str, reason: str, *, now: datetime | None = None) -> None:
    """Count a refusal of a request that proved no key, in the row of its minute, action, status, kind and reason.

    Usually one statement: an UPDATE of the row that exists. The first of a minute's reasons costs a COUNT and an
    upsert (``INSERT ... ON CONFLICT (bucket) DO UPDATE``, on SQLite and PostgreSQL; elsewhere an INSERT in a
    savepoint and the UPDATE on conflict). Concurrent first requests may add a row or two beyond the cap; never more
    than one per process."""
    minute = (now or timezone.now()).replace(second=0, microsecond=0)
    reason = one_line(reason, 500)
    alias = router.db_for_write(AuditRecord)
    connection = connections[alias]
    bucket = _bucket(minute, action, status, kind, reason)
    with connection.cursor() as cursor:
        cursor.execute(_count_sql(alias), [bucket])
        if cursor.rowcount == 1:
            return
    distinct = AuditRecord.objects.using(alias).filter(bucket__isnull=False, time=minute).count()
    if distinct >= MAX_REASONS_PER_MINUTE:
        reason = (
            f"{kind}: refused; more distinct reasons this minute than the site keeps ({MAX_REASONS_PER_MINUTE}), "
            "so they are counted here together"
        )
        bucket = _bucket(minute, action, status, kind, None)
    values = [connection.ops.adapt_datetimefield_value(minute), action, status, reason, bucket]
    if connection.vendor in ("sqlite", "postgresql"):
        with connection.cursor() as cursor:
            cursor.execute(_upsert_counted_sql(alias), values)
        return
    try:
        with transaction.atomic(using=alias):
            AuditRecord.objects.using(alias).create(
                time=minute, action=action, status=status, reason=reason, bucket=bucket, count=1
            )
    except IntegrityError:
        with connection.cursor() as cursor:
            cursor.execute(_count_sql(alias), [bucket])


def _bucket(minute: datetime, action: str, status: int, kind: str, reason: str | None) -> str:
    digest = "*" if reason is None else hashlib.sha256(reason.encode()).hexdigest()[:32]
    return f"{minute:%Y%m%d%H%M}|{action}|{status}|{kind[:24]}|{digest}"


@cache
def _count_sql(alias: str) -> str:
    q = connections[alias].ops.quote_name
    count, bucket = quoted_columns(alias, AuditRecord, "count", "bucket")
    # Only quoted identifiers from the model are interpolated; the values are parameters.
    return f"UPDATE {q(AuditRecord._meta.db_table)} SET {count} = {count} + 1 WHERE {bucket} = %s"  # noqa: S608


@cache
def _upsert_counted_sql(alias: str) -> str:
    q = connections[alias].ops.quote_name
    table = q(AuditRecord._meta.db_table)
    time_, action, status, reason, bucket, count, token, username, fingerprint, domain, address = quoted_columns(
        alias, AuditRecord, "time", "action", "status", "reason", "bucket", "count", "token", "username",
        "key_fingerprint", "domain", "remote_address",
    )  # fmt: skip
    # Only quoted identifiers from the model are interpolated; the values are parameters. The empty strings are
    # written explicitly (the columns have no database default): a counted row names no token, user or address.
    return (
        f"INSERT INTO {table} ({time_}, {action}, {status}, {reason}, {bucket}, {count}, "  # noqa: S608
        f"{token}, {username}, {fingerprint}, {domain}, {address}) VALUES (%s, %s, %s, %s, %s, 1, '', '', '', '', '') "
        f"ON CONFLICT ({bucket}) DO UPDATE SET {count} = {table}.{count} + 1"
    )


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
    # The common case, a printable line, without the walk character by character (a batch has a reason per item).
    printable = text if text.isprintable() else "".join(char if char.isprintable() else " " for char in text)
    cleaned = printable.strip()
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
