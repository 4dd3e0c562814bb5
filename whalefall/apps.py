from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WhaleFallConfig(AppConfig):
    """Core app: instances, credentials, connections, the sync-session ledger and locks."""

    name = "whalefall"
    label = "whalefall"
    verbose_name = _("WhaleFall core")

    def ready(self) -> None:
        from whalefall.panels import register_core_panels

        register_core_panels()
        from whalefall.alerts.rules import register_core_kinds

        register_core_kinds()
        from whalefall import (
            checks,  # noqa: F401  (registers system checks)
            task_registry,
            tasks,
        )

        task_registry.register(*tasks.TASKS)
