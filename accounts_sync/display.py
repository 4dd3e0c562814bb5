"""Account facts as a person reads them: dates as dates, yes/no as words, limits and durations
decoded, nothing as "—" or "never"; and the short privilege summary of the account list.

The adapters keep attributes in the form the server gave them (`password_last_changed` as epoch
seconds text, `account_locked` as `Y`/`N` or `0`/`1`, `connection_limit` -1 for none), because
that is what is compared from one sync to the next. This module only decides how to show them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db.models import Count, Min
from django.db.models.fields.json import KT
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop as N_
from django.utils.translation import ngettext

from accounts_sync.adapters.mysql import mariadb_bits
from accounts_sync.models import AccountPrivilege
from accounts_sync.privileges import SUPERUSER, VIA_SEPARATOR
from whalefall.connections.base import parse_version

NONE = "—"


def when(value: datetime | None, empty: str = NONE) -> str:
    """A moment in the configured time zone and the project's date format."""
    if value is None:
        return empty
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return formats.date_format(value, "DATETIME_FORMAT")


def yes_no(value: Any) -> str:
    if value is None:
        return NONE
    return _("yes") if value else _("no")


def flag(value: Any) -> str:
    """`Y`/`N`, `1`/`0`, booleans -> yes / no."""
    if isinstance(value, str):
        text = value.strip().upper()
        if text in ("Y", "YES", "1", "TRUE", "T"):
            return _("yes")
        if text in ("N", "NO", "0", "FALSE", "F", ""):
            return _("no")
        return value
    return yes_no(value)


def epoch(value: Any) -> str:
    """Epoch seconds (MariaDB `password_last_changed`); 0 means the password was expired by hand."""
    try:
        seconds = int(float(value))
    except (TypeError, ValueError):
        return NONE if value in (None, "") else str(value)
    if seconds == 0:
        return _("expired (must be changed)")
    return when(datetime.fromtimestamp(seconds, tz=UTC))


def lifetime_days(value: Any) -> str:
    """MariaDB `password_lifetime`: empty follows the server default, 0 never expires."""
    if value in (None, ""):
        return _("server default")
    try:
        days = int(float(value))
    except (TypeError, ValueError):
        return str(value)
    if days == 0:
        return _("never expires")
    return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}


def limit(value: Any) -> str:
    """A per-hour or connection limit where 0 (MySQL) or -1 (PostgreSQL) means none."""
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        return NONE if value in (None, "") else str(value)
    return _("unlimited") if number in (0, -1) else str(number)


