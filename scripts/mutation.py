"""Mutation testing of the core modules with cosmic-ray: score per module and surviving mutants.

Each module is mutated one small change at a time (an operator, a comparison, a constant, a
boolean...) and the test files that cover it are run against every mutant; a mutant the tests
do not fail on "survived". Equivalent mutants (no behaviour change is possible) are excused one
by one in `mutation_excuses.txt` beside this script and left out of the score.

The work happens in a scratch copy of the project, so the checkout is never mutated. Not part of
CI: a module takes minutes. `--lock FILE` runs each module under `flock FILE` (shared machines).
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from mutation_select import TIMEOUT_NOTE  # beside this script, on its path

ROOT = Path(__file__).resolve().parents[1]
EXCUSES = Path(__file__).with_name("mutation_excuses.txt")
TARGET = 0.90
ANNOTATION = "inside a postponed type annotation: never evaluated"
TEST_DB = ".test-db.sqlite3"  # the settings' SQLite test database, in the scratch copy

# Core module -> the test files that cover it, the quick ones (rows, scripted servers) first: a
# mutant's run stops at its first failing test.
MODULES: dict[str, list[str]] = {
    "accounts_sync/adapters/mysql.py": [
        "accounts_sync/tests/test_mysql_variants.py",
        "accounts_sync/tests/test_mysql_live.py",
        "accounts_sync/tests/test_regressions_live.py",
        "accounts_sync/tests/test_mysql_truth.py",
    ],
    "accounts_sync/adapters/postgresql.py": [
        "accounts_sync/tests/test_postgresql_live.py",
        "accounts_sync/tests/test_postgresql_truth.py",
        "accounts_sync/tests/test_postgresql_hostile.py",
        "accounts_sync/tests/test_regressions_live.py",
    ],
    # No SQL Server or Oracle server can run here: their adapters are tested on rows shaped like
    # the vendors' catalogs, and every SQL text is parsed in the engine's dialect.
    "accounts_sync/adapters/sqlserver.py": [
        "accounts_sync/tests/test_sqlserver_adapter.py",
        "accounts_sync/tests/test_catalog_columns.py",
        "accounts_sync/tests/test_statements.py",
    ],
    "accounts_sync/adapters/oracle.py": [
        "accounts_sync/tests/test_oracle_adapter.py",
        "accounts_sync/tests/test_catalog_columns.py",
        "accounts_sync/tests/test_statements.py",
    ],
    "accounts_sync/coordinator.py": [
        "accounts_sync/tests/test_store.py",
        "accounts_sync/tests/test_privileges.py",
        "accounts_sync/tests/test_coordinator.py",
        "accounts_sync/tests/test_mysql_live.py",
        "accounts_sync/tests/test_tasks.py",
        "accounts_sync/tests/test_postgresql_live.py",
        "accounts_sync/tests/test_regressions_live.py",
        "accounts_sync/tests/test_baseline_live.py",
        "accounts_sync/tests/test_unreadable_live.py",
        "accounts_sync/tests/test_postgresql_carry_over.py",
    ],
    "whalefall/sync/session_runner.py": [
        "whalefall/tests/test_ledger.py",
        "whalefall/tests/test_runner_outcomes.py",
        "whalefall/tests/test_retry_schedule.py",
    ],
    "whalefall/sync/locks.py": [
        "whalefall/tests/test_lock_details.py",
        "whalefall/tests/test_locks.py",
        "whalefall/tests/test_ledger.py",
    ],
    "whalefall/sync/retry.py": ["whalefall/tests/test_retry_schedule.py", "whalefall/tests/test_ledger.py"],
    # test_periods.py is quick and strict on the arithmetic; the SQL each database is given for a
    # period, and the days-since expression of the forecast, are run only by their own tests.
    "capacity/periods.py": [
        "capacity/tests/test_periods.py",
        "capacity/tests/test_aggregation.py",
        "capacity/tests/test_forecast.py",
    ],
    "capacity/services/aggregation.py": [
        "capacity/tests/test_aggregation.py",
        "capacity/tests/test_incremental.py",
        "capacity/tests/test_commands.py",
    ],
    "scheduling/config.py": ["scheduling/tests/test_config.py", "scheduling/tests/test_yaml_enabled.py"],
    "scheduling/service/loop.py": [
        "scheduling/tests/test_loop_clock.py",
        "scheduling/tests/test_service.py",
        "scheduling/tests/test_yaml_enabled.py",
    ],
    "scheduling/service/leasekeeper.py": [
        "scheduling/tests/test_leasekeeper.py",
        "scheduling/tests/test_service.py",
    ],
    "scheduling/service/commands.py": [
        "scheduling/tests/test_commands_claims.py",
        "scheduling/tests/test_commands_unit.py",
        "scheduling/tests/test_service.py",
        "scheduling/tests/test_job_configs.py",
    ],
}


# Modules whose tests make and sync accounts on the live servers: two of their runs at once would
# see each other's. They share one scratch copy ("servers"); the others another ("local"), and
# `--jobs 2` runs the two lanes side by side. The capacity modules' live use is a PostgreSQL
# metadata database, dropped and made again for every mutant: an account sync of the other lane
# would meet it half made, so in the local lane it lives on a PostgreSQL server of its own.
SHARED_SERVERS = frozenset(
    {
        "accounts_sync/adapters/mysql.py",
        "accounts_sync/adapters/postgresql.py",
        "accounts_sync/coordinator.py",
    }
)


def lane_of(module: str) -> str:
    return "servers" if module in SHARED_SERVERS else "local"


@dataclass(frozen=True)
class Excuse:
    module: str
    operator: str
    line: str  # the source line, stripped
    reason: str


def load_excuses() -> list[Excuse]:
    """`module | operator | source line | why it is equivalent`, one mutant (or line) per entry;
    a `|` inside the source line is written `\\|`."""
    excuses = []
    for raw in EXCUSES.read_text().splitlines() if EXCUSES.exists() else []:
        if raw.strip() and not raw.lstrip().startswith("#"):
            module, operator, line, reason = (part.strip() for part in raw.split(" | ", 3))
            excuses.append(Excuse(module, operator, line.replace("\\|", "|"), reason))
    return excuses


def scratch_copy(dest: Path) -> None:
    """The project's files (tracked and new, not ignored) in `dest`, sharing the virtualenv; the
    sessions of earlier runs (`.mutation/`) are kept for `--again`."""
    if dest.exists():
        for child in dest.iterdir():
            if child.name != ".mutation":
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    (dest / ".venv").symlink_to((ROOT / ".venv").resolve())


def cosmic_ray(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / ".venv/bin/cosmic-ray"), *args], cwd=cwd, capture_output=True, text=True, check=False
    )


# Modules with code that only runs on a PostgreSQL metadata database: their mutants that survive
# the SQLite run get a second one on PostgreSQL (killed if either fails).
ON_POSTGRESQL = {"capacity/services/aggregation.py", "capacity/periods.py"}
SYSTEM_PG_PORT = 5432


def admin_dsn(port: int) -> str:
    return f"dbname=postgres user=postgres host=127.0.0.1 port={port}"


def _runs(module: str, work: Path, name: str, pg_port: int = SYSTEM_PG_PORT) -> list[dict[str, object]]:
    """The metadata databases a mutant's tests run on, each with how to restore its baseline."""
    sqlite_db = str(work / TEST_DB)
    runs: list[dict[str, object]] = [
        {
            "database": "sqlite",
            "env": {"DATABASE_URL": ""},
            "path": sqlite_db,
            "template": str(work / f".mutation/{name}.template.sqlite3"),
        }
    ]
    if module in ON_POSTGRESQL:
        test_name = f"test_wf_mutation_{name}"[:60]
        runs.append(
            {
                "database": "postgresql",
                "env": {
                    "DATABASE_URL": f"postgres://postgres@127.0.0.1:{pg_port}/whalefall",
                    "TEST_DATABASE_NAME": test_name,
                },
                "admin_dsn": admin_dsn(pg_port),
                "name": test_name,
                "template": f"{test_name}_base"[:63],
            }
        )
    return runs


