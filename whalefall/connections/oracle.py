"""Oracle through python-oracledb in thin mode (no Instant Client).

Per instance: a service name or a SID (never a guessed default), plain TCP or TCPS (`tls` =
require) with an optional wallet directory and password (`ewallet.pem`; without one the system's
CA certificates verify the server). Thin mode's limits are refusals with the kind `unsupported`:
no Native Network Encryption (DPY-3001, use TCPS), no server before 12.1 (DPY-3010), no 10G
password verifier (DPY-3015), unknown character sets (DPY-3012, DPY-3040), no cryptography
package (DPY-3016).
"""

from __future__ import annotations

import ssl
from typing import Any

from whalefall.connections.base import (
    ConnectorError,
    DatabaseConnection,
    ErrorKind,
    ServerInfo,
    import_driver,
    parse_version,
)

AUTH_CODES: frozenset[int | str] = frozenset(
    {"ORA-01017", "ORA-28000", "ORA-28001", "ORA-01005", "ORA-01004", "DPY-4001"}
)
PRIVILEGE_CODES: frozenset[int | str] = frozenset(
    {"ORA-01031", "ORA-00942", "ORA-01045", "ORA-01039", "ORA-01749"}
)
TIMEOUT_CODES: frozenset[int | str] = frozenset(
    {"DPY-4024", "ORA-03156", "DPI-1067", "DPY-4005", "ORA-01013"}
)
UNREACHABLE_CODES: frozenset[int | str] = frozenset(
    {
        "DPY-6005",
        "DPY-6000",
        "DPY-6001",
        "DPY-4011",
        "ORA-12514",
        "ORA-12505",
        "ORA-12541",
        "ORA-12170",
        "ORA-03113",
        "ORA-03114",
        "ORA-12537",
        "ORA-12528",
        "ORA-12520",
    }
)


# Thin mode cannot do what the server asks: permanent, with what to do about it.
UNSUPPORTED: dict[str, str] = {
    "DPY-3001": "thin mode has no Native Network Encryption: configure TCPS (TLS) for this instance instead",
    "DPY-3010": "thin mode connects to Oracle Database 12.1 and later only",
    "DPY-3015": "thin mode needs an 11G or 12C password verifier: reset the monitoring user's password",
    "DPY-3012": "thin mode does not know the database's national character set",
    "DPY-3040": "thin mode does not know the database character set",
    "DPY-3016": "thin mode needs the cryptography package installed on the WhaleFall host",
}
NO_SERVICE = "no Oracle service name or SID is set for this instance (the 'database' field)"


def full_code(exc: BaseException) -> str:
    err = exc.args[0] if exc.args else None
    code = getattr(err, "full_code", "") or ""
    if not code:
        text = str(exc)
        head = text.split(":", 1)[0].strip()
        code = head if head[:4] in {"ORA-", "DPY-", "DPI-"} else ""
    return code


class Connection(DatabaseConnection):
    vendor = "oracle"
    default_port = 1521
    auth_codes = AUTH_CODES
    privilege_codes = PRIVILEGE_CODES
    timeout_codes = TIMEOUT_CODES
    unreachable_codes = UNREACHABLE_CODES

    def _connect(self) -> Any:
        oracledb = import_driver("oracledb", "oracledb")
        conn = oracledb.connect(**self.connect_kwargs())
        conn.call_timeout = self.params.statement_timeout * 1000
        return conn

    def connect_kwargs(self) -> dict[str, Any]:
        """oracledb.connect() arguments: service name or SID, TCP or TCPS with the wallet."""
        p = self.params
        if not p.database:
            raise ConnectorError(ErrorKind.OTHER, NO_SERVICE, transient=False)
        if p.tls not in ("", "off", "require"):
            raise ConnectorError(
                ErrorKind.OTHER, f"Oracle offers TCP or TCPS, not {p.tls!r}", transient=False
            )
        kwargs: dict[str, Any] = {
            "user": p.user,
            "password": p.password,
            "host": p.host,
            "port": p.port,
            "sid" if p.oracle_sid else "service_name": p.database,
            "tcp_connect_timeout": float(p.connect_timeout),
            "retry_count": 0,
        }
        if p.tls == "require":
            kwargs["protocol"] = "tcps"
            kwargs["ssl_server_dn_match"] = not p.trust_server_certificate
            if p.wallet_location:
                kwargs["wallet_location"] = p.wallet_location
            if p.wallet_password:
                kwargs["wallet_password"] = p.wallet_password
            if p.trust_server_certificate:  # encrypted, but the certificate is not checked
                context = ssl.create_default_context()
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
                kwargs["ssl_context"] = context
        return kwargs

    def classify(self, exc: BaseException) -> ErrorKind:
        if full_code(exc) in UNSUPPORTED:
            return ErrorKind.UNSUPPORTED
        return super().classify(exc)

    def describe(self, exc: BaseException) -> str:
        text = super().describe(exc)
        hint = UNSUPPORTED.get(full_code(exc))
        return f"{text} ({hint})" if hint else text

    def _detect_server(self) -> ServerInfo:
        text = str(getattr(self._conn, "version", "") or self.fetch_value(VERSION_SQL))
        return ServerInfo(self.vendor, "Oracle", parse_version(text), text)

    def error_codes(self, exc: BaseException) -> set[int | str]:
        code = full_code(exc)
        return {code} if code else set()


VERSION_SQL = "SELECT version_full FROM product_component_version WHERE product LIKE 'Oracle%'"
