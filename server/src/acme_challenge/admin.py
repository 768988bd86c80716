"""A read-only view of the pending challenges: they are written only by the hooks, through the API."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone
from django.utils.timesince import timesince

from .models import Challenge, expiry_cutoff


@admin.register(Challenge)
class ChallengeAdmin(admin.ModelAdmin):
    list_display = ("domain", "token", "age", "expired")
    search_fields = ("domain", "token")
    fields = ("domain", "token", "validation", "created")

    @admin.display(description="age", ordering="-created")
    def age(self, obj: Challenge) -> str:
        return timesince(obj.created, timezone.now())

    @admin.display(description="expired", boolean=True)
    def expired(self, obj: Challenge) -> bool:
        return obj.created < expiry_cutoff()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Challenge | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Challenge | None = None) -> bool:
        return False
