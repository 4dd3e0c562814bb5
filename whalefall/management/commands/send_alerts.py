"""`manage.py send_alerts [--kind K ...]`: what the scheduler does every minute, once.

Useful as a watchdog from cron or a systemd timer (`--kind scheduler_down`): the one alert a
stopped scheduler cannot send itself.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from whalefall.alerts.delivery import send_alerts
from whalefall.alerts.kinds import KINDS
from whalefall.management.base import SafeOutputCommand


class Command(SafeOutputCommand):
    help = _("Evaluate the enabled alert rules and deliver what is due.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--kind", action="append", default=[], help=gettext("Only rules of this kind; repeatable.")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if unknown := sorted(set(options["kind"]) - set(KINDS)):
            raise CommandError(
                gettext("unknown kind: %(kinds)s (known: %(known)s)")
                % {"kinds": ", ".join(unknown), "known": ", ".join(sorted(KINDS))}
            )
        self.stdout.write(json.dumps(send_alerts(kinds=options["kind"] or None)))
