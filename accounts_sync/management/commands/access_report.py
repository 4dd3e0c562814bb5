"""`manage.py access_report --instance N [--format csv|xlsx] [--from DATE --to DATE] [--output FILE]`."""

from __future__ import annotations

import io
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts_sync.management.commands.account_permissions import parse_moment
from accounts_sync.reports import Period, write_csv, write_xlsx
from whalefall.management.base import SafeOutputCommand
from whalefall.models import Instance


class Command(SafeOutputCommand):
    help = _(
        "Access review: every account with its privileges (and how each is held), and the changes "
        "between two dates. XLSX has a sheet each; CSV prints one part (--part)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--instance",
            action="append",
            default=[],
            metavar="NAME",
            help=gettext("Repeatable; default all."),
        )
        parser.add_argument(
            "--format", choices=["csv", "xlsx"], default="csv", help=gettext("Output format.")
        )
        parser.add_argument(
            "--from", dest="start", metavar="DATE", help=gettext("Changes from (inclusive), ISO date/time.")
        )
        parser.add_argument(
            "--to", dest="end", metavar="DATE", help=gettext("Changes until (exclusive), ISO date/time.")
        )
        parser.add_argument(
            "--part", choices=["privileges", "changes"], default="privileges", help=gettext("CSV only.")
        )
        parser.add_argument(
            "--output",
            metavar="FILE",
            help=gettext("Write here (required for xlsx); CSV defaults to stdout."),
        )
        parser.add_argument(
            "--include-inactive", action="store_true", help=gettext("Also inactive instances and accounts.")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        names = options["instance"]
        instances = list(
            Instance.objects.filter(name__in=names) if names else Instance.objects.filter(is_active=True)
        )
        if unknown := sorted(set(names) - {i.name for i in instances}):
            raise CommandError(gettext("unknown instance: %(names)s") % {"names": ", ".join(unknown)})
        period = Period(
            parse_moment(options["start"]) if options["start"] else None,
            parse_moment(options["end"]) if options["end"] else None,
        )
        if period.start and period.end and period.start >= period.end:
            raise CommandError(gettext("--from must be before --to"))
        kw = {"include_inactive": options["include_inactive"]}
        if options["format"] == "xlsx":
            if not options["output"]:
                raise CommandError(gettext("--output FILE is required for xlsx"))
            with open(options["output"], "wb") as out:
                write_xlsx(out, instances, period, **kw)
            self.stderr.write(gettext("wrote %(file)s") % {"file": options["output"]})
            return
        if options["output"]:
            with open(options["output"], "w", newline="", encoding="utf-8") as out:
                write_csv(out, instances, period, part=options["part"], **kw)
            return
        buffer = io.StringIO()
        write_csv(buffer, instances, period, part=options["part"], **kw)
        self.stdout.write(buffer.getvalue(), ending="")
