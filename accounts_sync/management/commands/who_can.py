"""`manage.py who_can --privilege DROP --on 'sales.*' [--instance N ...] [--json]`."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts_sync.questions import answer_counts, holders_text, who_can
from whalefall.management.base import SafeOutputCommand
from whalefall.models import Instance


class Command(SafeOutputCommand):
    help = _(
        "Which accounts, on which instances, hold a privilege on an object, and through what "
        "(directly, a role path, PUBLIC, superuser). Answered from the stored inventory."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--privilege", required=True, help=gettext("Privilege name, e.g. SELECT, DROP, EXECUTE.")
        )
        parser.add_argument(
            "--on",
            default="*",
            help=gettext(
                "Object: db, db.table, db.schema.table, db.* (the database and everything in it), or *."
            ),
        )
        parser.add_argument(
            "--instance", action="append", default=[], metavar="NAME", help=gettext("Repeatable.")
        )
        parser.add_argument(
            "--include-inactive", action="store_true", help=gettext("Also accounts no longer listed.")
        )
        parser.add_argument("--json", action="store_true", help=gettext("Print JSON only."))

    def handle(self, *args: Any, **options: Any) -> None:
        names = options["instance"]
        known = set(Instance.objects.filter(name__in=names).values_list("name", flat=True))
        if unknown := sorted(set(names) - known):
            raise CommandError(gettext("unknown instance: %(names)s") % {"names": ", ".join(unknown)})
        holders = who_can(
            options["privilege"], options["on"], instances=names, include_inactive=options["include_inactive"]
        )
        if options["json"]:
            self.stdout.write(json.dumps([h.as_dict() for h in holders], indent=2, ensure_ascii=False))
            return
        for line in holders_text(holders):
            self.stdout.write(line)
        self.stdout.write(answer_counts(holders))
