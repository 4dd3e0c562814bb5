"""What a person sees when running the commands: a real pseudo-terminal, a pipe, `-v 2`, `--json`.

The commands run as real processes (`manage.py ...`) on the test database against the live
MariaDB, with stdout on a pty (what a terminal gives them) or on a pipe (cron, `| tee`), so
that the terminal detection, the console log handler and the exit status are the real ones.
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import select
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from whalefall.management.base import SafeOutputCommand
from whalefall.models import Instance, SyncSession
from whalefall.structured_logging import ConsoleFloor, get_logger
from whalefall.tests import live
from whalefall.tests.factories import CredentialFactory, InstanceFactory
from whalefall.textsafe import safe_text

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
# A name that would retitle the terminal, clear it and start a line of its own, plus rich markup.
HOSTILE = "down\x1b]0;pwned\x07[red]x[/red]\x1b[2J\nforged"
INFO_EVENTS = ("account_sync_session_started", "sync_lock_acquired", "account_sync_instance_completed")
FAILURE_EVENT = "account_sync_connection_failed"  # logged at ERROR for the unreachable instance


@dataclass
class Run:
    out: str
    err: str
    code: int


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": live.test_database_url(),
        "PYTHONUNBUFFERED": "1",
        "LOG_FORMAT": "console",
        "LOG_LEVEL": "INFO",
        "TERM": "xterm-256color",
        "WHALEFALL_RETRY_DELAYS": "0",
        "WHALEFALL_CONNECT_TIMEOUT": "3",
    }


def run_piped(*args: str) -> Run:
    """The command with stdout and stderr on pipes, as under cron or `| tee`."""
    proc = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Run(proc.stdout, proc.stderr, proc.returncode)


def run_on_tty(*args: str, stderr_on_tty: bool = True) -> Run:
    """The command with stdout (and stderr, unless told) on a pseudo-terminal 120 columns wide."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_env(),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave if stderr_on_tty else subprocess.PIPE,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1)
        if not ready:
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every end of the terminal is closed, the process is gone
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    err = proc.stderr.read().decode() if proc.stderr else ""
    code = proc.wait(30)
    return Run(b"".join(chunks).decode(errors="replace"), err, code)


@pytest.fixture
def fleet(mysql_user: Any) -> tuple[Instance, Instance]:
    """A MariaDB instance watched by a least-privilege login, and an unreachable one with a hostile name."""
    live.require("127.0.0.1", 3306, "MariaDB")
    name, password = mysql_user(grants=("GRANT SELECT ON mysql.* TO {user}",))
    good = InstanceFactory(
        name="maria",
        db_type="mysql",
        port=3306,
        credential=CredentialFactory(username=name, password=password),
    )
    down = InstanceFactory(name=HOSTILE, db_type="mysql", port=live.closed_port())
    return good, down


def test_a_terminal_gets_a_progress_bar_the_outcomes_and_a_summary(fleet: Any) -> None:
    run = run_on_tty("sync_accounts")
    screen = run.out
    assert run.code == 1  # one instance failed: the session is partial
    assert "━" in screen and "Syncing accounts" in screen and "\x1b[2K" in screen  # rich's bar, redrawn
    assert "maria: completed (synced " in screen
    assert f"{safe_text(HOSTILE)}: failed in connection: " in screen
    session = SyncSession.objects.get()
    assert f"session {session.session_id}: partial, 1 of 2 instance(s) succeeded in " in screen
    assert "  completed (1): maria" in screen and f"  failed (1): {safe_text(HOSTILE)}" in screen
    # The name is data: no raw escape of its own reaches the terminal, its markup stays text.
    assert "\x1b]0;pwned" not in screen and "\x1b[2J" not in screen and "\nforged" not in screen
    assert "\\x1b]0;pwned\\x07[red]x[/red]\\x1b[2J\\nforged" in screen
    # Logs: the failure (ERROR) is shown, the INFO events are not.
    assert FAILURE_EVENT in screen
    for event in INFO_EVENTS:
        assert event not in screen


def test_a_pipe_gets_one_plain_line_per_instance_and_only_warnings_on_stderr(fleet: Any) -> None:
    run = run_piped("sync_accounts")
    assert run.code == 1
    assert "\x1b" not in run.out and "━" not in run.out  # no bar, no colour
    lines = run.out.splitlines()
    assert lines[0].startswith("[1/2] ") and lines[1].startswith("[2/2] ")
    assert {lines[0][6:].split(":")[0], lines[1][6:].split(":")[0]} == {"maria", safe_text(HOSTILE)}
    assert any(line.startswith("[") and "maria: completed (synced " in line for line in lines[:2])
    assert lines[2].startswith("session ") and ": partial, 1 of 2 instance(s) succeeded in " in lines[2]
    assert lines[3:] == ["  completed (1): maria", f"  failed (1): {safe_text(HOSTILE)}"]
    events = [line for line in run.err.splitlines() if line.strip()]
    assert events and any(FAILURE_EVENT in line for line in events)
    assert all("[warning" in line or "[error" in line for line in events), run.err
    assert "[info" not in run.err


def test_verbosity_2_shows_every_event(fleet: Any) -> None:
    run = run_piped("sync_accounts", "--instance", "maria", "-v", "2")
    assert run.code == 0
    for event in INFO_EVENTS:
        assert event in run.err
    assert "[info" in run.err
    assert "[1/1] maria: completed" in run.out and "[info" not in run.out  # logs never on stdout


