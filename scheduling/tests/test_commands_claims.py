"""Admin commands and run-now requests as one scheduler claims and hands them over, with the
scheduler's thread played by the test: how many a round takes, what a claim lost to another
scheduler or a failure does to the rest of the round, a slow or refused hand-over, and the
requests a stopping scheduler abandons."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from apscheduler import events
from apscheduler.events import JobSubmissionEvent
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from django.utils import timezone

from scheduling import job_configs
from scheduling.jobstore import ADHOC_PREFIX, JOBS_STORE, RUN_NOW_STORE
from scheduling.models import CommandStatus, JobConfig, SchedulerCommand
from scheduling.service import commands
from scheduling.service.commands import RunRequests, asked_by
from scheduling.tests.conftest import SAMPLE, SPECS
from whalefall.models import TaskRequest, TaskRequestStatus

pytestmark = pytest.mark.django_db

RECORD = f"{SAMPLE}.record_session"


def _events(caplog: Any, name: str) -> list[dict[str, Any]]:
    return [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == name]


def _command(n: int) -> SchedulerCommand:
    command = SchedulerCommand.objects.create(action="reload", requested_by="admin")
    SchedulerCommand.objects.filter(pk=command.pk).update(created_at=timezone.now() + timedelta(seconds=n))
    return command


def _request(n: int, task: str = RECORD, **fields: Any) -> TaskRequest:
    """The n-th request in the queue (claimed in that order)."""
    request = TaskRequest.objects.create(task=task, requested_by="alice", **fields)
    TaskRequest.objects.filter(pk=request.pk).update(requested_at=timezone.now() - timedelta(seconds=100 - n))
    request.refresh_from_db()
    return request


def _status(request: TaskRequest) -> str:
    request.refresh_from_db()
    return request.status


# --- admin commands ---------------------------------------------------------------------------
def test_a_round_applies_at_most_50_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands.job_configs, "reconcile_all", lambda s: "ok")
    SchedulerCommand.objects.bulk_create(
        SchedulerCommand(action="reload", requested_by="admin") for _ in range(51)
    )
    assert commands.apply_commands(object(), "host-1") == 50
    assert SchedulerCommand.objects.filter(status=CommandStatus.PENDING).count() == 1


def test_a_command_another_scheduler_claimed_is_skipped_and_the_next_applied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second, third = _command(1), _command(2), _command(3)

    def reconcile_all(scheduler: Any) -> str:
        # while this scheduler applies the first, another one claims the second
        SchedulerCommand.objects.filter(pk=second.pk).update(
            status=CommandStatus.APPLIED, applied_by="host-2"
        )
        return "ok"

    monkeypatch.setattr(commands.job_configs, "reconcile_all", reconcile_all)
    assert commands.apply_commands(object(), "host-1") == 2
    applied_by = dict(SchedulerCommand.objects.values_list("pk", "applied_by"))
    assert applied_by == {first.pk: "host-1", second.pk: "host-2", third.pk: "host-1"}


def test_a_failing_command_is_marked_failed_with_its_error_and_the_next_applied(
    monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    first, second = _command(1), _command(2)
    outcomes: Iterator[Exception | str] = iter([ValueError("bad trigger"), "2 jobs"])

    def reconcile_all(scheduler: Any) -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return str(outcome)

    monkeypatch.setattr(commands.job_configs, "reconcile_all", reconcile_all)
    assert commands.apply_commands(object(), "host-1") == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.message) == (CommandStatus.FAILED, "bad trigger")
    assert (second.status, second.message) == (CommandStatus.APPLIED, "2 jobs")
    assert len(_events(caplog, "scheduler_command_failed")) == 1


def test_a_long_result_is_cut_to_2000_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    result = "".join(f"{i:04d}" for i in range(750))  # 3000 characters, none alike at the cut
    monkeypatch.setattr(commands.job_configs, "reconcile_all", lambda s: result)
    command = _command(1)
    commands.apply_commands(BackgroundScheduler(), "host-1")
    command.refresh_from_db()
    assert command.message == result[:2000]


# --- run-now requests: claiming ---------------------------------------------------------------
def test_a_round_takes_at_most_20_requests() -> None:
    for n in range(21):
        _request(n, job_id="no_such_job")
    assert RunRequests(BackgroundScheduler(), "host-1/abc", 1).process() == 0
    statuses = list(TaskRequest.objects.values_list("status", flat=True))
    assert sorted(statuses).count(TaskRequestStatus.FAILED) == 20
    assert statuses.count(TaskRequestStatus.PENDING) == 1


def test_expired_requests_are_logged_once_counted(caplog: Any) -> None:
    requests = RunRequests(BackgroundScheduler(), "host-1/abc", 1)
    requests.process()
    assert _events(caplog, "task_requests_expired") == []  # nothing expired: nothing said
    for n in range(2):
        _request(n, expires_at=timezone.now() - timedelta(seconds=1))
    requests.process()
    assert [e["count"] for e in _events(caplog, "task_requests_expired")] == [2]


def test_a_request_another_scheduler_claimed_is_skipped_and_the_next_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second, third = (_request(n, task="scheduling.gone.task") for n in range(3))

    def unavailable(task: str) -> str:
        # while this scheduler starts the first, another one claims the second
        TaskRequest.objects.filter(pk=second.pk).update(
            status=TaskRequestStatus.RUNNING, claimed_by="host-2/x"
        )
        return "gone"

    monkeypatch.setattr(commands, "unavailable_reason", unavailable)
    RunRequests(BackgroundScheduler(), "host-1/abc", 1).process()
    claimed = dict(TaskRequest.objects.values_list("pk", "claimed_by"))
    assert claimed == {first.pk: "host-1/abc", second.pk: "host-2/x", third.pk: "host-1/abc"}
    assert (_status(first), _status(second), _status(third)) == ("failed", "running", "failed")


def test_a_request_that_cannot_start_fails_and_the_next_is_taken() -> None:
    broken = _request(1, kwargs=["not", "a", "mapping"])
    unknown = _request(2, job_id="no_such_job")
    RunRequests(BackgroundScheduler(), "host-1/abc", 1).process()
    broken.refresh_from_db()
    assert broken.status == "failed" and broken.error.startswith("could not start:")
    unknown.refresh_from_db()
    assert (unknown.status, unknown.error) == ("failed", "unknown job 'no_such_job'")


def test_requests_ending_at_once_do_not_stop_the_round() -> None:
    unavailable = [_request(n, task="scheduling.gone.task") for n in range(3)]
    RunRequests(BackgroundScheduler(), "host-1/abc", 1).process()
    assert [_status(r) for r in unavailable] == ["failed"] * 3


# --- run-now requests: the hand-over ----------------------------------------------------------
@pytest.fixture
def paused() -> Iterator[BackgroundScheduler]:
    """A scheduler whose thread never hands anything over: the test does, by sending events."""
    scheduler = BackgroundScheduler(jobstores={RUN_NOW_STORE: MemoryJobStore()})
    scheduler.start(paused=True)
    yield scheduler
    scheduler.shutdown(wait=False)


def _event(code: int, job_id: str, store: str = RUN_NOW_STORE) -> JobSubmissionEvent:
    return JobSubmissionEvent(code, job_id, store, [timezone.now()])


def _handing_over(requests: RunRequests, scheduler: BackgroundScheduler, code: int) -> None:
    """The scheduler's thread answers each new run-now job at once with `code`."""
    add_job = scheduler.add_job

    def add_and_hand_over(*args: Any, **kwargs: Any) -> Any:
        job = add_job(*args, **kwargs)
        scheduler.remove_job(job.id, jobstore=RUN_NOW_STORE)
        requests._handed_over(_event(code, job.id))
        return job

    scheduler.add_job = add_and_hand_over


