"""``manage.py acme_challenge_purge``: delete expired challenges, stale nonces and old audit records, e.g. from cron.

Writes purge expired challenges too; this command is for sites where no challenge is written for a long time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from ... import audit, monitoring, nonce
from ...conf import conf
from ...models import Challenge


class Command(BaseCommand):
    help = (
        "Delete challenges older than ACME_CHALLENGE_TTL, JWT nonces too old to be replayed, and audit records "
        "and records of challenge fetches older than ACME_CHALLENGE_AUDIT_RETENTION days."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        challenges, _ = Challenge.objects.expired().delete()
        nonces = nonce.prune()
        records = audit.purge()
        fetches = monitoring.purge_fetches(timezone.now() - timedelta(days=conf.audit_retention_days))
        self.stdout.write(
            f"deleted {challenges} expired challenge(s) (older than {conf.ttl} s), {nonces} used nonce(s), "
            f"{records} audit record(s) (older than {conf.audit_retention_days} days) and {fetches} record(s) "
            "of challenge fetches (as old)"
        )
