"""`manage.py account_permissions --instance N --account ID [--at TIME] [--effective] [--json]`."""

from __future__ import annotations

import json
from datetime import datetime, time
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts_sync.models import Account
from accounts_sync.questions import changelog_kept_since, effective_rows, permissions_at
from whalefall.management.base import SafeOutputCommand
from whalefall.models import Instance
from whalefall.textsafe import safe_text


def parse_moment(text: str) -> Any:
    """ISO date or date-time; naive values are in the configured time zone."""
    moment = parse_datetime(text)
    if moment is None and (day := parse_date(text)) is not None:
        moment = datetime.combine(day, time.max)
    if moment is None:
        raise CommandError(gettext("--at: not an ISO date or date-time: %(text)s") % {"text": repr(text)})
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


# How an effective privilege is held, as the text listing marks it.
_FLAGS = {"grantable": _("grantable"), "denied": _("denied"), "needs_set_role": _("needs SET ROLE")}


class Command(SafeOutputCommand):
    help = _("An account's permissions now, or as they were at a past time (rebuilt from the change log).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--instance", required=True, metavar="NAME", help=gettext("Instance name."))
        parser.add_argument(
            "--account", required=True, metavar="IDENTITY", help=gettext("user@host, role or login.")
        )
        parser.add_argument(
            "--at", metavar="TIME", help=gettext("ISO time, e.g. 2026-11-30T12:00 (local time zone).")
        )
        parser.add_argument(
            "--effective",
            action="store_true",
            help=gettext("Current privileges including those through roles."),
        )
        parser.add_argument("--json", action="store_true", help=gettext("Print JSON only."))

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            instance = Instance.objects.get(name=options["instance"])
            account = Account.objects.select_related("snapshot").get(
                instance=instance, identity=options["account"]
            )
        except Instance.DoesNotExist:
            raise CommandError(
                gettext("unknown instance: %(names)s") % {"names": options["instance"]}
            ) from None
        except Account.DoesNotExist:
            raise CommandError(
                gettext("no account %(account)s on %(instance)s")
                % {"account": repr(options["account"]), "instance": instance.name}
            ) from None
        if options["effective"] and options["at"]:
            raise CommandError(
                gettext("--effective shows the current privileges; use --at without it for the past")
            )
        if options["effective"]:
            self._effective(account, as_json=options["json"])
            return
        at = parse_moment(options["at"]) if options["at"] else None
        past = None
        if at is None:
            snapshot = getattr(account, "snapshot", None)
            permissions: dict[str, list[str]] | None = snapshot.permissions if snapshot else {}
        else:
            past = permissions_at(account, at)
            permissions = past.permissions if past is not None else None
        if options["json"]:
            payload = {
                "instance": instance.name,
                "account": account.identity,
                "at": at,
                "permissions": permissions,
                "active": past.active if past is not None else account.is_active if at is None else None,
                "history_complete": past.complete if past is not None else None,
            }
            self.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
            return
        names = {"account": account.identity, "instance": instance.name}
        if at is not None:
            names["when"] = f"{timezone.localtime(at):%Y-%m-%d %H:%M:%S %Z}"
        if permissions is None:
            message = (
                gettext("%(account)s on %(instance)s did not exist at %(when)s")
                if at is not None
                else gettext("%(account)s on %(instance)s does not exist now")
            )
            self.stdout.write(safe_text(message % names))
            return
        heading = (
            gettext("%(account)s on %(instance)s, at %(when)s:")
            if at is not None
            else gettext("%(account)s on %(instance)s, now:")
        )
        self.stdout.write(safe_text(heading % names))
        if past is not None and not past.active:
            self.stdout.write(
                gettext(
                    "  (not active then: dropped, renamed or no longer listed; the last privileges it held,"
                    " which nobody could use)"
                )
            )
        if past is not None and not past.complete:
            self.stdout.write(
                gettext("  (the change log is kept since %(since)s: changes before that are missing)")
                % {"since": f"{timezone.localtime(changelog_kept_since()):%Y-%m-%d}"}
            )
        for scope, privileges in permissions.items():
            self.stdout.write("  " + safe_text(f"{scope}: {', '.join(privileges)}"))

    def _effective(self, account: Account, *, as_json: bool) -> None:
        rows = effective_rows(account)
        items: list[dict[str, Any]] = [
            {
                "privilege": r.privilege,
                "scope": f"{r.scope_kind} {r.target}".strip(),
                "grantable": r.grantable,
                "denied": r.denied,
                "via": r.via,
                "needs_set_role": r.needs_set_role,
                "verified": r.verified,
            }
            for r in rows
        ]
        if as_json:
            self.stdout.write(json.dumps(items, indent=2, ensure_ascii=False))
            return
        for item in items:
            if item["via"] == "":
                path = gettext("direct")
            elif item["via"] == "superuser":
                path = gettext("as superuser")
            else:
                path = gettext("via %(path)s") % {"path": item["via"]}
            flags = [str(label) for f, label in _FLAGS.items() if item[f]]
            flags += [] if item["verified"] else [gettext("unverified")]
            extra = f"  [{', '.join(flags)}]" if flags else ""
            self.stdout.write("  " + safe_text(f"{item['privilege']} ON {item['scope']}  {path}{extra}"))