def _save_baseline(run: dict[str, object]) -> None:
    """Keep the database the baseline left, for every mutant's run to start from."""
    if run["database"] == "sqlite":
        if Path(str(run["path"])).exists():
            shutil.copyfile(str(run["path"]), str(run["template"]))
        else:  # no test used the database: nothing to put back
            run["template"] = ""
        return
    import psycopg2

    conn = psycopg2.connect(str(run["admin_dsn"]))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{run["template"]}" WITH (FORCE)')
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [run["name"]])
        if cur.fetchone() is None:  # no test used the database: nothing to put back
            run["template"] = ""
        else:
            cur.execute(f'CREATE DATABASE "{run["template"]}" TEMPLATE "{run["name"]}"')
    conn.close()


def test_durations(output: str) -> dict[str, float]:
    """Seconds per test (setup, call and teardown) from pytest's `--durations=0` report."""
    seconds: dict[str, float] = {}
    for line in output.splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) == 3 and parts[0].endswith("s") and parts[1] in ("setup", "call", "teardown"):
            try:
                seconds[parts[2]] = seconds.get(parts[2], 0.0) + float(parts[0][:-1])
            except ValueError:
                continue
    return seconds


def coverage_map(data_file: Path, module_path: Path, order: list[str]) -> dict[str, list[int]]:
    """Line -> indexes (in `order`) of the tests that executed it, from pytest-cov's per-test
    contexts ("file.py::test|run"). Lines run outside any test (collection) get no test."""
    from coverage import CoverageData

    index = {nodeid: i for i, nodeid in enumerate(order)}
    lines: dict[str, set[int]] = {}
    data = CoverageData(basename=str(data_file))
    data.read()
    for measured in data.measured_files():
        if Path(measured).resolve() != module_path.resolve():
            continue
        for line, contexts in data.contexts_by_lineno(measured).items():
            for context in contexts:
                nodeid = context.rsplit("|", 1)[0]
                if nodeid in index:
                    lines.setdefault(str(line), set()).add(index[nodeid])
    return {line: sorted(ids) for line, ids in lines.items()}


