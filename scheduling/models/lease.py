"""The scheduler lease: one row, held by the one active `runscheduler`, so jobs never run twice."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

LEASE_NAME = "scheduler"


class SchedulerLease(models.Model):
    """Who runs the jobs. Claimed and renewed with conditional UPDATEs, never with a read-then-write.

    A holder renews `expires_at` from its main loop; a standby claims the row only once
    `expires_at` has passed, so a killed scheduler is replaced within one lease period.
    """

    name = models.CharField(max_length=32, primary_key=True, default=LEASE_NAME)
    owner = models.CharField(max_length=200, blank=True, default="", help_text="host-pid")
    token = models.CharField(max_length=64, blank=True, default="")
    host = models.CharField(max_length=150, blank=True, default="")
    pid = models.PositiveIntegerField(null=True, blank=True)
    acquired_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "scheduler lease"

    def __str__(self) -> str:
        return f"{self.owner or 'nobody'} until {self.expires_at:%Y-%m-%d %H:%M:%S}"

    @property
    def alive(self) -> bool:
        return bool(self.token) and self.expires_at > timezone.now()

    @classmethod
    def current(cls) -> SchedulerLease | None:
        return cls.objects.filter(name=LEASE_NAME).first()

    @classmethod
    def ensure_row(cls) -> None:
        if cls.objects.filter(name=LEASE_NAME).exists():
            return
        try:
            with transaction.atomic():
                cls.objects.create(name=LEASE_NAME, expires_at=timezone.now() - timedelta(seconds=1))
        except IntegrityError:
            pass  # another process created it first

    @classmethod
    def claim(cls, *, owner: str, token: str, host: str, pid: int, seconds: int) -> bool:
        """Take the lease if it is free or expired; True when this process now holds it."""
        cls.ensure_row()
        now = timezone.now()
        taken = (
            cls.objects.filter(name=LEASE_NAME)
            .filter(Q(expires_at__lt=now) | Q(token=token))
            .update(
                owner=owner,
                token=token,
                host=host,
                pid=pid,
                acquired_at=now,
                heartbeat_at=now,
                expires_at=now + timedelta(seconds=seconds),
            )
        )
        return taken == 1

    @classmethod
    def renew(cls, *, token: str, seconds: int) -> bool:
        """Heartbeat; False when the lease was lost (expired and claimed by another process)."""
        now = timezone.now()
        return bool(
            cls.objects.filter(name=LEASE_NAME, token=token).update(
                heartbeat_at=now, expires_at=now + timedelta(seconds=seconds)
            )
        )

    @classmethod
    def release(cls, *, token: str) -> None:
        """Let a standby take over at once instead of waiting for the expiry."""
        cls.objects.filter(name=LEASE_NAME, token=token).update(expires_at=timezone.now(), token="")
