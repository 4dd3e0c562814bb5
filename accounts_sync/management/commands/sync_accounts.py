"""`manage.py sync_accounts [--instance N ...] [--include-inactive] [--json] [--force]`: one manual account-sync session."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts_sync.tasks import sync_accounts
from whalefall.management.progress import ACCOUNT_COUNTERS, InstanceProgress
from whalefall.management.sync_command import SyncSessionCommand, exit_for, manual_trigger, run_session
from whalefall.models import Instance


class Command(SyncSessionCommand):
    help = gettext_lazy(
        "Sync accounts and permissions of the named (default: all active) instances in one session."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        self.add_instance_arguments(parser)
        parser.add_argument("--json", action="store_true", help=_("Print the session summary as JSON."))
        parser.add_argument(
            "--force", action="store_true", help=_("Accept a listing that deactivates more than half.")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        ids = self.instance_ids(options)
        progress = InstanceProgress(
            self,
            total=len(Instance.objects.for_sync(ids)),
            title=_("Syncing accounts"),
            enabled=not options["json"],
            counters=ACCOUNT_COUNTERS,
        )
        with progress:
            summary = run_session(
                sync_accounts,
                instance_ids=ids,
                trigger=manual_trigger(ids),
                created_by="cli",
                force=options["force"],
                progress=progress,
            )
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2, sort_keys=True))
        else:
            progress.session_summary(summary)
        exit_for(summary)
