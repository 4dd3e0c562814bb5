"""Run-now through APScheduler's public interface: a one-off job in a store of its own, under the
stored job's id, that shares the job's max_instances and leaves the stored job as it was."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_apscheduler.models import DjangoJob, DjangoJobExecution

from scheduling.config import TaskSpec
from scheduling.jobstore import JOBS_STORE, RUN_NOW_STORE, WhaleFallJobStore
from scheduling.models import JobConfig, SchedulerCommand
from scheduling.service.commands import NOT_STARTED
from scheduling.tests.conftest import SAMPLE
from scheduling.tests.helpers import wait_until
from whalefall.dispatch import submit
from whalefall.models import SyncSession, TaskRequest


def _done(request: TaskRequest) -> TaskRequest | None:
    request.refresh_from_db()
    return request if request.status not in ("pending", "running") else None


@pytest.mark.django_db(transaction=True)
def test_a_run_now_leaves_the_stored_job_and_its_next_run_as_they_were(make_service: Any) -> None:
    """An interval job keeps its phase: running it now does not move its next run."""
    every_7min = TaskSpec(
        "record_every_7min", "Record", f"{SAMPLE}.record_session", "interval", {"minutes": 7}
    )
    service = make_service(specs=[every_7min])
    service.step()
    before = DjangoJob.objects.get(pk="record_every_7min").next_run_time
    request = JobConfig.objects.get(pk="record_every_7min").request_run(by="alice")
    assert service.process_requests() == 1
    assert wait_until(lambda: _done(request)).status == "done"
    assert DjangoJob.objects.get(pk="record_every_7min").next_run_time == before
    assert [job.id for job in service.scheduler.get_jobs(jobstore=RUN_NOW_STORE)] == []
    assert service.scheduler.get_job("record_every_7min", jobstore=JOBS_STORE) is not None


@pytest.mark.django_db(transaction=True)
def test_a_scheduled_run_is_skipped_while_a_run_now_of_the_job_runs(
    make_service: Any, tmp_path: Path
) -> None:
    """max_instances=1 holds both ways: the executor counts the run-now with the job's runs."""
    service = make_service()
    service.step()
    config = JobConfig.objects.get(pk="wait_for_file_daily")
    config.kwargs = {"path": str(tmp_path / "go")}
    config.save()
    request = config.request_run(by="alice")
    assert service.process_requests() == 1
    service.scheduler.modify_job("wait_for_file_daily", next_run_time=timezone.now())  # due now
    skipped = wait_until(
        lambda: DjangoJobExecution.objects.filter(
            job_id="wait_for_file_daily", status="Max instances!"
        ).first(),
        what="the scheduled run to be skipped",
    )
    assert "maximum number of running instances" in skipped.exception
    (tmp_path / "go").touch()
    assert wait_until(lambda: _done(request)).status == "done"
    assert DjangoJobExecution.objects.filter(job_id="wait_for_file_daily", status="Executed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_run_nows_waiting_for_the_scheduler_survive_a_reload_and_then_run(make_service: Any) -> None:
    """Reconciling touches only the stored jobs, never a run-now under the same id (here of a
    disabled job, which has no stored job) nor a one-off request; a request the scheduler's thread
    is slow to take is recorded when it does take it."""
    service = make_service()
    service.step()
    JobConfig.objects.filter(pk="record_session_hourly").update(enabled=False)
    SchedulerCommand.queue("reload", "", "bob")
    service.apply_commands()
    assert service.scheduler.get_job("record_session_hourly", jobstore=JOBS_STORE) is None
    service.scheduler.pause()  # the scheduler's thread takes nothing meanwhile
    of_job = JobConfig.objects.get(pk="record_session_hourly").request_run(by="alice")
    one_off = submit(f"{SAMPLE}.record_session", requested_by="carol")
    assert service.process_requests() == 0  # not handed over within the wait: left to the scheduler
    assert service.process_requests() == 0  # (one per round once the scheduler is slow)
    SchedulerCommand.queue("reload", "", "bob")
    assert service.apply_commands() == 1
    waiting = {job.id: job.kwargs["request_id"] for job in service.scheduler.get_jobs(jobstore=RUN_NOW_STORE)}
    assert waiting == {"record_session_hourly": of_job.pk, f"request-{one_off.pk}": one_off.pk}
    assert service.scheduler.get_job("record_session_hourly", jobstore=JOBS_STORE) is None
    assert set(TaskRequest.objects.values_list("status", flat=True)) == {"running"}
    service.scheduler.resume()
    assert wait_until(lambda: _done(of_job)).status == "done"
    assert wait_until(lambda: _done(one_off)).status == "done"


@pytest.mark.django_db(transaction=True)
def test_a_second_run_now_while_the_first_waits_is_refused(make_service: Any) -> None:
    service = make_service()
    service.step()
    service.scheduler.pause()
    config = JobConfig.objects.get(pk="record_session_hourly")
    first = config.request_run(by="alice")
    service.process_requests()
    second = config.request_run(by="bob")
    service.process_requests()
    second.refresh_from_db()
    assert second.status == "refused" and "already running (max_instances=1)" in second.error
    service.scheduler.resume()
    assert wait_until(lambda: _done(first)).status == "done"


@pytest.mark.django_db(transaction=True)
def test_the_job_store_leaves_no_connection_open_in_the_scheduler_thread() -> None:
    store = WhaleFallJobStore()  # built in this thread: its connection is left to this thread's loop
    open_after: list[bool] = []

    def scheduler_thread() -> None:
        DjangoJob.objects.exists()  # a connection is open in this thread...
        store.lookup_job("nothing")
        open_after.append(connection.connection is not None)  # ...and closed by the store

    thread = threading.Thread(target=scheduler_thread)
    thread.start()
    thread.join(10)
    assert open_after == [False]
    store.lookup_job("nothing")
    assert connection.connection is not None, "the building thread keeps its connection"


def test_no_private_apscheduler_attribute_is_used() -> None:
    """An APScheduler upgrade must not break the scheduler silently: only its public API is used."""
    private = re.compile(
        r"\._(" + "|".join(["process_jobs", "main_loop", "lookup_executor", "dispatch_event"]) + r")\b"
    )
    root = Path(settings.BASE_DIR)
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for path in root.rglob("*.py")
        if not {".venv", ".git", "node_modules"} & set(path.relative_to(root).parts)
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if private.search(line)
    ]
    assert offenders == []


@pytest.mark.django_db(transaction=True)
def test_a_run_now_still_waiting_when_the_scheduler_stops_ends_failed_not_running(make_service: Any) -> None:
    service = make_service()
    service.step()
    service.scheduler.pause()
    request = JobConfig.objects.get(pk="record_session_hourly").request_run(by="alice")
    service.process_requests()
    service.shutdown()
    request.refresh_from_db()
    assert (request.status, request.error) == ("failed", str(NOT_STARTED))
    assert not SyncSession.objects.exists()
