"""The admin: pending challenges and the audit trail, read-only (only the hooks write them, through the API); each
registered key's domain scope, editable inline on asymmetric_jwt_auth's public key page."""

from __future__ import annotations

from asymmetric_jwt_auth import admin as library_admin
from asymmetric_jwt_auth.models import PublicKey
from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone
from django.utils.timesince import timesince

from .models import AuditRecord, Challenge, KeyScope, expiry_cutoff


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False


@admin.register(Challenge)
class ChallengeAdmin(ReadOnlyAdmin):
    list_display = ("domain", "token", "owner", "age", "expired")
    search_fields = ("domain", "token")
    fields = ("domain", "token", "validation", "owner", "created")

    @admin.display(description="age", ordering="-created")
    def age(self, obj: Challenge) -> str:
        return timesince(obj.created, timezone.now())

    @admin.display(description="expired", boolean=True)
    def expired(self, obj: Challenge) -> bool:
        return obj.created < expiry_cutoff()


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    list_display = ("time", "status", "action", "username", "short_fingerprint", "domain", "token", "remote_address")
    list_filter = ("status", "action")
    search_fields = ("username", "key_fingerprint", "domain", "token", "remote_address", "reason")
    date_hierarchy = "time"
    fields = (
        "time", "status", "action", "user", "username", "key_fingerprint", "domain", "token", "remote_address",
        "reason",
    )  # fmt: skip

    @admin.display(description="key", ordering="key_fingerprint")
    def short_fingerprint(self, obj: AuditRecord) -> str:
        return obj.key_fingerprint[:16]


class KeyScopeInline(admin.TabularInline):
    model = KeyScope
    extra = 1
    verbose_name = "name or *.suffix pattern this key may push challenges for"
    verbose_name_plural = "domain scope (none: any name ACME_CHALLENGE_ALLOWED_DOMAINS admits)"


# Importing asymmetric_jwt_auth's admin module above registered its PublicKeyAdmin, whatever the order of
# INSTALLED_APPS; this replaces it with the same admin plus the scope.
if admin.site.is_registered(PublicKey):
    admin.site.unregister(PublicKey)


@admin.register(PublicKey)
class PublicKeyAdmin(library_admin.PublicKeyAdmin):
    list_display = ("user", "comment", "scope", "last_used_on")
    inlines = [KeyScopeInline]

    @admin.display(description="domain scope")
    def scope(self, obj: PublicKey) -> str:
        return ", ".join(entry.pattern for entry in obj.acme_scope.all()) or "any name"

    def get_queryset(self, request: HttpRequest):  # noqa: ANN201  (the library's admin is untyped)
        return super().get_queryset(request).prefetch_related("acme_scope")
