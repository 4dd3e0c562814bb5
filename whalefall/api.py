"""Staff JSON API for sync sessions. Session auth; Django's CSRF check guards writes."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext, ngettext
from django.views.decorators.csrf import csrf_exempt

from whalefall import task_registry
from whalefall.choices import SyncCategory
from whalefall.dispatch import submit
from whalefall.models import SyncInstanceRecord, SyncLock, SyncSession, TaskRequest
from whalefall.structured_logging import get_logger
from whalefall.sync.admission import refusal

logger = get_logger(__name__)

View = Callable[..., JsonResponse]


def json_error(message: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"success": False, "error": message, **extra}, status=status)


class _JsonCsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check, with the refusal as JSON instead of the HTML failure page."""

    def _reject(self, request: HttpRequest, reason: str) -> JsonResponse:
        return json_error(gettext("CSRF check failed: %(reason)s") % {"reason": reason}, 403)


_csrf = _JsonCsrfCheck(lambda request: HttpResponse())


def staff_permission(perm: str) -> Callable[[View], View]:
    """JSON for every outcome: 401 anonymous, 403 non-staff / without `perm` / failed CSRF,
    404 unknown object, 500 unexpected error; never a login redirect or an HTML page."""

    def decorator(view: View) -> View:
        @csrf_exempt  # checked below, so that the refusal is JSON
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            if not request.user.is_authenticated:
                return json_error(gettext("authentication required"), 401)
            if not (request.user.is_staff and request.user.has_perm(perm)):
                return json_error(permission_required(perm), 403)
            if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
                refused = _csrf.process_view(request, view, (), {})
                if refused is not None:  # our _reject: JSON
                    return cast(JsonResponse, refused)
            try:
                return view(request, *args, **kwargs)
            except Http404 as exc:
                return json_error(str(exc) or gettext("not found"), 404)
            except Exception:
                logger.exception("api_error", path=request.path)
                return json_error(gettext("internal error (logged)"), 500)

        return wrapped

    return decorator


def permission_required(perm: str) -> str:
    return gettext("permission %(permission)s required") % {"permission": perm}


def only(*methods: str) -> Callable[[View], View]:
    """require_http_methods with a JSON 405."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            if request.method not in methods:
                response = json_error(
                    gettext("method %(method)s not allowed") % {"method": request.method}, 405
                )
                response["Allow"] = ", ".join(methods)
                return response
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any other /api/ path: a JSON 404, not Django's HTML page."""
    return json_error(gettext("no API endpoint %(path)s") % {"path": request.path}, 404)


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


@staff_permission(VIEW)
@only("GET")
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


@staff_permission(VIEW)
@only("GET")
def session_list(request: HttpRequest) -> JsonResponse:
    qs = SyncSession.objects.all()
    category = request.GET.get("category")
    if category:
        if category not in SyncCategory.values:
            return json_error(unknown_category(category), 400)
        qs = qs.filter(category=category)
    try:
        per_page = min(max(int(request.GET.get("per_page", 20)), 1), 200)
        page_no = max(int(request.GET.get("page", 1)), 1)
    except ValueError:
        return json_error(gettext("page and per_page must be integers"), 400)
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


@staff_permission(VIEW)
@only("GET")
def session_detail(request: HttpRequest, session_id: str) -> JsonResponse:
    session = get_object_or_404(SyncSession, session_id=session_id)
    data = session_json(session) | {"records": [record_json(r) for r in session.records.all()]}
    return JsonResponse({"success": True, "data": data})


@staff_permission(MANAGE)
@only("POST")
def session_mark_read(request: HttpRequest, session_id: str) -> JsonResponse:
    get_object_or_404(SyncSession, session_id=session_id)
    SyncSession.objects.filter(session_id=session_id).mark_read()
    return JsonResponse({"success": True, "message": gettext("marked as read")})


@staff_permission(MANAGE)
@only("POST")
def session_read_all(request: HttpRequest) -> JsonResponse:
    count = SyncSession.objects.mark_read()
    message = ngettext("marked %(count)d session as read", "marked %(count)d sessions as read", count) % {
        "count": count
    }
    return JsonResponse({"success": True, "message": message, "count": count})


@staff_permission(MANAGE)
@only("POST")
def trigger(request: HttpRequest, category: str) -> JsonResponse:
    """Queue a manual run of `category` for the scheduler: 202 with the request's id and where to
    follow it, or 409 at once with the reason when it cannot run now."""
    task = task_registry.for_category(category)
    if task is None:
        return json_error(unknown_category(category), 404)
    reason = refusal(task.path)
    if reason:
        return json_error(reason, 409)
    user = request.user.get_username()
    req = submit(task.path, requested_by=user, trigger="manual", created_by=user)
    return JsonResponse(request_accepted(req), status=202)


def unknown_category(category: str) -> str:
    return gettext("unknown category %(category)r") % {"category": category}


def request_accepted(req: TaskRequest) -> dict[str, Any]:
    return {
        "success": True,
        "request_id": req.pk,
        "status": req.effective_status,
        "expires_at": req.expires_at.isoformat(),
        "url": f"/api/requests/{req.pk}/",
    }


@staff_permission(VIEW)
@only("GET")
def request_detail(request: HttpRequest, request_id: int) -> JsonResponse:
    """A run request's state (pending, running, done, failed, skipped, cancelled, refused,
    expired) and, once it ran, its session."""
    req = get_object_or_404(TaskRequest.objects.select_related("session"), pk=request_id)
    data = req.as_dict()
    if req.session_id:
        data["session"] = session_json(req.session)  # type: ignore[arg-type]
    return JsonResponse({"success": True, "data": data})
