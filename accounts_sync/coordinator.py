"""Account sync of one instance (inventory, then collection), writing through set-based statements."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter, itemgetter
from typing import Any

from django.db import connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from accounts_sync import canonical, risk
from accounts_sync.adapters import AccountAdapter, RemoteAccount, adapter_class
from accounts_sync.adapters.base import paused_gc
from accounts_sync.models import (
    Account,
    AccountChange,
    AccountPrivilege,
    AccountSyncState,
    ChangeType,
    ExclusionRule,
    PermissionSnapshot,
    like,
    like_regex,
)
from accounts_sync.privileges import (
    SERVER_WIDE,
    SUPERUSER_GRANT,
    VIA_SEPARATOR,
    AccountPrivileges,
    EffectiveGrant,
    GrantSet,
    Scope,
    belongs_to,
    effective,
)
from whalefall import bulk
from whalefall.choices import SyncPhase
from whalefall.connections import DatabaseConnection
from whalefall.models import Instance, SyncInstanceRecord, SyncSession
from whalefall.structured_logging import get_logger
from whalefall.sync.coordinator import InstanceCoordinator
from whalefall.sync.phases import NOT_RUN, InstanceResult, PhaseError, PhaseStats
from whalefall.sync.session_runner import run_instance

logger = get_logger(__name__)
MODULE = "account_sync"
FACTS = ("is_superuser", "is_locked", "can_login", "is_expired")
# What the sync compares and may update; timestamps are never read back (only written).
ROW_FIELDS = [
    "id",
    "identity",
    "username",
    "host",
    "is_role",
    "attributes",
    *Account.FACTS,
    "is_active",
    "fingerprint",
]
ACCOUNT_COLUMNS = (
    "instance",
    "identity",
    "username",
    "host",
    "is_role",
    "attributes",
    *Account.FACTS,
    "is_active",
    "first_seen_at",
    "first_seen_session_uuid",
    "last_seen_at",
    "fingerprint",
)
SNAPSHOT_COLUMNS = ("account", "permissions", "format", "version", "hash", "collected_at", "session_uuid")
PRIVILEGE_COLUMNS = (
    "account",
    "instance",
    "scope_kind",
    "target",
    "path",
    "privilege",
    "grantable",
    "denied",
    "via",
    "needs_set_role",
    "verified",
)
CHANGE_COLUMNS = (
    "account",
    "instance",
    "change_type",
    "details",
    "summary",
    "severity",
    "session",
    "session_uuid",
    "created_at",
)
NOT_READABLE = "not readable"
Held = list[tuple[EffectiveGrant, bool]]  # (privilege, verified in this sync)


@dataclass
class Stored:
    """The stored snapshot of one account, as far as deciding needs it (no model built)."""

    hash: str
    format: int
    version: int


@dataclass
class State:
    """The instance's account-sync state as the last sync left it."""

    exists: bool = False
    unreadable: dict[str, str] = field(default_factory=dict)  # database -> why not readable
    listed_at: datetime | None = None  # the last complete listing


@dataclass
class Pending:
    """Everything the two phases decided to write, applied at once by `save()`."""

    creates: dict[str, dict[str, Any]] = field(default_factory=dict)  # identity -> new columns
    updates: dict[int, Account] = field(default_factory=dict)
    update_fields: set[str] = field(default_factory=set)
    seen: list[str] = field(default_factory=list)  # stored accounts this listing shows
    snapshots: dict[str, tuple[dict[str, list[str]], str, int]] = field(default_factory=dict)
    privileges: dict[str, Held] = field(default_factory=dict)  # identity -> its rows, rewritten
    # (identity, kind, details, summary); identity None: the instance's baseline entry
    changes: list[tuple[str | None, str, dict[str, Any], str]] = field(default_factory=list)
    added: dict[str, dict[str, Any]] = field(default_factory=dict)  # identity -> `add` details
    unreadable: dict[str, str] | None = None  # the new per-instance state, when it changed

    def touch(self, account: Account, *fields: str) -> None:
        if account.pk:
            self.updates[account.pk] = account
            self.update_fields.update(fields)


