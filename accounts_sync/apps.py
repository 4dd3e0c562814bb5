from django.apps import AppConfig


class AccountsSyncConfig(AppConfig):
    """Accounts, permission snapshots and their change history, synced per instance."""

    name = "accounts_sync"
    verbose_name = "Accounts"
