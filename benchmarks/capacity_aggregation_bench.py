"""Benchmark: the capacity aggregation against its floors, on SQLite and PostgreSQL metadata DBs.

    .venv/bin/python benchmarks/capacity_aggregation_bench.py [--databases 1000] [--days 400]
        [--metadata sqlite --metadata postgresql] [--pg-database wf_capacity_bench]

Each metadata backend runs in its own subprocess on a scratch database created for the run and
removed afterwards (a temporary SQLite file; a PostgreSQL database on 127.0.0.1:5432, dropped at
the end). It fills N databases x D days of size history (some days missing) up to the day
before TODAY, a Monday that starts a quarter (the night on which a period of every kind ends),
aggregates it as the night before would have, writes TODAY's collection and times:

- nightly: the scheduled task (`calculate_database_size_aggregations`: lock, session, one record
  per instance) on TODAY, against its floors: a raw `GROUP BY database_id` over the rows of the
  periods that end (the quarter holds them all; the task reads the previous periods' averages
  from their stored aggregates), and the write floor of the rows it writes (the same rows, one
  `INSERT ... SELECT` per table into the aggregate tables, committed);
- rerun with nothing new: the same task again, and the aggregation pass alone;
- full history (`--full`): every period of the four kinds from the first row, into empty
  aggregate tables and over the same rows already there (a repair that finds nothing to fix),
  against the write floor: the same aggregate rows written with one `INSERT ... SELECT` into
  empty tables with the same indexes (and, for scale, a raw GROUP BY over all size rows).
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
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
INSTANCES = 20
TODAY = date(2024, 7, 1)  # a Monday starting a quarter: daily, weekly, monthly, quarterly end the day before
AGG_TABLES = ("capacity_databasesizeaggregation", "capacity_instancesizeaggregation")


def timed(fn, repeat: int = 1, reset=None) -> float:
    best = float("inf")
    for _ in range(repeat):
        if reset:
            reset()
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def fill(databases: int, days: int) -> int:  # runs inside the configured Django process
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
    first = TODAY - timedelta(days=days)
    insert_sizes(first, days, "(d.id + n) %% 17 <> 0", timezone.now() - timedelta(days=1))
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
        cur.execute("SELECT COUNT(*) FROM capacity_databasesizestat")
        return cur.fetchone()[0]


def insert_sizes(first: date, days: int, where: str, at: object) -> None:
    """Size rows of every database for `days` days from `first` (where `where`), and the totals."""
    from django.db import connection

    day = "CAST(%s AS date) + n" if connection.vendor == "postgresql" else "date(%s, '+' || n || ' days')"
    params = [first.isoformat(), connection.ops.adapt_datetimefield_value(at)]
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO capacity_databasesizestat (database_id, instance_id, collected_date, collected_at, size_bytes) "
            f"WITH RECURSIVE days(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM days WHERE n < {days - 1}) "
            f"SELECT d.id, d.instance_id, {day}, %s, 1000000000 + d.id * 1000 * n + ((d.id * 7919 + n * 104729) %% 5000) "
            f"FROM capacity_instancedatabase d CROSS JOIN days WHERE {where}",
            params,
        )
        cur.execute(
            "INSERT INTO capacity_instancesizestat (instance_id, collected_date, collected_at, size_bytes, database_count) "
            "SELECT instance_id, collected_date, MAX(collected_at), SUM(size_bytes), COUNT(*) "
            "FROM capacity_databasesizestat WHERE collected_date >= %s GROUP BY instance_id, collected_date",
            [connection.ops.adapt_datefield_value(first)],
        )


def empty_copies() -> list[tuple[str, str]]:
    """Empty tables shaped and indexed like the aggregate tables: (copy, original)."""
    from django.db import connection

    pairs = [(f"bench_floor_{t}", t) for t in AGG_TABLES]
    with connection.cursor() as cur:
        for copy, table in pairs:
            if connection.vendor == "postgresql":
                cur.execute(f"CREATE TABLE {copy} (LIKE {table} INCLUDING ALL)")
                continue
            cur.execute("SELECT sql FROM sqlite_master WHERE tbl_name = %s AND sql IS NOT NULL", [table])
            for (sql,) in cur.fetchall():
                sql = sql.replace(f'"{table}"', f'"{copy}"', 1)
                if sql.startswith("CREATE UNIQUE INDEX") or sql.startswith("CREATE INDEX"):
                    index = sql.split('"')[1]
                    sql = sql.replace(f'"{index}"', f'"bench_{index}"', 1).replace(f'"{table}"', f'"{copy}"')
                cur.execute(sql)
    return pairs


def nightly_write_floor(ending: list, columns: tuple[list[str], list[str]]) -> float:
    """The nightly's rows written again, one INSERT ... SELECT per table from a copy, committed:
    what writing them costs into tables of this size, whatever computes them."""
    from django.db import connection, transaction

    where = " OR ".join(
        f"(period_type = '{kind}' AND period_start = '{start.isoformat()}')" for kind, start in ending
    )
    with connection.cursor() as cur:
        for table in AGG_TABLES:
            cur.execute(f"CREATE TABLE bench_night_{table} AS SELECT * FROM {table} WHERE {where}")

    def delete() -> None:
        with transaction.atomic(), connection.cursor() as cur:
            for table in AGG_TABLES:
                cur.execute(f"DELETE FROM {table} WHERE {where}")

    def insert() -> None:
        with transaction.atomic(), connection.cursor() as cur:
            for table, cols in zip(AGG_TABLES, columns, strict=True):
                listed = ", ".join(cols)
                order = "database_id" if "database_id" in cols else "instance_id"
                cur.execute(
                    f"INSERT INTO {table} ({listed}) SELECT {listed} FROM bench_night_{table} ORDER BY {order}"
                )

    try:
        return timed(insert, repeat=3, reset=delete)
    finally:
        with connection.cursor() as cur:
            for table in AGG_TABLES:
                cur.execute(f"DROP TABLE bench_night_{table}")


def measure(databases: int, days: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from capacity.models import AggregationWatermark, DatabaseSizeAggregation, InstanceSizeAggregation
    from capacity.periods import PERIOD_TYPES, last_complete_period
    from capacity.services.incremental import aggregate_changes
    from capacity.tasks import calculate_database_size_aggregations

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    rows = fill(databases, days)
    r: dict = {"backend": connection.vendor, "size_rows": rows, "fill_s": time.perf_counter() - started}
    columns = [f.column for f in DatabaseSizeAggregation._meta.concrete_fields if f.column != "id"]
    inst_columns = [f.column for f in InstanceSizeAggregation._meta.concrete_fields if f.column != "id"]

    def cursor_run(*statements: str) -> None:
        with connection.cursor() as cur:
            for sql in statements:
                cur.execute(sql)

    def empty_aggregates() -> None:
        if connection.vendor == "postgresql":
            cursor_run(f"TRUNCATE {', '.join(AGG_TABLES)}", "TRUNCATE capacity_aggregationwatermark")
        else:
            cursor_run(*(f"DELETE FROM {t}" for t in (*AGG_TABLES, "capacity_aggregationwatermark")))

    def raw(since: date) -> None:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT database_id, AVG(size_bytes), MAX(size_bytes), MIN(size_bytes), COUNT(*) "
                "FROM capacity_databasesizestat WHERE collected_date >= %s GROUP BY database_id",
                [connection.ops.adapt_datefield_value(since)],
            )
            cur.fetchall()

    # Full history, first into empty tables, then again over the same rows (a repair).
    full = lambda: aggregate_changes(TODAY, full=True)  # noqa: E731
    r["full_empty_s"] = timed(full, repeat=2, reset=empty_aggregates)
    r["aggregate_rows"] = DatabaseSizeAggregation.objects.count() + InstanceSizeAggregation.objects.count()
    r["full_repair_s"] = timed(full, repeat=2)
    r["raw_all_s"] = timed(lambda: raw(TODAY - timedelta(days=days)), repeat=3)

    # The write floor: the same rows, one INSERT ... SELECT per table into empty indexed copies.
    pairs = empty_copies()
    inserts = [
        f"INSERT INTO {copy} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM {table}"
        for (copy, table), cols in zip(pairs, (columns, inst_columns), strict=True)
    ]
    truncate = "TRUNCATE" if connection.vendor == "postgresql" else "DELETE FROM"
    clear = [f"{truncate} {copy}" for copy, _ in pairs]
    r["floor_s"] = timed(lambda: cursor_run(*inserts), repeat=3, reset=lambda: cursor_run(*clear))
    cursor_run(*(f"DROP TABLE {copy}" for copy, _ in pairs))

    # The night before TODAY (its periods complete through the day before yesterday), then
    # TODAY's collection, then the nightly run on TODAY.
    yesterday = TODAY - timedelta(days=1)
    empty_aggregates()
    aggregate_changes(yesterday, full=True)
    marks = list(
        AggregationWatermark.objects.values_list("instance_id", "collected_until", "complete_through")
    )
    insert_sizes(TODAY, 1, "1 = 1", timezone.now())
    ending = [(k, last_complete_period(k, TODAY)) for k in PERIOD_TYPES]

    def before_the_night() -> None:
        with transaction.atomic():
            for kind, start in ending:
                DatabaseSizeAggregation.objects.filter(period_type=kind, period_start=start).delete()
                InstanceSizeAggregation.objects.filter(period_type=kind, period_start=start).delete()
            for pk, until, through in marks:
                AggregationWatermark.objects.filter(pk=pk).update(
                    collected_until=until, complete_through=through
                )
        cursor_run("ANALYZE")

    nightly = lambda: calculate_database_size_aggregations(trigger="manual", today=TODAY)  # noqa: E731
    r["nightly_s"] = timed(nightly, repeat=3, reset=before_the_night)
    r["nightly_rows"] = sum(
        m.objects.filter(period_type=k, period_start=s).count()
        for k, s in ending
        for m in (DatabaseSizeAggregation, InstanceSizeAggregation)
    )
    r["raw_nightly_s"] = timed(lambda: raw(min(s for _, s in ending)), repeat=3)
    r["nightly_write_s"] = nightly_write_floor(ending, (columns, inst_columns))
    r["rerun_s"] = timed(nightly, repeat=3)
    r["rerun_pass_s"] = timed(lambda: aggregate_changes(TODAY), repeat=3)
    for key in ("full_empty_s", "full_repair_s"):
        r[key[:-2] + "_x"] = r[key] / r["floor_s"]
    r["nightly_x"] = r["nightly_s"] / r["raw_nightly_s"]
    r["nightly_floor_x"] = r["nightly_s"] / (r["raw_nightly_s"] + r["nightly_write_s"])
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}


def child(backend: str, databases: int, days: int, pg_database: str) -> dict:
    env = dict(
        os.environ,
        DEBUG="false",
        LOG_LEVEL="WARNING",
        WHALEFALL_ENCRYPTION_KEY="dGVzdC1rZXktZm9yLXdoYWxlZmFsbC10ZXN0cy0zMmI=",
    )
    env["DJANGO_SETTINGS_MODULE"] = "whalefall.settings"
    if backend == "sqlite":
        path = Path(tempfile.gettempdir()) / f"wf_bench_{uuid.uuid4().hex[:8]}.sqlite3"
        env["DATABASE_URL"] = f"sqlite:///{path}"
        cleanup = lambda: [p.unlink(missing_ok=True) for p in path.parent.glob(path.name + "*")]  # noqa: E731
    else:
        import psycopg2

        admin = psycopg2.connect(**PG_ADMIN)
        admin.autocommit = True
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {pg_database} WITH (FORCE)")
        admin.cursor().execute(f"CREATE DATABASE {pg_database}")
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{pg_database}"
        cleanup = lambda: admin.cursor().execute(f"DROP DATABASE IF EXISTS {pg_database} WITH (FORCE)")  # noqa: E731
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


LINES = [
    ("size rows", lambda r: f"{r['size_rows']:,}"),
    ("aggregate rows, full history", lambda r: f"{r['aggregate_rows']:,}"),
    ("nightly: raw GROUP BY, periods that end", lambda r: f"{r['raw_nightly_s']}"),
    ("nightly: write floor of the rows it writes", lambda r: f"{r['nightly_write_s']}"),
    ("nightly: whole task (lock, session, records)", lambda r: f"{r['nightly_s']} ({r['nightly_x']}x raw)"),
    ("  against raw GROUP BY + write floor", lambda r: f"{r['nightly_floor_x']}x"),
    ("  rows it writes", lambda r: f"{r['nightly_rows']:,}"),
    ("rerun, nothing new: whole task", lambda r: f"{r['rerun_s']}"),
    ("rerun, nothing new: aggregation pass alone", lambda r: f"{r['rerun_pass_s']}"),
    ("full history: raw GROUP BY over all rows", lambda r: f"{r['raw_all_s']}"),
    ("full history: write floor (INSERT ... SELECT)", lambda r: f"{r['floor_s']}"),
    ("full recompute (--full), empty tables", lambda r: f"{r['full_empty_s']} ({r['full_empty_x']}x floor)"),
    (
        "full recompute (--full), rows already there",
        lambda r: f"{r['full_repair_s']} ({r['full_repair_x']}x floor)",
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--databases", type=int, default=1000)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--metadata", choices=["sqlite", "postgresql"], action="append")
    parser.add_argument("--pg-database", default="wf_capacity_bench", help="scratch database (dropped)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(ROOT))
        print(json.dumps(measure(args.databases, args.days)))
        return
    backends = args.metadata or ["sqlite", "postgresql"]
    results = [child(b, args.databases, args.days, args.pg_database) for b in backends]
    print(
        f"{args.databases} databases x {args.days} days, nightly on {TODAY} (every kind of period ends the "
        "day before); seconds, best of 2-3 runs"
    )
    print(f"{'':48}" + "".join(f"{r['backend']:>28}" for r in results))
    for label, cell in LINES:
        print(f"{label:48}" + "".join(f"{cell(r):>28}" for r in results))


if __name__ == "__main__":
    main()
