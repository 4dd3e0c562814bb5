"""Per-instance transport options reach the SQL Server and Oracle drivers (their connect()
functions replaced, their arguments inspected), and thin mode's refusals get a clear kind."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import oracledb
import pymssql
import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from oracledb import errors as oracle_errors

from whalefall.admin.instances import CredentialForm
from whalefall.connections import connector_class
from whalefall.connections.base import ConnectionParams, ConnectorError, ErrorKind
from whalefall.models import Credential, Instance
from whalefall.tests.factories import CredentialFactory, InstanceFactory


def params(**kw: Any) -> ConnectionParams:
    base = {"host": "db.example", "port": 1433, "user": "mon", "password": "Never-Show-Me-42"}
    return ConnectionParams(**(base | kw))


def captured(monkeypatch: pytest.MonkeyPatch, module: Any) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def connect(**kwargs: Any) -> Any:
        seen.update(kwargs)
        return SimpleNamespace(close=lambda: None, call_timeout=0)

    monkeypatch.setattr(module, "connect", connect)
    return seen


# --- SQL Server ---------------------------------------------------------------------------------
@pytest.mark.parametrize("tls", ["off", "request", "require"])
def test_sqlserver_encryption_reaches_pymssql(monkeypatch: pytest.MonkeyPatch, tls: str) -> None:
    seen = captured(monkeypatch, pymssql)
    connector_class("sqlserver")(params(tls=tls, trust_server_certificate=True)).connect()
    assert seen["encryption"] == tls and seen["server"] == "db.example"


def test_sqlserver_without_a_setting_keeps_the_driver_default(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = captured(monkeypatch, pymssql)
    connector_class("sqlserver")(params()).connect()
    assert "encryption" not in seen


def test_pymssql_accepts_exactly_these_encryption_levels() -> None:
    """The installed pymssql checks `encryption` against FreeTDS's levels before connecting."""
    with pytest.raises(ValueError, match="'default', 'off', 'request', 'require'"):
        pymssql.connect(server="127.0.0.1", port="1", encryption="strict", login_timeout=1)


def test_sqlserver_refuses_unverifiable_certificate_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = captured(monkeypatch, pymssql)
    monkeypatch.delenv("FREETDSCONF", raising=False)
    with pytest.raises(ConnectorError) as info:
        connector_class("sqlserver")(params(tls="require")).connect()
    assert info.value.kind is ErrorKind.UNSUPPORTED and not info.value.transient
    assert "ca file" in info.value.message and not seen


def test_sqlserver_verifies_with_a_freetds_ca_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conf = tmp_path / "freetds.conf"
    conf.write_text("[global]\n\tca file = /etc/ssl/certs/ca-certificates.crt\n")
    monkeypatch.setenv("FREETDSCONF", str(conf))
    seen = captured(monkeypatch, pymssql)
    connector_class("sqlserver")(params(tls="require")).connect()
    assert seen["encryption"] == "require"


@pytest.mark.parametrize(
    ("engine_edition", "flavor"), [(5, "Azure SQL Database"), (3, "SQL Server Enterprise Edition (64-bit)")]
)
def test_sqlserver_names_azure_sql_database_from_its_engine_edition(
    monkeypatch: pytest.MonkeyPatch, engine_edition: int, flavor: str
) -> None:
    """SERVERPROPERTY('EngineEdition'): 5 = Azure SQL Database, 3 = Enterprise (and Developer)."""
    conn = connector_class("sqlserver")(params())
    row = {
        "product_version": "16.0.4135.4",
        "edition": "Enterprise Edition (64-bit)",
        "engine_edition": engine_edition,
    }
    monkeypatch.setattr(conn, "fetch_all", lambda sql, params=None: [row])
    assert conn.server_info().flavor == flavor