class AccountSyncCoordinator(InstanceCoordinator):
    """Sync the accounts of one instance; the connection lives as long as the `with` block.

    Phases (the template's, `InstanceCoordinator.run`):
      connection  `__enter__`: open the connection, detect the server version and record it.
      inventory   list the accounts; compare with the stored ones (created / refreshed /
                  reactivated / deactivated). A listing error, or deactivating more than half
                  of the active accounts without `force`, aborts the instance. The first
                  sync of an instance (nothing stored yet) logs one `baseline` entry for
                  everything it found, not an `add` per account.
      collection  read the active accounts' permissions in bulk, expand them into effective
                  privileges and diff canonical snapshots; `status="skipped"` when no account
                  is active. What a database the adapter could not read held last time is
                  carried over unverified, never revoked.
    Both phases only read (remote catalogs and the metadata DB, a fixed number of queries);
    `save()` writes everything in one transaction with one statement per table, so a failure
    leaves stored data as it was and the cost does not grow with statements per account.
    """

    module = MODULE
    session: SyncSession  # its changes are logged under the session

    def __init__(
        self,
        instance: Instance,
        session: SyncSession,
        *,
        force: bool = False,
        only_like: str | None = None,
    ) -> None:
        super().__init__(instance, session)
        self.force = force
        self.only_like = only_like  # restrict to identities LIKE this (tests, benchmarks)
        self.pending = Pending()
        self.active: list[RemoteAccount] = []
        self.accounts: dict[str, Account] = {}  # stored accounts that change, as models
        self.rows: dict[str, dict[str, Any]] = {}  # stored accounts as plain rows
        self.snapshots: dict[str, Stored] = {}  # their stored snapshots, read with them
        self.pinned: set[str] = set()  # stored accounts with a `last_seen_at` of their own
        self.state = State()  # the instance's account-sync state as the last sync left it
        self.kept: list[str] = []  # active, unlisted, from a database that could not be read
        self.gone: list[str] = []  # identities deactivated by this listing
        self.excluded: list[str] = []  # active, still listed, but an exclusion rule now matches
        self.included_again: set[str] = set()  # inactive because of a rule that no longer matches
        self.now = timezone.now()
        self.baseline_skipped = 0  # GRANTs not logged because their database is a baseline
        self.first_sync = False  # nothing stored yet: the accounts found are the baseline

    def make_adapter(self, connection: DatabaseConnection) -> AccountAdapter:
        return adapter_class(self.instance.db_type)(connection, self.server)

    @classmethod
    def for_session(cls, instance: Instance, session: SyncSession) -> AccountSyncCoordinator:
        """`force` (accept a listing that deactivates more than half) is a session parameter."""
        return cls(instance, session, force=bool(session.parameters.get("force")))

    @classmethod
    def sync(cls, instance: Instance, session: SyncSession) -> InstanceResult:
        """Connect, run the phases, close, with the cyclic garbage collector paused until the
        coordinator and everything it built are gone: resumed while they still live, its first
        collection would scan every one of them (a third of a no-change sync of 10,000 accounts)."""
        with paused_gc():
            return super().sync(instance, session)

    @paused_gc()
    def run(self) -> InstanceResult:
        """The template's phases, with the cyclic garbage collector paused while they build their
        many small objects (it would otherwise rescan them all, again and again)."""
        return super().run()

    # --- inventory ----------------------------------------------------------------------------
    def inventory(self) -> PhaseStats:
        stats = PhaseStats()
        listed = self.adapter.list_accounts()
        excluded = like_any(ExclusionRule.objects.patterns(self.instance.db_type))
        self.state = self._read_state()
        found = {a.identity: a for a in listed if self._in_scope(a.identity)}
        included = {i: a for i, a in found.items() if not excluded(i)}
        self.rows = self._read_rows()
        stats.extra["excluded"] = len(found) - len(included)
        stats.extra["attributes_changed"] = 0
        self.first_sync = not self.rows
        self.included_again = self._excluded_before(included)
        for identity, remote in sorted(included.items()):
            self._inventory_one(remote, self.rows.get(identity), stats)
        if self.first_sync and included:
            self._log_baseline(list(included.values()))
        self._deactivate_missing(included, set(found) - set(included), stats)
        stats.processed_records = len(included)
        self.active = [included[i] for i in sorted(included)]
        logger.info("account_sync_inventory_completed", phase=SyncPhase.INVENTORY, **stats.as_dict())
        return stats

    def _read_state(self) -> State:
        rows = AccountSyncState.objects.filter(instance=self.instance).values_list(
            "databases_unreadable", "listed_at"
        )
        for unreadable, listed_at in rows:
            return State(True, dict(unreadable or {}), listed_at)
        return State()

    def _read_rows(self) -> dict[str, dict[str, Any]]:
        """Stored accounts as plain rows through one cursor: no model and no per-cell converter
        (a model is built only for accounts that change; every row's `attributes` are decoded in
        one go). Whether `last_seen_at` is set is read, never its value. Each account's stored
        snapshot (hash, format, version) comes along by the same query, into `self.snapshots`:
        the sync writes snapshots only when it saves, and holds its category's lock meanwhile, so
        they are the same at collection."""
        pinned = ExpressionWrapper(Q(last_seen_at__isnull=False), output_field=BooleanField())
        # In identity order (the unique index's), not the model's: that one joins the instance
        # for its name and sorts every row.
        accounts = Account.objects.for_instance(self.instance.pk).annotate(pinned=pinned).order_by("identity")
        snapshot = ("snapshot__hash", "snapshot__format", "snapshot__version")
        selected = [*ROW_FIELDS, "pinned", *snapshot]
        sql, params = accounts.values_list(*selected).query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            fetched = cursor.fetchall()
            # The rows are read by position: should a Django release order the annotation
            # elsewhere, fail here rather than read one column as another.
            if [d[0] for d in cursor.description] != selected:
                raise RuntimeError(f"unexpected columns reading the stored accounts: {cursor.description}")
        rows: dict[str, dict[str, Any]] = {}
        snapshots: dict[str, Stored] = {}
        pinned_ids, scoped = self.pinned, self.only_like is not None
        at, width = ROW_FIELDS.index("identity"), len(ROW_FIELDS)
        for values in fetched:  # once per stored account: kept lean
            identity = values[at]
            if scoped and not self._in_scope(identity):
                continue
            # zip stops at the row's fields: the pinned flag and the snapshot follow them.
            rows[identity] = dict(zip(ROW_FIELDS, values, strict=False))  # booleans arrive as bool
            if values[width]:  # has a `last_seen_at` of its own (0/1 on SQLite)
                pinned_ids.add(identity)
            if values[width + 1] is not None:  # LEFT JOIN: no snapshot yet
                snapshots[identity] = Stored(*values[width + 1 :])
        self.snapshots = snapshots
        # Every account's attributes are compared with the listing: decoded all at once (one
        # json.loads of them all costs a third of one per account, and PostgreSQL's jsonb text
        # could never be compared as text anyway).
        texts = [row["attributes"] for row in rows.values()]
        if all(isinstance(t, str) for t in texts):
            for row, attributes in zip(rows.values(), canonical.json_documents(texts), strict=True):
                row["attributes"] = attributes
        return rows

    def _in_scope(self, identity: str) -> bool:
        return self.only_like is None or like(identity, self.only_like)

    def _account(self, identity: str) -> Account:
        """The model of a stored account, built from its row on first need (updates only)."""
        if identity not in self.accounts:
            row = self.rows[identity]
            self.accounts[identity] = Account(**{**row, "attributes": stored_attributes(row)})
        return self.accounts[identity]

    def _fact(self, identity: str, name: str) -> Any:
        if identity in self.pending.creates:
            return self.pending.creates[identity][name]
        account = self.accounts.get(identity)
        return getattr(account, name) if account is not None else self.rows[identity][name]

    def _inventory_one(self, remote: RemoteAccount, row: dict[str, Any] | None, stats: PhaseStats) -> None:
        fingerprint = remote.fingerprint or ""
        if row is not None and same_listing(row, remote):
            values: dict[str, Any] = {}  # the usual case: nothing listed changed
        else:
            values = listed_values(remote)
        if row is None:
            self.pending.creates[remote.identity] = {
                **values,
                "instance": self.instance.pk,
                "can_grant": False,
                "is_active": True,
                "first_seen_at": self.now,
                "first_seen_session_uuid": None,  # written as this session's
                "last_seen_at": None,  # written by `save()`
                "fingerprint": fingerprint,
            }
            details = {"attributes": values["attributes"], **remote.facts()}
            self.pending.added[remote.identity] = details
            if not self.first_sync:  # the first sync logs one baseline entry instead
                self._log(remote.identity, ChangeType.ADD, details, pgettext("account change", "added"))
            stats.created += 1
            return
        changed = {k: v for k, v in values.items() if k not in ("identity", "attributes") and row[k] != v}
        if values and not same_attributes(row, values["attributes"]):
            changed["attributes"] = values["attributes"]
        self.pending.seen.append(remote.identity)
        if row["is_active"]:
            stats.refreshed += 1
        else:
            account = self._account(remote.identity)
            account.is_active, account.deactivated_at = True, None
            self.pending.touch(account, "is_active", "deactivated_at")
            if remote.identity in self.included_again:
                summary = _("tracked again: no exclusion rule leaves it out any more")
                self._log(remote.identity, ChangeType.REACTIVATE, {"included": True}, summary)
            else:
                self._log(
                    remote.identity, ChangeType.REACTIVATE, {}, pgettext("account change", "reactivated")
                )
            stats.reactivated += 1
        if row["fingerprint"] != fingerprint:  # kept silently: it is evidence, not a fact to log
            account = self._account(remote.identity)
            account.fingerprint = fingerprint
            self.pending.touch(account, "fingerprint")
        if changed:
            account = self._account(remote.identity)
            before = {**stored_attributes(row), **{k: row[k] for k in FACTS}}
            for key, value in changed.items():
                setattr(account, key, value)
            diff = canonical.attribute_changes(
                before, {**values["attributes"], **{k: values[k] for k in FACTS}}
            )
            self.pending.touch(account, *changed)
            self._log(
                remote.identity,
                ChangeType.MODIFY_OTHER,
                {"changes": diff},
                _("changed %(attributes)s") % {"attributes": ", ".join(diff)},
            )
            stats.extra["attributes_changed"] += 1

    def _log_baseline(self, found: list[RemoteAccount]) -> None:
        """One entry for the instance's first sync: what was found, counted, not one `add` each."""
        details = {
            "accounts": len(found),
            "roles": sum(a.is_role for a in found),
            "superusers": sum(a.is_superuser for a in found),
            "logins": sum(a.can_login for a in found),
        }
        summary = ngettext("baseline: %(count)d account", "baseline: %(count)d accounts", len(found))
        self._log(None, ChangeType.BASELINE, details, summary % {"count": len(found)})

    def _excluded_before(self, included: dict[str, RemoteAccount]) -> set[str]:
        """The inactive accounts listed again whose last deactivation was an exclusion rule's:
        they come back because a rule changed, not because the server did."""
        inactive = [r["id"] for i, r in self.rows.items() if i in included and not r["is_active"]]
        if not inactive:
            return set()
        latest: dict[int, bool] = {}
        changes = AccountChange.objects.filter(account_id__in=inactive, change_type=ChangeType.DEACTIVATE)
        for account_id, details in changes.order_by("created_at", "id").values_list("account_id", "details"):
            latest[account_id] = bool((details or {}).get("excluded"))
        return {i for i, r in self.rows.items() if latest.get(r["id"])}

    def _deactivate_missing(
        self, included: dict[str, RemoteAccount], excluded: set[str], stats: PhaseStats
    ) -> None:
        was_active = [i for i, r in self.rows.items() if r["is_active"]]
        unreadable = unreadable_databases(self.adapter.notes)
        missing = [i for i in was_active if i not in included]
        # Listed from a database that could not be read this time: not seen, not gone.
        kept = [i for i in missing if self.adapter.listed_in(i) in unreadable]
        # Still on the server, but a rule now leaves it out: not tracked any more, not dropped.
        self.excluded = [i for i in missing if i in excluded and i not in set(kept)]
        gone = [i for i in missing if i not in set(kept) and i not in excluded]
        self.kept = kept
        if kept:
            stats.extra["kept_unlisted"] = len(kept)
        if gone and len(gone) * 2 > len(was_active) and not self.force:
            message = _(
                "refusing to deactivate %(gone)d of %(active)d active accounts "
                "(more than half; suspicious listing). Re-run with force to accept."
            ) % {"gone": len(gone), "active": len(was_active)}
            inventory = {"status": "failed", "suspicious": True, "would_deactivate": len(gone)}
            details = {"inventory": {**inventory, "active": len(was_active)}, "collection": NOT_RUN}
            raise PhaseError(SyncPhase.INVENTORY, message, sync_details=details)
        for identity in gone:
            account = self._account(identity)
            account.is_active, account.deactivated_at = False, self.now
            self.pending.touch(account, "is_active", "deactivated_at")
            self._log(identity, ChangeType.DEACTIVATE, {}, _("no longer listed"))
        for identity in self.excluded:
            account = self._account(identity)
            account.is_active, account.deactivated_at = False, self.now
            self.pending.touch(account, "is_active", "deactivated_at")
            summary = _("left out by an exclusion rule (still on the server)")
            self._log(identity, ChangeType.DEACTIVATE, {"excluded": True}, summary)
        if self.excluded:
            stats.extra["newly_excluded"] = len(self.excluded)
        self.gone = gone
        stats.deactivated = len(gone) + len(self.excluded)

    # --- collection ---------------------------------------------------------------------------
    def collection(self) -> PhaseStats:
        if not self.active:
            logger.info(
                "account_sync_collection_skipped", phase=SyncPhase.COLLECTION, reason="no active accounts"
            )
            return PhaseStats(
                status="skipped", extra={"updated": 0, "unchanged": 0, "reason": "no active accounts"}
            )
        stats = PhaseStats(extra={"updated": 0, "unchanged": 0, "format_upgraded": 0})
        permissions = self.adapter.collect_permissions(self.active)
        notes = dict(self.adapter.notes)
        unreadable = unreadable_databases(notes)
        stored = self.snapshots
        last = self.state.unreadable
        back = set(last) - set(unreadable)  # unreadable last time, read now: a baseline
        carried = self._stored_rows_in(unreadable) if unreadable else {}
        reverify = self._unverified_in(back) if back else set()
        carried_snapshots = self._load_snapshots(carried) if carried else {}
        if unreadable != last:
            self.pending.unreadable = unreadable
        structured: dict[str, AccountPrivileges] = getattr(permissions, "structured", {})
        shapes: dict[str, tuple[GrantSet, ...]] = getattr(permissions, "shapes", {})
        supers = {a.identity for a in self.active if a.is_superuser}
        expanded = effective(structured, superusers=supers)
        changed: dict[str, tuple[dict[str, list[str]], str, Held]] = {}
        digests: dict[str, str] = {}
        # Accounts of one shape (the same prepared grant sets, nothing else) read the same: their
        # snapshot, rows and hash are worked out once and shared (nothing below changes them).
        # A superuser holds ALL besides its grants: its status is part of the shape.
        # Keyed by the shape's own tuple object (shared by the accounts of one shape, and alive
        # as long as `shapes`): no hashing of its sets per account.
        by_shape: dict[tuple[int, bool], tuple[bool, Held, dict[str, list[str]], str]] = {}
        for remote in self.active:
            identity = remote.identity
            shape = shapes.get(identity)
            key = (id(shape), identity in supers) if shape is not None else None
            known = by_shape.get(key) if key else None
            if known is None:
                known = self._read_one(identity, permissions, structured, expanded, supers)
                if key:
                    by_shape[key] = known
            can_grant, held, perms, digest = known
            self._refresh_can_grant(identity, can_grant)
            stale = False
            if identity in carried:
                perms, held, stale = carry_over(
                    perms, held, carried[identity], carried_snapshots.get(identity)
                )
                digest = canonical.digest(perms)
            digests[identity] = digest
            old = stored.get(identity)
            if old is None:
                self._new_snapshot(identity, perms, digest, held, back, stats)
            elif old.format < PermissionSnapshot.FORMAT:
                # A silent upgrade: the content is the same facts in a richer form, not a change.
                self.pending.snapshots[identity] = (perms, digest, old.version)
                self.pending.privileges[identity] = held
                stats.extra["format_upgraded"] += 1
            elif old.hash == digest:
                stats.extra["unchanged"] += 1
                if stale or identity in reverify:  # same facts, but verified or not changed
                    self.pending.privileges[identity] = held
            else:
                changed[identity] = (perms, digest, held)
        old_snapshots = self._load_snapshots(changed)
        for identity, (perms, digest, held) in changed.items():
            snapshot = old_snapshots[identity]
            entries = self._baseline(canonical.diff(snapshot.permissions, perms), held, back)
            self.pending.snapshots[identity] = (perms, digest, snapshot.version + 1)
            self.pending.privileges[identity] = held
            if entries:
                self._log_privileges(identity, entries, stats)
        stats.extra["renamed"] = self._link_renames(stored, digests)
        stats.processed_records = len(self.active)
        stats.extra.update(notes)
        if unreadable:
            stats.extra["unverified"] = unreadable
            logger.warning(
                "account_sync_databases_unverified",
                phase=SyncPhase.COLLECTION,
                databases=sorted(unreadable),
                accounts_carried=len(carried),
            )
        if back:
            stats.extra["baseline"] = {"databases": sorted(back), "grants_not_logged": self.baseline_skipped}
        logger.info("account_sync_collection_completed", phase=SyncPhase.COLLECTION, **stats.as_dict())
        return stats

    def _stored_rows_in(self, databases: dict[str, str]) -> dict[str, list[tuple[Any, ...]]]:
        """Stored privilege rows of the accounts in scope that belong to `databases` (one query)."""
        where = Q()
        for db in databases:
            where |= Q(target=db) | Q(target__startswith=db + ".")
        identities = {r["id"]: i for i, r in self.rows.items()}
        rows = (
            AccountPrivilege.objects.for_instance(self.instance.pk)
            .filter(where)
            .exclude(scope_kind__in=SERVER_WIDE | self.adapter.server_catalog_kinds)
            .values_list("account_id", *AccountPrivilege.FACT_FIELDS)
        )
        out: dict[str, list[tuple[Any, ...]]] = {}
        for account_id, *facts in rows:
            identity, path = identities.get(account_id), facts[1]
            # `shop.v2` matches `shop.%` above but is a database of its own: the path says which.
            if identity is not None and path and path[0] in databases:
                out.setdefault(identity, []).append(tuple(facts))
        return out

    def _unverified_in(self, databases: set[str]) -> set[str]:
        """Accounts holding rows carried over from `databases`: they become verified again."""
        identities = {r["id"]: i for i, r in self.rows.items()}
        rows = AccountPrivilege.objects.for_instance(self.instance.pk).filter(verified=False)
        return {
            identities[a]
            for a, path in rows.values_list("account_id", "path")
            if a in identities and path and path[0] in databases
        }

    def _read_one(
        self,
        identity: str,
        permissions: dict[str, dict[str, list[str]]],
        structured: dict[str, AccountPrivileges],
        expanded: dict[str, set[EffectiveGrant]],
        supers: set[str],
    ) -> tuple[bool, Held, dict[str, list[str]], str]:
        """What the read says of one account: may it grant (from its own grants), the rows it
        holds, its snapshot and the snapshot's hash."""
        direct = canonical.canonical(permissions.get(identity, {}))
        held = held_privileges(identity, structured, expanded, supers)
        perms = canonical.with_effective(direct, (g for g, _ in held))
        return canonical.has_grant_option(direct), held, perms, canonical.digest(perms)

    def _refresh_can_grant(self, identity: str, grant_option: bool) -> None:
        """From direct grants: what the account may pass on itself, as before format 2."""
        row = self.rows.get(identity)
        if row is not None and identity not in self.accounts and identity not in self.pending.creates:
            if row["can_grant"] == (row["is_superuser"] or grant_option):
                return  # the usual case, read off the stored row
        can_grant = self._fact(identity, "is_superuser") or grant_option
        if self._fact(identity, "can_grant") == can_grant:
            return
        if identity in self.pending.creates:
            self.pending.creates[identity]["can_grant"] = can_grant
            return
        account = self._account(identity)
        account.can_grant = can_grant
        self.pending.touch(account, "can_grant")

    def _load_snapshots(self, identities: Iterable[str]) -> dict[str, PermissionSnapshot]:
        """Full snapshots of some accounts only, in one query (hashes were enough so far)."""
        wanted = set(identities)
        if not wanted:
            return {}
        snapshots = PermissionSnapshot.objects.filter(account__instance=self.instance)
        if len(wanted) <= 500:
            snapshots = snapshots.filter(account__identity__in=sorted(wanted))
        annotated = snapshots.annotate(identity=F("account__identity"))
        return {s.identity: s for s in annotated if s.identity in wanted}

    def _new_snapshot(
        self,
        identity: str,
        perms: dict[str, list[str]],
        digest: str,
        held: Held,
        back: set[str],
        stats: PhaseStats,
    ) -> None:
        self.pending.snapshots[identity] = (perms, digest, 1)
        self.pending.privileges[identity] = held
        if identity in self.pending.creates:  # a new account: its `add` entry carries them
            self.pending.added[identity]["permissions"] = perms
            return
        entries = self._baseline(canonical.diff({}, perms), held, back)
        if entries:
            self._log_privileges(identity, entries, stats)

    def _baseline(
        self, entries: list[dict[str, Any]], held: Held, databases: set[str]
    ) -> list[dict[str, Any]]:
        """Drop GRANT entries on scopes of databases read again after being unreadable: their
        grants enter the record as a baseline, since when they appeared is unknown."""
        if not databases:
            return entries
        fresh = self.adapter.server_catalog_kinds
        texts = {g.scope.render() for g, _ in held if belongs_to(g.scope, databases, fresh)}
        kept = [e for e in entries if not (e["action"] == "GRANT" and e["scope"] in texts)]
        self.baseline_skipped += sum(len(e["privileges"]) for e in entries if e not in kept)
        return kept

    def _log_privileges(self, identity: str, entries: list[dict[str, Any]], stats: PhaseStats) -> None:
        self._log(identity, ChangeType.MODIFY_PRIVILEGE, {"entries": entries}, canonical.summarize(entries))
        stats.extra["updated"] += 1
        stats.saved_count += 1

    def _link_renames(self, stored: dict[str, Stored], digests: dict[str, str]) -> int:
        """A deactivated and a new account with the same fingerprint and permissions: a rename.

        Only a one-to-one match counts (two candidates for one fingerprint prove nothing), and
        only with a fingerprint: without evidence the two stay a `deactivate` and an `add`.
        """
        gone: dict[str, list[str]] = {}
        for identity in self.gone:
            if self.rows[identity]["fingerprint"]:
                gone.setdefault(self.rows[identity]["fingerprint"], []).append(identity)
        new: dict[str, list[str]] = {}
        for identity, values in self.pending.creates.items():
            if values["fingerprint"]:
                new.setdefault(values["fingerprint"], []).append(identity)
        links: dict[str, str] = {}  # new identity -> old identity
        for fingerprint, news in new.items():
            olds = gone.get(fingerprint, [])
            if len(news) == 1 and len(olds) == 1:
                (new_identity,), (old,) = news, olds
                was = stored.get(old)
                current = PermissionSnapshot.FORMAT
                if was is not None and was.format == current and was.hash == digests.get(new_identity):
                    links[new_identity] = old
        if not links:
            return 0
        replaced = {(n, ChangeType.ADD) for n in links} | {(o, ChangeType.DEACTIVATE) for o in links.values()}
        self.pending.changes = [c for c in self.pending.changes if (c[0], c[1]) not in replaced]
        for new_identity, old in sorted(links.items()):
            self.pending.added.pop(new_identity, None)
            details = {
                "from": old,
                "to": new_identity,
                "from_account_id": self.rows[old]["id"],
                "evidence": ["fingerprint", "permissions"],
            }
            self._log(
                new_identity, ChangeType.RENAME, details, _("renamed from %(identity)s") % {"identity": old}
            )
        return len(links)

    # --- writes --------------------------------------------------------------------------------
    def save(self) -> None:
        """Apply both phases' decisions in one transaction: one set-based statement per table.

        Snapshots and privilege rows of the accounts whose snapshot changed are replaced
        (delete + one insert); nothing is written for an unchanged account.
        """
        p = self.pending
        seen = self._last_seen_writes()
        if not any((p.creates, p.updates, p.snapshots, p.privileges, p.changes)) and len(seen) <= 1:
            for write in seen:  # usually the one row of the instance's state
                write()
            return
        with transaction.atomic():
            ids: dict[str | None, int | None] = {i: r["id"] for i, r in self.rows.items()}
            ids[None] = None  # the baseline entry belongs to no account
            now = bulk.db_value(Account, "last_seen_at", self.now)  # one conversion for all rows
            session = bulk.db_value(Account, "first_seen_session_uuid", self.session.session_id)
            if p.creates:
                stamped = {
                    "first_seen_at": now,
                    "last_seen_at": None if self.only_like is None else now,
                    "first_seen_session_uuid": session,
                }
                rows = [tuple(stamped.get(c, v.get(c)) for c in ACCOUNT_COLUMNS) for v in p.creates.values()]
                ids.update(bulk.insert(Account, ACCOUNT_COLUMNS, rows, returning=("identity", "id")))
            if p.updates:
                Account.objects.bulk_update(list(p.updates.values()), sorted(p.update_fields))
            for write in seen:
                write()
            self._write_snapshots(ids, now)
            self._write_privileges(ids)
            self._write_changes(ids, now)

    def _write_snapshots(self, ids: dict[Any, Any], now: Any) -> None:
        p = self.pending
        if not p.snapshots:
            return
        bulk.delete_where_in(PermissionSnapshot, "account", [ids[i] for i in p.snapshots if i in self.rows])
        session_uuid = bulk.db_value(PermissionSnapshot, "session_uuid", self.session.session_id)
        rows = [
            (ids[i], perms, PermissionSnapshot.FORMAT, version, digest, now, session_uuid)
            for i, (perms, digest, version) in p.snapshots.items()
        ]
        bulk.insert(PermissionSnapshot, SNAPSHOT_COLUMNS, rows)

    def _write_privileges(self, ids: dict[Any, Any]) -> None:
        p = self.pending
        if not p.privileges:
            return
        bulk.delete_where_in(AccountPrivilege, "account", [ids[i] for i in p.privileges if i in self.rows])
        instance_id = self.instance.pk
        rows = [
            (
                ids[identity],
                instance_id,
                g.scope.kind,
                g.scope.target,
                list(g.scope.path),
                g.privilege,
                g.grantable,
                g.denied,
                g.via_text,
                g.needs_set_role,
                verified,
            )
            for identity, held in p.privileges.items()
            for g, verified in held
        ]
        bulk.insert(AccountPrivilege, PRIVILEGE_COLUMNS, rows)

    def _write_changes(self, ids: dict[Any, Any], now: Any) -> None:
        p = self.pending
        instance_id, session_id = self.instance.pk, self.session.pk
        session_uuid = bulk.db_value(AccountChange, "session_uuid", self.session.session_id)
        rows = [
            (
                ids[identity],
                instance_id,
                kind,
                details,
                summary[:500],
                risk.assess(kind, details)[0],
                session_id,
                session_uuid,
                now,
            )
            for identity, kind, details, summary in p.changes
        ]
        bulk.insert(AccountChange, CHANGE_COLUMNS, rows)

    def _last_seen_writes(self) -> list[Callable[[], Any]]:
        """The statements that record who was seen, and the instance's state (one row).

        A complete listing is stamped once, in the state's `listed_at`: the accounts it shows
        follow it (`last_seen_at` empty), so an unchanged instance costs no write per account.
        An account that drops out of the listings (gone, or kept because its database could not
        be read) gets the last listing that showed it as a time of its own. A sync limited to
        some accounts stamps the accounts it listed, never the instance.
        """
        complete = self.only_like is None
        listed_before = self.state.listed_at
        dropped_out = (*self.gone, *self.kept, *self.excluded)
        ids = {i: self.rows[i]["id"] for i in (*self.pending.seen, *dropped_out)}
        unseen = [ids[i] for i in dropped_out if i not in self.pinned]
        if complete:
            seen = [ids[i] for i in self.pending.seen if i in self.pinned]
            seen_at = None
        else:
            seen, seen_at = [ids[i] for i in self.pending.seen], self.now
        writes: list[Callable[[], Any]] = []
        if unseen and listed_before is not None:
            writes.append(lambda: bulk.update_where_in(Account, unseen, last_seen_at=listed_before))
        if seen:
            writes.append(lambda: bulk.update_where_in(Account, seen, last_seen_at=seen_at))
        state: dict[str, Any] = {"listed_at": self.now} if complete else {}
        if self.pending.unreadable is not None:
            state["databases_unreadable"] = self.pending.unreadable
        if state:
            state["updated_at"] = self.now
            writes.append(lambda: self._write_state(state))
        return writes

    def _write_state(self, values: dict[str, Any]) -> None:
        """One statement: an UPDATE of the row the inventory read, or an INSERT of the first (also
        when the row is gone meanwhile; one made meanwhile fails the save, which the instance's
        sync lock rules out)."""
        rows = AccountSyncState.objects.filter(instance=self.instance)
        if not (self.state.exists and rows.update(**values)):
            AccountSyncState.objects.create(instance=self.instance, **values)

    def _log(self, identity: str | None, change_type: str, details: dict[str, Any], summary: str) -> None:
        self.pending.changes.append((identity, change_type, details, summary))


