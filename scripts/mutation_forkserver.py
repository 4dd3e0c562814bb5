"""A fork server for scripts/mutation: pytest runs without paying the start-up each time.

Starting pytest on this project takes seconds, mostly importing Django, pytest's plugins and the
other libraries: more than most mutants' tests take. This process imports those once, then forks
a child per request that runs `pytest.main()` in the mutant's working directory and environment.
The project's own modules are never imported here, so each child imports them fresh from disk,
mutant included. One request at a time; a client that goes away (cosmic-ray's timeout killed it)
takes its child with it.

    python scripts/mutation_forkserver.py SOCKET     # serves until killed
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import socket
import sys
from pathlib import Path

# Third-party only: a project module imported here would hide the mutant from the children.
PRELOAD = (
    "pytest",
    "_pytest.assertion.rewrite",
    "pytest_django.plugin",
    "pytest_randomly",
    "pytest_timeout",
    "factory",
    "faker",
    "django.db.models",
    "django.test",
    "django.contrib.admin",
    "django.core.management",
    "django.db.backends.sqlite3.base",
    "django.db.backends.postgresql.base",
    "structlog",
    "pymysql",
    "psycopg2",
    "apscheduler.schedulers.background",
    "sqlglot",
    "yaml",
    "environ",
    "openpyxl",
    "cryptography.fernet",
)


def preload() -> None:
    for name in PRELOAD:
        with contextlib.suppress(Exception):  # a library the project lacks is simply not preloaded
            importlib.import_module(name)


class FirstFailure:
    """A pytest plugin that writes the node id of the first failing test to a file: the tests
    that kill mutants are run first for the module's next mutants."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.seen = False

    def pytest_runtest_logreport(self, report: object) -> None:
        if getattr(report, "failed", False) and not self.seen:
            self.seen = True
            Path(self.path).write_text(str(getattr(report, "nodeid", "")))


def run_child(request: dict[str, object]) -> None:
    """In the forked child: become the pytest run asked for, and exit with its status."""
    os.chdir(str(request["cwd"]))
    os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})  # type: ignore[call-overload]
    sys.path.insert(0, str(request["cwd"]))
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    import pytest

    plugins = [FirstFailure(str(request["record"]))] if request.get("record") else []
    code = pytest.main([str(a) for a in request["args"]], plugins=plugins)  # type: ignore[attr-defined]
    os._exit(int(code))


def handle(conn: socket.socket) -> None:
    request = json.loads(conn.makefile("rb").readline())
    pid = os.fork()
    if pid == 0:
        try:
            conn.close()
            run_child(request)
        finally:
            os._exit(70)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            with contextlib.suppress(OSError):
                conn.sendall(f"{code}\n".encode())
            return
        readable, _, _ = select.select([conn], [], [], 0.05)
        if readable and not conn.recv(1, socket.MSG_PEEK):  # the client is gone
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return


def serve(path: str) -> None:
    preload()
    Path(path).unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    while True:
        conn, _ = server.accept()
        with conn:
            handle(conn)


def ask(path: str, args: list[str], env: dict[str, str], cwd: str, record: str = "") -> int:
    """Client side: one pytest run through the server; its exit status (`record`: a file for
    the node id of the first failing test)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(path)
        request = {"args": args, "env": env, "cwd": cwd, "record": record}
        conn.sendall(json.dumps(request).encode() + b"\n")
        answer = conn.makefile("rb").readline()
    return int(answer) if answer.strip() else 70


if __name__ == "__main__":
    serve(sys.argv[1])
