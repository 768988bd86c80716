"""The admin: pending challenges and the audit trail, read-only (only the hooks write them, through the API); each
registered key's domain scope, editable inline on asymmetric_jwt_auth's public key page."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from asymmetric_jwt_auth import admin as library_admin
from asymmetric_jwt_auth.models import PublicKey
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.timesince import timesince

from . import dashboard, monitoring
from .models import (
    AuditRecord,
    CertificateName,
    CertificateReport,
    Challenge,
    ChallengeFetch,
    Identifier,
    KeyScope,
    expiry_cutoff,
)


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
    list_display = (
        "time", "status", "action", "count", "username", "short_fingerprint", "domain", "token", "remote_address",
    )  # fmt: skip
    list_filter = ("status", "action")
    search_fields = ("username", "key_fingerprint", "domain", "token", "remote_address", "reason")
    date_hierarchy = "time"
    # "count": refusals of requests that proved no key are counted, one row per minute, action, kind and reason
    # (audit.count_refusal); every other row stands for one call.
    fields = (
        "time", "status", "action", "count", "user", "username", "key_fingerprint", "domain", "token",
        "remote_address", "reason",
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
    list_display = ("user", "comment", "scope", "last_used_on")  # type: ignore[assignment]
    inlines = [KeyScopeInline]

    @admin.display(description="domain scope")
    def scope(self, obj: PublicKey) -> str:
        return ", ".join(entry.pattern for entry in obj.acme_scope.all()) or "any name"

    def get_queryset(self, request: HttpRequest) -> QuerySet[PublicKey]:
        return super().get_queryset(request).prefetch_related("acme_scope")


@admin.register(Identifier)
class IdentifierAdmin(ReadOnlyAdmin):
    """Every identifier with its verdict, the soonest expiry first (the model's ordering: by notAfter, never issued
    last)."""

    list_display = ("name", "verdict", "days_left", "not_after", "renewal_due", "last_renewal")
    search_fields = ("name",)
    fields = ("name", "first_seen", "certificate", "not_after")

    @admin.display(description="verdict")
    def verdict(self, obj: Identifier) -> str:
        certificate = obj.certificate
        return monitoring.verdict(
            certificate.not_before if certificate else None, certificate.not_after if certificate else None, _now()
        )

    @admin.display(description="days left", ordering="not_after")
    def days_left(self, obj: Identifier) -> str:
        if obj.not_after is None:
            return "-"
        return f"{(obj.not_after - _now()).total_seconds() / 86400:.1f}"

    @admin.display(description="renewal due")
    def renewal_due(self, obj: Identifier) -> object:
        certificate = obj.certificate
        return monitoring.renewal_due(certificate.not_before, certificate.not_after) if certificate else None

    @admin.display(description="last renewal", ordering="certificate__time")
    def last_renewal(self, obj: Identifier) -> object:
        return obj.certificate.time if obj.certificate else None

    def get_queryset(self, request: HttpRequest) -> QuerySet[Identifier]:
        return super().get_queryset(request).select_related("certificate")

    def get_urls(self) -> list[URLPattern]:
        # The dashboard (dashboard.py), linked from the app's index (templates/admin/acme_challenge/app_index.html).
        mounted = self.admin_site.admin_view(partial(dashboard.view, admin_site=self.admin_site))
        return [path("dashboard/", mounted, name="acme_challenge_dashboard"), *super().get_urls()]


class CertificateNameInline(admin.TabularInline):
    model = CertificateName
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False


@admin.register(CertificateReport)
class CertificateReportAdmin(ReadOnlyAdmin):
    """Reported certificates, read-only; deletable, for a name no certificate needs any more (else it turns late)."""

    list_display = ("lineage", "serial", "not_before", "not_after", "time", "username", "remote_address")
    search_fields = ("lineage", "serial", "fingerprint", "names__name", "username")
    date_hierarchy = "time"
    inlines = [CertificateNameInline]

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return admin.ModelAdmin.has_delete_permission(self, request, obj)


@admin.register(ChallengeFetch)
class ChallengeFetchAdmin(ReadOnlyAdmin):
    list_display = ("time", "domain", "status", "remote_address", "user_agent", "token")
    list_filter = ("status",)
    search_fields = ("domain", "token", "remote_address", "user_agent")
    date_hierarchy = "time"


def _now() -> datetime:
    return timezone.now()
