"""The stored jobs: default job specs -> JobConfig rows -> APScheduler jobs.

`sync_defaults` (at scheduler start) adds missing default jobs and never overwrites a trigger an
operator edited; `reload_from_yaml` (explicit admin action) resets built-in jobs to the file.
`reconcile` makes the in-memory scheduler match one JobConfig; it is what every admin change
triggers through a SchedulerCommand. It touches the stored jobs only, never a run-now request
waiting in the scheduler under the same job id.
"""

from __future__ import annotations

from collections.abc import Iterable

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import BaseScheduler
from django.db import transaction

from scheduling.config import TaskSpec
from scheduling.job_runner import run_job
from scheduling.jobstore import JOBS_STORE
from scheduling.models import JobConfig, JobState, SchedulerCommand
from scheduling.triggers import TriggerError, build_trigger
from whalefall.structured_logging import get_logger

logger = get_logger(__name__)


def _spec_fields(spec: TaskSpec) -> dict[str, object]:
    return {
        "name": spec.name,
        "description": spec.description,
        "function": spec.function,
        "kwargs": spec.kwargs,
    }


def sync_defaults(specs: Iterable[TaskSpec]) -> list[str]:
    """Create missing default jobs; refresh built-ins without touching edited triggers.

    Returns the ids of the jobs created. Enabled/paused flags set in the admin are kept.
    """
    created: list[str] = []
    with transaction.atomic():
        existing = {
            c.id: c for c in JobConfig.objects.select_for_update().filter(pk__in=[s.id for s in specs])
        }
        for spec in specs:
            config = existing.get(spec.id)
            if config is None:
                JobConfig.objects.create(
                    id=spec.id,
                    trigger_type=spec.trigger_type,
                    trigger_params=spec.trigger_params,
                    enabled=spec.enabled,
                    builtin=True,
                    **_spec_fields(spec),
                )
                created.append(spec.id)
                continue
            values = {**_spec_fields(spec), "builtin": True}
            if not config.customized:
                values.update(trigger_type=spec.trigger_type, trigger_params=spec.trigger_params)
            changed = [k for k, v in values.items() if getattr(config, k) != v]
            for key in changed:
                setattr(config, key, values[key])
            if changed:
                config.save(update_fields=[*changed, "updated_at"])
    if created:
        logger.info("scheduler_default_jobs_added", job_ids=created)
    return created


def reload_from_yaml(specs: Iterable[TaskSpec], by: str = "") -> int:
    """Reset built-in jobs to the file (trigger, enabled, not paused); custom jobs are kept."""
    specs = list(specs)
    ids = [s.id for s in specs]
    with transaction.atomic():
        JobConfig.objects.filter(builtin=True).exclude(pk__in=ids).update(builtin=False)
        for spec in specs:
            JobConfig.objects.update_or_create(
                pk=spec.id,
                defaults={
                    **_spec_fields(spec),
                    "trigger_type": spec.trigger_type,
                    "trigger_params": spec.trigger_params,
                    "enabled": spec.enabled,
                    "paused": False,
                    "builtin": True,
                    "customized": False,
                },
            )
        SchedulerCommand.queue("reload", "", by)
    logger.info("scheduler_jobs_reloaded", count=len(specs), requested_by=by)
    return len(specs)


def _remove(scheduler: BaseScheduler, job_id: str) -> None:
    try:
        scheduler.remove_job(job_id, jobstore=JOBS_STORE)
    except JobLookupError:
        pass


def reconcile(scheduler: BaseScheduler, config: JobConfig) -> str:
    """Make the scheduler's job match `config`; returns the resulting state."""
    state = config.state
    if state in (JobState.DISABLED, JobState.UNAVAILABLE):
        _remove(scheduler, config.id)
        if state == JobState.UNAVAILABLE:
            logger.warning("scheduler_job_unavailable", job_id=config.id, reason=config.unavailable_reason)
        JobConfig.objects.filter(pk=config.pk).update(applied_fingerprint="")
        return state
    try:
        trigger = build_trigger(config.trigger_type, config.trigger_params)
    except TriggerError as exc:
        _remove(scheduler, config.id)
        logger.error("scheduler_job_invalid_trigger", job_id=config.id, error=str(exc))
        return "invalid"
    fingerprint = config.fingerprint()
    job = scheduler.get_job(config.id, jobstore=JOBS_STORE)
    job_args = {
        "func": run_job,
        "args": (config.function, config.id),
        "kwargs": {"task_kwargs": config.kwargs},
        "name": config.name,
    }
    if job is None:
        scheduler.add_job(
            trigger=trigger, id=config.id, jobstore=JOBS_STORE, replace_existing=True, **job_args
        )
    elif fingerprint != config.applied_fingerprint:
        scheduler.modify_job(config.id, jobstore=JOBS_STORE, **job_args)
        scheduler.reschedule_job(config.id, jobstore=JOBS_STORE, trigger=trigger)
    job = scheduler.get_job(config.id, jobstore=JOBS_STORE)
    if job is not None and config.paused and job.next_run_time is not None:
        scheduler.pause_job(config.id, jobstore=JOBS_STORE)
    elif job is not None and not config.paused and job.next_run_time is None:
        scheduler.resume_job(config.id, jobstore=JOBS_STORE)
    if fingerprint != config.applied_fingerprint:
        JobConfig.objects.filter(pk=config.pk).update(applied_fingerprint=fingerprint)
    return state


def reconcile_job(scheduler: BaseScheduler, job_id: str) -> str:
    config = JobConfig.objects.filter(pk=job_id).first()
    if config is None:
        _remove(scheduler, job_id)
        return "deleted"
    return reconcile(scheduler, config)


def reconcile_all(scheduler: BaseScheduler) -> dict[str, str]:
    """Apply every JobConfig and drop stored jobs that no longer have one."""
    states = {config.id: reconcile(scheduler, config) for config in JobConfig.objects.all()}
    for job in scheduler.get_jobs(jobstore=JOBS_STORE):
        if job.id not in states:
            _remove(scheduler, job.id)
            logger.info("scheduler_orphan_job_removed", job_id=job.id)
    return states
