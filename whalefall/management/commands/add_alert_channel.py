"""`manage.py add_alert_channel --name ops --webhook URL --format dingtalk` (or `--email ADDR`)."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from whalefall.management.base import SafeOutputCommand
from whalefall.models import AlertChannel
from whalefall.models.alerts import ChannelKind, WebhookFormat


class Command(SafeOutputCommand):
    help = _(
        "Add (or replace with --update) an alert channel: a webhook in one of the known formats, or e-mail."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument(
            "--webhook", metavar="URL", help=gettext("Webhook URL (it carries its token: kept encrypted).")
        )
        target.add_argument(
            "--webhook-env",
            metavar="VAR",
            help=gettext("Read the webhook URL from this environment variable instead."),
        )
        target.add_argument(
            "--email", metavar="ADDR", action="append", help=gettext("Recipient; repeatable.")
        )
        parser.add_argument("--format", choices=WebhookFormat.values, default=WebhookFormat.JSON)
        parser.add_argument(
            "--update", action="store_true", help=gettext("Replace an existing channel of that name.")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not name or len(name) > 100:
            raise CommandError(gettext("--name: 1 to 100 characters"))
        existing = AlertChannel.objects.filter(name=name).first()
        if existing and not options["update"]:
            raise CommandError(
                gettext("a channel named %(name)s exists (use --update to replace it)") % {"name": repr(name)}
            )
        channel = existing or AlertChannel(name=name)
        url = options["webhook"] or (
            os.environ.get(options["webhook_env"], "") if options["webhook_env"] else ""
        )
        if options["webhook_env"] and not url:
            raise CommandError(
                gettext("environment variable %(var)s is empty or unset") % {"var": options["webhook_env"]}
            )
        if url:
            if not url.startswith(("http://", "https://")):
                raise CommandError(gettext("--webhook: an http:// or https:// URL"))
            channel.kind, channel.format, channel.recipients = ChannelKind.WEBHOOK, options["format"], ""
            channel.set_url(url)
        else:
            addresses = [a.strip() for a in options["email"] if a.strip()]
            if not addresses or any("@" not in a for a in addresses):
                raise CommandError(gettext("--email: an e-mail address"))
            channel.kind, channel.format, channel.recipients = ChannelKind.EMAIL, "", ", ".join(addresses)
            channel.set_url("")
        channel.save()
        where = channel.masked_url or channel.recipients
        message = (
            gettext("Updated channel %(name)s (%(kind)s, %(where)s)")
            if existing
            else gettext("Added channel %(name)s (%(kind)s, %(where)s)")
        )
        self.stdout.write(message % {"name": name, "kind": channel.get_kind_display(), "where": where})
