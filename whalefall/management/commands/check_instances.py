"""`manage.py check_instances`: test connections; exit 1 if any fails (for scripts and monitoring)."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import CommandError, CommandParser

from whalefall.management.base import SafeOutputCommand
from whalefall.models import Instance
from whalefall.services.connection_check import check_instance
from whalefall.textsafe import safe_text


class Command(SafeOutputCommand):
    help = "Test the connection to instances (default: all active) and report version and latency."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--instance", action="append", default=[], metavar="NAME", help="Instance name (repeatable)."
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        names: list[str] = opts["instance"]
        instances = Instance.objects.select_related("credential")
        instances = instances.filter(name__in=names) if names else instances.active()
        found = list(instances)
        missing = sorted(set(names) - {i.name for i in found})
        if missing:
            raise CommandError(f"unknown instance(s): {', '.join(map(safe_text, missing))}")
        if not found:
            self.stdout.write("No active instances.")
            return
        failures = 0
        for instance in found:
            result = check_instance(instance)
            failures += not result.ok
            style = self.style.SUCCESS if result.ok else self.style.ERROR
            self.stdout.write(f"{safe_text(instance.name):<30} {safe_text(result.message)}", style_func=style)
        self.stdout.write(f"{len(found) - failures} OK, {failures} failed")
        if failures:
            sys.exit(1)
