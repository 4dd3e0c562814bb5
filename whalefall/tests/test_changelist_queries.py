"""Every admin changelist of the project renders in the same number of queries with 10 rows as
with 10,000 rows, and in a handful of queries.

The list of changelists is the admin site's registry, so a model registered later is covered the
day it is registered: rows of a model without a builder below are made by `generic_rows` from
the model's own fields (and if that cannot fill it, the test says to write a builder). Builders
fill the relations a list shows or will likely show (an instance's accounts and sync records, an
account's snapshot and privileges, a database's sizes, a job's executions...), so a column that
reads one of them row by row shows up as extra queries at 10,000 rows.
"""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from itertools import cycle, islice
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.db import connection, models, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from django.utils import timezone
from django_apscheduler.models import DjangoJob, DjangoJobExecution

from accounts_sync.models import Account, AccountChange, AccountPrivilege, ExclusionRule, PermissionSnapshot
from capacity.models import (
    DatabaseSizeAggregation,
    DatabaseSizeStat,
    InstanceCapacity,
    InstanceDatabase,
    InstanceSizeAggregation,
    InstanceSizeStat,
)
from scheduling.models import JobConfig, JobRunSession, SchedulerCommand
from whalefall import crypto
from whalefall.choices import DbType, RecordStatus, SessionStatus, SyncCategory, SyncTrigger
from whalefall.models import (
    AlertChannel,
    AlertDelivery,
    AlertRule,
    Credential,
    Instance,
    SyncInstanceRecord,
    SyncLock,
    SyncSession,
    TaskRequest,
)

SMALL, LARGE = 10, 10_000
#: The most queries a changelist may take: session, user, counts, the page, a filter's choices and
#: a prefetch or two (the lists take 5 to 9 today).
MAX_QUERIES = 12
#: Rows a builder spreads its rows over (instances, sessions, databases... of the fleet): few, so
#: that the lists of these models stay well under a page with the small data set.
PARENTS = 5
GENERIC_PARENTS_FROM = 900_000
PROJECT_APPS = {"whalefall", "accounts_sync", "capacity", "scheduling"}


def _bulk(model: type[models.Model], rows: Iterator[models.Model] | list[models.Model]) -> list[Any]:
    return model.objects.bulk_create(list(rows), batch_size=2000)


class Fleet:
    """The parents rows of one test share: a few instances, sessions, databases, jobs..."""

    def __init__(self) -> None:
        self.now = timezone.now()
        self.today = timezone.localdate()
        self.secret = crypto.encrypt("s3cret-pass")
        self.generic_parents: dict[type[models.Model], list[Any]] = {}

    @cached_property
    def credential(self) -> Credential:
        return Credential.objects.create(name="fleet", username="monitor", password_encrypted=self.secret)

    def new_instances(
        self, start: int, count: int, prefix: str = "inst", records: bool = True
    ) -> list[Instance]:
        """Instances with a credential and (`records`) the last account sync's record of each."""
        kinds = cycle(DbType.values)
        created = _bulk(
            Instance,
            (
                Instance(
                    name=f"{prefix}-{i:05d}",
                    db_type=next(kinds),
                    host=f"10.0.{i // 250}.{i % 250}",
                    credential=self.credential,
                    last_check_at=self.now,
                    last_check_ok=i % 5 != 0,
                    last_check_message="" if i % 5 else "connection refused",
                )
                for i in range(start, start + count)
            ),
        )
        if records:
            _bulk(
                SyncInstanceRecord,
                (
                    SyncInstanceRecord(
                        session=self.account_sync,
                        instance=inst,
                        instance_name=inst.name,
                        status=RecordStatus.FAILED if n % 5 == 0 else RecordStatus.COMPLETED,
                        started_at=self.now,
                        finished_at=self.now,
                        error_message="connection refused" if n % 5 == 0 else "",
                        attempts=1,
                    )
                    for n, inst in enumerate(created)
                ),
            )
        return created

    def parents_of(self, model: type[models.Model]) -> list[Any]:
        """A few rows of any model, numbered apart from the rows the lists are measured with."""
        if model not in self.generic_parents:
            self.generic_parents[model] = build(self, model, GENERIC_PARENTS_FROM, PARENTS)
        return self.generic_parents[model]

    @cached_property
    def account_sync(self) -> SyncSession:
        return SyncSession.objects.create(
            category=SyncCategory.ACCOUNT,
            trigger=SyncTrigger.SCHEDULED,
            status=SessionStatus.PARTIAL,
            finished_at=self.now,
        )

    @cached_property
    def instances(self) -> list[Instance]:
        return self.new_instances(0, PARENTS, prefix="parent")

    @cached_property
    def sessions(self) -> list[SyncSession]:
        return new_sessions(self, 0, PARENTS)

    @cached_property
    def accounts(self) -> list[Account]:
        return new_accounts(self, 0, PARENTS, prefix="parent")

    @cached_property
    def databases(self) -> list[InstanceDatabase]:
        return new_databases(self, 0, PARENTS, prefix="parent")

    @cached_property
    def channels(self) -> list[AlertChannel]:
        return new_channels(self, 0, PARENTS, prefix="parent")

    @cached_property
    def rules(self) -> list[AlertRule]:
        return _bulk(
            AlertRule,
            (AlertRule(name=f"rule-{i}", kind="capacity_full", threshold=7) for i in range(PARENTS)),
        )

    @cached_property
    def jobs(self) -> list[DjangoJob]:
        return _bulk(
            DjangoJob,
            (
                DjangoJob(id=f"parent_job_{i}", next_run_time=self.now + timedelta(hours=1), job_state=b"")
                for i in range(PARENTS)
            ),
        )


