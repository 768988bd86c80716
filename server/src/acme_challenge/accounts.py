"""What the challenge API reads about its caller, in one statement: the user, whether they hold the permission the
call needs, their registered keys and each key's scope. And the one write that records a key's last use.

Before, the same answers took four to six ORM queries per call (the user, the keys, the user's and the groups'
permissions, the scope), and building them cost more than running them (scripts/bench, P1). The SQL here is built
once per database alias from the models' metadata, so a swapped user model or renamed tables are followed; values
are always parameters.

The permission is answered in SQL only when Django's ModelBackend is the one authentication backend (the default),
because then ``user.has_perm`` means exactly "superuser, or the permission is the user's or one of their groups'".
With other backends, or a user model without PermissionsMixin, :attr:`Found.permitted` is None and the caller asks
``user.has_perm``. A non-default asymmetric_jwt_auth ``USER_REPOSITORY`` is asked for the user first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from asymmetric_jwt_auth import get_setting
from asymmetric_jwt_auth.models import PublicKey
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import connections, router

from .models import KeyScope

DEFAULT_USER_REPOSITORY = "asymmetric_jwt_auth.repos.django.DjangoUserRepository"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


@dataclass(frozen=True)
class Key:
    """One registered key of the caller, as stored."""

    id: int
    #: The key as registered (PEM or OpenSSH).
    text: str
    #: Its KeyScope patterns, in the order they were added; empty for a key that may push for any name.
    scope: tuple[str, ...]


@dataclass(frozen=True)
class Found:
    user: AbstractBaseUser
    #: The user's keys, oldest first.
    keys: list[Key]
    #: Whether the user holds the permission asked about, or None when only ``user.has_perm`` can say.
    permitted: bool | None


def find(username: str, permission: str) -> Found | None:
    """The user named ``username`` with their keys, and whether they hold ``permission`` (``app_label.codename``);
    None if there is no such user."""
    user_model = get_user_model()
    alias = router.db_for_read(user_model)
    connection = connections[alias]
    by_repository = get_setting("USER_REPOSITORY") != DEFAULT_USER_REPOSITORY
    if by_repository:
        from asymmetric_jwt_auth.repos import get_user_repository

        known = get_user_repository().get_user(username=username)
        if known is None:
            return None
        lookup: object = known.pk
    else:
        lookup = username
    in_sql = list(settings.AUTHENTICATION_BACKENDS) == [MODEL_BACKEND] and _has_permission_tables(user_model)
    sql, attnames = _find_sql(alias, user_model, by_pk=by_repository, with_permission=in_sql)
    params: list[Any] = []
    if in_sql:
        app_label, _, codename = permission.partition(".")
        params += [app_label, codename, app_label, codename]
    params.append(lookup)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows:
        return None
    width = len(attnames)
    user = user_model.from_db(alias, attnames, rows[0][:width])
    permitted = None
    if in_sql:
        permitted = bool(getattr(user, "is_superuser", False)) or bool(rows[0][width])
        width += 1
    keys: list[Key] = []
    for key_id, text, pattern in (row[width:] for row in rows):
        if key_id is None:  # the user has no key (the LEFT JOIN's one row)
            continue
        if keys and keys[-1].id == key_id:
            keys[-1] = Key(key_id, text, (*keys[-1].scope, pattern))
        else:
            keys.append(Key(key_id, text, () if pattern is None else (pattern,)))
    return Found(user=user, keys=keys, permitted=permitted)


def record_key_use(key_id: int, now: datetime) -> None:
    """Set the key's ``last_used_on`` (one UPDATE)."""
    alias = router.db_for_write(PublicKey)
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(_key_use_sql(alias), [connection.ops.adapt_datetimefield_value(now), key_id])


def _has_permission_tables(user_model: type[AbstractBaseUser]) -> bool:
    try:
        for name in ("user_permissions", "groups", "is_superuser"):
            user_model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


