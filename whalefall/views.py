"""Small JSON views of the core."""

from __future__ import annotations

from django.apps import apps
from django.db import connection
from django.http import HttpRequest, JsonResponse


def _scheduler() -> dict[str, object] | None:
    # Asked by app label so the core does not import the scheduling app (SPEC §2).
    if not apps.is_installed("scheduling"):
        return None
    from scheduling.status import scheduler_status

    return scheduler_status().as_dict()


def health(request: HttpRequest) -> JsonResponse:
    """Liveness for monitoring: the metadata database answers, and whether a scheduler is alive."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        db_ok = True
    except Exception:  # noqa: BLE001 - report, do not crash the probe
        db_ok = False
    body: dict[str, object] = {"database": "ok" if db_ok else "error"}
    if db_ok:
        body["scheduler"] = _scheduler()
    return JsonResponse(body, status=200 if db_ok else 503)
