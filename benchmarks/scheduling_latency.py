"""How fast admin changes reach a real `runscheduler`, and how fast a standby takes over.

    .venv/bin/python benchmarks/scheduling_latency.py [--rounds 10] [--lease 5]

Runs against a throw-away SQLite file (or DATABASE_URL if set to a scratch PostgreSQL database).
Prints: start-to-active time, run-now latency (request queued -> task finished), command
latency (pause saved -> applied by the scheduler), and takeover time after SIGKILL.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def wait(check, timeout: float = 60.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.02)
    raise SystemExit("timed out")


def scheduler(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "runscheduler"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def summary(name: str, values: list[float]) -> None:
    print(
        f"{name:<38} n={len(values):<3} median={statistics.median(values) * 1000:7.0f} ms"
        f"  max={max(values) * 1000:7.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--lease", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wf-bench-"))
    env = {
        **os.environ,
        "DEBUG": os.environ.get("DEBUG", "true"),  # a throw-away database: development settings
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'bench.sqlite3'}",
        "WHALEFALL_SCHEDULER_LEASE_SECONDS": str(args.lease),
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "whalefall.settings")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    import django

    django.setup()
    from scheduling.models import JobConfig, SchedulerCommand, SchedulerLease
    from whalefall.models import TaskRequest

    def holder() -> int | None:
        lease = SchedulerLease.current()
        return lease.pid if lease and lease.alive else None

    first = scheduler(env, tmp / "first.log")
    started = wait(lambda: holder() == first.pid and "Active:" in (tmp / "first.log").read_text())
    print(f"{'start -> active (jobs registered)':<38} {started * 1000:7.0f} ms")
    job = JobConfig.objects.get(pk="cleanup_expired_sync_locks_every_5min")
    runs, commands = [], []
    for _ in range(args.rounds):
        request = job.request_run(by="bench")
        runs.append(wait(lambda r=request: TaskRequest.objects.filter(pk=r.pk, status="done").exists()))
        command = job.pause(by="bench") if not job.paused else job.resume(by="bench")
        commands.append(
            wait(lambda c=command: SchedulerCommand.objects.filter(pk=c.pk, status="applied").exists())
        )
    summary("run now: queued -> task finished", runs)
    summary("pause/resume: saved -> applied", commands)
    second = scheduler(env, tmp / "second.log")
    wait(lambda: "Standby" in (tmp / "second.log").read_text())
    first.send_signal(signal.SIGKILL)
    first.wait()
    takeover = wait(lambda: holder() == second.pid)
    print(f"{'takeover after SIGKILL':<38} {takeover * 1000:7.0f} ms (lease {args.lease} s)")
    second.send_signal(signal.SIGTERM)
    stop_start = time.monotonic()
    code = second.wait(30)
    print(f"{'SIGTERM -> exit':<38} {(time.monotonic() - stop_start) * 1000:7.0f} ms (exit code {code})")


if __name__ == "__main__":
    main()
