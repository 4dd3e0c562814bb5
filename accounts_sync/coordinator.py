"""Two-phase account sync of one instance (seed 000)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts_sync import canonical
from accounts_sync.adapters import AccountAdapter, RemoteAccount, adapter_class
from accounts_sync.models import (
    Account,
    AccountChange,
    ChangeType,
    ExclusionRule,
    PermissionSnapshot,
    like,
    like_regex,
)
from whalefall.choices import SyncPhase
from whalefall.connections import DatabaseConnection
from whalefall.logging import bind_context, get_logger
from whalefall.models import Instance, SyncSession
from whalefall.sync.coordinator import InstanceCoordinator
from whalefall.sync.phases import InstanceResult, PhaseError, PhaseStats, phase_guard

logger = get_logger(__name__)
MODULE = "account_sync"
ACCOUNT_FIELDS = [f.attname for f in Account._meta.concrete_fields]
FACTS = ("is_superuser", "is_locked", "can_login", "is_expired")
NOT_RUN = {"status": "skipped", "processed_records": 0, "reason": "not run"}


@dataclass
class Pending:
    """Everything the two phases decided to write, applied at once by `save()`."""

    creates: list[Account] = field(default_factory=list)
    updates: dict[int, Account] = field(default_factory=dict)
    update_fields: set[str] = field(default_factory=set)
    refreshed_pks: list[int] = field(default_factory=list)
    new_snapshots: list[PermissionSnapshot] = field(default_factory=list)
    changed_snapshots: list[PermissionSnapshot] = field(default_factory=list)
    changes: list[AccountChange] = field(default_factory=list)
    added: dict[str, dict[str, Any]] = field(default_factory=dict)  # identity -> `add` details

    def touch(self, account: Account, *fields: str) -> None:
        if account.pk:
            self.updates[account.pk] = account
            self.update_fields.update(fields)


class AccountSyncCoordinator(InstanceCoordinator):
    """Sync the accounts of one instance; the connection lives as long as the `with` block.

    Phases:
      connection  `__enter__`: open the connection, detect the server version and record it.
      inventory   list the accounts; compare with the stored ones (created / refreshed /
                  reactivated / deactivated). A listing error, or deactivating more than half
                  of the active accounts without `force`, aborts the instance.
      collection  read the active accounts' permissions in bulk and diff canonical snapshots;
                  `status="skipped"` when no account is active.
    Both phases only read (remote catalogs and the metadata DB, a fixed number of queries);
    `save()` writes everything in one transaction, so a failure leaves stored data as it was.
    """

    connection_failure_details = {"inventory": NOT_RUN, "collection": NOT_RUN}

    def __init__(
        self, instance: Instance, *, session: SyncSession, force: bool = False, only_like: str | None = None
    ) -> None:
        super().__init__(instance)
        self.session, self.force = session, force
        self.only_like = only_like  # restrict to identities LIKE this (tests, benchmarks)
        self.pending = Pending()
        self.active: list[RemoteAccount] = []
        self.accounts: dict[str, Account] = {}  # new accounts and stored ones that change
        self.rows: dict[str, dict[str, Any]] = {}  # stored accounts as plain rows
        self.now = timezone.now()

    def make_adapter(self, connection: DatabaseConnection) -> AccountAdapter:
        return adapter_class(self.instance.db_type)(connection, self.server)

    # --- driver --------------------------------------------------------------------------------
    def run(self) -> InstanceResult:
        """inventory -> collection -> save, with seed 000's counters and sync_details."""
        failed = {"status": "failed"}
        with bind_context(module=MODULE, instance_id=self.instance.pk, phase=SyncPhase.INVENTORY):
            with phase_guard(SyncPhase.INVENTORY, {"inventory": failed, "collection": NOT_RUN}):
                inventory = self.inventory()
        with bind_context(module=MODULE, instance_id=self.instance.pk, phase=SyncPhase.COLLECTION):
            with phase_guard(SyncPhase.COLLECTION, {"inventory": inventory.as_dict(), "collection": failed}):
                collection = self.collection(inventory)
            details = {"inventory": inventory.as_dict(), "collection": collection.as_dict()}
            with phase_guard(
                SyncPhase.COLLECTION, {**details, "collection": {**details["collection"], "status": "failed"}}
            ):
                self.save()
        return InstanceResult(
            items_synced=collection.processed_records,
            items_created=inventory.created,
            items_updated=collection.extra.get("updated", 0),
            items_deleted=inventory.deactivated,
            sync_details=details,
            status="skipped" if collection.status == "skipped" else "completed",
        )

    # --- inventory ----------------------------------------------------------------------------
    def inventory(self) -> PhaseStats:
        stats = PhaseStats()
        details = {"inventory": {"status": "failed"}, "collection": NOT_RUN}
        with phase_guard(SyncPhase.INVENTORY, details):
            listed = self.adapter.list_accounts()  # type: ignore[union-attr]
            excluded = like_any(ExclusionRule.objects.patterns(self.instance.db_type))
            found = {a.identity: a for a in listed if self._in_scope(a.identity)}
            included = {i: a for i, a in found.items() if not excluded(i)}
            # Plain rows, not models: a model is built only for accounts that change.
            rows = Account.objects.for_instance(self.instance.pk).values(*ACCOUNT_FIELDS)
            self.rows = {r["identity"]: r for r in rows if self._in_scope(r["identity"])}
        stats.extra["excluded"] = len(found) - len(included)
        stats.extra["attributes_changed"] = 0
        for identity, remote in sorted(included.items()):
            self._inventory_one(remote, self.rows.get(identity), stats)
        self._deactivate_missing(included, stats)
        stats.processed_records = len(included)
        self.active = [included[i] for i in sorted(included)]
        logger.info("account_sync_inventory_completed", phase=SyncPhase.INVENTORY, **stats.as_dict())
        return stats

    def _in_scope(self, identity: str) -> bool:
        return self.only_like is None or like(identity, self.only_like)

    def _account(self, identity: str) -> Account:
        """The model of a new account, or of a stored one built from its row on first need."""
        if identity not in self.accounts:
            self.accounts[identity] = Account(**self.rows[identity])
        return self.accounts[identity]

    def _fact(self, identity: str, name: str) -> Any:
        account = self.accounts.get(identity)
        return getattr(account, name) if account is not None else self.rows[identity][name]

    def _inventory_one(self, remote: RemoteAccount, row: dict[str, Any] | None, stats: PhaseStats) -> None:
        values = listed_values(remote)
        if row is None:
            account = Account(
                instance_id=self.instance.pk, first_seen_at=self.now, last_seen_at=self.now, **values
            )
            self.accounts[remote.identity] = account
            self.pending.creates.append(account)
            details = {"attributes": account.attributes, **remote.facts()}
            self.pending.added[remote.identity] = details
            self._log(account, ChangeType.ADD, details, "added")
            stats.created += 1
            return
        changed = {k: v for k, v in values.items() if row[k] != v}
        if row["is_active"]:
            self.pending.refreshed_pks.append(row["id"])
            stats.refreshed += 1
        else:
            account = self._account(remote.identity)
            account.is_active, account.deactivated_at, account.last_seen_at = True, None, self.now
            self.pending.touch(account, "is_active", "deactivated_at", "last_seen_at")
            self._log(account, ChangeType.REACTIVATE, {}, "reactivated")
            stats.reactivated += 1
        if changed:
            account = self._account(remote.identity)
            before = {**row["attributes"], **{k: row[k] for k in FACTS}}
            for key, value in changed.items():
                setattr(account, key, value)
            diff = canonical.attribute_changes(
                before, {**values["attributes"], **{k: values[k] for k in FACTS}}
            )
            self.pending.touch(account, *changed)
            self._log(account, ChangeType.MODIFY_OTHER, {"changes": diff}, "changed " + ", ".join(diff))
            stats.extra["attributes_changed"] += 1

    def _deactivate_missing(self, included: dict[str, RemoteAccount], stats: PhaseStats) -> None:
        was_active = [i for i, r in self.rows.items() if r["is_active"]]
        gone = [i for i in was_active if i not in included]
        if gone and len(gone) * 2 > len(was_active) and not self.force:
            message = (
                f"refusing to deactivate {len(gone)} of {len(was_active)} active accounts "
                "(more than half; suspicious listing). Re-run with force to accept."
            )
            inventory = {"status": "failed", "suspicious": True, "would_deactivate": len(gone)}
            details = {"inventory": {**inventory, "active": len(was_active)}, "collection": NOT_RUN}
            raise PhaseError(SyncPhase.INVENTORY, message, sync_details=details)
        for identity in gone:
            account = self._account(identity)
            account.is_active, account.deactivated_at = False, self.now
            self.pending.touch(account, "is_active", "deactivated_at")
            self._log(account, ChangeType.DEACTIVATE, {}, "no longer listed")
        stats.deactivated = len(gone)

    # --- collection ---------------------------------------------------------------------------
    def collection(self, inventory: PhaseStats | None = None) -> PhaseStats:
        if not self.active:
            logger.info(
                "account_sync_collection_skipped", phase=SyncPhase.COLLECTION, reason="no active accounts"
            )
            return PhaseStats(
                status="skipped", extra={"updated": 0, "unchanged": 0, "reason": "no active accounts"}
            )
        stats = PhaseStats(extra={"updated": 0, "unchanged": 0})
        details = {
            "inventory": inventory.as_dict() if inventory else NOT_RUN,
            "collection": {"status": "failed"},
        }
        with phase_guard(SyncPhase.COLLECTION, details):
            permissions = self.adapter.collect_permissions(self.active)  # type: ignore[union-attr]
            hashes = dict(
                PermissionSnapshot.objects.filter(account__instance=self.instance).values_list(
                    "account__identity", "hash"
                )
            )
        changed: dict[str, tuple[Account, dict[str, list[str]], str]] = {}
        for remote in self.active:
            identity = remote.identity
            perms = canonical.canonical(permissions.get(identity, {}))
            digest = canonical.digest(perms)
            self._refresh_can_grant(identity, perms)
            stored = hashes.get(identity)
            if stored == digest:
                stats.extra["unchanged"] += 1
            elif stored is None:
                self._new_snapshot(self._account(identity), perms, digest, stats)
            else:
                changed[identity] = (self._account(identity), perms, digest)
        with phase_guard(SyncPhase.COLLECTION, details):
            old = self._load_snapshots(changed)
        for identity, (account, perms, digest) in changed.items():
            self._change_snapshot(old[identity], account, perms, digest, stats)
        stats.processed_records = len(self.active)
        stats.extra.update(self.adapter.notes)  # type: ignore[union-attr]
        logger.info("account_sync_collection_completed", phase=SyncPhase.COLLECTION, **stats.as_dict())
        return stats

    def _refresh_can_grant(self, identity: str, perms: dict[str, list[str]]) -> None:
        can_grant = self._fact(identity, "is_superuser") or canonical.has_grant_option(perms)
        if self._fact(identity, "can_grant") != can_grant:
            account = self._account(identity)
            account.can_grant = can_grant
            self.pending.touch(account, "can_grant")

    def _load_snapshots(self, changed: dict[str, Any]) -> dict[str, PermissionSnapshot]:
        """Full snapshots of the changed accounts only, in one query (hashes were enough so far)."""
        if not changed:
            return {}
        snapshots = PermissionSnapshot.objects.filter(account__instance=self.instance)
        if len(changed) <= 500:
            snapshots = snapshots.filter(account__identity__in=list(changed))
        annotated = snapshots.annotate(identity=F("account__identity"))
        return {s.identity: s for s in annotated if s.identity in changed}  # type: ignore[attr-defined]

    def _new_snapshot(
        self, account: Account, perms: dict[str, list[str]], digest: str, stats: PhaseStats
    ) -> None:
        self.pending.new_snapshots.append(
            PermissionSnapshot(
                account=account,
                permissions=perms,
                hash=digest,
                collected_at=self.now,
                session_uuid=self.session.session_id,
            )
        )
        if account.pk is None:  # a new account: its `add` entry carries the initial permissions
            self.pending.added[account.identity]["permissions"] = perms
            return
        self._log_privileges(account, canonical.diff({}, perms), stats)

    def _change_snapshot(
        self,
        snapshot: PermissionSnapshot,
        account: Account,
        perms: dict[str, list[str]],
        digest: str,
        stats: PhaseStats,
    ) -> None:
        entries = canonical.diff(snapshot.permissions, perms)
        snapshot.permissions, snapshot.hash = perms, digest
        snapshot.version, snapshot.collected_at = snapshot.version + 1, self.now
        snapshot.session_uuid = self.session.session_id
        self.pending.changed_snapshots.append(snapshot)
        self._log_privileges(account, entries, stats)

    def _log_privileges(self, account: Account, entries: list[dict[str, Any]], stats: PhaseStats) -> None:
        self._log(account, ChangeType.MODIFY_PRIVILEGE, {"entries": entries}, canonical.summarize(entries))
        stats.extra["updated"] += 1
        stats.saved_count += 1

    # --- writes --------------------------------------------------------------------------------
    def save(self) -> None:
        """Apply both phases' decisions in one transaction (a fixed number of bulk statements)."""
        p = self.pending
        with transaction.atomic():
            Account.objects.bulk_create(p.creates)
            if p.updates:
                Account.objects.bulk_update(list(p.updates.values()), sorted(p.update_fields))
            self._touch_last_seen(p.refreshed_pks)
            PermissionSnapshot.objects.bulk_create(p.new_snapshots)
            PermissionSnapshot.objects.bulk_update(
                p.changed_snapshots, ["permissions", "hash", "version", "collected_at", "session_uuid"]
            )
            AccountChange.objects.bulk_create(p.changes)

    def _touch_last_seen(self, pks: list[int]) -> None:
        accounts = Account.objects.for_instance(self.instance.pk)
        if self.only_like is None:
            accounts.filter(is_active=True).update(last_seen_at=self.now)
        elif pks:
            accounts.filter(pk__in=pks).update(last_seen_at=self.now)

    def _log(self, account: Account, change_type: str, details: dict[str, Any], summary: str) -> None:
        self.pending.changes.append(
            AccountChange(
                account=account,
                instance_id=self.instance.pk,
                change_type=change_type,
                details=details,
                summary=summary[:500],
                session_id=self.session.pk,
                session_uuid=self.session.session_id,
                created_at=self.now,
            )
        )


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


def sync_instance(instance: Instance, session: SyncSession, *, force: bool = False) -> InstanceResult:
    """The runner's `work` for one instance: connect, inventory, collection, save."""
    with AccountSyncCoordinator(instance, session=session, force=force) as coordinator:
        return coordinator.run()
