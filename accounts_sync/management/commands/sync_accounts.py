"""`manage.py sync_accounts [--instance N ...] [--include-inactive] [--json] [--force]`: one manual account-sync session."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts_sync.tasks import sync_accounts
from whalefall.management.progress import ACCOUNT_COUNTERS
from whalefall.management.sync_command import SyncSessionCommand, manual_trigger


class Command(SyncSessionCommand):
    help = gettext_lazy(
        "Sync accounts and permissions of the named (default: all active) instances in one session."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        self.add_instance_arguments(parser)
        self.add_json_argument(parser)
        parser.add_argument(
            "--force", action="store_true", help=_("Accept a listing that deactivates more than half.")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        ids = self.instance_ids(options)
        self.run_sync(
            sync_accounts,
            as_json=options["json"],
            title=_("Syncing accounts"),
            counters=ACCOUNT_COUNTERS,
            instance_ids=ids,
            trigger=manual_trigger(ids),
            created_by="cli",
            force=options["force"],
        )
