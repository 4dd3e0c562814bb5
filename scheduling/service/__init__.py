"""The `runscheduler` process, one module per responsibility.

- `engine`: APScheduler as WhaleFall runs it (job store, executor, event log);
- `leasekeeper`: the scheduler lease (claim, heartbeat, release) and the standby message;
- `reconcile`: at activation, the jobs in the database and YAML made into scheduled jobs;
- `commands`: what the admin asks of the running scheduler (job changes, run-now requests);
- `loop`: the main loop tying them together, and the bounded stop.
"""

from scheduling.service.engine import EXECUTOR_THREADS, JOB_DEFAULTS, build_scheduler
from scheduling.service.loop import SchedulerService

__all__ = ["EXECUTOR_THREADS", "JOB_DEFAULTS", "SchedulerService", "build_scheduler"]
