"""Staff JSON API for sync sessions (SPEC §8). Session auth; Django's CSRF check guards writes."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET, require_POST

from whalefall.choices import SyncCategory
from whalefall.dispatch import SYNC_TASKS, submit
from whalefall.models import SyncInstanceRecord, SyncLock, SyncSession

View = Callable[..., JsonResponse]


def staff_permission(perm: str) -> Callable[[View], View]:
    """401 for anonymous, 403 for non-staff or without `perm`: JSON, never a login redirect."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            if not request.user.is_authenticated:
                return JsonResponse({"success": False, "error": "authentication required"}, status=401)
            if not (request.user.is_staff and request.user.has_perm(perm)):
                return JsonResponse({"success": False, "error": f"permission {perm} required"}, status=403)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


VIEW = "whalefall.view_syncsession"
MANAGE = "whalefall.manage_syncsession"


def session_json(s: SyncSession) -> dict[str, Any]:
    return {
        "session_id": str(s.session_id),
        "category": s.category,
        "trigger": s.trigger,
        "status": s.status,
        "created_by": s.created_by,
        "started_at": s.started_at.isoformat(),
        "finished_at": s.finished_at.isoformat() if s.finished_at else None,
        "duration": s.duration,
        "total_instances": s.total_instances,
        "successful_instances": s.successful_instances,
        "failed_instances": s.failed_instances,
        "error": s.error,
        "is_read": s.is_read,
    }


def record_json(r: SyncInstanceRecord) -> dict[str, Any]:
    return {
        "instance_id": r.instance_id,
        "instance_name": r.instance_name,
        "status": r.status,
        "started_at": r.started_at.isoformat() if r.started_at else None,
        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
        "attempts": r.attempts,
        "items_synced": r.items_synced,
        "items_created": r.items_created,
        "items_updated": r.items_updated,
        "items_deleted": r.items_deleted,
        "failed_phase": r.failed_phase,
        "error_message": r.error_message,
        "sync_details": r.sync_details,
    }


@require_GET
@staff_permission(VIEW)
def sync_status(request: HttpRequest) -> JsonResponse:
    locks = {lock.category: lock for lock in SyncLock.objects.all()}
    data = {}
    for category in SyncCategory.values:
        last = SyncSession.objects.filter(category=category).first()
        lock = locks.get(category)
        data[category] = {
            "running": lock is not None,
            "locked_by": lock.owner if lock else None,
            "locked_at": lock.locked_at.isoformat() if lock else None,
            "last_session": session_json(last) if last else None,
        }
    return JsonResponse({"success": True, "data": data})


@require_GET
@staff_permission(VIEW)
def session_list(request: HttpRequest) -> JsonResponse:
    qs = SyncSession.objects.all()
    category = request.GET.get("category")
    if category:
        if category not in SyncCategory.values:
            return JsonResponse({"success": False, "error": f"unknown category {category!r}"}, status=400)
        qs = qs.filter(category=category)
    try:
        per_page = min(max(int(request.GET.get("per_page", 20)), 1), 200)
        page_no = max(int(request.GET.get("page", 1)), 1)
    except ValueError:
        return JsonResponse({"success": False, "error": "page and per_page must be integers"}, status=400)
    paginator = Paginator(qs, per_page)
    page = paginator.get_page(page_no)
    return JsonResponse(
        {
            "success": True,
            "data": {
                "sessions": [session_json(s) for s in page.object_list],
                "total": paginator.count,
                "page": page.number,
                "per_page": per_page,
                "pages": paginator.num_pages,
                "unread_count": SyncSession.objects.unread().count(),
                "unread_failures": SyncSession.objects.unread_failures().count(),
            },
        }
    )


@require_GET
@staff_permission(VIEW)
def session_detail(request: HttpRequest, session_id: str) -> JsonResponse:
    session = get_object_or_404(SyncSession, session_id=session_id)
    data = session_json(session) | {"records": [record_json(r) for r in session.records.all()]}
    return JsonResponse({"success": True, "data": data})


@require_POST
@staff_permission(MANAGE)
def session_mark_read(request: HttpRequest, session_id: str) -> JsonResponse:
    get_object_or_404(SyncSession, session_id=session_id)
    SyncSession.objects.filter(session_id=session_id).mark_read()
    return JsonResponse({"success": True, "message": "marked as read"})


@require_POST
@staff_permission(MANAGE)
def session_read_all(request: HttpRequest) -> JsonResponse:
    count = SyncSession.objects.mark_read()
    return JsonResponse({"success": True, "message": f"marked {count} session(s) as read", "count": count})


@require_POST
@staff_permission(MANAGE)
def trigger(request: HttpRequest, category: str) -> JsonResponse:
    """Queue a manual run of `category` for the scheduler process (202: accepted, not done)."""
    if category not in SYNC_TASKS:
        return JsonResponse({"success": False, "error": f"unknown category {category!r}"}, status=404)
    req = submit(
        SYNC_TASKS[category],
        requested_by=request.user.get_username(),
        trigger="manual",
        created_by=request.user.get_username(),
    )
    return JsonResponse({"success": True, "request_id": req.pk, "status": req.status}, status=202)
