"""The scheduler lease: one row, held by the one active `runscheduler`, so jobs never run twice."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from whalefall.formats import local_datetime
from whalefall.lease_fields import holder_process_key_field, holder_started_at_field
from whalefall.leases import Holder, Lease, database_now

LEASE_NAME = "scheduler"


class SchedulerLease(models.Model):
    """Who runs the jobs: a lease (`whalefall.leases`) the holder renews from its main loop.

    A standby claims it only once `expires_at` has passed, so a killed scheduler is replaced within
    one lease period. Releasing keeps the row (vacated), so the last holder and its last heartbeat
    stay visible on the status page.
    """

    name = models.CharField(max_length=32, primary_key=True, default=LEASE_NAME)
    owner = models.CharField(max_length=200, blank=True, default="", help_text=_("host-pid"))
    token = models.CharField(max_length=64, blank=True, default="")
    host = models.CharField(max_length=150, blank=True, default="")
    pid = models.PositiveIntegerField(null=True, blank=True)
    process_started_at = holder_started_at_field()
    process_key = holder_process_key_field()
    acquired_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("scheduler lease")

    def __str__(self) -> str:
        return gettext("%(owner)s until %(expires)s") % {
            "owner": self.owner or gettext("nobody"),
            "expires": local_datetime(self.expires_at),
        }

    @property
    def alive(self) -> bool:
        return bool(self.token) and self.expires_at > database_now(SchedulerLease)

    @classmethod
    def lease(cls) -> Lease[SchedulerLease]:
        return Lease(
            cls,
            LEASE_NAME,
            key_field="name",
            acquired_field="acquired_at",
            heartbeat_field="heartbeat_at",
            keep_row=True,
        )

    @classmethod
    def current(cls) -> SchedulerLease | None:
        return cls.lease().current()

    @classmethod
    def claim(
        cls,
        *,
        owner: str,
        token: str,
        host: str,
        pid: int,
        seconds: int,
        started_at: datetime | None = None,
        process_key: str = "",
    ) -> bool:
        """Take the lease if it is free, expired or already ours; True when this holder now has it."""
        holder = Holder(
            host=host, pid=pid, started_at=started_at, token=token, owner=owner, process_key=process_key
        )
        return cls.lease().claim(holder, seconds, steal_expired=True)

    @classmethod
    def renew(cls, *, token: str, seconds: int) -> bool:
        """Heartbeat; False when the lease was lost (expired and claimed by another process)."""
        return cls.lease().renew(token, seconds)

    @classmethod
    def release(cls, *, token: str) -> None:
        """Let a standby take over at once instead of waiting for the expiry."""
        cls.lease().release(token)
