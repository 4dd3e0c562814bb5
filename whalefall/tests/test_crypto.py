from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from whalefall import crypto
from whalefall.crypto import CredentialDecryptionError
from whalefall.tests.factories import CredentialFactory


def test_it_round_trips_and_never_stores_plaintext(settings: object) -> None:
    token = crypto.encrypt("hunter2-secret")
    assert "hunter2" not in token
    assert crypto.decrypt(token) == "hunter2-secret"


@pytest.mark.django_db
def test_it_stores_credentials_encrypted() -> None:
    cred = CredentialFactory(password="Very$ecret1")
    cred.refresh_from_db()
    assert "Very$ecret1" not in cred.password_encrypted
    assert cred.get_password() == "Very$ecret1"
    assert "Very$ecret1" not in repr(cred) and "Very$ecret1" not in str(cred)


def test_it_refuses_a_wrong_key_instead_of_returning_empty(settings: object) -> None:
    settings.WHALEFALL_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    token = crypto.encrypt("pw-one")
    settings.WHALEFALL_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CredentialDecryptionError, match="WHALEFALL_ENCRYPTION_KEY"):
        crypto.decrypt(token)


def test_it_decrypts_with_an_old_key_after_rotation(settings: object) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.WHALEFALL_ENCRYPTION_KEYS = [old]
    token = crypto.encrypt("rotating")
    settings.WHALEFALL_ENCRYPTION_KEYS = [new, old]
    assert crypto.decrypt(token) == "rotating"
    assert crypto.MultiFernet([Fernet(new.encode())]).decrypt(crypto.encrypt("x").encode()) == b"x"


def test_it_requires_a_key_when_debug_is_off(settings: object) -> None:
    settings.DEBUG = False
    settings.WHALEFALL_ENCRYPTION_KEYS = []
    with pytest.raises(ImproperlyConfigured, match="WHALEFALL_ENCRYPTION_KEY is not set"):
        crypto.encrypt("x")


def test_it_rejects_a_malformed_key(settings: object) -> None:
    settings.WHALEFALL_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    with pytest.raises(ImproperlyConfigured, match="not a valid Fernet key"):
        crypto.encrypt("x")
