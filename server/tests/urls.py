"""Mounted as the README tells sites to mount it."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path(".well-known/", include("acme_challenge.urls")),
]
