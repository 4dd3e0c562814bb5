"""Fleet-wide questions answered from the metadata database alone, never from the servers.

`who_can()`: which accounts, on which instances, hold a privilege on an object, and through what
(directly, through a role path, as superuser, through PUBLIC). `permissions_at()`: an account's
permission snapshot as it was at a past moment, rebuilt from the change log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from accounts_sync.models import Account, AccountChange, AccountPrivilege, ChangeType
from whalefall.textsafe import safe_text

# A grant of any of these covers every privilege of its scope.
ALL_NAMES = ("ALL", "ALL PRIVILEGES", "CONTROL")


@dataclass(frozen=True)
class Holder:
    """One answer row of `who_can`: an account holding the privilege, and how."""

    instance: str
    db_type: str
    account: str
    account_id: int
    is_role: bool
    privilege: str
    scope_kind: str
    target: str
    grantable: bool
    via: str
    needs_set_role: bool
    verified: bool

    @property
    def scope(self) -> str:
        return f"{self.scope_kind} {self.target}".strip()

    @property
    def is_public(self) -> bool:
        """The pseudo-role every account belongs to: PostgreSQL's and Oracle's `PUBLIC`, and
        MariaDB's (10.11+), a role named PUBLIC on the empty host, which lists as `PUBLIC@`."""
        return self.account == "PUBLIC" or (
            self.account == "PUBLIC@" and self.is_role and self.db_type == "mysql"
        )

    @property
    def path(self) -> str:
        if self.via == "superuser":
            return "as superuser"
        if self.is_public:
            return "to PUBLIC (every account)"
        if not self.via:
            return "direct"
        return f"via {self.via}" + (" (after SET ROLE)" if self.needs_set_role else "")

    @property
    def path_text(self) -> str:
        """`path` in the reader's language (the JSON keeps `path`, a stable English value)."""
        if self.via == "superuser":
            return _("as superuser")
        if self.is_public:
            return _("to PUBLIC (every account)")
        if not self.via:
            return _("direct")
        if self.needs_set_role:
            return _("via %(path)s (after SET ROLE)") % {"path": self.via}
        return _("via %(path)s") % {"path": self.via}

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "scope": self.scope, "path": self.path}


def object_filter(on: str) -> Q:
    """Rows whose scope covers `on`, or (for `db.*`) anything inside it.

    `on` is a dotted object name (`sales.orders`, `appdb.public.orders`), `db.*` for a database
    and everything in it, or `*` for anything. Server-wide grants (empty target) always cover it;
    so do grants on each enclosing name (`sales` covers `sales.orders`).
    """
    on = on.strip()
    if on in ("", "*", "*.*"):
        return Q()
    q = Q(target="") | Q(target__in=enclosing_names(on))
    if on.endswith("*"):
        q |= Q(target__startswith=on.rstrip("*").rstrip(".") + ".")
    return q


def enclosing_names(on: str) -> list[str]:
    """`db.schema.t` -> ['db', 'db.schema', 'db.schema.t']; `db.*` -> ['db']."""
    base = on.strip().rstrip("*").rstrip(".")
    if not base:
        return []
    parts = base.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def who_can(
    privilege: str, on: str = "*", *, instances: Sequence[str] = (), include_inactive: bool = False
) -> list[Holder]:
    """Accounts holding `privilege` (or ALL) on `on`; accounts with a matching DENY are left out."""
    wanted = [privilege.strip().upper(), *ALL_NAMES]
    rows = AccountPrivilege.objects.filter(object_filter(on), privilege__in=wanted)
    if instances:
        rows = rows.filter(instance__name__in=list(instances))
    if not include_inactive:
        rows = rows.filter(account__is_active=True)
    fields = (
        "instance__name",
        "instance__db_type",
        "account__identity",
        "account_id",
        "account__is_role",
        "privilege",
        "scope_kind",
        "target",
        "grantable",
        "via",
        "needs_set_role",
        "verified",
        "denied",
    )
    covering = {"", *enclosing_names(on)}
    holders, denied = [], set()
    for values in rows.order_by(
        "instance__name", "account__identity", "target", "privilege", "via"
    ).values_list(*fields):
        *row, is_denied = values
        if is_denied:
            if row[7] in covering:  # a DENY on one object inside does not deny the whole
                denied.add(row[3])
            continue
        holders.append(Holder(*row))
    return [h for h in holders if h.account_id not in denied]


