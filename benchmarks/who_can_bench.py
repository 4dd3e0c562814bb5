"""`who_can` over a large fleet, answered from the metadata database.

    .venv/bin/python benchmarks/who_can_bench.py [--instances 100] [--accounts 1000] [--metadata sqlite]

Fills a scratch metadata database (PostgreSQL by default; dropped afterwards) with INSTANCES x
ACCOUNTS accounts, each holding a realistic mix of privilege rows: a database grant, table grants,
some through roles, a few global ones and a superuser per instance. Prints the time of typical
questions (best of 5, warm), with the number of rows and the answer sizes. Target: under 200 ms
with PostgreSQL at 100 x 1,000.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from accounts_sync_bench import create_pg_metadata_db, drop_pg_metadata_db, setup_django  # noqa: E402

QUESTIONS = [
    ("DROP", "db_7.*"),
    ("SELECT", "db_3.orders"),
    ("SUPER", "*"),
    ("INSERT", "db_42.t_5"),
]


def fill(instances: int, accounts: int) -> int:
    """Instances, accounts and privilege rows through COPY-free bulk inserts; returns the row count."""
    from django.db import connection, transaction

    from accounts_sync.models import Account, AccountPrivilege
    from whalefall.models import Credential, Instance

    rng = random.Random(7)
    cred = Credential.objects.create(username="bench")
    cred.set_password("x")
    cred.save()
    rows = 0
    for i in range(instances):
        with transaction.atomic():
            inst = Instance.objects.create(
                name=f"bench-{i}", db_type="mysql", host="127.0.0.1", credential=cred
            )
            accs = Account.objects.bulk_create(
                Account(instance=inst, identity=f"u{j}@%", username=f"u{j}", is_superuser=j == 0)
                for j in range(accounts)
            )
            batch: list[AccountPrivilege] = []
            for acc in accs:
                if acc.is_superuser:
                    batch.append(_p(inst, acc, "server", (), "ALL", via="superuser"))
                    continue
                db = f"db_{rng.randrange(50)}"
                batch.append(_p(inst, acc, "database", (db,), rng.choice(["SELECT", "INSERT", "DROP"])))
                for t in rng.sample(range(20), 3):
                    batch.append(_p(inst, acc, "table", (db, f"t_{t}"), rng.choice(["SELECT", "UPDATE"])))
                if rng.random() < 0.3:
                    via = "r_app ← r_read"
                    batch.append(_p(inst, acc, "table", (db, "orders"), "SELECT", via=via))
                if rng.random() < 0.02:
                    batch.append(_p(inst, acc, "global", (), rng.choice(["SUPER", "DROP", "PROCESS"])))
            AccountPrivilege.objects.bulk_create(batch, batch_size=5000)
            rows += len(batch)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    return rows


def _p(inst: object, acc: object, kind: str, path: tuple[str, ...], priv: str, via: str = "") -> object:
    from accounts_sync.models import AccountPrivilege

    return AccountPrivilege(
        instance=inst,
        account=acc,
        scope_kind=kind,
        path=list(path),
        target=".".join(path),
        privilege=priv,
        via=via,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--metadata", choices=["postgresql", "sqlite"], default="postgresql")
    args = parser.parse_args()
    name = url = None
    if args.metadata == "postgresql":
        name, url = create_pg_metadata_db()
    try:
        setup_django(url)
        from accounts_sync.questions import who_can

        started = time.perf_counter()
        rows = fill(args.instances, args.accounts)
        print(
            f"metadata: {args.metadata}; {args.instances} instances x {args.accounts} accounts; "
            f"{rows:,} privilege rows (filled in {time.perf_counter() - started:.1f} s)"
        )
        out = io.StringIO()
        worst = 0.0
        for privilege, on in QUESTIONS:
            times, answer = [], []
            for _ in range(5):
                t = time.perf_counter()
                answer = who_can(privilege, on)
                times.append(time.perf_counter() - t)
            best = min(times)
            worst = max(worst, best)
            accounts = len({(h.instance, h.account) for h in answer})
            print(
                f"who_can {privilege:<7} on {on:<12} {best * 1000:8.1f} ms  ({accounts:,} accounts, {len(answer):,} grants)",
                file=out,
            )
        print(out.getvalue(), end="")
        print(f"slowest question: {worst * 1000:.1f} ms (target < 200 ms)")
    finally:
        if name:
            drop_pg_metadata_db(name)


if __name__ == "__main__":
    main()
