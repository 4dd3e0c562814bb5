from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsSyncConfig(AppConfig):
    """Accounts, permission snapshots and their change history, synced per instance."""

    name = "accounts_sync"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from accounts_sync.panels import register_panels

        register_panels()
        from django.utils.translation import gettext_lazy

        from whalefall import extensions

        extensions.add_instance_link(
            extensions.InstanceLink(
                "admin:accounts_sync_account_changelist",
                "instance__id__exact",
                gettext_lazy("Accounts"),
                "accounts_sync.view_account",
            )
        )
        from accounts_sync.alerts import register_kinds

        register_kinds()
        from accounts_sync.models import delete_old_changes
        from whalefall import retention

        retention.register("accounts_sync.changes", delete_old_changes)
        from accounts_sync.tasks import TASKS
        from whalefall import task_registry

        task_registry.register(*TASKS)
