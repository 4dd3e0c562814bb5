"""Old job executions and applied scheduler commands go with the weekly history cleanup."""

from __future__ import annotations

from whalefall import retention


def delete_old_executions() -> int:
    from django_apscheduler.models import DjangoJobExecution

    from scheduling.models import JobRunSession

    JobRunSession.objects.filter(run_time__lt=retention.cutoff()).delete()
    deleted, _ = DjangoJobExecution.objects.filter(run_time__lt=retention.cutoff()).delete()
    return deleted


def delete_old_commands() -> int:
    from scheduling.models import CommandStatus, SchedulerCommand

    old = SchedulerCommand.objects.filter(created_at__lt=retention.cutoff())
    deleted, _ = old.exclude(status=CommandStatus.PENDING).delete()
    return deleted


def register_cleaners() -> None:
    retention.register("scheduling.executions", delete_old_executions)
    retention.register("scheduling.commands", delete_old_commands)
