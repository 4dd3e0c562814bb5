"""One lease primitive: a row in the metadata database that at most one holder owns until it expires.

Both the sync locks (one row per category) and the scheduler lease (one row) are leases. Every
change is a single conditional statement, never a read followed by a write, so two processes on
two hosts can never both believe they hold a lease:

- claim: UPDATE ... WHERE the lease is free (released), already ours, or (if asked) expired;
  when there is no row yet, INSERT, where the unique key lets one claimer in;
- take over: UPDATE ... WHERE the token is still the one the caller saw, and (unless the caller
  knows that holder is dead) its expiry has passed;
- renew: UPDATE ... WHERE the token is ours;
- release / evict: DELETE (or vacate) ... WHERE the token is ours / is the one the caller saw.

A holder is identified by host, pid and the kernel's key of that process (the pid alone may be
reused after the process died), plus a random token, so two holders in one process differ too. Every
claim, take-over and renewal sets the expiry: a holder that stops renewing loses the lease.

Expiry is judged by one clock, the metadata database's: a lease written by a host whose clock
runs behind must not look expired to a standby whose clock runs ahead (a 30-second scheduler
lease would flap between hosts 20 seconds apart).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from django.db import IntegrityError, connections, models, router, transaction
from django.db.models import Q
from django.utils import timezone

from whalefall.sync.process import hostname, my_process_key, my_start_time

M = TypeVar("M", bound=models.Model)


def database_now(model: type[models.Model]) -> datetime:
    """Now, by the clock of the database that holds `model`'s rows: the one clock that every
    holder and contender of a lease shares, whatever host each runs on."""
    connection = connections[router.db_for_write(model)]
    if connection.vendor == "postgresql":
        query = "SELECT statement_timestamp()"  # now() would be the transaction's start
    elif connection.vendor == "mysql":
        query = "SELECT UTC_TIMESTAMP(6)"
    else:
        return timezone.now()  # SQLite: a file on this host, whose clock is this host's
    with connection.cursor() as cursor:
        cursor.execute(query)
        value = cursor.fetchone()[0]
    return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)


def renewal_interval(ttl: float) -> float:
    """How often a held lease is renewed: three times per TTL, so that two renewals can fail (a
    slow metadata database) before it expires; never more often than once a second."""
    return max(ttl / 3, 1)


@dataclass(frozen=True)
class Holder:
    """Who claims a lease: this process (host, pid, start time, kernel key) and a token of its own."""

    host: str
    pid: int
    started_at: datetime | None
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    owner: str = ""  # the label people see; host-pid unless given
    process_key: str = ""  # whalefall.sync.process.process_key: tells a reused pid from the holder

    def __post_init__(self) -> None:
        if not self.owner:
            object.__setattr__(self, "owner", f"{self.host}-{self.pid}")

    @classmethod
    def this_process(cls, token: str | None = None) -> Holder:
        return cls(
            host=hostname(),
            pid=os.getpid(),
            started_at=my_start_time(),
            process_key=my_process_key(),
            **({"token": token} if token else {}),
        )


class Lease(Generic[M]):
    """The lease `key` of `model`, a table with the holder columns `owner`, `token`, `host`,
    `pid`, `process_started_at`, `process_key` and `expires_at`.

    `acquired_field` names the column that says since when the holder has it, `heartbeat_field`
    (optional) the one that says when it last renewed. A released lease leaves no row
    (`keep_row=False`: the table lists held leases only) or a vacated one (`keep_row=True`: the
    last holder stays visible, e.g. for a status page).
    """

    def __init__(
        self,
        model: type[M],
        key: str,
        *,
        key_field: str,
        acquired_field: str,
        heartbeat_field: str | None = None,
        keep_row: bool = False,
    ) -> None:
        self.model, self.key = model, key
        self.key_field, self.acquired_field = key_field, acquired_field
        self.heartbeat_field, self.keep_row = heartbeat_field, keep_row

    # --- reading ------------------------------------------------------------------------------
    @property
    def rows(self) -> models.QuerySet[M]:
        return self.model._default_manager.filter(**{self.key_field: self.key})

    def current(self) -> M | None:
        """The row as it is now (a snapshot: decisions are taken by the conditional statements)."""
        return self.rows.first()

    def now(self) -> datetime:
        """The clock this lease's expiry is judged by (`database_now`)."""
        return database_now(self.model)

    # --- changing -----------------------------------------------------------------------------
    def claim(self, holder: Holder, seconds: float, *, steal_expired: bool = True) -> bool:
        """Take the lease if it is free, already `holder`'s, or (with `steal_expired`) expired.

        True when `holder` now holds it. A caller that must know whom it replaced (to clean up
        after a dead holder) passes `steal_expired=False` and uses `take_over` instead.
        """
        now = self.now()
        free = Q(token="") | Q(token=holder.token)
        if steal_expired:
            free |= Q(expires_at__lt=now)
        if self.rows.filter(free).update(**self._holder_values(holder, now, seconds)):
            return True
        if self.rows.exists():
            return False
        try:
            with transaction.atomic():
                self.model._default_manager.create(
                    **{self.key_field: self.key}, **self._holder_values(holder, now, seconds)
                )
        except IntegrityError:
            return False  # another claimer inserted it first
        return True

    def take_over(self, holder: Holder, seconds: float, *, from_token: str, expired_only: bool) -> bool:
        """Take the lease from the holder whose token the caller saw, if it still holds it.

        `expired_only=False` is for a holder the caller knows is dead (same host, process gone):
        its lease may not have expired yet. False when that holder renewed meanwhile (with
        `expired_only`) or someone else took the lease first.
        """
        now = self.now()
        rows = self.rows.filter(token=from_token).exclude(token="")
        if expired_only:
            rows = rows.filter(expires_at__lt=now)
        return bool(rows.update(**self._holder_values(holder, now, seconds)))

    def renew(self, token: str, seconds: float) -> bool:
        """Push the expiry forward; False when the lease is no longer `token`'s (it was lost)."""
        now = self.now()
        values: dict[str, Any] = {"expires_at": now + timedelta(seconds=seconds)}
        if self.heartbeat_field:
            values[self.heartbeat_field] = now
        return bool(self.rows.filter(token=token).exclude(token="").update(**values))

    def release(self, token: str) -> bool:
        """Give the lease up at once, so the next claimer need not wait for the expiry."""
        return self._free(self.rows.filter(token=token).exclude(token=""))

    def evict(self, token: str, *, expired_only: bool) -> bool:
        """Free the lease of a holder the caller saw, dead (`expired_only=False`) or expired,
        without taking it; False when that holder renewed meanwhile or is already gone."""
        rows = self.rows.filter(token=token).exclude(token="")
        if expired_only:
            rows = rows.filter(expires_at__lt=self.now())
        return self._free(rows)

    # --- helpers ------------------------------------------------------------------------------
    def _free(self, rows: models.QuerySet[M]) -> bool:
        if self.keep_row:
            return bool(rows.update(token="", expires_at=self.now()))
        deleted, _ = rows.delete()
        return bool(deleted)

    def _holder_values(self, holder: Holder, now: datetime, seconds: float) -> dict[str, Any]:
        values: dict[str, Any] = {
            "owner": holder.owner,
            "token": holder.token,
            "host": holder.host,
            "pid": holder.pid,
            "process_started_at": holder.started_at,
            "process_key": holder.process_key,
            self.acquired_field: now,
            "expires_at": now + timedelta(seconds=seconds),
        }
        if self.heartbeat_field:
            values[self.heartbeat_field] = now
        return values
