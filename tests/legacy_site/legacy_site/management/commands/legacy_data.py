"""``manage.py legacy_data WHAT``, test support for the legacy site (not part of certbot-django): register a key as
certbot-django's guide says, and read the stored challenges as JSON, so that tests/harness/legacy.py passes no Python
source to ``manage.py shell``. Runs on the legacy venv's Django 3.2 and Python 3.10."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from asymmetric_jwt_auth.models import PublicKey
from certbot_django.server.models import AcmeChallenge
from django.contrib.auth.models import Permission, User
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Register a key for a user as certbot-django's guide says, or list the stored challenges (JSON)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True)
        register = sub.add_parser("register-key", help="a staff user with the challenge permissions, and the key")
        register.add_argument("username")
        register.add_argument("public_key_file")
        sub.add_parser("challenges", help="[challenge, response] of every stored AcmeChallenge")

    def handle(self, *args: Any, what: str, **options: Any) -> None:
        if what == "register-key":
            user, _ = User.objects.get_or_create(username=options["username"])
            user.is_staff = True
            user.set_unusable_password()
            user.save()
            user.user_permissions.add(
                *Permission.objects.filter(
                    content_type__app_label="server", codename__in=["add_acmechallenge", "delete_acmechallenge"]
                )
            )
            # Validated as the admin's form would.
            key = PublicKey(user=user, key=Path(options["public_key_file"]).read_text(), comment="test")
            key.full_clean()
            key.save()
            self.stdout.write(json.dumps(user.username))
        else:
            self.stdout.write(json.dumps(list(AcmeChallenge.objects.values_list("challenge", "response"))))