def stored_attributes(row: dict[str, Any]) -> dict[str, Any]:
    """The row's attributes, decoded from their JSON text if still text (then kept decoded)."""
    if isinstance(row["attributes"], str):
        row["attributes"] = json.loads(row["attributes"])
    return row["attributes"]


def same_attributes(row: dict[str, Any], listed: dict[str, Any]) -> bool:
    """Stored and listed attributes equal? Rows read by the sync arrive decoded; a row still
    holding the text the sync wrote on SQLite (canonical compact JSON) is answered by one string
    comparison when equal (equal text is equal JSON; PostgreSQL's jsonb text never matches)."""
    raw = row["attributes"]
    if isinstance(raw, str) and raw == canonical.dumps(listed):
        return True
    return stored_attributes(row) == listed


def unreadable_databases(notes: dict[str, Any]) -> dict[str, str]:
    """What the adapter could not read: `databases_unreadable` {db: reason}, and (until every
    adapter reports reasons) the names in `databases_skipped`, as "not readable"."""
    out = {str(db): NOT_READABLE for db in notes.get("databases_skipped") or ()}
    out.update({str(db): str(reason) for db, reason in (notes.get("databases_unreadable") or {}).items()})
    return dict(sorted(out.items()))


def held_privileges(
    identity: str,
    structured: dict[str, AccountPrivileges],
    expanded: dict[str, set[EffectiveGrant]],
    superusers: set[str],
) -> Held:
    """What the account holds, each verified by this read: its effective privileges; for a
    superuser its direct grants plus the one `ALL (as superuser)` (never an expansion)."""
    held = expanded.get(identity, set())
    if identity in superusers:
        facts = structured.get(identity)
        direct = {
            EffectiveGrant(g.scope, g.privilege, g.grantable, g.denied, option=g.option)
            for g in (facts.grants if facts else ())
        }
        held = direct | {SUPERUSER_GRANT}
    return [(g, True) for g in sorted(held)]


