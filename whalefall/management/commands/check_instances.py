"""`manage.py check_instances [--json]`: test connections; exit 1 if any fails (for scripts and monitoring)."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext as _

from whalefall.management.base import SafeOutputCommand
from whalefall.management.progress import InstanceProgress
from whalefall.models import Instance
from whalefall.services.connection_check import CheckResult, check_instance
from whalefall.textsafe import safe_text


class Command(SafeOutputCommand):
    help = gettext_lazy(
        "Test the connection to instances (default: all active) and report version and latency."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--instance",
            action="append",
            default=[],
            metavar="NAME",
            help=gettext("Instance name (repeatable)."),
        )
        parser.add_argument(
            "--json", action="store_true", help=gettext("Print the results as one JSON document.")
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        names: list[str] = opts["instance"]
        instances = Instance.objects.select_related("credential")
        instances = instances.filter(name__in=names) if names else instances.active()
        found = list(instances)
        missing = sorted(set(names) - {i.name for i in found})
        if missing:
            raise CommandError(
                _("unknown instance(s): %(names)s") % {"names": ", ".join(map(safe_text, missing))}
            )
        if not found:
            self.stdout.write(
                json.dumps({"instances": [], "ok": 0, "failed": 0})
                if opts["json"]
                else _("No active instances.")
            )
            return
        results = []
        with InstanceProgress(
            self, total=len(found), title=_("Checking connections"), enabled=not opts["json"]
        ) as progress:
            for instance in found:
                result = check_instance(instance)
                results.append((instance, result))
                status = _("ok") if result.ok else _("failed")
                progress.step(instance.name, status, safe_text(result.message), failed=not result.ok)
        failures = sum(not result.ok for _instance, result in results)
        if opts["json"]:
            self.stdout.write(json.dumps(self._document(results, failures), indent=2, sort_keys=True))
        else:
            counts = _("%(ok)d OK, %(failed)d failed") % {"ok": len(found) - failures, "failed": failures}
            progress.summary(counts, ok=not failures)
        if failures:
            sys.exit(1)

    @staticmethod
    def _document(results: list[tuple[Instance, CheckResult]], failures: int) -> dict[str, Any]:
        return {
            "ok": len(results) - failures,
            "failed": failures,
            "instances": [
                {
                    "instance": instance.name,
                    "instance_id": instance.pk,
                    "ok": result.ok,
                    "kind": result.kind,
                    "message": result.message,
                    "version": result.version,
                    "latency_ms": round(result.latency_ms, 1),
                }
                for instance, result in results
            ],
        }
