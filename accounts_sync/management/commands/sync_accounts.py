"""`manage.py sync_accounts [--instance N ...] [--json] [--force]`: one manual account-sync session."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from accounts_sync.tasks import sync_accounts
from whalefall.choices import RecordStatus, SessionStatus, SyncTrigger
from whalefall.management.base import SafeOutputCommand
from whalefall.models import Instance, SyncInstanceRecord
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
        progress = None if options["json"] or not self.stdout.isatty() else self._progress
        try:
            summary = sync_accounts(
                instance_ids=ids,
                trigger=SyncTrigger.MANUAL_SINGLE if len(options["instance"]) == 1 else SyncTrigger.MANUAL,
                created_by="cli",
                force=options["force"],
                progress=progress,
            )
        except LockConflict as conflict:
            raise CommandError(str(conflict)) from None
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2, sort_keys=True))
        else:
            self._print_summary(summary)
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

    def _progress(self, record: SyncInstanceRecord) -> None:
        style = self.style.SUCCESS if record.status != RecordStatus.FAILED else self.style.ERROR
        line = self._line(record.__dict__ | {"error": record.error_message})
        self.stdout.write(f"{safe_text(record.instance_name)}: {line}", style_func=style)

    def _print_summary(self, summary: dict[str, Any]) -> None:
        if not self.stdout.isatty():
            for item in summary["instances"]:
                self.stdout.write(f"{safe_text(item['instance'])}: {self._line(item)}")
        self.stdout.write(f"session {summary['session_id']}: {summary['status']}")

    @staticmethod
    def _line(item: dict[str, Any]) -> str:
        if item["status"] == RecordStatus.FAILED:
            return f"failed in {item['failed_phase']}: {safe_text(item['error'])}"
        return (
            f"{item['status']} (synced {item['items_synced']}, created {item['items_created']}, "
            f"updated {item['items_updated']}, deactivated {item['items_deleted']})"
        )