def carry_over(
    perms: dict[str, list[str]],
    held: Held,
    stored_rows: list[tuple[Any, ...]],
    snapshot: PermissionSnapshot | None,
) -> tuple[dict[str, list[str]], Held, bool]:
    """Add what the account held in databases that could not be read this time.

    The stored rows (kind, path, privilege, grantable, denied, via, needs_set_role, verified)
    are kept unverified, and the stored snapshot's scopes they render to are merged into the
    new snapshot unchanged, so nothing unread is revoked. Returns the snapshot, the rows, and
    whether a carried row was verified until now (its flag changes although nothing else does).
    """
    read = {(g.scope, g.privilege, g.grantable, g.denied, g.via, g.needs_set_role) for g, _ in held}
    out = list(held)
    texts: set[str] = set()
    stale = False
    for kind, path, privilege, grantable, denied, via, needs_set, verified in stored_rows:
        scope = Scope.of(kind, *path)
        texts.add(scope.render())
        route = tuple(via.split(VIA_SEPARATOR)) if via else ()
        if (scope, privilege, grantable, denied, route, needs_set) in read:
            continue
        out.append((EffectiveGrant(scope, privilege, grantable, denied, route, needs_set), False))
        stale = stale or verified
    merged = {scope: list(tokens) for scope, tokens in perms.items()}
    previous = snapshot.permissions if snapshot is not None else {}
    for text in texts:
        if text in previous:
            merged[text] = [*merged.get(text, []), *previous[text]]
    return canonical.canonical(merged), out, stale


