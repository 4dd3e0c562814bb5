"""Benchmark: capacity aggregation vs a single raw GROUP BY, on SQLite and on PostgreSQL.

    .venv/bin/python benchmarks/capacity_aggregation_bench.py [--databases 1000] [--days 400]

Each backend runs in its own subprocess on a scratch metadata database created for the run and
removed afterwards (a temporary SQLite file; a uniquely named PostgreSQL database on
127.0.0.1:5432). It fills N databases x D days of size history (some days missing), then times:

- raw:        one `SELECT database_id, AVG, MAX, MIN, COUNT ... GROUP BY database_id` over all rows;
- full:       the aggregation of every period of the four kinds over the whole history
              (`capacity.services.aggregation.aggregate`, databases and instances), first run;
- full rerun: the same again (nothing changed, so nothing is rewritten);
- nightly:    the scheduled task (`calculate_database_size_aggregations`: last complete period of
              each kind, one session, per-instance records, lock).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
INSTANCES = 20


def timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def fill(databases: int, days: int) -> tuple:  # runs inside the configured Django process
    from django.db import connection
    from django.utils import timezone

    from capacity.models import InstanceDatabase
    from whalefall.models import Credential, Instance

    cred = Credential.objects.create(name="bench", username="bench")
    instances = Instance.objects.bulk_create(
        Instance(name=f"bench-{i}", db_type="mysql", host="127.0.0.1", credential=cred)
        for i in range(INSTANCES)
    )
    InstanceDatabase.objects.bulk_create(
        InstanceDatabase(instance=instances[n % INSTANCES], name=f"db_{n}") for n in range(databases)
    )
    last = timezone.localdate() - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    day = "CAST(%s AS date) + n" if connection.vendor == "postgresql" else "date(%s, '+' || n || ' days')"
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO capacity_databasesizestat (database_id, instance_id, collected_date, collected_at, size_bytes) "
            f"WITH RECURSIVE days(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM days WHERE n < {days - 1}) "
            f"SELECT d.id, d.instance_id, {day}, %s, 1000000000 + d.id * 1000 * n + ((d.id * 7919 + n * 104729) %% 5000) "
            "FROM capacity_instancedatabase d CROSS JOIN days WHERE (d.id + n) %% 17 <> 0",
            [first.isoformat(), connection.ops.adapt_datetimefield_value(timezone.now())],
        )
        cur.execute(
            "INSERT INTO capacity_instancesizestat (instance_id, collected_date, collected_at, size_bytes, database_count) "
            "SELECT instance_id, collected_date, MAX(collected_at), SUM(size_bytes), COUNT(*) "
            "FROM capacity_databasesizestat GROUP BY instance_id, collected_date"
        )
        cur.execute("ANALYZE")
        cur.execute("SELECT COUNT(*) FROM capacity_databasesizestat")
        rows = cur.fetchone()[0]
    return first, last, rows


def measure(databases: int, days: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from capacity.models import DatabaseSizeAggregation, InstanceSizeAggregation
    from capacity.periods import PERIOD_TYPES, add_periods
    from capacity.services.aggregation import aggregate, aggregate_periods, plan_periods
    from capacity.tasks import calculate_database_size_aggregations
    from whalefall.models import Instance

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    first, last, rows = fill(databases, days)
    fill_s = time.perf_counter() - started
    periods = plan_periods(None, None, timezone.localdate())
    nightly_from = min(add_periods(k, s, -1) for k, s in periods)  # the earliest day the run reads
    ids = list(Instance.objects.values_list("pk", flat=True))

    def raw(since: object) -> None:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT database_id, AVG(size_bytes), MAX(size_bytes), MIN(size_bytes), COUNT(*) "
                "FROM capacity_databasesizestat WHERE collected_date >= %s GROUP BY database_id",
                [connection.ops.adapt_datefield_value(since)],
            )
            cur.fetchall()

    def full() -> None:
        for kind in PERIOD_TYPES:
            aggregate(kind, first, last)

    r: dict = {"backend": connection.vendor, "size_rows": rows, "fill_s": fill_s}
    r["raw_nightly_rows_s"] = timed(lambda: raw(nightly_from), repeat=3)
    r["nightly_s"] = timed(lambda: aggregate_periods(periods, ids, restrict=False))
    r["nightly_rerun_s"] = timed(lambda: aggregate_periods(periods, ids, restrict=False), repeat=3)
    r["nightly_task_s"] = timed(lambda: calculate_database_size_aggregations(trigger="manual"), repeat=3)
    r["raw_all_rows_s"] = timed(lambda: raw(first), repeat=3)
    r["full_s"] = timed(full)
    r["aggregate_rows"] = DatabaseSizeAggregation.objects.count() + InstanceSizeAggregation.objects.count()
    r["full_rerun_s"] = timed(full, repeat=2)
    for key in ("nightly_s", "nightly_rerun_s", "nightly_task_s"):
        r[key[:-2] + "_x"] = r[key] / r["raw_nightly_rows_s"]
    for key in ("full_s", "full_rerun_s"):
        r[key[:-2] + "_x"] = r[key] / r["raw_all_rows_s"]
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}


def child(backend: str, databases: int, days: int) -> dict:
    env = dict(
        os.environ,
        DEBUG="false",
        LOG_LEVEL="WARNING",
        WHALEFALL_ENCRYPTION_KEY="dGVzdC1rZXktZm9yLXdoYWxlZmFsbC10ZXN0cy0zMmI=",
    )
    env["DJANGO_SETTINGS_MODULE"] = "whalefall.settings"
    cleanup = None
    if backend == "sqlite":
        path = Path(tempfile.gettempdir()) / f"wf_bench_{uuid.uuid4().hex[:8]}.sqlite3"
        env["DATABASE_URL"] = f"sqlite:///{path}"
        cleanup = lambda: [p.unlink(missing_ok=True) for p in path.parent.glob(path.name + "*")]  # noqa: E731
    else:
        import psycopg2

        name = f"wf_bench_{uuid.uuid4().hex[:8]}"
        admin = psycopg2.connect(**PG_ADMIN)
        admin.autocommit = True
        admin.cursor().execute(f"CREATE DATABASE {name}")
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{name}"
        cleanup = lambda: admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # noqa: E731
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--databases", str(databases), "--days", str(days)],
            env=env,
            cwd=ROOT,
            check=False,
            capture_output=True,
            text=True,
        )
        if out.returncode:
            raise SystemExit(f"{backend} run failed:\n{out.stderr[-3000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--databases", type=int, default=1000)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(measure(args.databases, args.days)))
        return
    print(f"{args.databases} databases x {args.days} days; seconds (best of runs); x = time / raw GROUP BY")
    for backend in args.backend or ["sqlite", "postgresql"]:
        r = child(backend, args.databases, args.days)
        print(
            f"{r['backend']}: {r['size_rows']:,} size rows (filled in {r['fill_s']} s)\n"
            f"  nightly run, last complete period of each kind (the scheduled job):\n"
            f"    raw GROUP BY over the rows it reads  {r['raw_nightly_rows_s']}\n"
            f"    aggregation, first run               {r['nightly_s']}  ({r['nightly_x']}x)\n"
            f"    aggregation, rerun                   {r['nightly_rerun_s']}  ({r['nightly_rerun_x']}x)\n"
            f"    whole task (session, lock, records)  {r['nightly_task_s']}  ({r['nightly_task_x']}x)\n"
            f"  full history, every period of the four kinds ({r['aggregate_rows']:,} aggregate rows):\n"
            f"    raw GROUP BY over all rows           {r['raw_all_rows_s']}\n"
            f"    aggregation, first run               {r['full_s']}  ({r['full_x']}x)\n"
            f"    aggregation, rerun                   {r['full_rerun_s']}  ({r['full_rerun_x']}x)"
        )


if __name__ == "__main__":
    main()
