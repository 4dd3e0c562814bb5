"""The holder columns that every lease table declares alike (`whalefall.leases` writes them)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


def holder_started_at_field() -> models.DateTimeField:
    """When the holder process started, for people to read (the clock moves it: never compared)."""
    return models.DateTimeField(null=True, blank=True, help_text=_("Start time of the holder process."))


def holder_process_key_field() -> models.CharField:
    """The kernel's key of the holder process (`whalefall.sync.process.process_key`)."""
    return models.CharField(
        max_length=120,
        blank=True,
        default="",
        db_default="",  # a process of the version before writes rows without it
        help_text=_(
            "The kernel's boot id, pid namespace and start tick of the holder process (pid reuse check)."
        ),
    )
