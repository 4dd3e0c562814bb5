"""Scheduler JSON endpoints for scripts and monitoring: staff session auth, CSRF on writes, same permissions as the admin.

Everything the jobs admin can do: list, run now (refused with 409 and the reason when it cannot
run now), pause / resume / enable / disable, edit a trigger (with a preview of the next runs),
add a job for a registered function, delete a custom job, reload the built-in jobs from YAML.
Errors are JSON, like every answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext

from scheduling import job_configs
from scheduling.config import JOB_ID, ConfigError, load_default_tasks
from scheduling.functions import available_functions
from scheduling.models import JobConfig, SchedulerCommand
from scheduling.status import scheduler_status
from scheduling.triggers import TriggerError, build_trigger, describe, next_run_times
from whalefall.api import json_error, only, permission_required, request_accepted, staff_permission
from whalefall.structured_logging import get_logger
from whalefall.sync.admission import refusal

logger = get_logger(__name__)
View = Callable[..., JsonResponse]
VIEW_PERM, MANAGE_PERM = "scheduling.view_jobconfig", "scheduling.manage_jobconfig"


def staff_perm(perm: str, *methods: str) -> Callable[[View], View]:
    """The core's JSON guard (401 / 403 / CSRF / 404 / 500, all JSON) plus a JSON 405 for another
    method: one mechanism for every API endpoint."""

    def decorator(view: View) -> View:
        return staff_permission(perm)(only(*methods)(view))

    return decorator


def _body(request: HttpRequest) -> dict[str, Any]:
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError as exc:
            raise ValueError(gettext("invalid JSON body: %(error)s") % {"error": exc}) from None
        if not isinstance(data, dict):
            raise ValueError(gettext("the JSON body must be an object"))
        return data
    return {k: request.POST.get(k) for k in request.POST}


def job_dict(config: JobConfig) -> dict[str, Any]:
    next_run = getattr(config, "next_run_at", None)
    return {
        "id": config.id,
        "name": config.name,
        "description": config.description,
        "function": config.function,
        "trigger_type": config.trigger_type,
        "trigger_params": config.trigger_params,
        "trigger": config.describe_trigger(),
        "state": config.state,
        "unavailable_reason": config.unavailable_reason,
        "builtin": config.builtin,
        "next_run_time": next_run.isoformat() if next_run and config.state == "scheduled" else None,
        "last_run": {
            "status": getattr(config, "last_run_status", None),
            "run_time": run_at.isoformat() if (run_at := getattr(config, "last_run_at", None)) else None,
            "duration": float(took) if (took := getattr(config, "last_run_duration", None)) else None,
            "session_id": str(session.session_id) if (session := config.last_session) else None,
        },
    }


def _trigger_from(data: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(type, params, preview) from a body, or TriggerError naming the bad field."""
    trigger_type = data.get("trigger_type") or ""
    params = data.get("trigger_params") or {}
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            raise TriggerError("trigger_params", gettext("must be a JSON object")) from None
    trigger = build_trigger(trigger_type, params)
    preview = {
        "trigger": describe(trigger_type, params),
        "next_runs": [t.isoformat() for t in next_run_times(trigger, 5)],
    }
    return trigger_type, params, preview


@staff_perm(VIEW_PERM, "GET")
def status(request: HttpRequest) -> JsonResponse:
    return JsonResponse(scheduler_status().as_dict())


@staff_perm(VIEW_PERM, "GET", "POST")
def jobs(request: HttpRequest) -> JsonResponse:
    """GET: the jobs. POST (manage permission): add a custom job for a registered function."""
    if request.method == "POST":
        return _add_job(request)
    return JsonResponse(
        {
            "scheduler": scheduler_status().as_dict(),
            "jobs": [job_dict(c) for c in JobConfig.objects.with_runs()],
        }
    )