@cache
def _find_sql(
    alias: str, user_model: type[AbstractBaseUser], *, by_pk: bool, with_permission: bool
) -> tuple[str, list[str]]:
    """The SQL of :func:`find` and the attribute names of the user columns it selects first."""
    q = connections[alias].ops.quote_name
    users = user_model._meta
    fields = users.concrete_fields
    columns = [f"u.{q(field.column)}" for field in fields]
    if with_permission:
        columns.append(f"({_permission_sql(q, user_model)})")
    key_meta, scope_meta = PublicKey._meta, KeyScope._meta
    key_user = key_meta.get_field("user").column
    scope_key = scope_meta.get_field("key").column
    columns += [f"k.{q(key_meta.pk.column)}", f"k.{q(key_meta.get_field('key').column)}"]
    columns.append(f"s.{q(scope_meta.get_field('pattern').column)}")
    # asymmetric_jwt_auth's DjangoUserRepository looks users up by ``username=``; so does this.
    where = users.pk.column if by_pk else users.get_field("username").column  # type: ignore[misc]
    # Only quoted identifiers from the models are interpolated; the values are parameters.
    sql = (
        f"SELECT {', '.join(columns)} FROM {q(users.db_table)} u "  # noqa: S608
        f"LEFT JOIN {q(key_meta.db_table)} k ON k.{q(key_user)} = u.{q(users.pk.column)} "
        f"LEFT JOIN {q(scope_meta.db_table)} s ON s.{q(scope_key)} = k.{q(key_meta.pk.column)} "
        f"WHERE u.{q(where)} = %s ORDER BY k.{q(key_meta.pk.column)}, s.{q(scope_meta.pk.column)}"
    )
    return sql, [field.attname for field in fields]


def _permission_sql(q: Callable[[str], str], user_model: type[AbstractBaseUser]) -> str:
    """Whether the user ``u`` holds the permission named by two parameter pairs (app label, codename): their own, or
    one of their groups'. Superusers are answered in Python, from the row. Only quoted identifiers from the models are
    interpolated."""
    users = user_model._meta
    # The configured user model has both (find checks with _has_permission_tables); AbstractBaseUser does not.
    own, groups = users.get_field("user_permissions"), users.get_field("groups")  # type: ignore[misc]
    by_group = Group._meta.get_field("permissions")
    permission, content_type = Permission._meta, ContentType._meta
    p, ct, up, ug, gp = (
        q(name)
        for name in (
            permission.db_table,
            content_type.db_table,
            own.m2m_db_table(),
            groups.m2m_db_table(),
            by_group.m2m_db_table(),
        )
    )
    user_id = f"u.{q(users.pk.column)}"
    permission_id, content_type_id = q(permission.pk.column), q(permission.get_field("content_type").column)
    named = (
        f"JOIN {ct} ON {ct}.{q(content_type.pk.column)} = {p}.{content_type_id} "
        f"WHERE {ct}.{q(content_type.get_field('app_label').column)} = %s "
        f"AND {p}.{q(permission.get_field('codename').column)} = %s"
    )
    mine = (
        f"SELECT 1 FROM {up} JOIN {p} ON {p}.{permission_id} = {up}.{q(own.m2m_reverse_name())} {named} "  # noqa: S608
        f"AND {up}.{q(own.m2m_column_name())} = {user_id}"
    )
    of_my_groups = (
        f"SELECT 1 FROM {ug} JOIN {gp} ON {gp}.{q(by_group.m2m_column_name())} "  # noqa: S608
        f"= {ug}.{q(groups.m2m_reverse_name())} "
        f"JOIN {p} ON {p}.{permission_id} = {gp}.{q(by_group.m2m_reverse_name())} {named} "
        f"AND {ug}.{q(groups.m2m_column_name())} = {user_id}"
    )
    return f"EXISTS ({mine}) OR EXISTS ({of_my_groups})"


@cache
def _key_use_sql(alias: str) -> str:
    q = connections[alias].ops.quote_name
    meta = PublicKey._meta
    return (
        f"UPDATE {q(meta.db_table)} SET {q(meta.get_field('last_used_on').column)} = %s "  # noqa: S608
        f"WHERE {q(meta.pk.column)} = %s"
    )
