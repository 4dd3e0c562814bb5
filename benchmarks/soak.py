"""Soak test: does `runscheduler` keep a flat memory over a long run?

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--instances 30] [--every 20] [--warmup 5]

Runs a real `manage.py runscheduler` (DEBUG off, as in production) on a throw-away SQLite
metadata database (or DATABASE_URL, a scratch PostgreSQL database), with N instances on the live
local MariaDB and PostgreSQL (half each, read through least-privilege monitoring logins created
for the run and dropped after it) and an account sync every `--every` seconds. Samples the
scheduler's resident memory every 10 s, prints the series once a minute, and at the end the
growth per hour after the warm-up (least-squares slope; target <= 20 MB/h) and the sessions.
Exit code 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_MB_PER_HOUR = 20.0


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) in MB per hour."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_m = sum(m for _, m in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (m - mean_m) for t, m in points) / var * 3600


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--instances", type=int, default=30)
    parser.add_argument("--every", type=int, default=20, help="seconds between account syncs")
    parser.add_argument("--warmup", type=float, default=5.0, help="minutes left out of the growth figure")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="wf-soak-"))
    tasks = tmp / "tasks.yaml"
    tasks.write_text(
        "default_tasks:\n"
        "  - id: sync_accounts_soak\n"
        "    name: Account sync (soak)\n"
        "    function: accounts_sync.tasks.sync_accounts\n"
        "    trigger_type: interval\n"
        f"    trigger_params: {{seconds: {args.every}}}\n"
    )
    from cryptography.fernet import Fernet

    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "WHALEFALL_ENCRYPTION_KEY": os.environ.get("WHALEFALL_ENCRYPTION_KEY")
        or Fernet.generate_key().decode(),
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'soak.sqlite3'}",
        "WHALEFALL_SCHEDULER_TASKS_FILE": str(tasks),
        "WHALEFALL_SCHEDULER_STOP_GRACE": "60",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "whalefall.settings")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    import django

    django.setup()
    from whalefall.models import Credential, Instance, SyncSession
    from whalefall.tests import live

    tag = uuid.uuid4().hex[:6]
    my_user, pg_user, password = f"wf_soak_{tag}", f"wf_soak_{tag}", secrets.token_urlsafe(12)
    with live.mysql_root() as root:
        live.run(root, f"CREATE USER '{my_user}'@'%' IDENTIFIED BY '{password}'")
        live.run(root, f"GRANT SELECT ON mysql.* TO '{my_user}'@'%'")
    with live.pg_superuser() as su:
        live.run(su, f"CREATE ROLE {pg_user} LOGIN PASSWORD '{password}'")
    proc = None
    try:
        for engine in ("mysql", "postgresql"):
            cred = Credential(name=f"soak-{engine}", username=my_user if engine == "mysql" else pg_user)
            cred.set_password(password)
            cred.save()
            port = 3306 if engine == "mysql" else 5432
            count = args.instances // 2 + (args.instances % 2 if engine == "mysql" else 0)
            for i in range(count):
                Instance.objects.create(
                    name=f"soak-{engine}-{i:02d}",
                    db_type=engine,
                    host="127.0.0.1",
                    port=port,
                    database="postgres" if engine == "postgresql" else "",
                    credential=cred,
                )
        log = tmp / "scheduler.log"
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runscheduler"],
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        print(
            f"soak: {args.instances} instances, account sync every {args.every} s, "
            f"{args.minutes:g} min, scheduler pid {proc.pid}, log {log}",
            flush=True,
        )
        start = time.monotonic()
        samples: list[tuple[float, float]] = []
        next_print = 0.0
        while (elapsed := time.monotonic() - start) < args.minutes * 60:
            if proc.poll() is not None:
                print(log.read_text()[-3000:])
                raise SystemExit(f"the scheduler exited early with {proc.returncode}")
            samples.append((elapsed, rss_mb(proc.pid)))
            if elapsed >= next_print:
                sessions = SyncSession.objects.count()
                print(
                    f"  t={elapsed / 60:5.1f} min  rss={samples[-1][1]:7.1f} MB  sessions={sessions}",
                    flush=True,
                )
                next_print += 60
            time.sleep(10)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        after = [(t, m) for t, m in samples if t >= args.warmup * 60]
        growth = slope_per_hour(after) if len(after) >= 3 else float("nan")
        statuses: dict[str, int] = {}
        for status in SyncSession.objects.values_list("status", flat=True):
            statuses[status] = statuses.get(status, 0) + 1
        peak = max(m for _, m in samples)
        print(f"rss series (MB, every 10 s): {' '.join(f'{m:.0f}' for _, m in samples)}")
        print(f"sessions: {dict(sorted(statuses.items()))}; exit code {proc.returncode}")
        print(
            f"RESULT: peak {peak:.1f} MB; growth after {args.warmup:g} min warm-up: "
            f"{growth:+.1f} MB/h over {len(after)} samples (target <= {TARGET_MB_PER_HOUR:g} MB/h)"
        )
        return 0 if growth <= TARGET_MB_PER_HOUR else 1
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        with live.mysql_root() as root:
            live.run(root, f"DROP USER IF EXISTS '{my_user}'@'%'")
        with live.pg_superuser() as su:
            live.run(su, f"DROP ROLE IF EXISTS {pg_user}")


if __name__ == "__main__":
    raise SystemExit(main())