def spread(parents: list[Any], start: int, count: int) -> Iterator[Any]:
    return islice(cycle(parents), start % len(parents), start % len(parents) + count)


# --- builders: (fleet, start, count) -> count new rows of the model, numbered from start -----------
def new_sessions(fleet: Fleet, start: int, count: int) -> list[SyncSession]:
    statuses = cycle(SessionStatus.values)
    categories = cycle(SyncCategory.values)
    sessions = _bulk(
        SyncSession,
        (
            SyncSession(
                category=next(categories),
                trigger=SyncTrigger.SCHEDULED,
                status=next(statuses),
                started_at=fleet.now - timedelta(minutes=i),
                finished_at=fleet.now - timedelta(minutes=i) + timedelta(seconds=30),
                total_instances=2,
                successful_instances=1,
                failed_instances=1,
            )
            for i in range(start, start + count)
        ),
    )
    instances = fleet.instances
    record_statuses = cycle([RecordStatus.COMPLETED, RecordStatus.FAILED])
    _bulk(
        SyncInstanceRecord,
        (
            SyncInstanceRecord(
                session=session,
                instance=inst,
                instance_name=inst.name,
                status=status,
                started_at=session.started_at,
                finished_at=session.finished_at,
                items_synced=3,
                attempts=2 if status == RecordStatus.FAILED else 1,
                sync_details={"databases": 3},
            )
            for n, session in enumerate(sessions)
            for inst, status in [(instances[n % PARENTS], next(record_statuses))]
        ),
    )
    return sessions


def new_accounts(fleet: Fleet, start: int, count: int, prefix: str = "user") -> list[Account]:
    """Accounts with their snapshot and a privilege each (through a role)."""
    accounts = _bulk(
        Account,
        (
            Account(
                instance=inst,
                identity=f"{prefix}{i}@%",
                username=f"{prefix}{i}",
                host="%",
                is_superuser=i % 50 == 0,
                can_grant=i % 20 == 0,
            )
            for i, inst in zip(
                range(start, start + count), spread(fleet.instances, start, count), strict=False
            )
        ),
    )
    _bulk(
        PermissionSnapshot,
        (
            PermissionSnapshot(account=a, permissions={"global": ["SELECT"]}, version=2, hash="0" * 64)
            for a in accounts
        ),
    )
    _bulk(
        AccountPrivilege,
        (
            AccountPrivilege(
                instance_id=a.instance_id,
                account=a,
                scope_kind=kind,
                target=target,
                path=path,
                privilege=p,
                via=via,
            )
            for a in accounts
            for kind, target, path, p, via in [("database", "shop", ["shop"], "INSERT", "writer")]
        ),
    )
    return accounts