def test_a_request_handed_to_the_executor_counts_as_started(paused: BackgroundScheduler) -> None:
    requests = RunRequests(paused, "host-1/abc", 5)
    _handing_over(requests, paused, events.EVENT_JOB_SUBMITTED)
    request = _request(1)
    assert requests.process() == 1
    assert _status(request) == "running"
    assert requests._waiting == {}


def test_a_request_the_executor_refuses_is_refused_and_not_counted(paused: BackgroundScheduler) -> None:
    job_configs.sync_defaults(SPECS)
    requests = RunRequests(paused, "host-1/abc", 5)
    _handing_over(requests, paused, events.EVENT_JOB_MAX_INSTANCES)
    request = JobConfig.objects.get(pk="record_session_hourly").request_run(by="alice")
    assert requests.process() == 0
    request.refresh_from_db()
    assert request.status == "refused" and "record_session_hourly is already running" in request.error
    assert requests._waiting == {}


def test_a_slow_hand_over_ends_the_round_and_is_recorded_when_it_comes(
    paused: BackgroundScheduler, caplog: Any
) -> None:
    requests = RunRequests(paused, "host-1/abc", 0.05)
    first, second = _request(1), _request(2)
    assert requests.process() == 0
    assert (_status(first), _status(second)) == ("running", "pending")  # the next round takes it
    assert [e["request_id"] for e in _events(caplog, "task_request_handoff_slow")] == [first.pk]
    requests._handed_over(_event(events.EVENT_JOB_MAX_INSTANCES, f"{ADHOC_PREFIX}{first.pk}"))
    assert _status(first) == "refused"
    assert requests._waiting == {}


