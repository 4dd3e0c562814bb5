"""Encryption of credentials at rest (Fernet, with key rotation through MultiFernet).

The key comes from WHALEFALL_ENCRYPTION_KEY. With DEBUG on and no key, a key derived from
SECRET_KEY is used so a laptop works out of the box; with DEBUG off a key is mandatory
(system check `whalefall.E001`). A wrong key never yields an empty password: it raises
`CredentialDecryptionError`.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CredentialDecryptionError(Exception):
    """The stored secret cannot be decrypted with the configured key(s)."""


def _dev_key() -> bytes:
    digest = hashlib.sha256(("whalefall-dev:" + settings.SECRET_KEY).encode()).digest()
    return base64.urlsafe_b64encode(digest)


@lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...], debug: bool) -> MultiFernet:
    if not keys:
        if not debug:
            raise ImproperlyConfigured(
                "WHALEFALL_ENCRYPTION_KEY is not set; it is required when DEBUG is off. "
                "Generate one with: python manage.py generate_encryption_key"
            )
        return MultiFernet([Fernet(_dev_key())])
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "WHALEFALL_ENCRYPTION_KEY is not a valid Fernet key (32 url-safe base64-encoded bytes)."
        ) from exc


def cipher() -> MultiFernet:
    """The configured cipher; raises ImproperlyConfigured on a missing or malformed key."""
    return _cipher(tuple(settings.WHALEFALL_ENCRYPTION_KEYS), settings.DEBUG)


def encrypt(plaintext: str) -> str:
    return cipher().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return cipher().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise CredentialDecryptionError(
            "stored password cannot be decrypted: WHALEFALL_ENCRYPTION_KEY is not the key it "
            "was encrypted with (add the old key after the new one to rotate)"
        ) from exc


def generate_key() -> str:
    return Fernet.generate_key().decode()
