from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scheduling.config import ConfigError, builtin_defaults, load_default_tasks, parse
from scheduling.functions import FunctionError, TaskUnavailable, check, resolve

SHIPPED = Path(__file__).resolve().parents[1] / "scheduler_tasks.yaml"

GOOD = {
    "id": "record_session_hourly",
    "name": "Record",
    "function": "scheduling.tests.sample_tasks.record_session",
    "trigger_type": "cron",
    "trigger_params": {"minute": 0},
}


def _text(*entries: dict) -> str:
    return yaml.safe_dump({"default_tasks": list(entries)})


def test_the_shipped_yaml_changes_nothing_so_every_declared_job_runs() -> None:
    loaded = load_default_tasks(SHIPPED)
    assert loaded.specs == builtin_defaults()
    assert loaded.declared == [s.id for s in loaded.specs]
    assert {s.id for s in loaded.specs} == {
        "sync_accounts_every_30min",
        "collect_database_sizes_daily",
        "calculate_database_size_aggregations_daily",
        "cleanup_history_weekly",
        "cleanup_expired_sync_locks_every_5min",
        "send_alerts_every_minute",
    }


def test_an_override_gives_only_what_differs_and_keeps_the_declared_rest(tmp_path: Path) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text(
        _text(
            {"task": "sync_accounts", "trigger_params": {"minutes": 15}},
            {"task": "send_alerts", "enabled": False},
        )
    )
    loaded = load_default_tasks(path)
    specs = {s.id: s for s in loaded.specs}
    declared = {s.id: s for s in builtin_defaults()}
    assert specs.keys() == declared.keys()  # same jobs, no duplicate
    sync = specs["sync_accounts_every_30min"]
    assert (sync.trigger_type, sync.trigger_params) == ("interval", {"minutes": 15})
    assert sync.name == declared[sync.id].name and sync.function == declared[sync.id].function
    alerts = specs["send_alerts_every_minute"]
    assert alerts.enabled is False
    assert alerts.trigger_params == declared[alerts.id].trigger_params
    assert set(loaded.declared) == set(declared) - {sync.id, alerts.id}


def test_a_task_under_a_job_id_of_its_own_replaces_its_declared_job(tmp_path: Path) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text(
        _text(
            {
                "task": "collect_database_sizes",
                "id": "collect_database_sizes_twice_daily",
                "trigger_type": "cron",
                "trigger_params": {"hour": "3,15", "minute": 0},
            }
        )
    )
    ids = [s.id for s in load_default_tasks(path).specs]
    assert "collect_database_sizes_twice_daily" in ids
    assert "collect_database_sizes_daily" not in ids  # the task would otherwise run twice
    assert ids[0] == "collect_database_sizes_twice_daily"  # the file's jobs come first


def test_a_job_id_the_file_gives_to_another_function_is_the_files(tmp_path: Path) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text(_text({**GOOD, "id": "sync_accounts_every_30min"}))
    specs = [s for s in load_default_tasks(path).specs if s.id == "sync_accounts_every_30min"]
    assert [s.function for s in specs] == [GOOD["function"]]


def test_a_trigger_type_without_its_params_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        parse(_text({"task": "sync_accounts", "trigger_type": "cron"}), "tasks.yaml")
    assert (err.value.entry, err.value.field) == ("default_tasks[0]", "trigger_params")
    assert "required when trigger_type is given" in err.value.message


def test_an_override_with_an_empty_id_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        parse(_text({"task": "sync_accounts", "id": ""}), "tasks.yaml")
    assert (err.value.field, err.value.message) == ("id", "is required")


def test_two_overrides_of_one_declared_job_are_duplicates() -> None:
    with pytest.raises(ConfigError) as err:
        parse(_text({"task": "sync_accounts"}, {"task": "sync_accounts", "enabled": False}), "tasks.yaml")
    assert err.value.entry == "default_tasks[1]"
    assert "duplicate id 'sync_accounts_every_30min'" in err.value.message


def test_it_falls_back_to_builtin_defaults_with_a_warning(tmp_path: Path) -> None:
    loaded = load_default_tasks(tmp_path / "missing.yaml")
    assert loaded.specs == builtin_defaults()
    assert loaded.source == "built-in defaults"
    assert "missing.yaml not found" in loaded.warnings[0]


def test_it_reads_the_path_from_settings(tmp_path: Path, settings: object) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text(_text(GOOD))
    settings.WHALEFALL_SCHEDULER_TASKS_FILE = str(path)  # type: ignore[attr-defined]
    loaded = load_default_tasks()
    assert [s.id for s in loaded.specs if s.id not in loaded.declared] == ["record_session_hourly"]
    assert loaded.source == str(path)


