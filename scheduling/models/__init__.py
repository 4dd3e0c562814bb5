from scheduling.models.commands import CommandStatus, SchedulerCommand
from scheduling.models.jobs import JobConfig, JobConfigQuerySet, JobState
from scheduling.models.lease import SchedulerLease
from scheduling.models.runs import JobRunSession

__all__ = [
    "CommandStatus",
    "JobConfig",
    "JobConfigQuerySet",
    "JobRunSession",
    "JobState",
    "SchedulerCommand",
    "SchedulerLease",
]