def run_module(
    module: str,
    work: Path,
    lock: str | None,
    timeout: float | None,
    *,
    again: bool = False,
    resume: bool = False,
    pg_port: int = SYSTEM_PG_PORT,
) -> dict[str, object]:
    """Mutate `module` and run its tests against each mutant. `again`: an earlier run's survivors
    only; `resume`: the mutants an interrupted run did not get to."""
    name = module.replace("/", "_").removesuffix(".py")
    session, config = work / f".mutation/{name}.sqlite", work / f".mutation/{name}.toml"
    session.parent.mkdir(exist_ok=True)
    original = work / f".mutation/{name}.original.py"
    earlier = again or resume
    if earlier and not (session.exists() and original.exists()):
        raise SystemExit(f"{module}: --again/--resume need an earlier run's session in {session.parent}")
    if earlier and original.read_text() != (work / module).read_text():
        raise SystemExit(f"{module} changed since the earlier run: its mutants are not the same; run it anew")
    if not earlier:
        session.unlink(missing_ok=True)
    files = [t for t in MODULES[module] if (work / t).exists()]
    # -x: the first failing test kills the mutant; file order, and the test DB kept between runs.
    pytest = [
        ".venv/bin/python", "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:faker",
        "--reuse-db",
    ]  # fmt: skip
    locked = ["flock", lock] if lock else []
    collected = subprocess.run(
        [*pytest, "--collect-only", *files], cwd=work, capture_output=True, text=True, check=False
    )
    order = [line for line in collected.stdout.splitlines() if "::" in line]
    if not order:
        raise SystemExit(f"{module}: no test collected from {', '.join(files)}:\n{collected.stdout[-2000:]}")
    # The baseline, per metadata database: the tests must pass unmutated, and coverage records
    # which test runs which line, so that each mutant runs only the tests that can see it.
    runs = _runs(module, work, name, pg_port)
    lines: dict[str, set[int]] = {}
    durations: dict[str, float] = {}  # test -> its seconds in the baseline (the slower database)
    baseline_seconds = 0.0
    for run in runs:
        data_file = work / f".mutation/{name}.{run['database']}.coverage"
        data_file.unlink(missing_ok=True)
        cov = [f"--cov={Path(module).parent}", "--cov-context=test", "--cov-report="]
        timing = ["--durations=0", "--durations-min=0"]
        began = time.monotonic()
        baseline = subprocess.run(
            [*locked, *pytest, "--create-db", *cov, *timing, *files],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **run["env"], "COVERAGE_FILE": str(data_file)},  # type: ignore[dict-item]
        )
        if baseline.returncode != 0:
            raise SystemExit(
                f"{module}: the tests fail without any mutation ({run['database']}):\n{baseline.stdout[-3000:]}"
            )
        baseline_seconds = max(baseline_seconds, time.monotonic() - began)
        for nodeid, seconds in test_durations(baseline.stdout).items():
            durations[nodeid] = round(max(durations.get(nodeid, 0.0), seconds), 3)
        _save_baseline(run)
        for line, ids in coverage_map(data_file, work / module, order).items():
            lines.setdefault(line, set()).update(ids)
    shutil.copyfile(work / module, original)
    plan = work / f".mutation/{name}.plan.json"
    socket_path = work / f".mutation/{name}.sock"
    warm_path = work / f".mutation/{name}.warm.sock"
    plan.write_text(
        json.dumps(
            {
                "server": str(socket_path),
                "warm_server": str(warm_path),
                "module": str(work / module),
                "original": str(original),
                "order": order,
                "lines": {line: sorted(ids) for line, ids in lines.items()},
                "durations": durations,
                "files": files,
                "pytest": pytest,
                "runs": runs,
            }
        )
    )
    # A mutant that loops forever is killed by the timeout: ten times what the whole unmutated
    # run took (with coverage, so slower than any mutant's run) or 30 s, unless given.
    if timeout is None:
        timeout = max(30.0, round(10 * baseline_seconds))
    test_command = shlex.join([".venv/bin/python", str(ROOT / "scripts/mutation_select.py"), str(plan)])
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(module)}\n"
        f"timeout = {timeout}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(test_command)}\n"
        '[cosmic-ray.distributor]\nname = "local"\n'
    )
    if again:
        forget_survivors(session)
    elif not resume:
        init = cosmic_ray("init", str(config), str(session), cwd=work)
        if init.returncode != 0:
            raise SystemExit(f"cosmic-ray init failed: {init.stderr[-2000:]}")
    excused = excuse(session, module, work)
    started = time.monotonic()
    command = [*locked, str(ROOT / ".venv/bin/cosmic-ray"), "exec", str(config), str(session)]
    servers = [
        start_server(socket_path, work, work / f".mutation/{name}.cold.log"),
        start_server(warm_path, work, work / f".mutation/{name}.warm.log", plan=plan, env=runs[0]["env"]),
    ]
    try:
        subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
    finally:
        for server in servers:  # a server ends the run under way, if any, before it goes
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        socket_path.unlink(missing_ok=True)
        warm_path.unlink(missing_ok=True)
    return summarize(module, session, work, excused, time.monotonic() - started)