def seconds(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return NONE if value in (None, "") else str(value)
    return _("no limit") if number == 0 else _("%(s)s s") % {"s": f"{number:g}"}


def moment(value: Any, empty: str = "") -> str:
    """A timestamp kept as text (PostgreSQL `valid_until`, Oracle dates); `infinity` and nothing
    read as "never" where the attribute is an expiry."""
    if value in (None, "", "infinity"):
        return empty or _("never")
    try:
        parsed = parse_datetime(str(value))
    except ValueError:
        parsed = None
    return when(parsed) if parsed else str(value)


SSL_TYPES = {"": N_("none"), "ANY": "SSL", "X509": "X509", "SPECIFIED": N_("certificate fields")}

# attribute -> (label, how to show it); labels are looked up at render time so they translate.
ATTRIBUTES: dict[str, tuple[str, Callable[[Any], str]]] = {
    # MySQL / MariaDB
    "plugin": (N_("authentication plugin"), str),
    "password_expired": (N_("password expired"), flag),
    "account_locked": (N_("locked"), flag),
    "password_last_changed": (N_("password last changed"), epoch),
    "password_lifetime": (N_("password lifetime"), lifetime_days),
    "is_role": (N_("role"), flag),
    "default_role": (N_("default role"), str),
    "max_connections": (N_("connections per hour"), limit),
    "max_user_connections": (N_("simultaneous connections"), limit),
    "max_questions": (N_("queries per hour"), limit),
    "max_updates": (N_("updates per hour"), limit),
    "max_statement_time": (N_("statement time limit"), seconds),
    "ssl_type": (N_("TLS required"), lambda v: _(SSL_TYPES.get(str(v), str(v)))),
    "ssl_cipher": (N_("TLS cipher"), str),
    "x509_issuer": (N_("certificate issuer"), str),
    "x509_subject": (N_("certificate subject"), str),
    "empty_authentication_string": (N_("no password set"), flag),
    # PostgreSQL
    "superuser": (N_("superuser"), yes_no),
    "inherit": (N_("inherits role privileges"), yes_no),
    "createrole": (N_("may create roles"), yes_no),
    "createdb": (N_("may create databases"), yes_no),
    "login": (N_("may log in"), yes_no),
    "replication": (N_("replication"), yes_no),
    "bypassrls": (N_("bypasses row security"), yes_no),
    "connection_limit": (N_("connection limit"), limit),
    "valid_until": (N_("password valid until"), moment),
    "pseudo_role": (N_("every account (PUBLIC)"), yes_no),
    # SQL Server
    "type": (N_("type"), str),
    "disabled": (N_("disabled"), yes_no),
    "default_database": (N_("default database"), str),
    "policy_checked": (N_("password policy enforced"), yes_no),
    "expiration_checked": (N_("password expiration enforced"), yes_no),
    "must_change": (N_("must change password"), yes_no),
    "connect_sql_denied": (N_("CONNECT SQL denied"), yes_no),
    "connect_sql_not_granted": (N_("CONNECT SQL not granted"), yes_no),
    "database": (N_("database"), str),
    "name": (N_("name in the database"), str),
    "application_role": (N_("application role"), yes_no),
    "authentication_type": (N_("authentication"), str),
    "finding": (N_("finding"), str),
    # Oracle
    "account_status": (N_("account status"), str),
    "lock_date": (N_("locked since"), lambda v: moment(v, NONE)),
    "expiry_date": (N_("password expires"), moment),
    "profile": (N_("profile"), str),
    "default_tablespace": (N_("default tablespace"), str),
    "temporary_tablespace": (N_("temporary tablespace"), str),
    "oracle_maintained": (N_("maintained by Oracle"), yes_no),
    "common": (N_("common to all containers"), yes_no),
    "must_change_password": (N_("must change password"), yes_no),
    "schema_only": (N_("schema only (no login)"), yes_no),
    "container": (N_("container"), str),
}
FACT_LABELS = {
    "is_superuser": N_("superuser"),
    "is_locked": N_("locked"),
    "can_login": N_("can log in"),
    "is_expired": N_("password expired"),
    "can_grant": N_("may grant to others"),
    "is_active": N_("listed by the server"),
}


def label(key: str) -> str:
    known = ATTRIBUTES.get(key)
    if known:
        return _(known[0])
    if key in FACT_LABELS:
        return _(FACT_LABELS[key])
    return key.replace("_", " ")


def value(key: str, raw: Any) -> str:
    """One attribute (or fact) value as words; unknown keys by their type."""
    if key in FACT_LABELS:
        return yes_no(raw)
    known = ATTRIBUTES.get(key)
    if known is not None and (raw is not None or known[1] in (moment, lifetime_days)):
        return known[1](raw)  # an expiry that is not set is "never", a lifetime the default
    if raw is None or raw == "":
        return NONE
    if isinstance(raw, bool):
        return yes_no(raw)
    if isinstance(raw, list | dict):
        return ", ".join(map(str, raw)) if isinstance(raw, list) else str(raw)
    return str(raw)


def attribute_rows(attributes: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, shown value), known attributes first in a stable order, then the others."""
    order = {key: i for i, key in enumerate(ATTRIBUTES)}
    keys = sorted(attributes, key=lambda k: (order.get(k, len(order)), k))
    return [(label(k), value(k, attributes[k])) for k in keys]


# --- flags and privilege summary of the account list ---------------------------------------------------
@dataclass(frozen=True)
class Badge:
    text: str
    css: str
    title: str = ""


def badges(account: Any) -> list[Badge]:
    """Only what is notable: superuser, grant option, locked, expired, cannot log in, gone."""
    out = []
    if account.is_superuser:
        out.append(Badge(_("superuser"), "wf-badge wf-bad"))
    if account.can_grant and not account.is_superuser:
        out.append(Badge(_("grant option"), "wf-badge wf-warn", _("may pass privileges on")))
    if account.is_locked:
        out.append(Badge(_("locked"), "wf-badge wf-muted"))
    if account.is_expired:
        out.append(Badge(_("expired"), "wf-badge wf-warn", _("password expired")))
    if not account.can_login and not account.is_role and not account.is_locked:
        out.append(Badge(_("can't log in"), "wf-badge wf-muted"))
    if not account.is_active:
        out.append(Badge(_("gone"), "wf-badge wf-muted", _("no longer listed by the server")))
    return out


# Kinds whose first name is not a database (server-wide, or another account).
NOT_IN_A_DATABASE = frozenset(
    {"global", "proxy", "tablespace", "parameter", "server", "endpoint", "login", "availability group"}
    | {"system", "container"}
)
SERVER_SCOPE = {"mysql": ("global", "*.*"), "sqlserver": ("server", "server"), "oracle": ("system", "system")}


@dataclass
class Summary:
    server: set[str] = field(default_factory=set)  # privileges held on the whole server
    grants: int = 0  # direct grants inside databases
    databases: int = 0
    database: str = ""  # its name when there is one
    roles: set[str] = field(default_factory=set)  # roles privileges come through


def summaries(account_ids: Iterable[int]) -> dict[int, Summary]:
    """What each account holds, counted in three queries for any number of accounts."""
    ids = list(account_ids)
    out: dict[int, Summary] = defaultdict(Summary)
    if not ids:
        return out
    direct = AccountPrivilege.objects.filter(account_id__in=ids, via="", denied=False)
    for account_id, kind, privilege, n in direct.values_list(
        "account_id", "scope_kind", "privilege"
    ).annotate(n=Count("id")):
        if kind in NOT_IN_A_DATABASE:
            if kind in ("global", "server", "system"):
                out[account_id].server.add(privilege)
        else:
            out[account_id].grants += n
    inside = direct.exclude(scope_kind__in=NOT_IN_A_DATABASE).values("account_id")
    for row in inside.annotate(n=Count(KT("path__0"), distinct=True), first=Min(KT("path__0"))):
        out[row["account_id"]].databases = row["n"]
        out[row["account_id"]].database = row["first"] or ""
    derived = AccountPrivilege.objects.filter(account_id__in=ids).exclude(via="").exclude(via=SUPERUSER)
    for account_id, via in derived.values_list("account_id", "via").distinct():
        out[account_id].roles.add(via.split(VIA_SEPARATOR)[0])
    return out


def all_privileges(db_type: str, version: str) -> frozenset[str]:
    """What `ALL PRIVILEGES ON *.*` is on this server, where it is known (MariaDB)."""
    if db_type == "mysql" and "mariadb" in version.lower():
        return frozenset(name for _mask, name in mariadb_bits(parse_version(version)))
    return frozenset()


def summary_parts(account: Any, summary: Summary) -> list[str]:
    """`ALL on *.*`, `PROCESS, RELOAD on *.*`, `12 grants in 3 databases`, `via 2 roles`."""
    db_type = account.instance.db_type
    parts = []
    if account.is_superuser and db_type != "mysql":
        parts.append(_("ALL (superuser)"))
    elif summary.server:
        where = SERVER_SCOPE.get(db_type, ("", _("server")))[1]
        full = all_privileges(db_type, account.instance.version or "")
        if full and summary.server >= full:
            parts.append(_("ALL on %(where)s") % {"where": where})
        elif len(summary.server) <= 3:
            names = ", ".join(sorted(summary.server))
            parts.append(_("%(names)s on %(where)s") % {"names": names, "where": where})
        else:
            parts.append(_("%(n)d privileges on %(where)s") % {"n": len(summary.server), "where": where})
    if summary.grants:
        place = _("schemas") if db_type == "oracle" else _("databases")
        if summary.databases == 1:
            parts.append(
                ngettext("%(n)d grant in %(name)s", "%(n)d grants in %(name)s", summary.grants)
                % {"n": summary.grants, "name": summary.database}
            )
        else:
            parts.append(
                ngettext("%(n)d grant in %(d)d %(place)s", "%(n)d grants in %(d)d %(place)s", summary.grants)
                % {"n": summary.grants, "d": summary.databases, "place": place}
            )
    if summary.roles:
        parts.append(
            ngettext("via %(n)d role", "via %(n)d roles", len(summary.roles)) % {"n": len(summary.roles)}
        )
    return parts
