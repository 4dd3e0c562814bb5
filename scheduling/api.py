"""Scheduler JSON endpoints (SPEC §8): staff session auth, CSRF on writes, same permissions as the admin."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET, require_POST

from scheduling.models import JobConfig
from scheduling.status import scheduler_status

View = Callable[..., JsonResponse]


def staff_perm(perm: str) -> Callable[[View], View]:
    """401 for anonymous or non-staff users, 403 without `perm`."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            if not (request.user.is_authenticated and request.user.is_staff):
                return JsonResponse({"error": "authentication required"}, status=401)
            if not request.user.has_perm(perm):
                return JsonResponse({"error": f"permission {perm} required"}, status=403)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


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
            "run_time": config.last_run_at.isoformat() if getattr(config, "last_run_at", None) else None,
            "duration": float(config.last_run_duration)
            if getattr(config, "last_run_duration", None)
            else None,
            "session_id": str(config.last_session.session_id) if config.last_session_id else None,
        },
    }


@require_GET
@staff_perm("scheduling.view_jobconfig")
def status(request: HttpRequest) -> JsonResponse:
    return JsonResponse(scheduler_status().as_dict())


@require_GET
@staff_perm("scheduling.view_jobconfig")
def jobs(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "scheduler": scheduler_status().as_dict(),
            "jobs": [job_dict(c) for c in JobConfig.objects.with_runs()],
        }
    )


@require_GET
@staff_perm("scheduling.view_jobconfig")
def job_detail(request: HttpRequest, job_id: str) -> JsonResponse:
    return JsonResponse(job_dict(get_object_or_404(JobConfig.objects.with_runs(), pk=job_id)))


ACTIONS = {"pause", "resume", "enable", "disable", "run"}


@require_POST
@staff_perm("scheduling.manage_jobconfig")
def job_action(request: HttpRequest, job_id: str, action: str) -> JsonResponse:
    """run -> {"request_id"}; pause/resume/enable/disable -> {"command_id"} (applied within seconds)."""
    config = get_object_or_404(JobConfig, pk=job_id)
    user = request.user.get_username()
    if action not in ACTIONS:
        return JsonResponse({"error": f"unknown action {action!r}"}, status=404)
    if action == "run":
        if config.unavailable_reason:
            return JsonResponse({"error": config.unavailable_reason}, status=409)
        return JsonResponse({"request_id": config.request_run(by=user).pk}, status=202)
    command = getattr(config, action)(by=user)
    return JsonResponse({"command_id": command.pk, "state": config.state}, status=202)
