"""Database sync lock, one row per category: one run at a time across hosts."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from whalefall.formats import local_datetime
from whalefall.lease_fields import holder_process_key_field, holder_started_at_field


class SyncLockQuerySet(models.QuerySet["SyncLock"]):
    def expired(self) -> SyncLockQuerySet:
        from whalefall.leases import database_now

        return self.filter(expires_at__lt=database_now(SyncLock))


class SyncLock(models.Model):
    """Held while a run of `category` is alive; renewed by the holder, cleaned once expired."""

    category = models.CharField(max_length=32, unique=True)
    owner = models.CharField(max_length=200, help_text=_("host-pid of the holder"))
    token = models.CharField(max_length=64, help_text=_("Distinguishes holders in one process."))
    # Who holds it, precisely enough to tell at once that a holder on this host died: the pid
    # alone is not, because the system may give it to another process later.
    host = models.CharField(max_length=255, blank=True, default="")
    pid = models.PositiveIntegerField(null=True, blank=True)
    process_started_at = holder_started_at_field()
    process_key = holder_process_key_field()
    locked_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    objects = SyncLockQuerySet.as_manager()

    class Meta:
        ordering = ["category"]

    def __str__(self) -> str:
        return gettext("%(category)s held by %(owner)s since %(since)s") % {
            "category": self.category,
            "owner": self.owner,
            "since": local_datetime(self.locked_at),
        }
