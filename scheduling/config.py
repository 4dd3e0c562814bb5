"""`scheduler_tasks.yaml`: the default jobs, validated strictly (a typo must stop the scheduler, not drop a job).

Each entry names a declared task (`task: sync_accounts`, see `whalefall.task_registry`) and
its trigger; its name, description and kwargs default to the declaration's. Every error names the
file, the entry and the field. A missing file falls back to `builtin_defaults()` (every
declared task's default job, what the shipped file lists) with a warning; an invalid file is
an error, never a partial load.

Files written before tasks had names give a dotted `function:` instead. They keep working:
a path of a declared task is read as that task, any other path as before (with a `name`);
both with a deprecation warning.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.utils.translation import gettext as _

from scheduling import functions
from scheduling.triggers import TriggerError, build_trigger
from whalefall import task_registry
from whalefall.structured_logging import get_logger
from whalefall.task_registry import ScheduledTask

logger = get_logger(__name__)

JOB_ID = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")  # {action}_{frequency}, snake_case
REQUIRED = ("id", "trigger_type", "trigger_params")
OPTIONAL = ("task", "function", "name", "enabled", "description", "kwargs")


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


def spec_of(task: ScheduledTask) -> TaskSpec:
    """The default job of a declared task."""
    return TaskSpec(
        id=task.job_id,
        name=task.label,
        function=task.path,
        trigger_type=task.trigger_type,
        trigger_params=dict(task.trigger_params),
        enabled=task.enabled,
        description=task.description,
        kwargs=dict(task.kwargs),
    )


def builtin_defaults() -> list[TaskSpec]:
    """Every declared task's default job: the fallback when the YAML file is missing."""
    return [spec_of(task) for task in task_registry.all_tasks()]


def _task_of(path: str, label: str, raw: dict[str, Any], warnings: list[str]) -> ScheduledTask | None:
    """The declared task an entry refers to (by `task:` name, or by a deprecated `function:`
    path), or None for a path no task declares."""
    if "task" in raw:
        if "function" in raw:
            raise ConfigError(path, label, "function", _("give either task or function, not both"))
        name = raw["task"]
        task = task_registry.get(name) if isinstance(name, str) else None
        if task is None:
            declared = ", ".join(t.name for t in task_registry.all_tasks())
            raise ConfigError(
                path,
                label,
                "task",
                _("unknown task %(name)s (declared: %(declared)s)")
                % {"name": repr(name), "declared": declared},
            )
        return task
    dotted = raw["function"]
    task = task_registry.by_path(dotted)
    if task is not None:
        message = _("%(path)s: %(entry)s: function: %(dotted)s is deprecated: write `task: %(task)s`") % {
            "path": path,
            "entry": label,
            "dotted": dotted,
            "task": task.name,
        }
    else:
        message = _(
            "%(path)s: %(entry)s: function: dotted paths are deprecated; %(dotted)s is no declared task "
            "(declare it in its app's tasks.py to refer to it by name)"
        ) % {"path": path, "entry": label, "dotted": dotted}
    warnings.append(message)
    logger.warning("scheduler_tasks_function_deprecated", path=path, entry=label, function=str(dotted))
    return task


def _entry_spec(path: str, index: int, raw: Any, seen: set[str], warnings: list[str]) -> TaskSpec:
    label = f"default_tasks[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(path, label, "-", _("each entry must be a mapping"))
    if isinstance(raw.get("id"), str):
        label = f"default_tasks[{index}] ({raw['id']})"
    for key in REQUIRED:
        if key not in raw or raw[key] in (None, ""):
            raise ConfigError(path, label, key, _("is required"))
    if "task" not in raw and raw.get("function") in (None, ""):
        raise ConfigError(path, label, "function" if "function" in raw else "task", _("is required"))
    if "name" in raw and raw["name"] in (None, ""):
        raise ConfigError(path, label, "name", _("is required"))
    unknown = sorted(set(raw) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise ConfigError(
            path,
            label,
            unknown[0],
            _("unknown field (allowed: %(fields)s)") % {"fields": ", ".join(REQUIRED + OPTIONAL)},
        )
    job_id = raw["id"]
    if not isinstance(job_id, str) or not JOB_ID.match(job_id):
        raise ConfigError(
            path, label, "id", _("%(id)s must be snake_case {action}_{frequency}") % {"id": repr(job_id)}
        )
    if job_id in seen:
        raise ConfigError(path, label, "id", _("duplicate id %(id)s") % {"id": repr(job_id)})
    for key in ("task", "name", "function", "description"):
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(path, label, key, _("must be a string"))
    if not isinstance(raw.get("enabled", True), bool):
        raise ConfigError(path, label, "enabled", _("must be true or false"))
    if not isinstance(raw.get("kwargs", {}), dict):
        raise ConfigError(path, label, "kwargs", _("must be a mapping"))
    task = _task_of(path, label, raw, warnings)
    if task is None:
        if "name" not in raw:
            raise ConfigError(path, label, "name", _("is required (the function is no declared task)"))
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
        name=raw.get("name") or (task.label if task else ""),
        function=task.path if task else raw["function"],
        trigger_type=raw["trigger_type"],
        trigger_params=dict(raw["trigger_params"]),
        enabled=raw.get("enabled", True),
        description=raw.get("description", task.description if task else "") or "",
        kwargs=dict(raw["kwargs"] or {}) if "kwargs" in raw else dict(task.kwargs if task else {}),
    )


def parse(text: str, path: str, warnings: list[str] | None = None) -> list[TaskSpec]:
    """Validate YAML text; raises ConfigError at the first problem (nothing is half-loaded).

    Deprecations (dotted `function:` paths) are appended to `warnings` when given."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = _("line %(line)d") % {"line": mark.line + 1} if mark else "-"
        raise ConfigError(
            path, where, "-", _("invalid YAML: %(problem)s") % {"problem": getattr(exc, "problem", exc)}
        ) from None
    if not isinstance(data, dict) or "default_tasks" not in data:
        raise ConfigError(
            path, "-", "default_tasks", _("the file must be a mapping with a default_tasks list")
        )
    entries = data["default_tasks"]
    if not isinstance(entries, list):
        raise ConfigError(path, "-", "default_tasks", _("must be a list"))
    seen: set[str] = set()
    found: list[str] = []
    specs = [_entry_spec(path, i, raw, seen, found) for i, raw in enumerate(entries)]
    if warnings is not None:
        warnings.extend(found)
    return specs


def load_default_tasks(path: str | Path | None = None) -> LoadResult:
    """The default jobs from the file (settings.WHALEFALL_SCHEDULER_TASKS_FILE) or the fallback."""
    path = Path(path or settings.WHALEFALL_SCHEDULER_TASKS_FILE)
    if not path.exists():
        warning = _("%(path)s not found: using the built-in default jobs") % {"path": path}
        logger.warning("scheduler_tasks_file_missing", path=str(path))
        return LoadResult(builtin_defaults(), _("built-in defaults"), [warning])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            str(path), "-", "-", _("cannot read: %(error)s") % {"error": exc.strerror}
        ) from None
    warnings: list[str] = []
    specs = parse(text, str(path), warnings)
    return LoadResult(specs, str(path), warnings)
