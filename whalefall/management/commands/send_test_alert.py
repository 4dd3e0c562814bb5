"""`manage.py send_test_alert --channel NAME`: one test message now, recorded like any delivery."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from whalefall.alerts.delivery import send_test
from whalefall.management.base import SafeOutputCommand
from whalefall.models import AlertChannel, DeliveryStatus


class Command(SafeOutputCommand):
    help = _("Send a test alert through a channel and say whether the channel took it.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--channel", required=True, metavar="NAME", help=gettext("Name of the alert channel.")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            channel = AlertChannel.objects.get(name=options["channel"])
        except AlertChannel.DoesNotExist:
            raise CommandError(gettext("unknown channel: %(name)s") % {"name": options["channel"]}) from None
        delivery = send_test(channel)
        if delivery.status != DeliveryStatus.SENT:
            raise CommandError(
                gettext("%(channel)s: not delivered: %(error)s")
                % {"channel": channel.name, "error": delivery.last_error}
            )
        self.stdout.write(gettext("%(channel)s: delivered") % {"channel": channel.name})
