"""``manage.py acme_challenge_purge``: delete expired challenges and stale nonces, e.g. from cron.

Writes purge expired challenges too; this command is for sites where no challenge is written for a long time.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ... import conf, nonce
from ...models import Challenge


class Command(BaseCommand):
    help = "Delete challenges older than ACME_CHALLENGE_TTL and JWT nonces too old to be replayed."

    def handle(self, *args: Any, **options: Any) -> None:
        challenges, _ = Challenge.objects.expired().delete()
        nonces = nonce.prune()
        self.stdout.write(
            f"deleted {challenges} expired challenge(s) (older than {conf.get_ttl()} s) and {nonces} used nonce(s)"
        )
