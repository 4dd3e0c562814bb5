"""`manage.py runscheduler`: the one long-lived process that runs WhaleFall's scheduled jobs."""

from __future__ import annotations

import signal
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from scheduling.config import ConfigError, LoadResult, load_default_tasks
from scheduling.service import SchedulerService
from scheduling.status import scheduler_status
from scheduling.triggers import describe
from whalefall.management.base import SafeOutputCommand


class Command(SafeOutputCommand):
    help = _(
        "Run the scheduled jobs (APScheduler with the Django job store). Only one scheduler is "
        "active at a time; a second one waits as standby and takes over when the lease expires."
    )
    # Its log is the record of what ran when: every event at LOG_LEVEL, as before.
    quiet_logs = False

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--lease-seconds",
            type=int,
            default=None,
            help=gettext("Lease length (default: settings.WHALEFALL_SCHEDULER_LEASE_SECONDS)."),
        )

        parser.add_argument(
            "--show-defaults",
            action="store_true",
            help=gettext(
                "Do not run: print the default jobs (each task's declared job and what "
                "scheduler_tasks.yaml changes) and exit."
            ),
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help=gettext(
                "Do not run: exit 0 if a scheduler's heartbeat is fresh, 1 otherwise (liveness probe)."
            ),
        )

    def handle(
        self,
        *args: Any,
        lease_seconds: int | None = None,
        check: bool = False,
        show_defaults: bool = False,
        **options: Any,
    ) -> None:
        if check:
            self._check()
            return
        # A process that runs for months must not keep Django's per-connection query log,
        # whatever DEBUG says (it is bounded, but it is memory for nothing).
        settings.DEBUG = False
        try:
            loaded = load_default_tasks()
        except ConfigError as exc:
            raise CommandError(
                gettext("invalid scheduler configuration: %(error)s") % {"error": exc}
            ) from None
        for warning in loaded.warnings:
            self.stderr.write(gettext("Warning: %(warning)s") % {"warning": warning})
        if show_defaults:
            self._show(loaded)
            return
        self.stdout.write(
            gettext("Default jobs from %(source)s: %(count)d")
            % {"source": loaded.source, "count": len(loaded.specs)}
        )
        service = SchedulerService(specs=loaded.specs, lease_seconds=lease_seconds, out=self._say)
        signal.signal(signal.SIGTERM, service.request_stop)
        signal.signal(signal.SIGINT, service.request_stop)
        service.run()

    def _show(self, loaded: LoadResult) -> None:
        """One line per default job: id, trigger in words, whether it runs, and where it comes from."""
        declared = set(loaded.declared)
        for spec in loaded.specs:
            origin = gettext("declared") if spec.id in declared else loaded.source
            state = "" if spec.enabled else " " + gettext("(disabled)")
            self.stdout.write(
                f"{spec.id}: {describe(spec.trigger_type, spec.trigger_params)}{state} [{origin}]"
            )

    def _check(self) -> None:
        status = scheduler_status()
        if status.alive:
            self.stdout.write(gettext("OK: %(message)s") % {"message": status.message})
            return
        self.stderr.write(gettext("NOT OK: %(message)s") % {"message": status.message})
        raise SystemExit(1)

    def _say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()
