from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from capacity import tasks
from whalefall.management.sync_command import SyncSessionCommand, manual_trigger


class Command(SyncSessionCommand):
    help = gettext_lazy(
        "Inventory the databases of the named (default: all active) instances and record today's sizes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        self.add_instance_arguments(parser)
        self.add_json_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        ids = self.instance_ids(options)
        self.run_sync(
            tasks.collect_database_sizes,
            as_json=options["json"],
            title=_("Collecting database sizes"),
            instance_ids=ids,
            trigger=manual_trigger(ids),
            created_by="cli",
        )