# --- Oracle -------------------------------------------------------------------------------------
def test_oracle_service_name_or_sid_reaches_oracledb(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = captured(monkeypatch, oracledb)
    connector_class("oracle")(params(port=1521, database="SALESPDB")).connect()
    assert seen["service_name"] == "SALESPDB" and "sid" not in seen and "protocol" not in seen
    seen.clear()
    connector_class("oracle")(params(port=1521, database="ORCL", oracle_sid=True)).connect()
    assert seen["sid"] == "ORCL" and "service_name" not in seen


def test_oracle_never_guesses_a_service_name(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = captured(monkeypatch, oracledb)
    with pytest.raises(ConnectorError) as info:
        connector_class("oracle")(params(port=1521)).connect()
    assert "service name or SID" in info.value.message and info.value.permanent and not seen


def test_oracle_tcps_with_a_wallet_reaches_oracledb(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = captured(monkeypatch, oracledb)
    p = params(
        port=2484,
        database="SALESPDB",
        tls="require",
        wallet_location="/etc/wf/wallet",
        wallet_password="w4llet-pw",
    )
    connector_class("oracle")(p).connect()
    assert seen["protocol"] == "tcps" and seen["ssl_server_dn_match"] is True
    assert (seen["wallet_location"], seen["wallet_password"]) == ("/etc/wf/wallet", "w4llet-pw")
    assert "ssl_context" not in seen


def test_oracle_tcps_trusting_the_server_skips_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    import ssl

    seen = captured(monkeypatch, oracledb)
    connector_class("oracle")(
        params(port=2484, database="P", tls="require", trust_server_certificate=True)
    ).connect()
    assert seen["ssl_context"].verify_mode == ssl.CERT_NONE and seen["ssl_server_dn_match"] is False


def test_oracle_refuses_request_level_encryption() -> None:
    with pytest.raises(ConnectorError, match="TCP or TCPS"):
        connector_class("oracle")(params(port=1521, database="P", tls="request")).connect_kwargs()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        (
            oracle_errors._create_err(
                oracle_errors.ERR_FEATURE_NOT_SUPPORTED,
                feature="Native Network Encryption and Data Integrity",
                driver_type="thick",
            ),
            "TCPS",
        ),
        (oracle_errors._create_err(oracle_errors.ERR_SERVER_VERSION_NOT_SUPPORTED), "12.1"),
        (
            oracle_errors._create_err(oracle_errors.ERR_UNSUPPORTED_VERIFIER_TYPE, verifier_type=0x939),
            "verifier",
        ),
        (oracle_errors._create_err(oracle_errors.ERR_DB_CS_NOT_SUPPORTED, charset_id=99), "character set"),
    ],
)
def test_thin_mode_refusals_are_unsupported_with_a_hint(error: Any, hint: str) -> None:
    conn = connector_class("oracle")(params(port=1521, database="P"))
    with pytest.raises(ConnectorError) as info, conn.translate_errors():
        raise oracledb.NotSupportedError(error)
    assert info.value.kind is ErrorKind.UNSUPPORTED and info.value.permanent
    assert hint in info.value.message


# --- where the options live -----------------------------------------------------------------------
@pytest.mark.django_db
def test_instance_options_and_the_wallet_password_reach_the_params() -> None:
    cred = CredentialFactory()
    cred.set_wallet_password("w4llet-pw")
    cred.save()
    instance = InstanceFactory(
        db_type="oracle",
        database="ORCL",
        oracle_sid=True,
        tls="require",
        wallet_location="/w",
        credential=cred,
    )
    p = Instance.objects.get(pk=instance.pk).connection_params()
    assert (p.oracle_sid, p.tls, p.wallet_location, p.wallet_password) == (True, "require", "/w", "w4llet-pw")
    assert "w4llet-pw" not in repr(p) and "w4llet-pw" not in cred.wallet_password_encrypted
    assert "w4llet-pw" not in p.clean("wallet w4llet-pw refused")


@pytest.mark.django_db
def test_the_credential_form_stores_the_wallet_password_encrypted() -> None:
    form = CredentialForm(
        data={"name": "ora", "username": "mon", "password": "pw-123", "wallet_password": "w4llet-pw"}
    )
    assert form.is_valid(), form.errors
    cred = form.save()
    stored = Credential.objects.get(pk=cred.pk)
    assert stored.get_wallet_password() == "w4llet-pw" and "w4llet-pw" not in stored.wallet_password_encrypted


@pytest.mark.django_db
def test_an_instance_refuses_options_its_engine_cannot_honour() -> None:
    with pytest.raises(ValidationError):
        Instance(db_type="oracle", database="P", tls="request").clean()
    with pytest.raises(ValidationError):
        Instance(db_type="oracle", database="").clean()
    with pytest.raises(ValidationError):
        Instance(db_type="sqlserver", oracle_sid=True).clean()


@pytest.mark.django_db
def test_add_instance_takes_the_connection_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WF_PW", "pw-123")
    monkeypatch.setenv("WF_WALLET", "w4llet-pw")
    args = [
        "--name",
        "ora1",
        "--db-type",
        "oracle",
        "--host",
        "h",
        "--username",
        "mon",
        "--password-env",
        "WF_PW",
    ]
    call_command(
        "add_instance",
        *args,
        "--database",
        "ORCL",
        "--sid",
        "--encryption",
        "require",
        "--wallet-location",
        "/w",
        "--wallet-password-env",
        "WF_WALLET",
        stdout=StringIO(),
    )
    instance = Instance.objects.get(name="ora1")
    assert (instance.oracle_sid, instance.tls, instance.wallet_location) == (True, "require", "/w")
    assert instance.credential.get_wallet_password() == "w4llet-pw"  # type: ignore[union-attr]
    with pytest.raises(CommandError, match="TCP"):
        call_command(
            "add_instance", *args, "--database", "ORCL", "--encryption", "request", stdout=StringIO()
        )
