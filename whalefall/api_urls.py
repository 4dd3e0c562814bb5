"""JSON endpoints of the core; apps add theirs from their `AppConfig.ready()` (`whalefall.extensions`)."""

from django.urls import include, path

from whalefall import api, extensions, views

urlpatterns = [
    path("health/", views.health, name="health"),
    path("api/sync/status", api.sync_status, name="api-sync-status"),
    path("api/sync/sessions", api.session_list, name="api-sync-sessions"),
    path("api/sync/sessions/read-all", api.session_read_all, name="api-sync-read-all"),
    path("api/sync/sessions/<uuid:session_id>", api.session_detail, name="api-sync-session"),
    path("api/sync/sessions/<uuid:session_id>/read", api.session_mark_read, name="api-sync-session-read"),
    path("api/sync/<str:category>/trigger", api.trigger, name="api-sync-trigger"),
    path("api/requests/<int:request_id>/", api.request_detail, name="api-request"),
    *[path("", include(module)) for module in extensions.api_url_modules()],
    path("api/<path:rest>", api.not_found, name="api-not-found"),
]
