"""Alert rule kind of the accounts app: account changes that matter, one message per sync session.

Which changes matter is the rule's choice (`options["events"]`): a new superuser, a new grant or
admin option, a new account, a dropped account, or any privilege change on a watched object
(`options["watched"]`, SQL LIKE patterns on the scope, e.g. `table shop.%`). All the matching
changes of one session go out together, once the session has finished, so a sync that changes
a hundred accounts sends one message, not a hundred.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any
from uuid import UUID

from django.urls import reverse
from django.utils.text import format_lazy
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts_sync.models import AccountChange, ChangeType, like
from whalefall.alerts.kinds import Event, register
from whalefall.models import AlertRule, SyncSession
from whalefall.textsafe import safe_text

EVENTS = ("new_superuser", "new_grant_option", "new_account", "dropped_account", "watched")
DEFAULT_EVENTS = ("new_superuser", "new_grant_option", "dropped_account", "watched")
MAX_LINES = 50
GRANTING = (" WITH GRANT OPTION", " WITH ADMIN OPTION")


def _granting(privileges: list[str]) -> list[str]:
    return [p for p in privileges if any(marker in p for marker in GRANTING)]


def classify(change: AccountChange, events: set[str], watched: list[str]) -> list[tuple[str, str]]:
    """What about this change matters to the rule: (event, readable phrase) pairs, empty for
    nothing. The event names the rule's own words (`new_superuser`...), so that the severity
    never depends on the phrase, which is in the team's language."""
    details: dict[str, Any] = change.details or {}
    out: list[tuple[str, str]] = []
    if change.change_type == ChangeType.BASELINE:
        return out  # a first sync found these accounts: none of them is new to the server
    if change.change_type == ChangeType.ADD:
        if "new_account" in events:
            out.append(("new_account", gettext("new account")))
        if "new_superuser" in events and details.get("is_superuser"):
            out.append(("new_superuser", gettext("new account is a SUPERUSER")))
        perms = details.get("permissions", {})
        granting = [f"{p} ON {s}" for s, privs in perms.items() for p in _granting(privs)]
        if "new_grant_option" in events and granting:
            phrase = gettext("new account can grant: %(privileges)s") % {
                "privileges": ", ".join(granting[:5])
            }
            out.append(("new_grant_option", phrase))
        if "watched" in events:  # a new account's privileges come with it, not as a GRANT entry
            for scope, privileges in perms.items():
                if any(like(scope, pattern) for pattern in watched):
                    statement = f"GRANT {', '.join(privileges)} ON {scope}"
                    out.append(("watched", gettext("%(statement)s (watched)") % {"statement": statement}))
    elif (
        change.change_type == ChangeType.DEACTIVATE
        and "dropped_account" in events
        and not details.get("excluded")
    ):
        out.append(("dropped_account", gettext("account dropped (no longer listed)")))
    elif change.change_type == ChangeType.MODIFY_OTHER and "new_superuser" in events:
        superuser = details.get("changes", {}).get("is_superuser")
        if superuser and superuser.get("after") and not superuser.get("before"):
            out.append(("new_superuser", gettext("became SUPERUSER")))
    elif change.change_type == ChangeType.MODIFY_PRIVILEGE:
        for entry in details.get("entries", []):
            if entry.get("action") != "GRANT" and not watched:
                continue
            scope, privileges = entry.get("scope", ""), entry.get("privileges", [])
            if "new_grant_option" in events and entry.get("action") == "GRANT" and _granting(privileges):
                out.append(("new_grant_option", f"GRANT {', '.join(_granting(privileges))} ON {scope}"))
            elif "watched" in events and any(like(scope, pattern) for pattern in watched):
                statement = f"{entry['action']} {', '.join(privileges)} ON {scope}"
                out.append(("watched", gettext("%(statement)s (watched)") % {"statement": statement}))
    return out


def risky_changes(rule: AlertRule, since: datetime, now: datetime) -> list[Event]:
    """One event per sync session that finished in `(since, now]`, with all its changes that matter.

    Sessions, not changes, are the unit: a change is stamped with the start of its instance's
    sync and committed with that instance, while the session ends after its last instance. By
    then every change of the session is written, so none is passed by and none arrives after
    the session's message went out (under the same key, it would have been dropped).
    """
    options = rule.options or {}
    events = set(options.get("events") or DEFAULT_EVENTS) & set(EVENTS)
    watched = [str(p) for p in options.get("watched", [])]
    finished = SyncSession.objects.filter(finished_at__gt=since, finished_at__lte=now)
    sessions = {s.session_id: s for s in finished.only("pk", "session_id").order_by("finished_at", "id")}
    if not sessions:
        return []
    changes = (
        AccountChange.objects.filter(session_uuid__in=list(sessions))
        .select_related("account", "instance")
        .order_by("instance__name", "created_at", "id")
    )
    by_session: dict[UUID, list[str]] = defaultdict(list)
    critical: set[UUID] = set()
    for change in changes.iterator(chunk_size=2000):
        for event, what in classify(change, events, watched):
            account = f"{change.instance.name} {change.account.identity if change.account else ''}"
            by_session[change.session_uuid].append(safe_text(f"{account}: {what}"))
            if event == "new_superuser":
                critical.add(change.session_uuid)
    out = []
    for uuid, session in sessions.items():
        lines = by_session.get(uuid)
        if not lines:
            continue
        more = len(lines) - MAX_LINES
        shown = lines[:MAX_LINES] + (
            [gettext("... and %(count)d more") % {"count": more}] if more > 0 else []
        )
        severity = "critical" if uuid in critical else "warning"
        title = ngettext(
            "%(count)d account change that matters", "%(count)d account changes that matter", len(lines)
        ) % {"count": len(lines)}
        link = reverse("admin:whalefall_syncsession_change", args=[session.pk])
        out.append(Event(f"account_changes:{uuid}", title, shown, severity, link))
    return out


def check_options(options: dict[str, Any]) -> list[str]:
    """A rule's options as the admin form checks them: known names only, of the right shape."""
    problems = []
    if unknown := sorted(set(options) - {"events", "watched"}):
        problems.append(
            gettext("unknown options: %(names)s (known: events, watched)") % {"names": ", ".join(unknown)}
        )
    events, watched = options.get("events", []), options.get("watched", [])
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        problems.append(gettext("“events” is a list of names."))
        events = []
    elif unknown := [e for e in events if e not in EVENTS]:
        problems.append(
            gettext("unknown events: %(names)s (known: %(known)s)")
            % {"names": ", ".join(unknown), "known": ", ".join(EVENTS)}
        )
    if not isinstance(watched, list) or not all(isinstance(p, str) and p for p in watched):
        problems.append(gettext("“watched” is a list of scope patterns."))
    elif events and "watched" in events and not watched:
        problems.append(gettext("The event “watched” needs patterns in “watched”."))
    elif events and "watched" not in events and watched:
        problems.append(gettext("Patterns in “watched” are used only with the event “watched”."))
    return problems


def register_kinds() -> None:
    register(
        "account_change",
        _("Account changes that matter"),
        risky_changes,
        format_lazy(
            "{} {}",
            _(
                "Options say which changes matter (events; default: all but new_account) and which "
                "objects are watched (SQL LIKE patterns on the scope), e.g."
            ),
            '{"events": [' + ", ".join(f'"{e}"' for e in EVENTS) + '], "watched": ["table shop.%"]}',
        ),
        check_options,
    )
