"""Oracle through python-oracledb in thin mode (no Instant Client)."""

from __future__ import annotations

from typing import Any

from whalefall.connections.base import DatabaseConnection, ServerInfo, import_driver, parse_version

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
        p = self.params
        conn = oracledb.connect(
            user=p.user,
            password=p.password,
            host=p.host,
            port=p.port,
            service_name=p.database or "ORCL",
            tcp_connect_timeout=float(p.connect_timeout),
            retry_count=0,
        )
        conn.call_timeout = p.statement_timeout * 1000
        return conn

    def _detect_server(self) -> ServerInfo:
        text = str(getattr(self._conn, "version", "") or self.fetch_value(VERSION_SQL))
        return ServerInfo(self.vendor, "Oracle", parse_version(text), text)

    def error_codes(self, exc: BaseException) -> set[int | str]:
        code = full_code(exc)
        return {code} if code else set()


VERSION_SQL = "SELECT version_full FROM product_component_version WHERE product LIKE 'Oracle%'"