def _add_job(request: HttpRequest) -> JsonResponse:
    if not request.user.has_perm(MANAGE_PERM):
        return json_error(permission_required(MANAGE_PERM), 403)
    try:
        data = _body(request)
        job_id = str(data.get("id") or "").strip()
        if not JOB_ID.match(job_id):
            return json_error(
                gettext("id: use snake_case {action}_{frequency}, e.g. sync_accounts_hourly"), 400
            )
        function = str(data.get("function") or "")
        if function not in available_functions():
            return json_error(
                gettext("function: %(function)r is not a registered, available task function")
                % {"function": function},
                400,
            )
        trigger_type, params, preview = _trigger_from(data)
    except TriggerError as exc:
        return json_error(str(exc), 400, field=exc.field)
    except ValueError as exc:
        return json_error(str(exc), 400)
    name = str(data.get("name") or job_id)[:200]
    try:
        with transaction.atomic():
            config = JobConfig.objects.create(
                id=job_id,
                name=name,
                description=str(data.get("description") or ""),
                function=function,
                trigger_type=trigger_type,
                trigger_params=params,
                enabled=data.get("enabled", True) not in (False, "false", "0", ""),
            )
    except IntegrityError:
        return json_error(gettext("a job %(job)s already exists") % {"job": job_id}, 409)
    command = SchedulerCommand.queue("add", config.id, request.user.get_username())
    return JsonResponse({**job_dict(config), "command_id": command.pk, "preview": preview}, status=201)


@staff_perm(VIEW_PERM, "GET", "DELETE")
def job_detail(request: HttpRequest, job_id: str) -> JsonResponse:
    if request.method == "DELETE":
        return _delete(request, job_id)
    return JsonResponse(job_dict(get_object_or_404(JobConfig.objects.with_runs(), pk=job_id)))


def _delete(request: HttpRequest, job_id: str) -> JsonResponse:
    if not request.user.has_perm(MANAGE_PERM):
        return json_error(permission_required(MANAGE_PERM), 403)
    config = get_object_or_404(JobConfig, pk=job_id)
    try:
        command = config.remove(by=request.user.get_username())
    except PermissionError as exc:
        return json_error(str(exc), 409)
    return JsonResponse({"deleted": job_id, "command_id": command.pk}, status=202)


STATE_ACTIONS = {"pause", "resume", "enable", "disable"}


@staff_perm(MANAGE_PERM, "POST")
def job_action(request: HttpRequest, job_id: str, action: str) -> JsonResponse:
    """run -> {"request_id"} or 409; pause/resume/enable/disable -> {"command_id"};
    trigger -> validate, preview (`"preview": true` saves nothing) and save; delete -> custom only."""
    config = get_object_or_404(JobConfig, pk=job_id)
    user = request.user.get_username()
    if action == "run":
        reason = config.unavailable_reason or refusal(config.function, config.id)
        if reason:
            return json_error(reason, 409)
        return JsonResponse(request_accepted(config.request_run(by=user)), status=202)
    if action == "trigger":
        try:
            data = _body(request)
            trigger_type, params, preview = _trigger_from(data)
        except TriggerError as exc:
            return json_error(str(exc), 400, field=exc.field)
        except ValueError as exc:
            return json_error(str(exc), 400)
        if data.get("preview") in (True, "true", "1"):
            return JsonResponse({"saved": False, **preview})
        command = config.set_trigger(trigger_type, params, user)
        return JsonResponse({"saved": True, "command_id": command.pk, **preview}, status=202)
    if action == "delete":
        return _delete(request, job_id)
    if action not in STATE_ACTIONS:
        return json_error(gettext("unknown action %(action)r") % {"action": action}, 404)
    command = getattr(config, action)(by=user)
    return JsonResponse({"command_id": command.pk, "state": config.state}, status=202)


@staff_perm(MANAGE_PERM, "POST")
def reload(request: HttpRequest) -> JsonResponse:
    """Reset the built-in jobs to scheduler_tasks.yaml (custom jobs are kept), as the admin does."""
    try:
        loaded = load_default_tasks()
    except ConfigError as exc:
        return json_error(gettext("cannot reload: %(error)s") % {"error": exc}, 400)
    count = job_configs.reload_from_yaml(loaded.specs, by=request.user.get_username())
    return JsonResponse({"reloaded": count, "source": str(loaded.source)}, status=202)
