"""`scheduler_tasks.yaml`: overrides of the default jobs, validated strictly (a typo must stop the
scheduler, not drop a job).

Every declared task (see `whalefall.task_registry`) brings its own default job, so adding a task
is one declaration and the file only says what differs: an entry names a task (`task:
sync_accounts`) and gives what it changes (`enabled: false`, a trigger, a name, kwargs, or a job
id of its own); anything it leaves out is the declaration's. A task the file does not mention
keeps its declared job. Every error names the file, the entry and the field; a missing file
means the declared jobs, with a warning; an invalid file is an error, never a partial load.

Files written before tasks had names give a dotted `function:` instead, with the whole job
spelled out. They keep working: a path of a declared task is read as that task, any other path
as before (with a `name`); both with a deprecation warning.
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
# What an entry naming a declared task may leave out: the declaration gives it.
FROM_DECLARATION = ("id", "trigger_type", "trigger_params")


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
    declared: list[str] = field(default_factory=list)  # job ids that came from declarations only


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
    """Every declared task's default job, as it is when the YAML file says nothing of it."""
    return [spec_of(task) for task in task_registry.all_tasks()]


def with_declared(specs: list[TaskSpec]) -> list[TaskSpec]:
    """The file's jobs, then the default job of every declared task the file does not mention.

    A file that mentions a task (under any job id) has taken that task over: its declared job is
    not added beside it, so giving a task a job id of its own does not run it twice. A job id the
    file gives to something else is the file's too."""
    functions = {spec.function for spec in specs}
    ids = {spec.id for spec in specs}
    return [*specs, *(s for s in builtin_defaults() if s.function not in functions and s.id not in ids)]


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
    # Declared tasks give their own job id and trigger; other entries spell them out.
    required = REQUIRED if "task" not in raw else ()
    for key in required:
        if key not in raw or raw[key] in (None, ""):
            raise ConfigError(path, label, key, _("is required"))
    for key in FROM_DECLARATION:
        if key in raw and raw[key] in (None, ""):
            raise ConfigError(path, label, key, _("is required"))
    if "trigger_type" in raw and "trigger_params" not in raw:
        raise ConfigError(path, label, "trigger_params", _("is required when trigger_type is given"))
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
    for key in ("task", "name", "function", "description"):
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(path, label, key, _("must be a string"))
    task = _task_of(path, label, raw, warnings)
    job_id = raw["id"] if "id" in raw or task is None else task.job_id
    if not isinstance(job_id, str) or not JOB_ID.match(job_id):
        raise ConfigError(
            path, label, "id", _("%(id)s must be snake_case {action}_{frequency}") % {"id": repr(job_id)}
        )
    if job_id in seen:
        raise ConfigError(path, label, "id", _("duplicate id %(id)s") % {"id": repr(job_id)})
    if not isinstance(raw.get("enabled", True), bool):
        raise ConfigError(path, label, "enabled", _("must be true or false"))
    if not isinstance(raw.get("kwargs", {}), dict):
        raise ConfigError(path, label, "kwargs", _("must be a mapping"))
    if task is None:
        if "name" not in raw:
            raise ConfigError(path, label, "name", _("is required (the function is no declared task)"))
        try:
            functions.check(raw["function"])
        except functions.FunctionError as exc:
            raise ConfigError(path, label, "function", str(exc)) from None
    trigger_type = raw["trigger_type"] if "trigger_type" in raw or task is None else task.trigger_type
    if "trigger_params" in raw or task is None:
        trigger_params = raw["trigger_params"]
    else:
        trigger_params = task.trigger_params
    try:
        build_trigger(trigger_type, trigger_params)
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
        trigger_type=trigger_type,
        trigger_params=dict(trigger_params),
        enabled=raw.get("enabled", task.enabled if task else True),
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
    """The default jobs: the file's (settings.WHALEFALL_SCHEDULER_TASKS_FILE), then the declared
    job of every task the file does not mention; the declared jobs alone when there is no file."""
    path = Path(path or settings.WHALEFALL_SCHEDULER_TASKS_FILE)
    if not path.exists():
        warning = _("%(path)s not found: using the built-in default jobs") % {"path": path}
        logger.warning("scheduler_tasks_file_missing", path=str(path))
        specs = builtin_defaults()
        return LoadResult(specs, _("built-in defaults"), [warning], [s.id for s in specs])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            str(path), "-", "-", _("cannot read: %(error)s") % {"error": exc.strerror}
        ) from None
    warnings: list[str] = []
    listed = parse(text, str(path), warnings)
    specs = with_declared(listed)
    return LoadResult(specs, str(path), warnings, [s.id for s in specs[len(listed) :]])
