"""add_instance / check_instances against the live servers, and the deploy check."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from whalefall.models import Instance
from whalefall.tests import live


def call(*args: str) -> tuple[str, int]:
    out = StringIO()
    try:
        call_command(*args, stdout=out, stderr=out)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return out.getvalue(), code


@pytest.mark.django_db
def test_it_registers_and_updates_an_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WF_PW", "First-Pass-1")
    out, _ = call(
        "add_instance",
        "--name",
        "db1",
        "--db-type",
        "mysql",
        "--host",
        "127.0.0.1",
        "--username",
        "mon",
        "--password-env",
        "WF_PW",
    )
    assert "Registered instance db1 (mysql 127.0.0.1:3306)" in out
    monkeypatch.setenv("WF_PW", "Second-Pass-2")
    out, _ = call(
        "add_instance",
        "--name",
        "db1",
        "--db-type",
        "mysql",
        "--host",
        "db.example",
        "--port",
        "3307",
        "--username",
        "mon2",
        "--password-env",
        "WF_PW",
    )
    assert "Updated instance db1" in out and "Second-Pass-2" not in out
    instance = Instance.objects.select_related("credential").get(name="db1")
    assert (instance.host, instance.port, instance.credential.username) == ("db.example", 3307, "mon2")
    assert instance.credential.get_password() == "Second-Pass-2"
    assert Instance.objects.count() == 1


@pytest.mark.django_db
def test_it_refuses_a_missing_password_variable() -> None:
    with pytest.raises(CommandError, match="NOT_SET_VAR is not set"):
        call_command(
            "add_instance",
            "--name",
            "x",
            "--db-type",
            "mysql",
            "--host",
            "h",
            "--username",
            "u",
            "--password-env",
            "NOT_SET_VAR",
        )
    assert not Instance.objects.exists()


@pytest.mark.django_db
def test_it_checks_instances_and_exits_1_on_failure(
    mysql_user: Callable[..., tuple[str, str]],
    pg_role: Callable[..., tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    my_name, my_pwd = mysql_user()
    pg_name, pg_pwd = pg_role()
    for name, db_type, port, user, pwd in [
        ("maria", "mysql", "3306", my_name, my_pwd),
        ("pg", "postgresql", "5432", pg_name, pg_pwd),
        ("pg-badpw", "postgresql", "5432", pg_name, "Wrong-Secret-9"),
        ("down", "mysql", str(live.closed_port()), my_name, my_pwd),
    ]:
        monkeypatch.setenv("WF_PW", pwd)
        call(
            "add_instance",
            "--name",
            name,
            "--db-type",
            db_type,
            "--host",
            "127.0.0.1",
            "--port",
            port,
            "--username",
            user,
            "--password-env",
            "WF_PW",
        )

    out, code = call("check_instances", "--instance", "maria", "--instance", "pg")
    assert code == 0 and "2 OK, 0 failed" in out
    assert "OK: MariaDB" in out and "OK: PostgreSQL" in out

    out, code = call("check_instances")
    assert code == 1 and "2 OK, 2 failed" in out
    assert "authentication:" in out and "unreachable:" in out
    for secret in (my_pwd, pg_pwd, "Wrong-Secret-9"):
        assert secret not in out
    pg = Instance.objects.get(name="pg")
    assert pg.last_check_ok and pg.version.startswith("PostgreSQL 1") and pg.last_check_at
    assert Instance.objects.get(name="down").last_check_ok is False


@pytest.mark.django_db
def test_it_names_unknown_instances() -> None:
    with pytest.raises(CommandError, match="unknown instance"):
        call_command("check_instances", "--instance", "nope")


def test_it_passes_the_deploy_check_with_production_settings(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "DEBUG": "false",
        "SECRET_KEY": "x" * 20 + "-production-secret-key-with-enough-entropy-0123456789",
        "WHALEFALL_ENCRYPTION_KEY": "dGVzdC1rZXktZm9yLXdoYWxlZmFsbC10ZXN0cy0zMmI=",
        "ALLOWED_HOSTS": "whalefall.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_it_refuses_to_start_production_without_an_encryption_key(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "DEBUG": "false",
        "SECRET_KEY": "y" * 60,
        "ALLOWED_HOSTS": "whalefall.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "whalefall.E001" in proc.stderr + proc.stdout


@pytest.mark.django_db
@pytest.mark.parametrize("option", ["--host", "--name", "--username", "--database"])
def test_add_instance_refuses_oversized_values_cleanly(monkeypatch: pytest.MonkeyPatch, option: str) -> None:
    monkeypatch.setenv("WF_PW", "Some-Pass-1")
    values = {"--name": "db-long", "--host": "127.0.0.1", "--username": "mon", "--database": ""}
    values[option] = "h" * 300
    args = [item for pair in values.items() for item in pair]
    with pytest.raises(CommandError, match=rf"{option} is too long: 300 characters, at most \d+"):
        call_command("add_instance", "--db-type", "mysql", "--password-env", "WF_PW", *args)
    assert not Instance.objects.exists()


def test_debug_is_off_unless_asked_for() -> None:
    """A production install that forgets DEBUG must not serve debug pages."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "DEBUG"}
    code = "from django.conf import settings; import django; django.setup(); print(settings.DEBUG)"
    root = Path(__file__).resolve().parents[2]
    for extra, expected in [({}, "False"), ({"DEBUG": "true"}, "True")]:
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=root,
            env={**env, **extra, "DJANGO_SETTINGS_MODULE": "whalefall.settings", "SECRET_KEY": "k" * 50},
            capture_output=True,
            text=True,
            check=True,
        )
        assert result.stdout.strip() == expected
    example = (root / ".env.example").read_text()
    assert "\nDEBUG=false\n" in example
    assert 'export DEBUG="${DEBUG:-true}"' in (root / "scripts" / "run").read_text()


@pytest.mark.django_db
def test_runscheduler_check_fails_without_a_fresh_heartbeat() -> None:
    from scheduling.models import SchedulerLease

    out, code = call("runscheduler", "--check")
    assert code == 1
    SchedulerLease.claim(owner="h-1", token="t" * 8, host="h", pid=1, seconds=30)
    out, code = call("runscheduler", "--check")
    assert code == 0 and out.startswith("OK: Scheduler alive on h")
