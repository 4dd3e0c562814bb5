from scheduling.models.commands import CommandStatus, SchedulerCommand
from scheduling.models.jobs import JobConfig, JobConfigQuerySet, JobState
from scheduling.models.lease import SchedulerLease

__all__ = [
    "CommandStatus",
    "JobConfig",
    "JobConfigQuerySet",
    "JobState",
    "SchedulerCommand",
    "SchedulerLease",
]
