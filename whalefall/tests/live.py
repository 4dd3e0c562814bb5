"""Helpers for tests against the machine's real MariaDB (127.0.0.1:3306, root) and PostgreSQL
(127.0.0.1:5432, postgres). Objects are created with a unique prefix and dropped afterwards."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "password": ""}


def reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def require(host: str, port: int, name: str) -> None:
    """Skip on a developer machine without the server; fail in CI, where it must be up."""
    if not reachable(host, port):
        if os.environ.get("CI"):
            pytest.fail(f"{name} at {host}:{port} is not reachable in CI")
        pytest.skip(f"{name} at {host}:{port} is not reachable")


def unique(prefix: str = "wf") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@contextmanager
def mysql_root() -> Iterator[Any]:
    import pymysql

    require(MYSQL["host"], MYSQL["port"], "MariaDB")
    conn = pymysql.connect(**MYSQL, autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def pg_superuser(database: str = "postgres") -> Iterator[Any]:
    import psycopg2

    require(PG["host"], PG["port"], "PostgreSQL")
    conn = psycopg2.connect(host=PG["host"], port=PG["port"], user=PG["user"], dbname=database)
    conn.autocommit = True
    try:
        yield conn
    finally:
        conn.close()


def run(conn: Any, *statements: str) -> None:
    with conn.cursor() as cur:
        for sql in statements:
            cur.execute(sql)


@contextmanager
def blackhole_port() -> Iterator[int]:
    """A loopback port that completes the TCP handshake but never says a word, like a server
    behind a stalled network: connects hang until the client's timeout fires."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def closed_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_database_url() -> str:
    """A DATABASE_URL for the database the current test runs on, for subprocesses."""
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or "postgres"
    return f"postgres://{user}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def manage_py(*args: str, env: dict[str, str] | None = None, **popen: Any) -> Any:
    """Start `manage.py <args>` on the current test database; the caller waits or kills it."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    full_env = {**os.environ, "DATABASE_URL": test_database_url(), "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen(
        [sys.executable, str(root / "manage.py"), *args],
        cwd=root,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
