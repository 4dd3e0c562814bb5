"""`manage.py export_accounts --instance N [--format json|text] [--effective]`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts_sync.export import export_instance, render_json, render_text
from whalefall.management.base import SafeOutputCommand
from whalefall.models import Instance


class Command(SafeOutputCommand):
    help = _("Print an instance's stored accounts and permissions, canonical and sorted (fit for diff).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--instance", required=True, metavar="NAME", help=gettext("Instance name."))
        parser.add_argument(
            "--format", choices=["json", "text"], default="json", help=gettext("Output format.")
        )
        parser.add_argument(
            "--include-inactive", action="store_true", help=gettext("Also list deactivated accounts.")
        )
        parser.add_argument(
            "--effective",
            action="store_true",
            help=gettext("Also list every privilege each account holds, with the path (direct, via roles)."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            instance = Instance.objects.get(name=options["instance"])
        except Instance.DoesNotExist:
            raise CommandError(
                gettext("unknown instance: %(names)s") % {"names": options["instance"]}
            ) from None
        data = export_instance(
            instance, include_inactive=options["include_inactive"], effective=options["effective"]
        )
        render = render_text if options["format"] == "text" else render_json
        self.stdout.write(render(data), ending="" if options["format"] == "text" else "\n")
