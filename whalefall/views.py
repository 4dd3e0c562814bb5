"""Small JSON views of the core."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse


def health(request: HttpRequest) -> JsonResponse:
    """Liveness for monitoring: the metadata database answers (scheduler added by scheduling)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        db_ok = True
    except Exception:  # noqa: BLE001 - report, do not crash the probe
        db_ok = False
    return JsonResponse({"database": "ok" if db_ok else "error"}, status=200 if db_ok else 503)