def test_a_run_now_job_is_its_stored_jobs_namesake_and_runs_however_late(paused: BackgroundScheduler) -> None:
    job_configs.sync_defaults(SPECS)
    config = JobConfig.objects.get(pk="record_session_hourly")
    config.kwargs = {"instance_ids": [1], "note": "from the job"}
    config.save()
    request = _request(1, job_id=config.pk, kwargs={"instance_ids": [2]})  # the request's own win
    RunRequests(paused, "host-1/abc", 0.01).process()
    (job,) = paused.get_jobs(jobstore=RUN_NOW_STORE)
    assert (job.id, job.name, job.executor) == ("record_session_hourly", config.name, "default")
    assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, None)
    assert job.args == (RECORD, "record_session_hourly")
    assert job.kwargs == {
        "task_kwargs": {
            "instance_ids": [2],
            "note": "from the job",
            "trigger": "manual",
            "created_by": "alice",
        },
        "request_id": request.pk,
    }


def _first_run_now(paused: BackgroundScheduler) -> tuple[RunRequests, JobConfig, Any]:
    """The default jobs stored, and alice's run-now of the hourly job waiting to be processed."""
    job_configs.sync_defaults(SPECS)
    config = JobConfig.objects.get(pk="record_session_hourly")
    return RunRequests(paused, "host-1/abc", 0.01), config, config.request_run(by="alice")


def test_an_ad_hoc_run_now_job_is_named_after_its_task(paused: BackgroundScheduler) -> None:
    request = _request(1, kwargs={"trigger": "scheduled"})
    RunRequests(paused, "host-1/abc", 0.01).process()
    (job,) = paused.get_jobs(jobstore=RUN_NOW_STORE)
    assert (job.id, job.name) == (f"{ADHOC_PREFIX}{request.pk}", RECORD)
    assert job.kwargs["task_kwargs"] == {"trigger": "scheduled", "created_by": "alice"}


def test_a_second_run_now_of_a_job_still_waiting_for_the_executor_is_refused(
    paused: BackgroundScheduler,
) -> None:
    requests, config, first = _first_run_now(paused)
    requests.process()  # handed to the scheduler, which has not got to it yet
    second = config.request_run(by="bob")
    requests.process()
    second.refresh_from_db()
    assert second.status == "refused" and "already running" in second.error
    # the first one is still awaited: the executor's answer lands on it
    requests._handed_over(_event(events.EVENT_JOB_MAX_INSTANCES, "record_session_hourly"))
    assert _status(first) == "refused"
    assert requests._waiting == {}