@dataclass(frozen=True)
class PastPermissions:
    """An account's permission snapshot at a past moment, with what a reader must know of it."""

    permissions: dict[str, list[str]]
    # Listed by the server then. When not (dropped, renamed away, no longer listed), the
    # permissions are the last it held before that, not privileges anyone could use.
    active: bool
    # The change log reaches back to that moment. When retention has cut it, changes between the
    # moment and the cut are missing and the rebuilt snapshot may be wrong.
    complete: bool


def permissions_at(account: Account, at: datetime) -> PastPermissions | None:
    """The account's snapshot as it was at `at`; None when it did not exist yet (under its name).

    Starts from the current snapshot and state and undoes, newest first, every change recorded
    after `at`: a GRANT is taken back, a REVOKE restored, a deactivation (or a rename to another
    name) means it was active before, a reactivation that it was not.
    """
    snapshot = getattr(account, "snapshot", None)
    current = {scope: set(privs) for scope, privs in (snapshot.permissions if snapshot else {}).items()}
    active = account.is_active
    later = AccountChange.objects.filter(
        Q(account=account)
        | Q(
            instance_id=account.instance_id,
            change_type=ChangeType.RENAME,
            details__from_account_id=account.pk,
        ),
        created_at__gt=at,
    ).order_by("-created_at", "-id")
    for change in later.only("account_id", "change_type", "details"):
        if change.account_id != account.pk or change.change_type == ChangeType.DEACTIVATE:
            active = True  # renamed away from this account, or deactivated: it was listed before
        elif change.change_type == ChangeType.REACTIVATE:
            active = False
        elif change.change_type == ChangeType.ADD:
            return None
        elif change.change_type == ChangeType.MODIFY_PRIVILEGE:
            for entry in reversed(change.details.get("entries", [])):
                privileges = current.setdefault(entry["scope"], set())
                if entry["action"] == "GRANT":
                    privileges.difference_update(entry["privileges"])
                else:
                    privileges.update(entry["privileges"])
    if account.first_seen_at > at:
        return None
    return PastPermissions(
        permissions={scope: sorted(privs) for scope, privs in sorted(current.items()) if privs},
        active=active,
        complete=at >= changelog_kept_since(),
    )


def changelog_kept_since() -> datetime:
    """How far back the change log is kept (older entries are removed by the retention job)."""
    return timezone.now() - timedelta(days=settings.WHALEFALL_CHANGELOG_RETENTION_DAYS)


def answer_counts(holders: Sequence[Holder], shown: int | None = None) -> str:
    """`2 accounts, 3 grants` under a who-can answer, each count with its own plural form; with
    `shown` (a page that lists at most that many rows), how many are shown when there are more."""
    accounts = len({(h.instance, h.account) for h in holders})
    values = {
        "accounts": ngettext("%(count)d account", "%(count)d accounts", accounts) % {"count": accounts},
        "grants": ngettext("%(count)d grant", "%(count)d grants", len(holders)) % {"count": len(holders)},
        "shown": shown,
    }
    if shown is not None and len(holders) > shown:
        return _("%(accounts)s, %(grants)s (first %(shown)d shown)") % values
    return _("%(accounts)s, %(grants)s") % values


def effective_rows(account: Account) -> list[AccountPrivilege]:
    """The account's stored privileges (direct and through roles), ordered for display."""
    return list(account.privileges.order_by("scope_kind", "target", "privilege", "via"))


def holders_text(holders: Iterable[Holder]) -> list[str]:
    """One aligned line per holder, for terminals."""
    out = []
    for h in holders:
        flags = [f for f, on in ((_("grant option"), h.grantable), (_("unverified"), not h.verified)) if on]
        extra = f"  [{', '.join(flags)}]" if flags else ""
        scope = h.scope or pgettext("privilege scope", "server")
        line = f"{h.instance}  {h.account}  {h.privilege} ON {scope}  {h.path_text}{extra}"
        out.append(safe_text(line))  # names are data: a newline or ESC in one cannot forge a line
    return out
