"""Encryption of credentials at rest (Fernet, with key rotation through MultiFernet).

The key comes from WHALEFALL_ENCRYPTION_KEY. With DEBUG on and no key, a laptop still works
out of the box: a random key is generated once per installation and kept in a file beside the
SQLite database (`WHALEFALL_DEV_KEY_FILE`, mode 0600). It is never derived from SECRET_KEY,
whose development default is a public constant. With DEBUG off a key is mandatory (system
check `whalefall.E001`). A wrong key never yields an empty password: it raises
`CredentialDecryptionError`.
"""

from __future__ import annotations

import os
import stat
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class CredentialDecryptionError(Exception):
    """The stored secret cannot be decrypted with the configured key(s)."""


def installation_key(path: str) -> bytes:
    """The development key in `path`, created (random, mode 0600) on first use.

    Created with O_EXCL so two processes starting together agree on one key; refused if the
    file is readable by others, as ssh does with a private key.
    """
    if not path:
        raise ImproperlyConfigured(
            "WHALEFALL_ENCRYPTION_KEY is not set and there is no SQLite database to keep a "
            "generated development key beside; set WHALEFALL_ENCRYPTION_KEY "
            "(python manage.py generate_encryption_key)"
        )
    file = Path(path)
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as out:
            out.write(Fernet.generate_key())
    if stat.S_IMODE(file.stat().st_mode) & 0o077:
        raise ImproperlyConfigured(f"{file} is readable by other users; chmod 600 it")
    return file.read_bytes().strip()


@lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...], debug: bool, key_file: str) -> MultiFernet:
    if not keys:
        if not debug:
            raise ImproperlyConfigured(
                "WHALEFALL_ENCRYPTION_KEY is not set; it is required when DEBUG is off. "
                "Generate one with: python manage.py generate_encryption_key"
            )
        return MultiFernet([Fernet(installation_key(key_file))])
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "WHALEFALL_ENCRYPTION_KEY is not a valid Fernet key (32 url-safe base64-encoded bytes)."
        ) from exc


def cipher() -> MultiFernet:
    """The configured cipher; raises ImproperlyConfigured on a missing or malformed key."""
    key_file = getattr(settings, "WHALEFALL_DEV_KEY_FILE", "")
    return _cipher(tuple(settings.WHALEFALL_ENCRYPTION_KEYS), settings.DEBUG, key_file)


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
