"""The base of every command that runs a sync session: one rule for which instances it covers,
one for its exit status, the same in every app.

- Instances: `--instance NAME` (repeatable) names them, otherwise every active instance runs.
  A named instance that is inactive is refused, with the others' names, unless
  `--include-inactive` is given: an inactive instance is one a DBA switched off on purpose
  (retired, under maintenance), so syncing it takes saying so. An unknown name is an error.
- Exit status: 0 when the session completed (every instance succeeded, or had nothing to
  sync); 1 when it was partial, failed, cancelled or skipped (the summary or the JSON already
  says which, so nothing more is printed), or could not start (another run holds the
  category's lock, an unknown or inactive instance: a CommandError saying why). A partial
  session exits 1 too: a cron job or a script must notice an instance that failed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _

from whalefall.choices import SessionStatus, SyncTrigger
from whalefall.management.base import SafeOutputCommand
from whalefall.management.progress import InstanceProgress
from whalefall.models import Instance
from whalefall.sync.locks import LockConflict
from whalefall.textsafe import safe_text

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def rules_help() -> str:
    """The two rules, as the commands' `--help` states them."""
    return _(
        "Instances: --instance names them (repeatable), otherwise every active instance runs; a named "
        "instance that is inactive is refused unless --include-inactive is given. Exit status: 0 when "
        "the session completed (every instance succeeded or had nothing to sync); 1 when it was "
        "partial, failed, cancelled or skipped, or could not start (another run holds the lock, an "
        "unknown or inactive instance)."
    )


def instance_ids(names: list[str] | None, *, include_inactive: bool = False) -> list[int] | None:
    """Ids of the named instances in the order given (None: every active one).

    Unknown names are a CommandError, and so are inactive ones unless `include_inactive`.
    """
    if not names:
        return None
    found = {
        name: (pk, active)
        for name, pk, active in Instance.objects.filter(name__in=names).values_list("name", "pk", "is_active")
    }
    unknown = sorted(set(names) - set(found))
    if unknown:
        raise CommandError(
            _("unknown instance(s): %(names)s") % {"names": ", ".join(map(safe_text, unknown))}
        )
    inactive = sorted(name for name, (_pk, active) in found.items() if not active)
    if inactive and not include_inactive:
        raise CommandError(
            _("inactive instance(s): %(names)s; pass --include-inactive to sync them anyway")
            % {"names": ", ".join(map(safe_text, inactive))}
        )
    return list(dict.fromkeys(found[name][0] for name in names))


def manual_trigger(ids: list[int] | None) -> str:
    """How a command-line run is recorded: `manual_single` when it names exactly one instance."""
    return SyncTrigger.MANUAL_SINGLE if ids is not None and len(ids) == 1 else SyncTrigger.MANUAL


def run_session(task: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    """Run the sync task, returning its session summary; a held lock is a CommandError naming
    its owner (the session did not start)."""
    try:
        return task(**kwargs)
    except LockConflict as conflict:
        raise CommandError(str(conflict)) from None


def exit_for(summary: dict[str, Any]) -> None:
    """Exit 1 unless the session completed; the command has printed its outcome already."""
    if summary["status"] != SessionStatus.COMPLETED:
        raise SystemExit(1)


class SyncSessionCommand(SafeOutputCommand):
    """A command that runs one sync session: `--instance`, `--include-inactive`, and the rules
    above stated in its `--help`."""

    help: StrOrPromise = ""  # lazy, as in SafeOutputCommand (its subclasses assign it)

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.epilog = rules_help()
        return parser

    def add_instance_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--instance",
            action="append",
            dest="instances",
            default=[],
            metavar="NAME",
            help=_("Instance name (repeatable); default: every active instance."),
        )
        parser.add_argument(
            "--include-inactive",
            action="store_true",
            help=_("Also sync the named instances that are inactive (otherwise they are refused)."),
        )

    def add_json_argument(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help=_("Print the session summary as JSON."))

    def instance_ids(self, options: dict[str, Any]) -> list[int] | None:
        return instance_ids(options["instances"], include_inactive=options["include_inactive"])

    def run_sync(
        self,
        task: Callable[..., dict[str, Any]],
        *,
        as_json: bool,
        title: str = "",
        counters: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Run one session of `task` with progress (none with `as_json`: stdout is then the JSON
        summary alone), print its summary, and exit 1 unless it completed."""
        total = len(Instance.objects.for_sync(kwargs.get("instance_ids")))
        progress = InstanceProgress(self, total=total, title=title, enabled=not as_json, counters=counters)
        with progress:
            summary = run_session(task, **kwargs, progress=progress)
        if as_json:
            self.stdout.write(json.dumps(summary, indent=2, sort_keys=True, default=str))
        else:
            progress.session_summary(summary)
        exit_for(summary)
