"""``manage.py certbot_client``: set up, inspect and rotate the account certbot's hooks sign in as.

It replaces the old manual steps (create a staff user, paste a key into the admin). The user gets exactly the three
permissions the hooks use (add and delete challenges, report certificates) and, when created here, no usable
password: it only ever authenticates with its key.
Keys are compared by their fingerprint (asymmetric_jwt_auth's: SHA-256 of the SubjectPublicKeyInfo PEM, the JWT
``kid``), so PEM and OpenSSH forms of one key are the same key and are never stored twice. ``--domain`` limits a key
to names, as ``from=`` limits a key in ``authorized_keys``. Nothing here prints key material: only fingerprints and
comments.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from asymmetric_jwt_auth.keys import FacadePublicKey, RSAPublicKey
from asymmetric_jwt_auth.keys import PublicKey as ParsedPublicKey
from asymmetric_jwt_auth.models import PublicKey
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from ...conf import conf
from ...models import AuditRecord, Challenge, KeyScope
from ...names import InvalidName, covers_public_suffix, normalise_pattern

PERMISSION_CODENAMES = ("add_challenge", "delete_challenge", "add_certificatereport")
_FINGERPRINT_RE = re.compile(r"[0-9a-fA-F]{8,64}\Z")
_COMMENT_MAX = PublicKey._meta.get_field("comment").max_length or 100


class Command(BaseCommand):
    help = (
        "Create or update the user certbot's hooks authenticate as, with exactly the permissions they need, "
        "and register, list or remove its public keys."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="the user the hooks sign JWTs as (created if missing)")
        parser.add_argument(
            "--public-key-file",
            metavar="PATH",
            help="register this public key (PEM or OpenSSH, RSA or Ed25519) for the user; '-' reads standard input",
        )
        parser.add_argument(
            "--comment", help="comment stored with a new key (default: the OpenSSH comment, or the file name)"
        )
        parser.add_argument(
            "--domain",
            action="append",
            metavar="PATTERN",
            help=(
                "limit the key given with --public-key-file to this name or '*.suffix' pattern (repeat for more; "
                "replaces the key's scope). Without it a new key may push for any name the site allows"
            ),
        )
        parser.add_argument(
            "--list-keys",
            action="store_true",
            help="list the user's keys: fingerprint, type, comment, domain scope, last use",
        )
        parser.add_argument(
            "--remove-key",
            metavar="FINGERPRINT_OR_FILE",
            help="remove one of the user's keys, by fingerprint (or a unique prefix of 8+ hex digits) or by key file",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username: str = options["username"]
        key_file: str | None = options["public_key_file"]
        remove: str | None = options["remove_key"]
        list_keys: bool = options["list_keys"]

        # Parse every input before writing anything, so that a bad argument leaves the database as it was.
        if key_file == "-" and remove == "-":
            raise CommandError("--public-key-file and --remove-key cannot both read standard input")
        new_key = _load_public_key(key_file) if key_file else None
        by_fingerprint = bool(remove and _FINGERPRINT_RE.match(remove) and not Path(remove).exists())
        remove_key = _load_public_key(remove)[0] if remove and not by_fingerprint else None
        scope = _parse_scope(options["domain"]) if options["domain"] else None
        if scope is not None and not key_file:
            raise CommandError(
                "--domain sets the scope of the key given with --public-key-file: "
                f"manage.py certbot_client {username} --public-key-file KEY --domain PATTERN"
            )

        with transaction.atomic():
            only_keys = (remove or list_keys) and not key_file
            user = self._existing_user(username) if only_keys else self._ensure_user(username)
            if new_key is not None:
                key, default_comment = new_key
                stored, created = self._add_key(user, key, options["comment"] or default_comment)
                self._set_scope(stored, key.fingerprint, scope, created)
            if remove:
                fingerprint = remove_key.fingerprint if remove_key else remove.lower()
                self._remove_key(user, fingerprint)
        if list_keys:
            self._list_keys(user)

    def _existing_user(self, username: str) -> AbstractBaseUser:
        user_model = get_user_model()
        try:
            return user_model._default_manager.get_by_natural_key(username)
        except user_model.DoesNotExist:
            raise CommandError(
                f"no user '{username}': create it and register a key with "
                f"manage.py certbot_client {username} --public-key-file PATH"
            ) from None

    def _ensure_user(self, username: str) -> AbstractBaseUser:
        user_model = get_user_model()
        lookup: dict[str, Any] = {user_model.USERNAME_FIELD: username}
        user, created = user_model._default_manager.get_or_create(**lookup)
        if created:
            # Not staff: the API checks model permissions only. No password: the key is the only credential.
            user.set_unusable_password()
            user.save()
            self._say(f"created user '{username}' (active, not staff, no usable password)")
        elif not user.is_active:
            user.is_active = True
            user.save(update_fields=["is_active"])
            self._say(f"activated user '{username}'")
        else:
            self._say(f"user '{username}' exists and is active")

        wanted = set(
            Permission.objects.filter(
                content_type__app_label=Challenge._meta.app_label, codename__in=PERMISSION_CODENAMES
            )
        )
        if len(wanted) != len(PERMISSION_CODENAMES):
            raise CommandError("the acme_challenge permissions do not exist yet: run manage.py migrate first")
        current = set(user.user_permissions.all())
        added, removed = wanted - current, current - wanted
        if added or removed:
            user.user_permissions.set(wanted)
        for permission in sorted(added, key=_permission_name):
            self._say(f"granted permission {_permission_name(permission)}")
        for permission in sorted(removed, key=_permission_name):
            self._say(f"revoked permission {_permission_name(permission)} (the hooks need no other)")
        if not added and not removed:
            self._say(
                "permissions already exactly "
                + ", ".join(f"{Challenge._meta.app_label}.{codename}" for codename in PERMISSION_CODENAMES)
            )
        # Left alone, because they may belong to a person using this account; said, because they grant more.
        if user.is_superuser or user.is_staff:
            self.stderr.write(
                f"warning: '{username}' is {'a superuser' if user.is_superuser else 'staff'}; "
                "a dedicated account for certbot is safer"
            )
        if user.groups.exists():
            self.stderr.write(f"warning: '{username}' belongs to groups, which may grant it more permissions")
        return user

    def _add_key(self, user: AbstractBaseUser, key: FacadePublicKey, comment: str) -> tuple[PublicKey, bool]:
        fingerprint = key.fingerprint
        for stored in PublicKey.objects.filter(user_id=user.pk):
            if _stored_fingerprint(stored) == fingerprint:
                self._say(f"key {fingerprint} is already registered for '{user.get_username()}'; nothing to do")
                return stored, False
        others = [
            stored.user.get_username()
            for stored in PublicKey.objects.exclude(user_id=user.pk).select_related("user")
            if _stored_fingerprint(stored) == fingerprint
        ]
        # Stored as PEM: one canonical form, whatever form it came in.
        stored = PublicKey.objects.create(user_id=user.pk, key=key.as_pem.decode(), comment=comment[:_COMMENT_MAX])
        self._say(
            f"registered {_key_type(key)} key {fingerprint} ({comment[:_COMMENT_MAX]}) for '{user.get_username()}'"
        )
        if others:
            self.stderr.write(f"warning: the same key is also registered for {', '.join(sorted(others))}")
        return stored, True

    def _set_scope(self, key: PublicKey, fingerprint: str, scope: list[str] | None, created: bool) -> None:
        current = list(KeyScope.objects.filter(key=key).order_by("id").values_list("pattern", flat=True))
        if scope is None:
            if created:
                self._say(f"key {fingerprint} may push for any name the site allows (limit it with --domain)")
            elif current:
                self._say(f"key {fingerprint} keeps its scope: {', '.join(current)}")
            return
        if current == scope:
            self._say(f"key {fingerprint} is already limited to {', '.join(scope)}")
            return
        KeyScope.objects.filter(key=key).delete()
        KeyScope.objects.bulk_create(KeyScope(key=key, pattern=pattern) for pattern in scope)
        self._say(f"key {fingerprint} may push only for {', '.join(scope)}")
        for pattern in scope:
            if covers_public_suffix(pattern):
                self.stderr.write(
                    f"warning: {pattern} covers a whole public suffix, so names of strangers; "
                    "list your own names instead"
                )

    def _remove_key(self, user: AbstractBaseUser, fingerprint: str) -> None:
        stored = list(PublicKey.objects.filter(user_id=user.pk))
        matches = [key for key in stored if (_stored_fingerprint(key) or "").startswith(fingerprint)]
        if len(matches) != 1:
            known = ", ".join(_stored_fingerprint(key) or "(unreadable key)" for key in stored) or "none"
            problem = "matches no key" if not matches else "matches more than one key"
            raise CommandError(
                f"{fingerprint} {problem} of '{user.get_username()}' (its keys: {known}); "
                f"see manage.py certbot_client {user.get_username()} --list-keys"
            )
        matches[0].delete()
        self._say(f"removed key {_stored_fingerprint(matches[0])} from '{user.get_username()}'")
        if len(stored) == 1:
            self.stderr.write(f"warning: '{user.get_username()}' has no keys left; the hooks cannot authenticate")

    def _list_keys(self, user: AbstractBaseUser) -> None:
        stored = list(PublicKey.objects.filter(user_id=user.pk).order_by("id"))
        if not stored:
            self._say(f"'{user.get_username()}' has no keys")
        for key in stored:
            try:
                parsed = key.get_key()
                fingerprint, kind = parsed.fingerprint, _key_type(parsed)
            except Exception:  # noqa: BLE001  (a key pasted into the admin may be unreadable; list it anyway)
                fingerprint, kind = "(unreadable key)", "?"
            scope = ", ".join(entry.pattern for entry in key.acme_scope.order_by("id")) or "any name"
            self._say(
                f"{fingerprint}  {kind}  {key.comment or '-'}  scope: {scope}  last used: {_last_use(key, fingerprint)}"
            )

    def _say(self, line: str) -> None:
        self.stdout.write(line)


def _load_public_key(source: str) -> tuple[FacadePublicKey, str]:
    """Parse a public key from a file or ``-`` (stdin), with an error that says what to pass instead. Also returns a
    default comment: the OpenSSH comment if there is one (it names the key best), else the file name."""
    if source == "-":
        data = sys.stdin.buffer.read()
        name = "standard input"
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as error:
            raise CommandError(f"cannot read public key file {source}: {error.strerror}") from None
        name = source
    text = data.strip()
    if b"PRIVATE KEY" in text:
        raise CommandError(
            f"{name} holds a private key; register only its public half, e.g. the output of "
            "'openssl pkey -in KEY -pubout' or 'ssh-keygen -y -f KEY'. Keep the private key on the certbot host."
        )
    problem, key = ParsedPublicKey.load_serialized_public_key(text)
    if key is None:
        raise CommandError(
            f"{name} is not a public key in PEM ('-----BEGIN PUBLIC KEY-----') or OpenSSH ('ssh-ed25519 ...', "
            f"'ssh-rsa ...') form, of type RSA or Ed25519 ({type(problem).__name__})"
        )
    words = text.decode(errors="replace").split()
    if len(words) >= 3 and words[0].startswith("ssh-"):
        comment = " ".join(words[2:])
    else:
        comment = "added by certbot_client" if source == "-" else Path(source).name
    return key, comment


def _parse_scope(patterns: list[str]) -> list[str]:
    scope: list[str] = []
    for given in patterns:
        try:
            pattern = normalise_pattern(given)
        except InvalidName as error:
            raise CommandError(
                f"--domain {given!r}: {error}; give a name (example.com), an IP address, or '*.' and a name "
                "('*.example.com': every name below it)"
            ) from None
        if pattern not in scope:
            scope.append(pattern)
    return scope


def _last_use(key: PublicKey, fingerprint: str) -> str:
    """From the audit trail: when, what, with which answer and from where; else the key's own timestamp."""
    record = AuditRecord.objects.filter(key_fingerprint=fingerprint).order_by("-time", "-id").first()
    if record is not None:
        address = record.remote_address or "unknown address"
        return (
            f"{record.time.isoformat(timespec='seconds')} "
            f"({record.action} {record.token or '-'}: {record.status}, from {address})"
        )
    if key.last_used_on is not None:
        return (
            f"{key.last_used_on.isoformat(timespec='seconds')} (before the audit trail's "
            f"{conf.audit_retention_days} days)"
        )
    return "never"


def _stored_fingerprint(stored: PublicKey) -> str | None:
    try:
        return stored.get_key().fingerprint
    except Exception:  # noqa: BLE001
        return None


def _key_type(key: FacadePublicKey) -> str:
    return f"RSA-{key.key_size}" if isinstance(key, RSAPublicKey) else "Ed25519"


def _permission_name(permission: Permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"
