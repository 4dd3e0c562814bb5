"""`manage.py sync_accounts [--instance N ...] [--json] [--force]`: one manual account-sync session."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _

from accounts_sync.tasks import sync_accounts
from whalefall.choices import SessionStatus, SyncTrigger
from whalefall.management.base import SafeOutputCommand
from whalefall.management.progress import ACCOUNT_COUNTERS, InstanceProgress
from whalefall.models import Instance
from whalefall.sync.locks import LockConflict
from whalefall.textsafe import safe_text


class Command(SafeOutputCommand):
    help = "Sync accounts and permissions of the named (default: all active) instances in one session."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--instance", action="append", default=[], metavar="NAME", help="Instance name (repeatable)."
        )
        parser.add_argument("--json", action="store_true", help="Print the session summary as JSON.")
        parser.add_argument(
            "--force", action="store_true", help="Accept a listing that deactivates more than half."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        ids = self._instance_ids(options["instance"])
        progress = InstanceProgress(
            self,
            total=len(Instance.objects.for_sync(ids)),
            title=_("Syncing accounts"),
            enabled=not options["json"],
            counters=ACCOUNT_COUNTERS,
        )
        try:
            with progress:
                summary = sync_accounts(
                    instance_ids=ids,
                    trigger=SyncTrigger.MANUAL_SINGLE
                    if len(options["instance"]) == 1
                    else SyncTrigger.MANUAL,
                    created_by="cli",
                    force=options["force"],
                    progress=progress,
                )
        except LockConflict as conflict:
            raise CommandError(str(conflict)) from None
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2, sort_keys=True))
        else:
            progress.session_summary(summary)
        if summary["status"] != SessionStatus.COMPLETED or summary["failed_instances"]:
            raise SystemExit(1)

    def _instance_ids(self, names: list[str]) -> list[int] | None:
        if not names:
            return None
        found = dict(Instance.objects.filter(name__in=names).values_list("name", "pk"))
        missing = sorted(set(names) - set(found))
        if missing:
            raise CommandError(f"unknown instance(s): {', '.join(map(safe_text, missing))}")
        return [found[n] for n in names]
