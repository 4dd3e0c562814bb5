"""Each scheduled task is declared once: the YAML names, the built-in defaults, the admin's
functions and the run-now list all come from the declarations, and the core names no app."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib.auth.models import Permission, User
from django.test import Client

from scheduling.config import ConfigError, builtin_defaults, load_default_tasks, parse
from scheduling.functions import available_functions
from whalefall import task_registry
from whalefall.models import TaskRequest
from whalefall.sync.admission import category_of
from whalefall.task_registry import ScheduledTask

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "scheduling" / "scheduler_tasks.yaml"
APPS = ("accounts_sync", "capacity", "scheduling")


def tidy_up(**kwargs: Any) -> dict[str, Any]:
    """A task of this test, declared like the apps declare theirs."""
    return {"status": "completed", "kwargs": kwargs}


TIDY = ScheduledTask(
    name="tidy_up",
    function=tidy_up,
    label="Tidy up",
    description="Puts the test's things away.",
    job_id="tidy_up_hourly",
    trigger_type="cron",
    trigger_params={"minute": 15},
    category="tidy",
    kwargs={"depth": 2},
)
PATH = "whalefall.tests.test_task_registry.tidy_up"


@pytest.fixture
def tidy() -> Iterator[ScheduledTask]:
    task_registry.register(TIDY)
    yield TIDY
    task_registry.unregister(TIDY.name)


def _yaml(*entries: dict[str, Any]) -> str:
    return yaml.safe_dump({"default_tasks": list(entries)})


def test_a_task_declared_once_is_in_the_defaults_the_yaml_and_the_run_now_list(tidy: ScheduledTask) -> None:
    assert tidy.path == PATH
    [default] = [s for s in builtin_defaults() if s.id == "tidy_up_hourly"]
    assert (default.name, default.function, default.trigger_params, default.kwargs, default.description) == (
        "Tidy up",
        PATH,
        {"minute": 15},
        {"depth": 2},
        "Puts the test's things away.",
    )
    warnings: list[str] = []
    [by_name] = parse(
        _yaml(
            {
                "id": "tidy_up_hourly",
                "task": "tidy_up",
                "trigger_type": "cron",
                "trigger_params": {"minute": 15},
            }
        ),
        "tasks.yaml",
        warnings,
    )
    assert by_name == default and warnings == []
    assert available_functions()[PATH] == "Tidy up"
    assert task_registry.for_category("tidy") is tidy and category_of(PATH) == "tidy"
    assert task_registry.run_now_tasks()["tidy"] is tidy


def test_the_yaml_may_rename_and_describe_a_declared_task(tidy: ScheduledTask) -> None:
    [spec] = parse(
        _yaml(
            {
                "id": "tidy_up_daily",
                "task": "tidy_up",
                "name": "Nightly tidy",
                "description": "Once a night.",
                "trigger_type": "cron",
                "trigger_params": {"hour": 1},
                "enabled": False,
            }
        ),
        "tasks.yaml",
    )
    assert (spec.id, spec.name, spec.description, spec.function, spec.enabled) == (
        "tidy_up_daily",
        "Nightly tidy",
        "Once a night.",
        PATH,
        False,
    )


def test_a_declared_task_runs_on_its_declared_job_when_the_yaml_does_not_mention_it(
    tidy: ScheduledTask, tmp_path: Path
) -> None:
    """Adding a task is its declaration alone: no line of YAML is needed for it to be scheduled."""
    for text in (SHIPPED.read_text(), _yaml({"task": "sync_accounts", "enabled": False})):
        path = tmp_path / "tasks.yaml"
        path.write_text(text)
        loaded = load_default_tasks(path)
        [spec] = [s for s in loaded.specs if s.function == PATH]
        assert (spec.id, spec.trigger_params, spec.enabled) == ("tidy_up_hourly", {"minute": 15}, True)
        assert "tidy_up_hourly" in loaded.declared and loaded.warnings == []


def test_the_run_now_list_covers_every_sync_category() -> None:
    from whalefall.choices import SyncCategory

    paths = {category: task.path for category, task in task_registry.run_now_tasks().items()}
    assert paths == {
        SyncCategory.ACCOUNT: "accounts_sync.tasks.sync_accounts",
        SyncCategory.CAPACITY: "capacity.tasks.collect_database_sizes",
        SyncCategory.AGGREGATION: "capacity.tasks.calculate_database_size_aggregations",
    }


def test_a_yaml_with_the_old_dotted_paths_still_loads_with_deprecation_warnings(tmp_path: Path) -> None:
    """What deployed files say: every job by `function:` path, with its name and description."""
    old = tmp_path / "scheduler_tasks.yaml"
    old.write_text(
        _yaml(
            *(
                {
                    "id": spec.id,
                    "name": spec.name,
                    "function": spec.function,
                    "trigger_type": spec.trigger_type,
                    "trigger_params": spec.trigger_params,
                    "enabled": True,
                    "description": spec.description,
                }
                for spec in builtin_defaults()
            )
        )
    )
    loaded = load_default_tasks(old)
    assert loaded.specs == builtin_defaults()
    assert len(loaded.warnings) == len(loaded.specs)
    account = next(w for w in loaded.warnings if "accounts_sync.tasks.sync_accounts" in w)
    assert "deprecated" in account and "task: sync_accounts" in account


def test_an_old_path_no_task_declares_still_works_with_its_name() -> None:
    entry = {
        "id": "record_session_hourly",
        "function": "scheduling.tests.sample_tasks.record_session",
        "trigger_type": "cron",
        "trigger_params": {"minute": 0},
    }
    with pytest.raises(ConfigError) as err:
        parse(_yaml(entry), "tasks.yaml")
    assert err.value.field == "name"
    warnings: list[str] = []
    [spec] = parse(_yaml({**entry, "name": "Record"}), "tasks.yaml", warnings)
    assert spec.function == entry["function"] and spec.name == "Record"
    assert "no declared task" in warnings[0]


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        ({"task": "nope"}, "task", "unknown task 'nope'"),
        ({"task": "tidy_up", "function": PATH}, "function", "either task or function"),
        ({}, "task", "is required"),
        ({"task": "tidy_up", "name": ""}, "name", "is required"),
    ],
)
def test_it_rejects_entries_that_name_no_task(
    tidy: ScheduledTask, entry: dict[str, Any], field: str, message: str
) -> None:
    base = {"id": "tidy_up_hourly", "trigger_type": "cron", "trigger_params": {"minute": 0}}
    with pytest.raises(ConfigError) as err:
        parse(_yaml({**base, **entry}), "tasks.yaml")
    assert err.value.field == field and message in err.value.message


def test_a_name_job_id_or_category_is_declared_once(tidy: ScheduledTask) -> None:
    task_registry.register(TIDY)  # the same declaration again (a second ready()): nothing changes
    assert [t.name for t in task_registry.all_tasks()].count("tidy_up") == 1
    other = ScheduledTask(
        name="tidy_up",
        function=available_functions,
        label="Other",
        description="",
        job_id="other_hourly",
        trigger_type="cron",
        trigger_params={"minute": 0},
    )
    with pytest.raises(ValueError, match="already declared"):
        task_registry.register(other)
    with pytest.raises(ValueError, match="default job id"):
        task_registry.register(
            ScheduledTask(**{**other.__dict__, "name": "other", "job_id": "tidy_up_hourly"})
        )
    with pytest.raises(ValueError, match="sync category 'tidy'"):
        task_registry.register(ScheduledTask(**{**other.__dict__, "name": "other", "category": "tidy"}))
    assert task_registry.get("other") is None


@pytest.mark.django_db
def test_the_api_triggers_a_declared_category(tidy: ScheduledTask, alive_scheduler: Any) -> None:
    user = User.objects.create_user("runner", password="pw", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_syncsession", "manage_syncsession"])
    )
    client = Client()
    client.force_login(user)
    response = client.post("/api/sync/tidy/trigger")
    assert response.status_code == 202
    assert TaskRequest.objects.get(pk=response.json()["request_id"]).task == PATH
    task_registry.unregister(TIDY.name)
    assert client.post("/api/sync/tidy/trigger").status_code == 404


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if any(node.value.startswith(f"{app}.") for app in APPS) and " " not in node.value:
                found.add(node.value)  # include("app.urls"), import_module("app.x")
    return found


def test_the_core_does_not_name_its_apps() -> None:
    offenders = {}
    for path in sorted((ROOT / "whalefall").rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[1] in ("tests", "migrations") or relative.name == "settings.py":
            continue  # the project's settings list the installed apps; tests may use them
        named = sorted(m for m in _imports(path) if m.split(".")[0] in APPS)
        if named:
            offenders[str(relative)] = named
    assert offenders == {}


def test_the_adapters_use_nothing_of_djangos_database_layer() -> None:
    """Adapters talk to monitored servers through their drivers; the ORM and Django's database
    connections are the metadata database's (import-linter cannot forbid a subpackage of an
    external package, so this test does)."""
    offenders = {}
    for package in ("accounts_sync/adapters", "capacity/adapters", "whalefall/connections"):
        for path in sorted((ROOT / package).rglob("*.py")):
            named = sorted(m for m in _imports(path) if m == "django.db" or m.startswith("django.db."))
            if named:
                offenders[str(path.relative_to(ROOT))] = named
    assert offenders == {}
