"""Access-review reports: every account with its privileges, and the changes between two dates.

What auditors ask a DBA team for each quarter, from the metadata database alone: one row per
(account, privilege) with how it is held (directly, through which roles, as superuser), and one
row per recorded change in the period. CSV for tools, XLSX (openpyxl) for people: one sheet each
for accounts, privileges and changes. Names are written as they are (no formula is ever
evaluated: a value that a spreadsheet would take for a formula is prefixed with an apostrophe).
Headers, sheet names and words are written in the active language: the request's in the admin,
LANGUAGE_CODE for the command; the values (names, privileges, statements) are the servers'.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext, pgettext_lazy

from accounts_sync.models import Account, AccountChange, AccountPrivilege
from whalefall.formats import local_datetime
from whalefall.models import Instance

# The headers, as a tool reading an English report knows them (the context tells a translator
# that each is a column of the report; the words are kept as short as the English).
ACCOUNT_COLUMNS = (
    pgettext_lazy("report column", "instance"),
    pgettext_lazy("report column", "engine"),
    pgettext_lazy("report column", "account"),
    pgettext_lazy("report column", "role"),
    pgettext_lazy("report column", "active"),
    pgettext_lazy("report column", "superuser"),
    pgettext_lazy("report column", "can_grant"),
    pgettext_lazy("report column", "locked"),
    pgettext_lazy("report column", "can_login"),
    pgettext_lazy("report column", "expired"),
    pgettext_lazy("report column", "first_seen"),
    pgettext_lazy("report column", "last_seen"),
)
PRIVILEGE_COLUMNS = (
    pgettext_lazy("report column", "instance"),
    pgettext_lazy("report column", "account"),
    pgettext_lazy("report column", "privilege"),
    pgettext_lazy("report column", "on"),
    pgettext_lazy("report column", "how"),
    pgettext_lazy("report column", "grant_option"),
    pgettext_lazy("report column", "denied"),
    pgettext_lazy("report column", "verified"),
)
CHANGE_COLUMNS = (
    pgettext_lazy("report column", "time"),
    pgettext_lazy("report column", "instance"),
    pgettext_lazy("report column", "account"),
    pgettext_lazy("report column", "change"),
    pgettext_lazy("report column", "summary"),
    pgettext_lazy("report column", "session"),
)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Period:
    start: datetime | None = None
    end: datetime | None = None

    def label(self) -> str:
        """`2026-01-01 00:00:00 to now`, in the project's one date format."""
        start = local_datetime(self.start) if self.start else _("the beginning")
        end = local_datetime(self.end) if self.end else pgettext("end of a period", "now")
        return _("%(start)s to %(end)s") % {"start": start, "end": end}


def cell(value: Any) -> Any:
    """A value safe to open in a spreadsheet: text that looks like a formula is made literal."""
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return "" if value is None else value


def _accounts(instances: Sequence[Instance], include_inactive: bool) -> Iterator[tuple[Any, ...]]:
    accounts = Account.objects.filter(instance__in=instances).select_related("instance").with_last_seen()
    if not include_inactive:
        accounts = accounts.filter(is_active=True)
    for a in accounts.order_by("instance__name", "identity").iterator(chunk_size=2000):
        yield (
            a.instance.name,
            a.instance.db_type,
            a.identity,
            a.is_role,
            a.is_active,
            a.is_superuser,
            a.can_grant,
            a.is_locked,
            a.can_login,
            a.is_expired,
            a.first_seen_at,
            a.seen_at,  # type: ignore[attr-defined]  # the annotation
        )


def how(via: str, needs_set_role: bool) -> str:
    """How a privilege is held, in the words of the who-can page."""
    if via == "superuser":
        return _("as superuser")
    if not via:
        return _("direct")
    if needs_set_role:
        return _("via %(path)s (after SET ROLE)") % {"path": via}
    return _("via %(path)s") % {"path": via}


def _privileges(instances: Sequence[Instance], include_inactive: bool) -> Iterator[tuple[Any, ...]]:
    rows = AccountPrivilege.objects.filter(instance__in=instances)
    if not include_inactive:
        rows = rows.filter(account__is_active=True)
    fields = (
        "instance__name",
        "account__identity",
        "privilege",
        "scope_kind",
        "target",
        "via",
        "needs_set_role",
        "grantable",
        "denied",
        "verified",
    )
    ordered = rows.order_by("instance__name", "account__identity", "scope_kind", "target", "privilege", "via")
    for (
        inst,
        account,
        privilege,
        kind,
        target,
        via,
        needs_set,
        grantable,
        denied,
        verified,
    ) in ordered.values_list(*fields).iterator(chunk_size=5000):
        yield (
            inst,
            account,
            privilege,
            f"{kind} {target}".strip(),
            how(via, needs_set),
            grantable,
            denied,
            verified,
        )


def _changes(instances: Sequence[Instance], period: Period) -> Iterator[tuple[Any, ...]]:
    changes = AccountChange.objects.filter(instance__in=instances).select_related("instance", "account")
    if period.start:
        changes = changes.filter(created_at__gte=period.start)
    if period.end:
        changes = changes.filter(created_at__lt=period.end)
    for c in changes.order_by("created_at", "id").iterator(chunk_size=2000):
        yield (
            c.created_at,
            c.instance.name,
            c.account.identity if c.account is not None else "",  # a baseline entry is the whole instance's
            c.get_change_type_display(),
            c.summary,
            str(c.session_uuid),
        )


def sheets(
    instances: Sequence[Instance], period: Period, *, include_inactive: bool = False
) -> list[tuple[str, Sequence[Any], Iterator[tuple[Any, ...]]]]:
    """(sheet name, headers, rows) of each part. The period is said on the first sheet: a
    sheet's name holds 31 characters, too few for two dates in the one format."""
    return [
        (pgettext("report sheet", "Accounts"), ACCOUNT_COLUMNS, _accounts(instances, include_inactive)),
        (pgettext("report sheet", "Privileges"), PRIVILEGE_COLUMNS, _privileges(instances, include_inactive)),
        (pgettext("report sheet", "Changes"), CHANGE_COLUMNS, _changes(instances, period)),
    ]


def write_csv(
    out: io.TextIOBase | Any, instances: Sequence[Instance], period: Period, *, part: str, **kw: Any
) -> None:
    """One CSV: `part` is `privileges` (accounts with their privileges) or `changes`."""
    writer = csv.writer(out, lineterminator="\n")  # a bare CR would be escaped on a terminal
    if part == "changes":
        writer.writerow([str(c) for c in CHANGE_COLUMNS])
        rows: Iterator[tuple[Any, ...]] = _changes(instances, period)
    else:
        writer.writerow([str(c) for c in PRIVILEGE_COLUMNS])
        rows = _privileges(instances, kw.get("include_inactive", False))
    for row in rows:
        writer.writerow([cell(v) for v in row])


def write_xlsx(out: Any, instances: Sequence[Instance], period: Period, **kw: Any) -> None:
    """A workbook with one sheet per part; written in write-only mode (flat memory)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    title = book.create_sheet(pgettext("report sheet", "Report"))
    title.append([_("WhaleFall access review")])
    title.append([pgettext("report field", "instances"), cell(", ".join(i.name for i in instances))])
    title.append([pgettext("report field", "changes"), period.label()])
    title.append([pgettext("report field", "generated"), cell(timezone.now())])
    for name, columns, rows in sheets(instances, period, **kw):
        sheet = book.create_sheet(name)
        sheet.append([str(c) for c in columns])
        for row in rows:
            sheet.append([cell(v) for v in row])
    book.save(out)
