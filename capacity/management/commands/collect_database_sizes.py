from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django.utils.translation import gettext as _

from capacity import tasks
from capacity.management.commands._run_session import instance_ids, run_task
from whalefall.choices import SyncTrigger
from whalefall.management.base import SafeOutputCommand


class Command(SafeOutputCommand):
    help = "Inventory the databases of the named (default: all active) instances and record today's sizes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--instance", action="append", dest="instances", metavar="N", help="Instance name (repeatable)."
        )
        parser.add_argument("--json", action="store_true", help="Print the session summary as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        ids = instance_ids(options["instances"])
        run_task(
            self,
            tasks.collect_database_sizes,
            as_json=options["json"],
            title=_("Collecting database sizes"),
            instance_ids=ids,
            trigger=SyncTrigger.MANUAL_SINGLE if ids and len(ids) == 1 else SyncTrigger.MANUAL,
            created_by="cli",
        )
