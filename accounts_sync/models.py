"""Accounts, their current permission snapshot, the change log, and exclusion rules."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from whalefall.choices import DbType


class ChangeType(models.TextChoices):
    ADD = "add", _("Added")
    MODIFY_PRIVILEGE = "modify_privilege", _("Privileges changed")
    MODIFY_OTHER = "modify_other", _("Attributes changed")
    DEACTIVATE = "deactivate", _("Deactivated")
    REACTIVATE = "reactivate", _("Reactivated")
    RENAME = "rename", _("Renamed")
    BASELINE = "baseline", _("Baseline (first sync)")


class Severity(models.TextChoices):
    """How much a change matters; assessed by `accounts_sync.risk` when the change is written."""

    CRITICAL = "critical", _("critical")
    HIGH = "high", _("high")
    NORMAL = "normal", _("normal")


@lru_cache(maxsize=512)
def like_regex(pattern: str) -> re.Pattern[str]:
    """SQL LIKE -> regex: `%` any run, `_` one character, `\\` escapes the next character."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def like(value: str, pattern: str) -> bool:
    return like_regex(pattern).fullmatch(value) is not None


class ExclusionRuleQuerySet(models.QuerySet["ExclusionRule"]):
    def for_engine(self, db_type: str) -> ExclusionRuleQuerySet:
        return self.filter(db_type=db_type, is_active=True)

    def patterns(self, db_type: str) -> list[str]:
        return list(self.for_engine(db_type).values_list("pattern", flat=True))


class ExclusionRule(models.Model):
    """A system account pattern (SQL LIKE, case-sensitive, `\\` escapes) matched on the identity."""

    db_type = models.CharField(_("database type"), max_length=16, choices=DbType.choices)
    pattern = models.CharField(
        _("pattern"),
        max_length=255,
        # xgettext:no-python-format
        help_text=_("SQL LIKE on the account identity: % any, _ one char, \\_ a literal _."),
    )
    description = models.CharField(_("description"), max_length=255, blank=True, default="")
    is_active = models.BooleanField(_("active"), default=True)

    objects = ExclusionRuleQuerySet.as_manager()

    class Meta:
        ordering = ["db_type", "pattern"]
        verbose_name = _("exclusion rule")
        verbose_name_plural = _("exclusion rules")
        constraints = [models.UniqueConstraint(fields=["db_type", "pattern"], name="uniq_exclusion_rule")]

    def __str__(self) -> str:
        return f"{self.db_type}: {self.pattern}"

    def matches(self, identity: str) -> bool:
        return like(identity, self.pattern)


class AccountQuerySet(models.QuerySet["Account"]):
    def active(self) -> AccountQuerySet:
        return self.filter(is_active=True)

    def for_instance(self, instance_id: int) -> AccountQuerySet:
        return self.filter(instance_id=instance_id)

    def with_last_seen(self) -> AccountQuerySet:
        """`seen_at`: when a listing last showed the account (see `Account.last_seen_at`)."""
        return self.annotate(seen_at=Coalesce("last_seen_at", "instance__account_sync_state__listed_at"))


class Account(models.Model):
    """One account (or role) of one instance; `identity` is its engine-specific unique name."""

    FACTS = ("is_superuser", "can_grant", "is_locked", "can_login", "is_expired")

    # Indexed by the unique (instance, identity) constraint, which leads with it: no index of its own.
    instance = models.ForeignKey(
        "whalefall.Instance",
        on_delete=models.CASCADE,
        related_name="accounts",
        db_index=False,
        verbose_name=_("instance"),
    )
    identity = models.CharField(
        _("identity"),
        max_length=400,
        help_text=_("MySQL user@host, PostgreSQL role, SQL Server login, Oracle user."),
    )
    username = models.CharField(_("username"), max_length=256)
    host = models.CharField(_("host"), max_length=255, blank=True, default="")
    is_role = models.BooleanField(_("role"), default=False)
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    is_superuser = models.BooleanField(_("superuser"), default=False)
    can_grant = models.BooleanField(_("can grant"), default=False)
    is_locked = models.BooleanField(
        _("locked"), default=False, help_text=_("Locked or disabled; still an account.")
    )
    can_login = models.BooleanField(_("can log in"), default=True)
    is_expired = models.BooleanField(_("expired"), default=False)
    is_active = models.BooleanField(
        pgettext_lazy("still on the server", "active"),
        default=True,
        help_text=_("In the last successful listing."),
    )
    fingerprint = models.CharField(
        _("fingerprint"),
        max_length=128,
        blank=True,
        default="",
        help_text=_("The adapter's evidence of identity across a rename (never a secret itself)."),
    )
    first_seen_at = models.DateTimeField(_("first seen at"), default=timezone.now)
    first_seen_session_uuid = models.UUIDField(
        _("first seen in session"),
        null=True,
        blank=True,
        help_text=_("The sync session that first listed the account."),
    )
    # Empty while the account follows its instance's listings: then it was last seen by the last
    # complete one (`AccountSyncState.listed_at`), so that a sync which finds nothing new writes
    # one row, not one per account. Set when the account drops out of them (deactivated, or
    # listed from a database that could not be read), and by syncs limited to some accounts.
    last_seen_at = models.DateTimeField(
        _("last seen at"),
        null=True,
        blank=True,
        default=timezone.now,
        help_text=_("Empty: seen by the instance's last complete listing."),
    )
    deactivated_at = models.DateTimeField(_("deactivated at"), null=True, blank=True)

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["instance__name", "identity"]
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        constraints = [models.UniqueConstraint(fields=["instance", "identity"], name="uniq_account_identity")]
        indexes = [models.Index(fields=["instance", "is_active"])]

    def __str__(self) -> str:
        return self.identity

    def facts(self) -> dict[str, bool]:
        return {name: getattr(self, name) for name in self.FACTS}

    def last_seen(self) -> datetime | None:
        """When a listing last showed the account (its instance's last complete listing while
        `last_seen_at` is empty)."""
        if self.last_seen_at is not None:
            return self.last_seen_at
        state = AccountSyncState.objects.filter(instance_id=self.instance_id)
        return state.values_list("listed_at", flat=True).first()


