"""`scheduler_tasks.yaml`: the default jobs, validated strictly (a typo must stop the scheduler, not drop a job).

Every error names the file, the entry and the field. A missing file falls back to
BUILTIN_DEFAULTS (the same jobs as the shipped file) with a warning; an invalid file is an
error, never a partial load.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from scheduling import functions
from scheduling.triggers import TriggerError, build_trigger
from whalefall.dispatch import SYNC_TASKS
from whalefall.structured_logging import get_logger

logger = get_logger(__name__)

JOB_ID = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")  # {action}_{frequency}, snake_case
REQUIRED = ("id", "name", "function", "trigger_type", "trigger_params")
OPTIONAL = ("enabled", "description", "kwargs")


class ConfigError(Exception):
    """Invalid scheduler configuration; `str()` says file, entry and field."""

    def __init__(self, path: str, entry: str, field_name: str, message: str) -> None:
        self.path, self.entry, self.field, self.message = path, entry, field_name, message
        super().__init__(f"{path}: {entry}: {field_name}: {message}")


@dataclass(frozen=True)
class TaskSpec:
    """One default job as written in the YAML."""

    id: str
    name: str
    function: str
    trigger_type: str
    trigger_params: dict[str, Any]
    enabled: bool = True
    description: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadResult:
    specs: list[TaskSpec]
    source: str  # the file path, or "built-in defaults"
    warnings: list[str]


BUILTIN_DEFAULTS: tuple[TaskSpec, ...] = (
    TaskSpec(
        "sync_accounts_every_30min",
        "Account sync",
        SYNC_TASKS["account"],
        "interval",
        {"minutes": 30},
        True,
        "Inventory and permissions of every active instance's accounts.",
    ),
    TaskSpec(
        "collect_database_sizes_daily",
        "Capacity collection",
        SYNC_TASKS["capacity"],
        "cron",
        {"hour": 3, "minute": 0},
        True,
        "Database inventory and one size row per database for the day.",
    ),
    TaskSpec(
        "calculate_database_size_aggregations_daily",
        "Capacity aggregation",
        SYNC_TASKS["aggregation"],
        "cron",
        {"hour": 4, "minute": 0},
        True,
        "Daily, weekly, monthly and quarterly size statistics for the last complete periods.",
    ),
    TaskSpec(
        "cleanup_history_weekly",
        "History cleanup",
        "whalefall.tasks.cleanup_history",
        "cron",
        {"day_of_week": "sun", "hour": 2, "minute": 30},
        True,
        "Deletes sessions, job executions and change logs older than the retention settings.",
    ),
    TaskSpec(
        "cleanup_expired_sync_locks_every_5min",
        "Expired sync-lock cleanup",
        "whalefall.tasks.cleanup_expired_sync_locks",
        "interval",
        {"minutes": 5},
        True,
        "Removes sync locks whose holder stopped renewing them.",
    ),
    TaskSpec(
        "send_alerts_every_minute",
        "Alerts",
        "whalefall.tasks.send_alerts",
        "interval",
        {"minutes": 1},
        True,
        "Evaluates the alert rules and delivers pending alerts (e-mail, webhooks), with retries.",
    ),
)


def _entry_spec(path: str, index: int, raw: Any, seen: set[str]) -> TaskSpec:
    label = f"default_tasks[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(path, label, "-", "each entry must be a mapping")
    if isinstance(raw.get("id"), str):
        label = f"default_tasks[{index}] ({raw['id']})"
    for key in REQUIRED:
        if key not in raw or raw[key] in (None, ""):
            raise ConfigError(path, label, key, "is required")
    unknown = sorted(set(raw) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise ConfigError(
            path, label, unknown[0], f"unknown field (allowed: {', '.join(REQUIRED + OPTIONAL)})"
        )
    job_id = raw["id"]
    if not isinstance(job_id, str) or not JOB_ID.match(job_id):
        raise ConfigError(path, label, "id", f"{job_id!r} must be snake_case {{action}}_{{frequency}}")
    if job_id in seen:
        raise ConfigError(path, label, "id", f"duplicate id {job_id!r}")
    for key in ("name", "function", "description"):
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(path, label, key, "must be a string")
    if not isinstance(raw.get("enabled", True), bool):
        raise ConfigError(path, label, "enabled", "must be true or false")
    if not isinstance(raw.get("kwargs", {}), dict):
        raise ConfigError(path, label, "kwargs", "must be a mapping")
    try:
        functions.check(raw["function"])
    except functions.FunctionError as exc:
        raise ConfigError(path, label, "function", str(exc)) from None
    try:
        build_trigger(raw["trigger_type"], raw["trigger_params"])
    except TriggerError as exc:
        where = (
            exc.field if exc.field in ("trigger_type", "trigger_params") else f"trigger_params.{exc.field}"
        )
        raise ConfigError(path, label, where, exc.message) from None
    seen.add(job_id)
    return TaskSpec(
        id=job_id,
        name=raw["name"],
        function=raw["function"],
        trigger_type=raw["trigger_type"],
        trigger_params=dict(raw["trigger_params"]),
        enabled=raw.get("enabled", True),
        description=raw.get("description", "") or "",
        kwargs=dict(raw.get("kwargs") or {}),
    )


def parse(text: str, path: str) -> list[TaskSpec]:
    """Validate YAML text; raises ConfigError at the first problem (nothing is half-loaded)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "-"
        raise ConfigError(path, where, "-", f"invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict) or "default_tasks" not in data:
        raise ConfigError(path, "-", "default_tasks", "the file must be a mapping with a default_tasks list")
    entries = data["default_tasks"]
    if not isinstance(entries, list):
        raise ConfigError(path, "-", "default_tasks", "must be a list")
    seen: set[str] = set()
    return [_entry_spec(path, i, raw, seen) for i, raw in enumerate(entries)]


def load_default_tasks(path: str | Path | None = None) -> LoadResult:
    """The default jobs from the file (settings.WHALEFALL_SCHEDULER_TASKS_FILE) or the fallback."""
    path = Path(path or settings.WHALEFALL_SCHEDULER_TASKS_FILE)
    if not path.exists():
        warning = f"{path} not found: using the built-in default jobs"
        logger.warning("scheduler_tasks_file_missing", path=str(path))
        return LoadResult(list(BUILTIN_DEFAULTS), "built-in defaults", [warning])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "-", "-", f"cannot read: {exc.strerror}") from None
    return LoadResult(parse(text, str(path)), str(path), [])
