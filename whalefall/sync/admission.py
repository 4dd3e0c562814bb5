"""Can a run asked for now actually start soon? Said at once, not discovered later in a log.

Run-now actions and API calls queue a TaskRequest for the scheduler. Before queueing, they ask
`refusal()`: no scheduler alive (the request would only wait and expire), the same task already
queued or running, or its category's sync lock held by a live run. An empty answer means go.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from whalefall import extensions, task_registry
from whalefall.leases import database_now
from whalefall.models import SyncLock, TaskRequest, TaskRequestStatus
from whalefall.sync.locks import LockConflict
from whalefall.sync.process import holder_gone


def category_of(task: str) -> str:
    """The sync category the task (dotted path) runs, "" for a task that is not a sync."""
    declared = task_registry.by_path(task)
    return declared.category if declared else ""


def refusal(task: str, job_id: str = "") -> str:
    """Why a run of `task` (or of job `job_id`) cannot start now; "" when it can be queued."""
    status = extensions.executor_status()
    if status is not None and not status.alive:
        return _("cannot run now: %(reason)s") % {"reason": status.message}
    same = Q(task=task, job_id="") | Q(job_id=job_id) if job_id else Q(task=task)
    queued = (
        TaskRequest.objects.filter(same, status__in=TaskRequestStatus.open())
        .exclude(status=TaskRequestStatus.PENDING, expires_at__lte=timezone.now())
        .order_by("requested_at")
        .first()
    )
    if queued is not None:
        return _(
            "cannot run now: a run of %(task)s is already %(status)s (request %(request)s, asked by %(user)s)"
        ) % {
            "task": job_id or task,
            "status": str(queued.get_status_display()).lower(),
            "request": queued.pk,
            "user": queued.requested_by or "?",
        }
    category = category_of(task)
    lock = SyncLock.objects.filter(category=category).first() if category else None
    if (
        lock is not None
        and lock.expires_at > database_now(SyncLock)
        and not holder_gone(lock.host, lock.pid, lock.process_key)
    ):
        return _("cannot run now: %(reason)s") % {
            "reason": LockConflict(category, lock.owner, lock.locked_at)
        }
    return ""