class PermissionSnapshot(models.Model):
    """The current permissions of an account in canonical form; `version` counts changes.

    `format` 2 adds the role-derived privileges (see `accounts_sync.canonical`); a snapshot of an
    older format is rewritten by the next sync without change entries.
    """

    FORMAT = 2

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, related_name="snapshot", verbose_name=_("account")
    )
    permissions = models.JSONField(_("permissions"), default=dict)
    format = models.PositiveSmallIntegerField(_("format"), default=FORMAT)
    version = models.PositiveIntegerField(_("version"), default=1)
    hash = models.CharField(_("hash"), max_length=64, help_text=_("sha256 of the canonical JSON."))
    collected_at = models.DateTimeField(
        _("collected at"), default=timezone.now, help_text=_("When this content was first seen.")
    )
    session_uuid = models.UUIDField(
        _("session ID"), null=True, blank=True, help_text=_("The sync session that wrote this version.")
    )

    class Meta:
        verbose_name = _("permission snapshot")
        verbose_name_plural = _("permission snapshots")

    def __str__(self) -> str:
        return f"{self.account} v{self.version}"


class AccountChangeQuerySet(models.QuerySet["AccountChange"]):
    def older_than(self, days: int) -> AccountChangeQuerySet:
        return self.filter(created_at__lt=timezone.now() - timedelta(days=days))