def new_changes(fleet: Fleet, start: int, count: int) -> list[AccountChange]:
    kinds = cycle(["add", "modify_privilege", "modify_other", "deactivate"])
    accounts, sessions = fleet.accounts, fleet.sessions
    return _bulk(
        AccountChange,
        (
            AccountChange(
                account=accounts[i % len(accounts)],
                instance_id=accounts[i % len(accounts)].instance_id,
                change_type=next(kinds),
                details={"GRANT": {"global": ["SUPER"]}}
                if i % 10 == 0
                else {"REVOKE": {"global": ["SELECT"]}},
                summary=f"change {i}",
                session=sessions[i % len(sessions)],
                session_uuid=sessions[i % len(sessions)].session_id,
                created_at=fleet.now - timedelta(minutes=i),
            )
            for i in range(start, start + count)
        ),
    )


def new_databases(fleet: Fleet, start: int, count: int, prefix: str = "db") -> list[InstanceDatabase]:
    """Databases with their size today (the list's latest size)."""
    dbs = _bulk(
        InstanceDatabase,
        (
            InstanceDatabase(
                instance=inst, name=f"{prefix}{i}", capacity_limit_bytes=10**12 if i % 3 else None
            )
            for i, inst in zip(
                range(start, start + count), spread(fleet.instances, start, count), strict=False
            )
        ),
    )
    _bulk(
        DatabaseSizeStat,
        (
            DatabaseSizeStat(
                database=db, instance_id=db.instance_id, collected_date=day, size_bytes=10**9 + n
            )
            for n, db in enumerate(dbs)
            for day in [fleet.today]
        ),
    )
    return dbs


def new_channels(fleet: Fleet, start: int, count: int, prefix: str = "channel") -> list[AlertChannel]:
    url = crypto.encrypt("https://hooks.example.com/services/T0/B0/token")
    return _bulk(
        AlertChannel,
        (
            AlertChannel(name=f"{prefix}-{i}", kind="webhook", format="slack", url_encrypted=url)
            if i % 2
            else AlertChannel(name=f"{prefix}-{i}", kind="email", recipients="dba@example.com")
            for i in range(start, start + count)
        ),
    )


def new_deliveries(fleet: Fleet, start: int, count: int) -> list[AlertDelivery]:
    statuses = cycle(["pending", "held", "sent", "failed"])
    return _bulk(
        AlertDelivery,
        (
            AlertDelivery(
                rule=rule,
                channel=channel,
                event_key=f"event-{i}",
                title=f"Alert {i}",
                status=next(statuses),
                attempts=1,
                created_at=fleet.now - timedelta(minutes=i),
            )
            for i, rule, channel in zip(
                range(start, start + count),
                spread(fleet.rules, start, count),
                spread(fleet.channels, start, count),
                strict=False,
            )
        ),
    )


def new_job_configs(fleet: Fleet, start: int, count: int) -> list[JobConfig]:
    """Jobs with their APScheduler row (next run), an execution and the session it produced."""
    ids = [f"job_{i:05d}" for i in range(start, start + count)]
    sessions = fleet.sessions
    configs = _bulk(
        JobConfig,
        (
            JobConfig(
                id=job_id,
                name=f"Job {job_id}",
                function="whalefall.tasks.cleanup_history",
                trigger_type="cron",
                trigger_params={"hour": 3, "minute": 0, "day_of_week": "mon-fri"},
                last_session=sessions[n % len(sessions)],
                last_finished_at=fleet.now,
                customized=n % 2 == 0,
            )
            for n, job_id in enumerate(ids)
        ),
    )
    _bulk(
        DjangoJob, (DjangoJob(id=j, next_run_time=fleet.now + timedelta(hours=1), job_state=b"") for j in ids)
    )
    run_time = fleet.now - timedelta(hours=1)
    _bulk(
        DjangoJobExecution,
        (DjangoJobExecution(job_id=j, status="Executed", run_time=run_time, duration=14.04) for j in ids),
    )
    _bulk(
        JobRunSession,
        (
            JobRunSession(job_id=j, run_time=run_time, session=sessions[n % len(sessions)])
            for n, j in enumerate(ids)
        ),
    )
    return configs