def test_a_request_the_scheduler_fails_to_add_is_failed_and_forgotten(
    paused: BackgroundScheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("store down")

    monkeypatch.setattr(paused, "add_job", broken)
    requests = RunRequests(paused, "host-1/abc", 0.01)
    request = _request(1)
    assert requests.process() == 0
    request.refresh_from_db()
    assert (request.status, request.error) == ("failed", "could not start: store down")
    assert requests._waiting == {}


def test_hand_overs_of_one_job_are_answered_in_order_and_other_stores_ignored(
    paused: BackgroundScheduler,
) -> None:
    requests, config, first = _first_run_now(paused)
    requests.process()
    paused.remove_job("record_session_hourly", jobstore=RUN_NOW_STORE)  # taken, not yet answered
    second = config.request_run(by="bob")
    requests.process()
    assert [h.request_id for h in requests._waiting["record_session_hourly"]] == [first.pk, second.pk]
    requests._handed_over(_event(events.EVENT_JOB_MAX_INSTANCES, "record_session_hourly", JOBS_STORE))
    requests._handed_over(_event(events.EVENT_JOB_MAX_INSTANCES, "some_other_job"))
    assert (_status(first), _status(second)) == ("running", "running")  # not theirs
    requests._handed_over(_event(events.EVENT_JOB_MAX_INSTANCES, "record_session_hourly"))
    assert (_status(first), _status(second)) == ("refused", "running")
    (waiting,) = requests._waiting["record_session_hourly"]
    requests._handed_over(_event(events.EVENT_JOB_SUBMITTED, "record_session_hourly"))
    assert waiting.submitted and waiting.done.is_set() and _status(second) == "running"
    assert requests._waiting == {}


# --- a stopping scheduler ---------------------------------------------------------------------
def test_abandon_fails_the_requests_still_waiting_for_the_executor(
    paused: BackgroundScheduler, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    requests = RunRequests(paused, "host-1/abc", 0.01)
    taken, waiting = _request(1), _request(2)
    requests.process()
    requests.process()  # one per round: each hand-over times out
    assert (_status(taken), _status(waiting)) == ("running", "running")
    remove_job = paused.remove_job

    def remove(job_id: str, jobstore: str | None = None) -> None:
        if job_id == f"{ADHOC_PREFIX}{taken.pk}":
            raise JobLookupError(job_id)  # the executor took it meanwhile
        remove_job(job_id, jobstore)

    monkeypatch.setattr(paused, "remove_job", remove)
    assert requests.abandon() == 1
    taken.refresh_from_db()
    waiting.refresh_from_db()
    assert taken.status == "running"  # it records its own outcome
    assert (waiting.status, waiting.error) == ("failed", str(commands.NOT_STARTED))
    assert waiting.finished_at is not None
    assert [e["request_ids"] for e in _events(caplog, "task_requests_abandoned")] == [[waiting.pk]]


def test_abandon_with_nothing_waiting_does_nothing(paused: BackgroundScheduler, caplog: Any) -> None:
    assert RunRequests(paused, "host-1/abc", 0.01).abandon() == 0
    assert _events(caplog, "task_requests_abandoned") == []


# --- who asked --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("task", "kwargs", "requested_by", "expected"),
    [
        (RECORD, {}, "bob", {"trigger": "manual", "created_by": "bob"}),
        (RECORD, {"trigger": "scheduled"}, "bob", {"created_by": "bob"}),
        (RECORD, {"created_by": "carol"}, "bob", {"trigger": "manual"}),
        (RECORD, {}, "", {"trigger": "manual"}),
        (f"{SAMPLE}.wait_for_file", {}, "bob", {}),  # takes neither
        (f"{SAMPLE}.boom", {}, "bob", {}),  # **kwargs only: not a trigger parameter
        ("scheduling.gone.task", {}, "bob", {}),  # unavailable: _submit says so
    ],
)
def test_a_run_is_recorded_as_manual_by_the_asker_where_the_task_takes_it(
    task: str, kwargs: dict[str, Any], requested_by: str, expected: dict[str, str]
) -> None:
    request = TaskRequest(task=task, kwargs=kwargs, requested_by=requested_by)
    assert asked_by(task, request) == expected
