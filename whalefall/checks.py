"""System checks: refuse to run production without the secrets it needs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext


@register(Tags.security, deploy=True)
def encryption_key_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """whalefall.E001: credentials need a real key when DEBUG is off."""
    from whalefall import crypto

    if settings.DEBUG and not settings.WHALEFALL_ENCRYPTION_KEYS:
        return []
    try:
        crypto.cipher()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="whalefall.E001")]
    return []


@register()
def secret_key_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """whalefall.E002: without DEBUG a SECRET_KEY must be given."""
    try:
        key = settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to hand out an empty key: report it, not crash
        key = ""
    if not settings.DEBUG and not key:
        return [Error(gettext("SECRET_KEY is empty; set it in the environment."), id="whalefall.E002")]
    return []