# The listed columns compared on every sync besides identity and attributes: named alike on the
# stored row and on the listed account.
LISTED = ("username", "host", "is_role", *FACTS)
_stored_listing = itemgetter(*LISTED)
_listing = attrgetter(*LISTED)


def same_listing(row: dict[str, Any], remote: RemoteAccount) -> bool:
    """Whether the stored row already says what the listing says, without building the listed
    values (the usual answer, for every account of every sync): a False may still turn out to be
    no change once the values are made canonical."""
    return _stored_listing(row) == _listing(remote) and same_attributes(row, remote.attributes)


def listed_values(remote: RemoteAccount) -> dict[str, Any]:
    """The stored columns a listing determines (can_grant comes from the collection)."""
    return {
        "identity": remote.identity,
        "username": remote.username,
        "host": remote.host,
        "is_role": remote.is_role,
        "attributes": canonical.canonical_attributes(remote.attributes),
        **remote.facts(),
    }


def like_any(patterns: list[str]) -> Callable[[str], bool]:
    """One compiled alternation of LIKE patterns: a single regex match per identity."""
    if not patterns:
        return lambda identity: False
    regex = re.compile("|".join(f"(?:{like_regex(p).pattern})" for p in patterns), re.DOTALL)
    return lambda identity: regex.fullmatch(identity) is not None


def sync_instance(session_id: int, instance_id: int) -> SyncInstanceRecord:
    """The unit of work of one instance in an account-sync session: connect, inventory,
    collection, save, with retries, written on its record. Any executor can run it."""
    return run_instance(session_id, instance_id, module=MODULE, work=AccountSyncCoordinator.sync)