def start_server(
    socket_path: Path, work: Path, log: Path, *, plan: Path | None = None, env: object = None
) -> subprocess.Popen[bytes]:
    """A fork server (scripts/mutation_forkserver.py), ready when this returns: a warm one loads the
    unmutated module, so cosmic-ray must not write a mutant before it has. One that fails to start
    is left out (its mutants go to the cold server, or to processes of their own)."""
    socket_path.unlink(missing_ok=True)
    args = [str(socket_path), *(["--warm", str(plan)] if plan else [])]
    with log.open("w") as out:
        server = subprocess.Popen(
            [".venv/bin/python", str(ROOT / "scripts/mutation_forkserver.py"), *args],
            cwd=work,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **dict(env or {})},  # type: ignore[call-overload]
        )
    deadline = time.monotonic() + 300
    while not socket_path.exists() and server.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if not socket_path.exists():
        server.kill()
        print(f"warning: {socket_path.name}: the fork server did not start (see {log})", file=sys.stderr)
    return server


def rescore(module: str, work: Path) -> dict[str, object] | None:
    """The last run's score counted again, without running anything (None when there is none)."""
    name = module.replace("/", "_").removesuffix(".py")
    session, original = work / f".mutation/{name}.sqlite", work / f".mutation/{name}.original.py"
    if not (session.exists() and original.exists()):
        print(f"{module}: no earlier run in {session.parent}", file=sys.stderr)
        return None
    if original.read_text() != (work / module).read_text():
        shutil.copyfile(original, work / module)  # score against the source the mutants came from
    return summarize(module, session, work, excuse(session, module, work), 0.0)


def forget_survivors(session: Path) -> int:
    """Make the surviving mutants of an earlier run pending again (the killed stay killed: the
    module is unchanged and tests were only added), so that `exec` runs just those."""
    import sqlite3

    with sqlite3.connect(session) as db:
        return db.execute("DELETE FROM work_results WHERE test_outcome = 'SURVIVED'").rowcount


