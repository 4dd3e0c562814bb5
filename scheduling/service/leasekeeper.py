"""The scheduler lease as the running process keeps it: claim (or say once that we stand by),
renew every third of the lease, release at the end."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.utils import timezone
from django.utils.translation import gettext as _

from scheduling.models import SchedulerLease
from whalefall.leases import Holder, renewal_interval
from whalefall.structured_logging import get_logger

logger = get_logger(__name__)


class LeaseKeeper:
    """This process's hold on the scheduler lease (`whalefall.leases` underneath)."""

    def __init__(self, seconds: int, out: Callable[[str], None]) -> None:
        self.seconds, self.out = seconds, out
        self.holder = Holder.this_process()
        self.renewed_at = 0.0  # monotonic time of the last claim or renewal
        self._standby_said = False

    def claim(self) -> bool:
        """Take the lease if it is free or expired; otherwise say once who holds it."""
        if SchedulerLease.lease().claim(self.holder, self.seconds):
            self.renewed_at = time.monotonic()
            return True
        if not self._standby_said:
            lease = SchedulerLease.current()
            holder = (
                _("%(owner)s, last heartbeat %(time)s")
                % {"owner": lease.owner, "time": f"{timezone.localtime(lease.heartbeat_at):%H:%M:%S}"}
                if lease and lease.heartbeat_at
                else _("another process")
            )
            self.out(
                _("Standby: the scheduler lease is held by %(holder)s; taking over if it expires.")
                % {"holder": holder}
            )
            logger.info("scheduler_standby", holder=lease.owner if lease else "")
            self._standby_said = True
        return False

    def renew(self) -> bool:
        """Renew every third of the lease; False once the lease was lost (taken by another process)."""
        if time.monotonic() - self.renewed_at < renewal_interval(self.seconds):
            return True
        if SchedulerLease.renew(token=self.holder.token, seconds=self.seconds):
            self.renewed_at = time.monotonic()
            return True
        logger.error("scheduler_lease_lost", owner=self.holder.owner)
        self._standby_said = False  # standing by again: say so once more
        return False

    def release(self) -> None:
        """Let a standby take over at once instead of waiting for the expiry."""
        SchedulerLease.release(token=self.holder.token)
