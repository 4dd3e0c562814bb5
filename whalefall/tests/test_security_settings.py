"""Headers and secrets at rest: the Content-Security-Policy, the development encryption key."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from whalefall import crypto


@pytest.fixture
def no_key(settings: Any, tmp_path: Path) -> Path:
    """DEBUG on, no WHALEFALL_ENCRYPTION_KEY, the key file in a fresh "installation"."""
    settings.DEBUG = True
    settings.WHALEFALL_ENCRYPTION_KEYS = []
    settings.WHALEFALL_DEV_KEY_FILE = str(tmp_path / "whalefall-dev-encryption.key")
    crypto._cipher.cache_clear()
    yield Path(settings.WHALEFALL_DEV_KEY_FILE)
    crypto._cipher.cache_clear()


def test_it_generates_a_private_random_key_per_installation(no_key: Path, settings: Any) -> None:
    token = crypto.encrypt("s3cret")

    assert stat.S_IMODE(no_key.stat().st_mode) == 0o600
    assert Fernet(no_key.read_bytes()).decrypt(token.encode()) == b"s3cret"
    # Not the key the public default SECRET_KEY would give (what earlier versions derived).
    derived = base64.urlsafe_b64encode(
        hashlib.sha256(b"whalefall-dev:" + settings.SECRET_KEY.encode()).digest()
    )
    assert no_key.read_bytes().strip() != derived
    crypto._cipher.cache_clear()
    assert crypto.decrypt(token) == "s3cret"  # the same file, the same key after a restart


def test_two_installations_get_different_keys(no_key: Path, settings: Any, tmp_path: Path) -> None:
    crypto.encrypt("x")
    settings.WHALEFALL_DEV_KEY_FILE = str(tmp_path / "other.key")
    crypto.encrypt("x")
    assert no_key.read_bytes() != (tmp_path / "other.key").read_bytes()


def test_it_refuses_a_key_file_others_can_read(no_key: Path) -> None:
    no_key.write_bytes(Fernet.generate_key())
    no_key.chmod(0o644)
    with pytest.raises(ImproperlyConfigured, match="chmod 600"):
        crypto.encrypt("x")


def test_it_refuses_without_a_place_for_the_key(no_key: Path, settings: Any) -> None:
    settings.WHALEFALL_DEV_KEY_FILE = ""
    with pytest.raises(ImproperlyConfigured, match="WHALEFALL_ENCRYPTION_KEY is not set"):
        crypto.encrypt("x")


def test_the_default_key_file_lies_beside_the_sqlite_database(settings: Any) -> None:
    if not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        assert settings.WHALEFALL_DEV_KEY_FILE == ""
        return
    assert Path(settings.WHALEFALL_DEV_KEY_FILE).parent == Path(settings.DATABASES["default"]["NAME"]).parent


CSP_MUST = {
    "default-src": "'self'",
    "script-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def parse_csp(header: str) -> dict[str, str]:
    return {d.split()[0]: " ".join(d.split()[1:]) for d in header.split(";") if d.strip()}


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/admin/login/", "/admin/", "/health/", "/api/sync/status"])
def test_every_response_carries_the_content_security_policy(url: str, admin_client: Client) -> None:
    response = admin_client.get(url)
    policy = parse_csp(response["Content-Security-Policy"])
    for directive, value in CSP_MUST.items():
        assert policy[directive] == value, directive
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]


@pytest.mark.django_db
def test_no_template_carries_an_inline_script() -> None:
    """Inline scripts would be blocked by the policy: they belong in static files."""
    root = Path(__file__).resolve().parents[2]
    offenders = [
        str(path.relative_to(root))
        for path in root.glob("*/templates/**/*.html")
        if _inline_script(path.read_text())
    ] + [
        str(p.relative_to(root))
        for p in (root / "templates").glob("**/*.html")
        if _inline_script(p.read_text())
    ]
    assert offenders == []


def _inline_script(text: str) -> bool:
    import re

    return any(
        "src=" not in tag and "application/json" not in tag for tag in re.findall(r"<script\b[^>]*>", text)
    )
