"""Admin for scheduled jobs, their runs and the scheduler's command queue."""

from scheduling.admin import jobs, runs  # noqa: F401
