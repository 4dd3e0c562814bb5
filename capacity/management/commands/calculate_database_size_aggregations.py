from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from capacity import tasks
from capacity.models import PeriodType
from whalefall.management.sync_command import SyncSessionCommand, manual_trigger


def iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(_("--date must be YYYY-MM-DD, not %(value)s") % {"value": repr(value)}) from None


class Command(SyncSessionCommand):
    help = gettext_lazy(
        "Compute daily/weekly/monthly/quarterly size aggregates. Without options: every complete "
        "period that has ended or whose size rows changed since the last run (the last complete "
        "period of each kind on the night it completes); with --period and/or --date: the "
        "period(s) containing that date; with --full: every period from the first size row."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--period", choices=PeriodType.values, help=_("Only this kind of period."))
        parser.add_argument("--date", help=_("A day (YYYY-MM-DD) inside the period to recompute."))
        self.add_instance_arguments(parser)
        parser.add_argument(
            "--full",
            action="store_true",
            help=_(
                "Recompute every complete period from the first size row, whatever the last run "
                "saw (repair after size rows were edited or deleted behind its back)."
            ),
        )
        self.add_json_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        day = iso_date(options["date"]) if options["date"] else None
        if options["full"] and (day or options["period"]):
            raise CommandError(_("--full recomputes every period: it takes no --period or --date"))
        ids = self.instance_ids(options)
        self.run_sync(
            tasks.calculate_database_size_aggregations,
            as_json=options["json"],
            title=_("Calculating size aggregates"),
            period=options["period"],
            date=day,
            full=options["full"],
            instance_ids=ids,
            trigger=manual_trigger(ids),
            created_by="cli",
        )