def test_json_on_a_terminal_is_one_document_and_nothing_else(fleet: Any) -> None:
    good, down = fleet
    run = run_on_tty("sync_accounts", "--json", stderr_on_tty=False)
    assert run.code == 1
    summary = json.loads(run.out)  # the whole of stdout: no bar, no summary line, no log
    assert summary["status"] == "partial" and summary["failed_instances"] == 1
    assert {i["instance"]: i["status"] for i in summary["instances"]} == {
        "maria": "completed",
        HOSTILE: "failed",  # JSON keeps the exact name
    }
    assert [i["instance_id"] for i in summary["instances"]] == [down.pk, good.pk]
    assert summary["instances"][1]["items_synced"] > 0
    assert "\x1b" not in run.out
    assert FAILURE_EVENT in run.err and "[info" not in run.err


@pytest.mark.parametrize(
    ("command", "expected_code"),
    [
        (["check_instances", "--json"], 1),
        (["collect_database_sizes", "--json"], 1),
        (["collect_database_sizes", "--instance", "maria", "--json"], 0),
        (["calculate_database_size_aggregations", "--json"], 0),
    ],
)
def test_json_is_the_whole_stdout_of_each_command(fleet: Any, command: list[str], expected_code: int) -> None:
    run = run_piped(*command)
    document = json.loads(run.out)
    assert run.code == expected_code, run.err
    if command[0] == "check_instances":
        assert (document["ok"], document["failed"]) == (1, 1)
        assert {i["instance"]: i["ok"] for i in document["instances"]} == {"maria": True, HOSTILE: False}
    else:
        assert document["session_id"] and document["total_instances"] >= 1
    assert "[info" not in run.err


def test_json_is_the_whole_stdout_of_the_questions(fleet: Any) -> None:
    """who_can and account_permissions answer from the stored inventory: after a real sync,
    `--json` is one document on stdout, whatever the console log says."""
    assert run_piped("sync_accounts", "--instance", "maria").code == 0
    good = fleet[0]
    identity = f"{good.credential.username}@%"
    run = run_piped("who_can", "--privilege", "SELECT", "--on", "mysql.user", "--instance", "maria", "--json")
    answer = json.loads(run.out)
    assert run.code == 0, run.err
    assert identity in json.dumps(answer)  # the watching login itself holds SELECT on mysql.*
    run = run_piped("account_permissions", "--instance", "maria", "--account", identity, "--json")
    permissions = json.loads(run.out)
    assert run.code == 0, run.err
    assert "SELECT" in json.dumps(permissions)
    assert "[info" not in run.err


def test_check_instances_shows_progress_and_a_summary(fleet: Any) -> None:
    screen = run_on_tty("check_instances").out
    assert "Checking connections" in screen and "━" in screen
    assert "maria: OK: MariaDB" in screen and "1 OK, 1 failed in " in screen
    assert "  ok (1): maria" in screen and "instance_connection_checked" not in screen
    piped = run_piped("check_instances", "--instance", "maria")
    assert piped.code == 0
    assert piped.out.splitlines()[0].startswith("[1/1] maria: OK: MariaDB")
    assert piped.out.splitlines()[1].startswith("1 OK, 0 failed in ")


# --- the console floor, in process ----------------------------------------------------------------
class Talker(SafeOutputCommand):
    """Logs one event of each level, as a sync does from its worker threads."""

    def handle(self, *args: Any, **options: Any) -> None:
        log = get_logger("whalefall.tests.terminal")
        log.info("terminal_test_info")
        log.warning("terminal_test_warning")


class LongRunning(Talker):
    quiet_logs = False


@pytest.fixture
def console() -> Any:
    """A console handler as settings configure it (with the floor filter), on a string buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ConsoleFloor())
    root = logging.getLogger()
    root.addHandler(handler)
    level, root.level = root.level, logging.INFO
    yield stream
    root.removeHandler(handler)
    root.level = level


@pytest.mark.parametrize(
    ("command", "verbosity", "shown"),
    [
        (Talker, 1, {"terminal_test_warning"}),
        (Talker, 0, {"terminal_test_warning"}),
        (Talker, 2, {"terminal_test_info", "terminal_test_warning"}),
        (Talker, 3, {"terminal_test_info", "terminal_test_warning"}),
        (LongRunning, 1, {"terminal_test_info", "terminal_test_warning"}),
    ],
)
def test_the_console_floor_follows_the_verbosity(
    console: io.StringIO, caplog: Any, command: type, verbosity: int, shown: set[str]
) -> None:
    caplog.set_level(logging.INFO)
    call_command(command(), verbosity=verbosity, stdout=io.StringIO())
    text = console.getvalue()
    assert {e for e in ("terminal_test_info", "terminal_test_warning") if e in text} == shown
    # Other handlers (a test's capture, a file an operator adds without the filter) see everything.
    assert {"terminal_test_info", "terminal_test_warning"} <= {r.msg["event"] for r in caplog.records}
    # After the command, the console shows everything again (the scheduler and web server's view).
    get_logger("whalefall.tests.terminal").info("after_the_command")
    assert "after_the_command" in console.getvalue()


def test_the_scheduler_keeps_its_log() -> None:
    from scheduling.management.commands.runscheduler import Command

    assert Command.quiet_logs is False and SafeOutputCommand.quiet_logs is True