class AccountChange(models.Model):
    """One entry of the change log, always written by a sync session.

    A `baseline` entry stands for the whole first sync of an instance (every account it found,
    counted in `details`): it has no account, and it is not a change of anything.
    """

    # Both indexed by the (account, -created_at) and (instance, -created_at) indexes that lead
    # with them: no index of their own (every change entry would write two more).
    account = models.ForeignKey(
        Account,
        on_delete=models.CASCADE,
        related_name="changes",
        null=True,
        blank=True,
        db_index=False,
        verbose_name=_("account"),
    )
    instance = models.ForeignKey(
        "whalefall.Instance",
        on_delete=models.CASCADE,
        related_name="account_changes",
        db_index=False,
        verbose_name=_("instance"),
    )
    change_type = models.CharField(_("change type"), max_length=20, choices=ChangeType.choices)
    details = models.JSONField(
        _("details"),
        default=dict,
        blank=True,
        help_text=_("GRANT/REVOKE entries per scope, or attribute before/after."),
    )
    summary = models.CharField(_("summary"), max_length=500, blank=True, default="")
    severity = models.CharField(
        _("severity"),
        max_length=10,
        choices=Severity.choices,
        default=Severity.NORMAL,
        help_text=_("Assessed from the change by the rules of accounts_sync.risk."),
    )
    session = models.ForeignKey(
        "whalefall.SyncSession",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="account_changes",
        verbose_name=_("session"),
    )
    session_uuid = models.UUIDField(
        _("session ID"), db_index=True, help_text=_("Kept when the session is cleaned up.")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    objects = AccountChangeQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("account change")
        verbose_name_plural = _("account changes")
        indexes = [
            models.Index(fields=["instance", "-created_at"]),
            models.Index(fields=["account", "-created_at"]),
            models.Index(fields=["severity", "-created_at"], name="acctchange_severity_time"),
            # The renames of an instance, newest first: a past state of an account renamed away
            # looks for them; they are few, so the index is small.
            models.Index(
                fields=["instance", "-created_at"],
                condition=models.Q(change_type="rename"),
                name="acctchange_rename_time",
            ),
        ]

    def __str__(self) -> str:
        """Names the account (or the instance, for a baseline): the change page's title reads it."""
        who = self.account.identity if self.account is not None else self.instance.name
        return f"{who}: {self.get_change_type_display()}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        from accounts_sync.risk import assess

        self.severity = assess(self.change_type, self.details)[0]
        super().save(*args, **kwargs)


def delete_old_changes() -> int:
    """Retention cleaner registered in AppConfig.ready (WHALEFALL_CHANGELOG_RETENTION_DAYS)."""
    deleted, _ = AccountChange.objects.older_than(settings.WHALEFALL_CHANGELOG_RETENTION_DAYS).delete()
    return deleted


class AccountSyncState(models.Model):
    """What one instance's last account sync could not read, for the next sync to compare with.

    A database that was unreadable last time and is readable now enters the record as a
    baseline: its grants are stored without GRANT entries, since when they appeared is unknown.
    """

    instance = models.OneToOneField(
        "whalefall.Instance",
        on_delete=models.CASCADE,
        related_name="account_sync_state",
        verbose_name=_("instance"),
    )
    databases_unreadable = models.JSONField(
        _("unreadable databases"),
        default=dict,
        blank=True,
        help_text=_("Database name -> why it could not be read."),
    )
    listed_at = models.DateTimeField(
        _("listed at"),
        null=True,
        blank=True,
        help_text=_("When the last complete listing was read: the last-seen time of the accounts it showed."),
    )
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("account sync state")
        verbose_name_plural = _("account sync states")

    def __str__(self) -> str:
        return f"{self.instance_id}: {len(self.databases_unreadable)} unreadable"


class AccountPrivilegeQuerySet(models.QuerySet["AccountPrivilege"]):
    def for_instance(self, instance_id: int) -> AccountPrivilegeQuerySet:
        return self.filter(instance_id=instance_id)


class AccountPrivilege(models.Model):
    """One privilege an account holds, as an indexed row: the fleet-wide "who can" store.

    Kept in step with the account's snapshot by the sync (rewritten when the snapshot changes):
    direct grants (`via` empty) and grants reached through roles (`via` is the role path).
    Grants to PUBLIC stay on the PUBLIC pseudo-account rather than being copied to every account;
    a superuser is one `ALL` row on the server. `path` keeps each name of the scope apart (names
    may contain dots); `target` is their dotted form for prefix matching.
    """

    # A copy of the account's instance, for the fleet-wide queries: indexed by (instance,
    # account) below, which leads with it, and without a key constraint of its own. The account's
    # key already proves the instance exists (an account's row cannot outlive it), so a second
    # check of the same instance row for every privilege written only made each commit longer.
    # Django still cascades deletes along it.
    instance = models.ForeignKey(
        "whalefall.Instance",
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
        verbose_name=_("instance"),
    )
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="privileges", verbose_name=_("account")
    )
    scope_kind = models.CharField(_("scope kind"), max_length=64)
    target = models.TextField(
        _("target"), blank=True, default="", help_text=_("Dotted object name; empty: server-wide.")
    )
    path = models.JSONField(_("path"), default=list, help_text=_("The scope's names, outermost first."))
    privilege = models.CharField(_("privilege"), max_length=128)
    grantable = models.BooleanField(
        _("grantable"), default=False, help_text=_("Held with the grant (or admin) option.")
    )
    denied = models.BooleanField(_("denied"), default=False, help_text=_("An explicit DENY (SQL Server)."))
    via = models.CharField(
        _("via"),
        max_length=1000,
        blank=True,
        default="",
        help_text=_("Role path, outermost last; empty when direct."),
    )
    needs_set_role = models.BooleanField(
        _("needs SET ROLE"), default=False, help_text=_("Only after SET ROLE (not inherited).")
    )
    verified = models.BooleanField(
        _("verified"),
        default=True,
        help_text=_("Read in the last sync; false when carried over from an unreadable scope."),
    )

    objects = AccountPrivilegeQuerySet.as_manager()

    # What a stored row says about the privilege, in the order the sync and the export read it.
    FACT_FIELDS = (
        "scope_kind",
        "path",
        "privilege",
        "grantable",
        "denied",
        "via",
        "needs_set_role",
        "verified",
    )

    class Meta:
        verbose_name = _("account privilege")
        verbose_name_plural = _("account privileges")
        indexes = [
            models.Index(fields=["privilege", "scope_kind"], name="acctpriv_priv_kind"),
            models.Index(fields=["instance", "account"], name="acctpriv_inst_acct"),
        ]

    def __str__(self) -> str:
        where = f"{self.scope_kind} {self.target}".strip()
        return f"{self.privilege} ON {where}"
