"""JSON endpoints (SPEC §8); apps add theirs here."""

from django.urls import include, path

from whalefall import views

urlpatterns = [
    path("health/", views.health, name="health"),
    path("", include("scheduling.api_urls")),
]