def _source_line(work: Path, module: str, line_no: int) -> str:
    return (work / module).read_text().splitlines()[line_no - 1].strip()


def annotation_spans(path: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where a module's type annotations are, if it postpones them (`from __future__ import
    annotations`): they are never evaluated there, so a mutant inside one is no mutant at all."""
    tree = ast.parse(path.read_text())
    postponed = any(
        isinstance(n, ast.ImportFrom)
        and n.module == "__future__"
        and any(a.name == "annotations" for a in n.names)
        for n in tree.body
    )
    if not postponed:
        return []
    nodes: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            nodes.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
            nodes.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            nodes.append(node.annotation)
    return [((n.lineno, n.col_offset), (n.end_lineno or n.lineno, n.end_col_offset or 0)) for n in nodes]


def excuse(session: Path, module: str, work: Path) -> dict[str, str]:
    """Mark excused mutants (and mutants inside postponed annotations) as skipped before the run;
    returns job id -> reason."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    wanted = [e for e in load_excuses() if e.module == module]
    excused: dict[str, str] = {}
    used: set[Excuse] = set()
    spans = annotation_spans(work / module)
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in db.work_items:
            mutation = item.mutations[0]
            start = tuple(mutation.start_pos)
            if any(a <= start < b for a, b in spans):
                excused[item.job_id] = ANNOTATION
                db.set_result(item.job_id, WorkResult(WorkerOutcome.SKIPPED, output=ANNOTATION))
                continue
            line = _source_line(work, module, mutation.start_pos[0])
            for e in wanted:
                # `operator@column`: only the mutant at that column of the line (the line's text
                # is matched exactly, so its columns are stable).
                operator, _, column = e.operator.partition("@")
                if (
                    fnmatch.fnmatchcase(mutation.operator_name, operator)
                    and e.line == line
                    and (not column or int(column) == mutation.start_pos[1])
                ):
                    excused[item.job_id] = e.reason
                    used.add(e)
                    db.set_result(
                        item.job_id, WorkResult(WorkerOutcome.SKIPPED, output=f"excused: {e.reason}")
                    )
    for e in wanted:
        if e not in used:
            print(
                f"warning: stale excuse (no such mutant): {e.module} | {e.operator} | {e.line}",
                file=sys.stderr,
            )
    return excused


def not_python(source: str, row: int, diff: str) -> bool:
    """A mutant that is not valid Python (`*,` of a keyword-only marker made `+,`, `**row` in a
    dict display made `-row`): every test fails on import, which says nothing of the tests, so it
    is incompetent rather than killed. Checked by compiling the module with the one changed line."""
    body = [d for d in diff.splitlines() if d[:3] not in ("---", "+++", "@@ ")]
    removed = [d[1:] for d in body if d.startswith("-")]
    added = [d[1:] for d in body if d.startswith("+")]
    lines = source.splitlines()
    if len(removed) != 1 or len(added) != 1 or not 0 < row <= len(lines) or lines[row - 1] != removed[0]:
        return False
    lines[row - 1] = added[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # `is` with a literal: valid, only warned about
        try:
            compile("\n".join(lines), "<mutant>", "exec")
        except SyntaxError:
            return True
    return False


def summarize(
    module: str, session: Path, work: Path, excused: dict[str, str], seconds: float
) -> dict[str, object]:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    killed = survived = incompetent = pending = timeouts = 0
    survivors: list[str] = []
    source = (work / module).read_text()
    with use_db(str(session), WorkDB.Mode.open) as db:
        results = dict(db.results)
        for item in db.work_items:
            if item.job_id in excused:
                continue
            result = results.get(item.job_id)
            if result is None:
                pending += 1
            elif (
                result.worker_outcome != WorkerOutcome.NORMAL
                or result.test_outcome == TestOutcome.INCOMPETENT
                or not_python(source, item.mutations[0].start_pos[0], result.diff or "")
            ):
                incompetent += 1
            elif result.test_outcome == TestOutcome.SURVIVED:
                survived += 1
                m = item.mutations[0]
                line = _source_line(work, module, m.start_pos[0])
                diff = "\n".join(
                    f"      {d}"
                    for d in (result.diff or "").splitlines()
                    if d[:1] in "+-" and d[:3] not in ("+++", "---")
                )
                survivors.append(
                    f"  {module}:{m.start_pos[0]} {m.operator_name} (occurrence {m.occurrence})\n      {line}\n{diff}"
                )
            else:
                killed += 1
                output = result.output or ""
                timeouts += output == "timeout" or TIMEOUT_NOTE in output  # cosmic-ray's, or ours
    scored = killed + survived
    annotations = sum(1 for reason in excused.values() if reason == ANNOTATION)
    return {
        "annotations": annotations,
        "module": module,
        "mutants": killed + survived + incompetent + pending + len(excused),
        "excused": len(excused) - annotations,
        "killed": killed,
        "timeouts": timeouts,
        "survived": survived,
        "incompetent": incompetent,
        "not_run": pending,
        "score": killed / scored if scored else 1.0,
        "seconds": round(seconds),
        "survivors": survivors,
    }


def print_report(report: dict[str, object]) -> None:
    print(
        f"{report['module']}: {report['score']:.0%} killed ({report['killed']} killed, "
        f"{report.get('timeouts', 0)} of them by a timeout, "
        f"{report['survived']} survived, {report['excused']} excused as equivalent, "
        f"{report['annotations']} in annotations, {report['incompetent']} incompetent, "
        f"{report['not_run']} not run; {report['mutants']} mutants, {report['seconds']} s)",
        flush=True,
    )
    for line in report["survivors"]:  # type: ignore[attr-defined]
        print(line, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(MODULES)}")
    parser.add_argument("--lock", help="run each module's mutants under `flock LOCK`")
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds per mutant's test run (default: 10x the unmutated run, at least 30 s)",
    )
    parser.add_argument(
        "--workdir", default=os.environ.get("WHALEFALL_MUTATION_DIR", "/tmp/whalefall-mutation")
    )
    parser.add_argument(
        "--again",
        action="store_true",
        help="re-run only the mutants that survived the last run of each module (after adding tests)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="go on with the mutants an interrupted run did not get to"
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="run nothing: score the last run of each module again (today's excuses and rules)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        choices=[1, 2],
        default=1,
        help="2: run the modules that use the live servers' accounts and the others side by side",
    )
    args = parser.parse_args()
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"not a core module: {', '.join(unknown)}")
    work = Path(args.workdir)
    lanes: dict[str, list[str]] = {}
    for module in args.modules or list(MODULES):
        lanes.setdefault(lane_of(module), []).append(module)
    if not args.report:
        for lane in lanes:
            (work / lane).mkdir(parents=True, exist_ok=True)
            scratch_copy(work / lane)
    reports: list[dict[str, object]] = []
    printing = threading.Lock()
    started = time.monotonic()
    own_server = None
    pg_ports = {lane: SYSTEM_PG_PORT for lane in lanes}
    if not args.report and any(m in ON_POSTGRESQL for m in lanes.get("local", [])):
        from accounts_sync.tests.pgservers import start_wheel_server

        own_server = start_wheel_server(16)
        pg_ports["local"] = own_server.port
        print(
            f"local lane: PostgreSQL metadata databases on PostgreSQL 16, port {own_server.port}", flush=True
        )

    def run_lane(lane: str, modules: list[str]) -> None:
        for module in modules:
            if args.report:
                report = rescore(module, work / lane)
            else:
                report = run_module(
                    module,
                    work / lane,
                    args.lock,
                    args.timeout,
                    again=args.again,
                    resume=args.resume,
                    pg_port=pg_ports[lane],
                )
            if report is not None:
                with printing:
                    reports.append(report)
                    print_report(report)

    try:
        if args.jobs == 1:
            for lane, modules in lanes.items():
                run_lane(lane, modules)
        else:
            failures: list[BaseException] = []

            def guarded(lane: str, modules: list[str]) -> None:
                try:
                    run_lane(lane, modules)
                except BaseException as exc:  # noqa: BLE001 - raised again once the other lane ends
                    failures.append(exc)

            threads = [threading.Thread(target=guarded, args=item) for item in lanes.items()]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if failures:
                raise failures[0]
    finally:
        if own_server is not None:
            own_server.stop()
    if not args.report:
        print(f"{len(reports)} modules in {round(time.monotonic() - started)} s", flush=True)
    below = [r["module"] for r in reports if float(r["score"]) < TARGET]  # type: ignore[arg-type]
    if below:
        print(f"below {TARGET:.0%}: {', '.join(below)}")
    return 1 if below else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
