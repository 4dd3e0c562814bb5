"""Database sync lock, one row per category: one run at a time across hosts."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from whalefall.formats import local_datetime


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
    process_started_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Start time of the holder process.")
    )
    process_key = models.CharField(
        max_length=120,
        blank=True,
        default="",
        db_default="",  # a process of the version before writes rows without it
        help_text=_(
            "The kernel's boot id, pid namespace and start tick of the holder process (pid reuse check)."
        ),
    )
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
