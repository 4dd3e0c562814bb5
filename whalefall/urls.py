from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    # set_language: the language switcher in the admin header posts here (CSRF-protected).
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("whalefall.api_urls")),
]
