"""`scripts/run` as a new user starts it: on the HOST and PORT asked for, and with the login
(address, user, the generated password) as the last thing printed, after both servers started."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from django.contrib.auth.hashers import check_password

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_scripts_run_listens_where_told_and_prints_the_login_last(tmp_path: Path) -> None:
    port = free_port()
    database = tmp_path / "run.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in ("WHALEFALL_ADMIN_PASSWORD", "ALLOWED_HOSTS")}
    env.update(
        DATABASE_URL=f"sqlite:///{database}",
        HOST="127.0.0.1",
        PORT=str(port),
        WHALEFALL_DEV_KEY_FILE=str(tmp_path / "dev.key"),
        PYTHONUNBUFFERED="1",
    )
    proc = subprocess.Popen(
        ["bash", "scripts/run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 240
        while not any(line.startswith("Another address or port") for line in lines):
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.5)
        out = "".join(lines)
        block = out[out.index("WhaleFall is running") :]
        assert f"Open      http://127.0.0.1:{port}/admin/" in block
        password = block.split("Password  ", 1)[1].split("  (generated just now", 1)[0]
        with sqlite3.connect(database) as db:
            (encoded,) = db.execute("SELECT password FROM auth_user WHERE username = 'admin'").fetchone()
        assert check_password(password, encoded)
        assert "WHALEFALL_ADMIN_PASSWORD" in block and "manage.py changepassword admin" in block
        # Both servers' start-up lines come before the login, not after it.
        assert out.index("Starting development server") < out.index("WhaleFall is running")
        assert out.index("Default jobs from") < out.index("WhaleFall is running")
        assert out.count(password) == 1  # shown this once, in the block
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=10) as response:
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)  # the script's trap stops the web server and the scheduler
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing left listening
