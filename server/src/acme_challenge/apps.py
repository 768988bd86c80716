"""App config: registers the system checks when Django starts."""

from django.apps import AppConfig


class AcmeChallengeConfig(AppConfig):
    name = "acme_challenge"
    label = "acme_challenge"
    verbose_name = "ACME challenges"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (importing registers the checks)