def new_executions(fleet: Fleet, start: int, count: int) -> list[DjangoJobExecution]:
    jobs, sessions = fleet.jobs, fleet.sessions
    rows = [
        DjangoJobExecution(
            job=jobs[i % len(jobs)],
            status="Error!" if i % 7 == 0 else "Executed",
            run_time=fleet.now - timedelta(minutes=i),
            duration=1.5,
            exception="boom" if i % 7 == 0 else None,
        )
        for i in range(start, start + count)
    ]
    _bulk(
        JobRunSession,
        (
            JobRunSession(job_id=r.job_id, run_time=r.run_time, session=sessions[n % len(sessions)])
            for n, r in enumerate(rows)
        ),
    )
    return _bulk(DjangoJobExecution, rows)


def new_task_requests(fleet: Fleet, start: int, count: int) -> list[TaskRequest]:
    sessions = fleet.sessions
    return _bulk(
        TaskRequest,
        (
            TaskRequest(
                task="accounts_sync.tasks.sync_accounts",
                requested_by="admin",
                status="done",
                session=sessions[i % len(sessions)],
                requested_at=fleet.now - timedelta(minutes=i),
            )
            for i in range(start, start + count)
        ),
    )


def new_capacity_limits(fleet: Fleet, start: int, count: int) -> list[InstanceCapacity]:
    """Limits for instances that have none yet (those of the instance list), more if needed."""
    instances = list(Instance.objects.filter(capacity__isnull=True).order_by("pk")[:count])
    if len(instances) < count:
        instances += fleet.new_instances(start, count - len(instances), prefix="limited", records=False)
    return _bulk(
        InstanceCapacity, (InstanceCapacity(instance=i, capacity_limit_bytes=2 * 10**12) for i in instances)
    )


