"""Small JSON views of the core: the health probe."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse

from whalefall import extensions


def _scheduler() -> dict[str, object] | None:
    # The scheduling app says how to ask (the core does not import its apps); None without it.
    status = extensions.executor_status()
    return status.as_dict() if status is not None else None


def _is_staff(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user and user.is_authenticated and user.is_staff)


def health(request: HttpRequest) -> JsonResponse:
    """Liveness for monitoring (load balancer, systemd, Kubernetes).

    Anyone gets `{"status": "ok"}` or `{"status": "not ok"}` (503): nothing about hosts or pids,
    which would help an attacker map the deployment. Staff also get the details: this web
    process, the metadata database and the scheduler (active or none, heartbeat age).
    `?scheduler=1` makes a scheduler that is not alive a failure (503), for a probe of the
    scheduler's side; without it the web process only answers for itself and the database.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        db_ok = True
    except Exception:  # noqa: BLE001 - report, do not crash the probe
        db_ok = False
    scheduler = _scheduler() if db_ok else None
    want_scheduler = request.GET.get("scheduler", "") not in ("", "0", "false")
    ok = db_ok and (not want_scheduler or bool(scheduler and scheduler.get("alive")))
    body: dict[str, object] = {"status": "ok" if ok else "not ok"}
    if _is_staff(request):
        body["web"] = {"status": "ok"}
        body["database"] = "ok" if db_ok else "error"
        body["scheduler"] = scheduler
    return JsonResponse(body, status=200 if ok else 503)