@pytest.mark.parametrize(
    ("change", "entry", "field", "message"),
    [
        ({"id": None}, "default_tasks[0]", "id", "is required"),
        ({"name": ""}, "default_tasks[0] (record_session_hourly)", "name", "is required"),
        ({"function": None}, "default_tasks[0] (record_session_hourly)", "function", "is required"),
        (
            {"trigger_params": None},
            "default_tasks[0] (record_session_hourly)",
            "trigger_params",
            "is required",
        ),
        ({"id": "RecordSession"}, "default_tasks[0] (RecordSession)", "id", "snake_case"),
        ({"colour": "red"}, "default_tasks[0] (record_session_hourly)", "colour", "unknown field"),
        ({"enabled": "yes"}, "default_tasks[0] (record_session_hourly)", "enabled", "true or false"),
        ({"kwargs": [1]}, "default_tasks[0] (record_session_hourly)", "kwargs", "must be a mapping"),
        ({"description": 5}, "default_tasks[0] (record_session_hourly)", "description", "must be a string"),
        (
            {"function": "nopackage.tasks.run"},
            "default_tasks[0] (record_session_hourly)",
            "function",
            "no package",
        ),
        (
            {"function": "not a path"},
            "default_tasks[0] (record_session_hourly)",
            "function",
            "not a dotted path",
        ),
        (
            {"function": "scheduling.tests.sample_tasks.nothing"},
            "default_tasks[0] (record_session_hourly)",
            "function",
            "has no function 'nothing'",
        ),
        (
            {"function": "scheduling.tests.sample_tasks.not_callable"},
            "default_tasks[0] (record_session_hourly)",
            "function",
            "not callable",
        ),
        (
            {"trigger_type": "weekly"},
            "default_tasks[0] (record_session_hourly)",
            "trigger_type",
            "not one of",
        ),
        ({"trigger_params": [1]}, "default_tasks[0] (record_session_hourly)", "trigger_params", "mapping"),
        (
            {"trigger_params": {"minute": 61}},
            "default_tasks[0] (record_session_hourly)",
            "trigger_params.minute",
            "61",
        ),
        (
            {"trigger_params": {"hour": "x"}},
            "default_tasks[0] (record_session_hourly)",
            "trigger_params.hour",
            "x",
        ),
        (
            {"trigger_params": {"minutes": 5}},
            "default_tasks[0] (record_session_hourly)",
            "trigger_params.minutes",
            "unknown cron field",
        ),
        (
            {"trigger_type": "interval", "trigger_params": {"minutes": -5}},
            "default_tasks[0] (record_session_hourly)",
            "trigger_params.minutes",
            "whole number",
        ),
        (
            {"trigger_type": "interval", "trigger_params": {"minutes": 0}},
            "default_tasks[0] (record_session_hourly)",
            "trigger_params",
            "needs weeks, days",
        ),
        (
            {"trigger_type": "date", "trigger_params": {"run_date": "2001-01-01 00:00"}},
            "default_tasks[0] (record_session_hourly)",
            "trigger_params.run_date",
            "in the past",
        ),
        (
            {"trigger_type": "date", "trigger_params": {"run_date": "tomorrow"}},
            "default_tasks[0] (record_session_hourly)",
            "trigger_params.run_date",
            "not a date",
        ),
    ],
)
def test_it_names_file_entry_and_field_of_every_error(
    change: dict, entry: str, field: str, message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse(_text({**GOOD, **change}), "tasks.yaml")
    assert (err.value.path, err.value.entry, err.value.field) == ("tasks.yaml", entry, field)
    assert message in err.value.message
    assert str(err.value).startswith(f"tasks.yaml: {entry}: {field}: ")


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("default_tasks: [", "-", "invalid YAML"),
        ("- just a list", "default_tasks", "mapping with a default_tasks list"),
        ("tasks: []", "default_tasks", "mapping with a default_tasks list"),  # a mapping without it
        ("default_tasks: {a: 1}", "default_tasks", "must be a list"),
        ("default_tasks: [42]", "-", "must be a mapping"),
    ],
)
def test_it_rejects_malformed_files(text: str, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(text, "tasks.yaml")
    assert err.value.field == field
    assert message in str(err.value)


def test_it_rejects_duplicate_ids_instead_of_dropping_one() -> None:
    with pytest.raises(ConfigError) as err:
        parse(_text(GOOD, GOOD), "tasks.yaml")
    assert err.value.entry == "default_tasks[1] (record_session_hourly)"
    assert "duplicate id" in err.value.message


def test_it_keeps_a_job_whose_task_module_is_not_installed_yet() -> None:
    missing = {**GOOD, "id": "sync_accounts_hourly", "function": "scheduling.not_yet.sync_accounts"}
    specs = parse(_text(GOOD, missing), "tasks.yaml")
    assert [s.id for s in specs] == ["record_session_hourly", "sync_accounts_hourly"]
    assert check(missing["function"]) == "module scheduling.not_yet is not installed"
    with pytest.raises(TaskUnavailable, match=r"scheduling\.not_yet"):
        resolve(missing["function"])


def test_it_resolves_a_task_function() -> None:
    from scheduling.tests.sample_tasks import record_session

    assert resolve(GOOD["function"]) is record_session
    with pytest.raises(FunctionError):
        resolve("scheduling.tests.sample_tasks.nothing")


def test_it_reports_unreadable_files(tmp_path: Path) -> None:
    directory = tmp_path / "dir.yaml"
    directory.mkdir()
    with pytest.raises(ConfigError, match="cannot read"):
        load_default_tasks(directory)


def test_a_yaml_error_names_its_line() -> None:
    """The operator fixes the file from the message: the line must be the file's own (1-based)."""
    text = "default_tasks:\n  - id: a_b\n    name: x\n    description: a: b\n"  # line 4: "a: b" in a value
    with pytest.raises(ConfigError) as err:
        parse(text, "tasks.yaml")
    assert err.value.entry == "line 4"
    assert "mapping values are not allowed here" in err.value.message


def test_an_unknown_task_name_lists_the_declared_ones() -> None:
    entry = {k: v for k, v in GOOD.items() if k != "function"} | {"task": "no_such_task"}
    with pytest.raises(ConfigError) as err:
        parse(_text(entry), "tasks.yaml")
    assert err.value.field == "task"
    assert "unknown task 'no_such_task' (declared: " in err.value.message
    assert "sync_accounts" in err.value.message  # a task the apps declare


def test_a_dotted_function_of_a_declared_task_warns_with_its_name() -> None:
    from whalefall import task_registry

    task = next(iter(task_registry.all_tasks()))
    warnings: list[str] = []
    (spec,) = parse(_text({**GOOD, "function": task.path}), "tasks.yaml", warnings)
    assert spec.function == task.path
    assert warnings == [
        f"tasks.yaml: default_tasks[0] (record_session_hourly): function: {task.path} is deprecated:"
        f" write `task: {task.name}`"
    ]


def test_of_several_unknown_fields_the_first_in_order_is_named() -> None:
    with pytest.raises(ConfigError) as err:
        parse(_text({**GOOD, "zeta": 1, "alpha": 2}), "tasks.yaml")
    assert err.value.field == "alpha"


def test_kwargs_of_the_yaml_reach_the_spec() -> None:
    (spec,) = parse(_text({**GOOD, "kwargs": {"force": True, "only": "prod-%"}}), "tasks.yaml")
    assert spec.kwargs == {"force": True, "only": "prod-%"}


def test_a_spec_is_enabled_unless_it_says_otherwise_and_cannot_be_changed() -> None:
    """The scheduler compares specs with stored jobs; a spec changed in place would silently
    differ from the file it came from."""
    import dataclasses

    from scheduling.config import TaskSpec

    spec = TaskSpec("a_b", "A", "pkg.mod.fn", "cron", {"minute": 0})
    assert spec.enabled is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.enabled = False  # type: ignore[misc]


def test_runscheduler_shows_the_default_jobs_and_where_each_comes_from(
    tmp_path: Path, settings: object
) -> None:
    from io import StringIO

    from django.core.management import call_command

    path = tmp_path / "tasks.yaml"
    path.write_text(_text({"task": "sync_accounts", "trigger_params": {"minutes": 15}, "enabled": False}))
    settings.WHALEFALL_SCHEDULER_TASKS_FILE = str(path)  # type: ignore[attr-defined]
    out = StringIO()
    call_command("runscheduler", "--show-defaults", stdout=out, stderr=StringIO())
    lines = dict(line.split(": ", 1) for line in out.getvalue().splitlines())
    assert lines.keys() == {s.id for s in builtin_defaults()}
    assert lines["sync_accounts_every_30min"] == f"Every 15 minutes (disabled) [{path}]"
    assert lines["collect_database_sizes_daily"] == "At 03:00, every day [declared]"


@pytest.mark.parametrize("missing", ["id", "trigger_type", "trigger_params"])
def test_an_entry_of_no_declared_task_must_spell_out_its_job(missing: str) -> None:
    """Only a declared task gives its id and trigger: a dotted-function entry without one is an
    error naming the field, not a crash on the missing key."""
    entry = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(ConfigError) as err:
        parse(_text(entry), "tasks.yaml")
    assert (err.value.field, err.value.message) == (missing, "is required")


def test_an_override_may_change_the_trigger_type() -> None:
    (spec,) = parse(
        _text({"task": "sync_accounts", "trigger_type": "cron", "trigger_params": {"minute": "*/20"}}),
        "tasks.yaml",
    )
    assert (spec.id, spec.trigger_type, spec.trigger_params) == (
        "sync_accounts_every_30min",
        "cron",
        {"minute": "*/20"},
    )


def test_the_files_name_and_description_win_over_the_declarations() -> None:
    (spec,) = parse(
        _text({"task": "sync_accounts", "name": "Accounts, hourly", "description": "Hourly."}), "tasks.yaml"
    )
    assert (spec.name, spec.description) == ("Accounts, hourly", "Hourly.")