def new_database_stats(fleet: Fleet, start: int, count: int) -> list[DatabaseSizeStat]:
    dbs = fleet.databases
    return _bulk(
        DatabaseSizeStat,
        (
            DatabaseSizeStat(
                database=dbs[i % len(dbs)],
                instance_id=dbs[i % len(dbs)].instance_id,
                collected_date=fleet.today - timedelta(days=40 + i // len(dbs)),
                size_bytes=10**9 + i,
                data_bytes=10**9,
                log_bytes=i,
            )
            for i in range(start, start + count)
        ),
    )


def new_instance_stats(fleet: Fleet, start: int, count: int) -> list[InstanceSizeStat]:
    instances = fleet.instances
    return _bulk(
        InstanceSizeStat,
        (
            InstanceSizeStat(
                instance=instances[i % PARENTS],
                collected_date=fleet.today - timedelta(days=i // PARENTS),
                size_bytes=10**10 + i,
                database_count=5,
            )
            for i in range(start, start + count)
        ),
    )


def _aggregate_fields(i: int) -> dict[str, Any]:
    return {
        "period_type": "daily",
        "avg_size_bytes": 10**9 + i,
        "max_size_bytes": 10**9 + i,
        "min_size_bytes": 10**9 + i,
        "sample_count": 1,
        "change_bytes": 0 if i % 2 else 1000,
        "change_percent": 0.0 if i % 2 else 0.1,
    }


def new_database_aggregates(fleet: Fleet, start: int, count: int) -> list[DatabaseSizeAggregation]:
    dbs = fleet.databases
    rows = []
    for i in range(start, start + count):
        day = fleet.today - timedelta(days=40 + i // len(dbs))
        db = dbs[i % len(dbs)]
        rows.append(
            DatabaseSizeAggregation(
                database=db,
                instance_id=db.instance_id,
                period_start=day,
                period_end=day,
                **_aggregate_fields(i),
            )
        )
    return _bulk(DatabaseSizeAggregation, rows)


def new_instance_aggregates(fleet: Fleet, start: int, count: int) -> list[InstanceSizeAggregation]:
    rows = []
    for i in range(start, start + count):
        day = fleet.today - timedelta(days=i // PARENTS)
        rows.append(
            InstanceSizeAggregation(
                instance=fleet.instances[i % PARENTS],
                period_start=day,
                period_end=day,
                **_aggregate_fields(i),
            )
        )
    return _bulk(InstanceSizeAggregation, rows)


BUILDERS: dict[type[models.Model], Callable[[Fleet, int, int], list[Any]]] = {
    Instance: lambda fleet, start, count: fleet.new_instances(start, count),
    Credential: lambda fleet, start, count: _bulk(
        Credential,
        (
            Credential(name=f"cred-{i}", username="monitor", password_encrypted=fleet.secret)
            for i in range(start, start + count)
        ),
    ),
    SyncSession: new_sessions,
    SyncLock: lambda fleet, start, count: _bulk(
        SyncLock,
        (
            SyncLock(category=f"category-{i}", owner=f"host-{i}", token="t", expires_at=fleet.now)
            for i in range(start, start + count)
        ),
    ),
    AlertChannel: new_channels,
    AlertRule: lambda fleet, start, count: _bulk(
        AlertRule,
        (
            AlertRule(name=f"listed-rule-{i}", kind="capacity_full", threshold=3)
            for i in range(start, start + count)
        ),
    ),
    AlertDelivery: new_deliveries,
    TaskRequest: new_task_requests,
    Account: new_accounts,
    AccountChange: new_changes,
    ExclusionRule: lambda fleet, start, count: _bulk(
        ExclusionRule,
        (ExclusionRule(db_type=DbType.MYSQL, pattern=f"sys{i}@%") for i in range(start, start + count)),
    ),
    InstanceDatabase: new_databases,
    DatabaseSizeStat: new_database_stats,
    InstanceSizeStat: new_instance_stats,
    DatabaseSizeAggregation: new_database_aggregates,
    InstanceSizeAggregation: new_instance_aggregates,
    InstanceCapacity: new_capacity_limits,
    JobConfig: new_job_configs,
    DjangoJobExecution: new_executions,
    SchedulerCommand: lambda fleet, start, count: _bulk(
        SchedulerCommand,
        (
            SchedulerCommand(action="modify", job_id=f"job_{i}", requested_by="admin")
            for i in range(start, start + count)
        ),
    ),
    User: lambda fleet, start, count: _bulk(
        User,
        (
            User(username=f"user{i}", password="!", email=f"u{i}@example.com")
            for i in range(start, start + count)
        ),
    ),
    Group: lambda fleet, start, count: _bulk(
        Group, (Group(name=f"group {i}") for i in range(start, start + count))
    ),
}


def generic_rows(fleet: Fleet, model: type[models.Model], start: int, count: int) -> list[Any]:
    """Rows of a model no builder knows, from its fields: required values numbered from `start`,
    every foreign key (nullable or not) set to a parent made the same way, so that a column
    reading a relation row by row still shows."""
    parents: dict[str, list[Any]] = {}
    for field in model._meta.concrete_fields:
        if isinstance(field, models.ForeignKey) and field.related_model is not model:
            parents[field.name] = fleet.parents_of(field.related_model)

    def value(field: models.Field, i: int) -> Any:
        if isinstance(field, models.ForeignKey):
            return parents[field.name][i % PARENTS] if field.name in parents else None
        if field.choices:
            return field.choices[i % len(field.choices)][0]
        if isinstance(field, models.BooleanField):
            return i % 2 == 0
        if isinstance(field, models.DateTimeField):
            return fleet.now - timedelta(minutes=i)
        if isinstance(field, models.DateField):
            return fleet.today - timedelta(days=i)
        if isinstance(field, models.UUIDField):
            return uuid.uuid4()
        if isinstance(field, (models.IntegerField, models.FloatField, models.DecimalField)):
            return i
        if isinstance(field, models.JSONField):
            return {}
        if isinstance(field, models.EmailField):
            return f"row{i}@example.com"
        if isinstance(field, (models.CharField, models.TextField)):
            text = f"{model._meta.model_name}-{i}"
            return text[-field.max_length :] if field.max_length else text
        raise NotImplementedError(f"{model._meta.label}.{field.name}: write a builder in {__name__}")

    rows = []
    for i in range(start, start + count):
        values = {}
        for field in model._meta.concrete_fields:
            if field.primary_key and isinstance(field, models.AutoField):
                continue
            required = not (field.has_default() or field.null or field.blank)
            if required or isinstance(field, models.ForeignKey) or field.unique:
                values[field.attname if not isinstance(field, models.ForeignKey) else field.name] = value(
                    field, i
                )
        rows.append(model(**values))
    return _bulk(model, rows)


def link_many_to_many(fleet: Fleet, model: type[models.Model], rows: list[Any]) -> None:
    """Each row linked to one of a few rows of each of the project's many-to-many relations (an
    instance's tags, a rule's channels), so a column listing them row by row shows."""
    for field in model._meta.many_to_many:
        through = field.remote_field.through
        if field.related_model._meta.app_label not in PROJECT_APPS or not through._meta.auto_created:
            continue
        targets = fleet.parents_of(field.related_model)
        source, target = field.m2m_column_name(), field.m2m_reverse_name()
        _bulk(
            through,
            (through(**{source: row.pk, target: targets[n % len(targets)].pk}) for n, row in enumerate(rows)),
        )


def build(fleet: Fleet, model: type[models.Model], start: int, count: int) -> list[Any]:
    builder = BUILDERS.get(model)
    rows = builder(fleet, start, count) if builder else generic_rows(fleet, model, start, count)
    link_many_to_many(fleet, model, rows)
    return rows


REGISTERED = sorted(admin.site._registry, key=lambda m: m._meta.label)
#: Limits are set on the instances of the instance list, so those are built first.
BUILD_ORDER = sorted(REGISTERED, key=lambda m: m is InstanceCapacity)


@dataclass
class Measured:
    """A changelist's queries with the small and the large data set, and what the large one showed."""

    few: int = 0
    few_shown: int = 0
    many: int = 0
    rows: int = 0
    shown: int = 0
    per_page: int = 0


def measure(client: Client, model: type[models.Model]) -> tuple[int, Any]:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries), response.context["cl"]


@pytest.fixture(scope="module")
def measured(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[type[models.Model], Measured]]:
    """One data set for every changelist, built in one transaction rolled back at the end: each
    list measured with 10 rows of every model, then again after 9,990 more of each."""
    results = {model: Measured() for model in REGISTERED}
    keys = [os.environ["WHALEFALL_ENCRYPTION_KEY"]]  # the root conftest's test key
    with override_settings(WHALEFALL_ENCRYPTION_KEYS=keys), django_db_blocker.unblock(), transaction.atomic():
        fleet = Fleet()
        client = Client()
        client.force_login(User.objects.create_superuser("lister", password="unused-password-42"))
        for model in BUILD_ORDER:
            build(fleet, model, 0, SMALL)
        for model in REGISTERED:
            measure(client, model)  # the first request of a list warms the caches it uses
            results[model].few, cl = measure(client, model)
            results[model].few_shown = len(cl.result_list)
        gc.disable()  # the collector would scan the builders' 200,000 model objects again and again
        try:
            for model in BUILD_ORDER:
                build(fleet, model, SMALL, LARGE - SMALL)
        finally:
            gc.enable()
        if connection.vendor == "postgresql":
            # The statistics autovacuum would have gathered on a live database (it cannot see
            # this uncommitted transaction); without them the planner guesses ten-page tables.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        for model in REGISTERED:
            count, cl = measure(client, model)
            results[model].many, results[model].rows = count, cl.result_count
            results[model].shown, results[model].per_page = len(cl.result_list), cl.list_per_page
        transaction.set_rollback(True)
    yield results


@pytest.mark.parametrize("model", [pytest.param(m, id=m._meta.label) for m in REGISTERED])
def test_the_changelist_takes_the_same_queries_for_10_and_10000_rows(
    model: type[models.Model], measured: dict[type[models.Model], Measured]
) -> None:
    result = measured[model]
    assert result.few_shown < result.per_page  # a part of a page: more rows would show more
    assert result.rows >= LARGE and result.shown == result.per_page  # the rows are all in the list
    assert result.many == result.few, f"{result.few} queries with {SMALL} rows, {result.many} with {LARGE}"
    assert result.many <= MAX_QUERIES


@pytest.mark.django_db
def test_a_model_without_a_builder_gets_rows_from_its_fields() -> None:
    """What covers a model registered tomorrow: rows with every required field and every
    relation filled, numbered so that unique fields stay unique."""
    fleet = Fleet()
    deliveries = generic_rows(fleet, AlertDelivery, 0, 3)
    assert len({d.event_key for d in deliveries}) == 3
    assert all(d.rule_id and d.channel_id for d in deliveries)  # nullable relations filled too
    commands = generic_rows(fleet, SchedulerCommand, 5, 2)
    assert [c.action for c in commands] == [SchedulerCommand.ACTIONS[5], SchedulerCommand.ACTIONS[6]]
