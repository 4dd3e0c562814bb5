"""One mutant's test run for scripts/mutation: only the tests that execute the mutated code.

cosmic-ray writes a mutant into the module, then runs this. It compares the module with the
original to find the mutated lines, looks up in the baseline's coverage (recorded per test) which
tests executed them, restores each metadata database to the state the baseline left, and runs just
those tests there, stopping at the first failure. Exit status 0 means the mutant survived.

Code that runs when the module is imported (module and class level: constants, `def` lines with
their defaults and decorators) is shared by every test whatever coverage says, so a mutant there
gets every test of the module. A mutant in a function line that no test executed survives
without a run: no test can see it.
"""

from __future__ import annotations

import ast
import difflib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from mutation_forkserver import PATCH_REFUSED, RAN_AT_LOAD, TIMED_OUT, ask

EVERY_TEST = None  # `select` result: run the module's whole test files

# A mutant's run may take this many times what its tests took in the baseline (measured there
# with coverage on, so slower than here), plus the start-up, before it counts as killed by a
# timeout: a mutant that makes a loop or a retry wait forever costs seconds, not the minutes of
# cosmic-ray's own timeout (which stays, for a run that is never answered at all).
SLOWER = 5.0
START_UP = 15.0
TIMEOUT_NOTE = "timeout: the tests ran longer than"  # what the output of such a run says


def changed_lines(original: list[str], mutated: list[str]) -> set[int]:
    """Line numbers (1-based, in the original) that the mutant changed."""
    lines: set[int] = set()
    matcher = difflib.SequenceMatcher(a=original, b=mutated, autojunk=False)
    for tag, i1, i2, _j1, _j2 in matcher.get_opcodes():
        if tag != "equal":
            lines.update(range(i1 + 1, max(i2, i1 + 1) + 1))
    return lines


def _header(node: ast.stmt | ast.excepthandler) -> tuple[int, int]:
    """The lines a statement runs itself: all of a simple one, the head of a compound one."""
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    body = getattr(node, "body", None)
    if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
        return start, max(start, body[0].lineno - 1)
    return start, node.end_lineno or node.lineno


def execution_span(tree: ast.Module, line: int) -> tuple[int, int] | None:
    """The lines executed together with `line` at call time, or None when `line` runs at import
    (outside every function body)."""
    best: ast.stmt | ast.excepthandler | None = None
    inside_function = False

    def visit(node: ast.AST, in_function: bool) -> None:
        nonlocal best, inside_function
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.stmt | ast.excepthandler):
                continue
            start, end = _header(child)
            full_end = child.end_lineno or child.lineno
            if not start <= line <= full_end:
                continue
            if start <= line <= end:
                best, inside_function = child, in_function
            is_function = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            visit(child, in_function or (is_function and line > end))

    visit(tree, False)
    if best is None or not inside_function:
        return None
    return _header(best)


def select(plan: dict, module_text: str, original_text: str) -> list[str] | None:
    """The tests (node ids, in file order) that can see this mutant; EVERY_TEST when that is all."""
    coverage: dict[str, list[int]] = plan["lines"]
    order: list[str] = plan["order"]
    tree = ast.parse(original_text)
    chosen: set[int] = set()
    for line in changed_lines(original_text.splitlines(), module_text.splitlines()):
        span = execution_span(tree, line)
        if span is None:
            return EVERY_TEST
        # A line no test executed (coverage follows threads too) cannot fail one: it survives.
        chosen.update(i for n in range(span[0], span[1] + 1) for i in coverage.get(str(n), []))
    return [order[i] for i in sorted(chosen)]


def restore(run: dict) -> None:
    """Put the metadata database back as the baseline left it (a cut-short run or a broken
    cleanup must not leave rows that make the next mutant's tests fail for the wrong reason)."""
    if not run["template"]:  # the baseline made no database: nothing to put back
        return
    if run["database"] == "sqlite":
        shutil.copyfile(run["template"], run["path"])
        for suffix in ("-wal", "-shm"):
            Path(run["path"] + suffix).unlink(missing_ok=True)
        return
    import psycopg2

    conn = psycopg2.connect(run["admin_dsn"])
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{run["name"]}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{run["name"]}" TEMPLATE "{run["template"]}"')
    conn.close()


def killers_first(tests: list[str], killers: dict[str, int]) -> list[str]:
    """The tests that killed the module's earlier mutants first, the most often first; then the
    others in file order. Most mutants fall to a few tests, and a run stops at its first failure."""
    rank = {nodeid: i for i, nodeid in enumerate(tests)}
    return sorted(tests, key=lambda t: (-killers.get(t, 0), rank[t]))


def load_killers(path: Path) -> dict[str, int]:
    try:
        return {str(k): int(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def main() -> int:
    began = time.time()
    plan_path = Path(sys.argv[1])
    plan = json.loads(plan_path.read_text())
    module_text = Path(plan["module"]).read_text()
    tests = select(plan, module_text, Path(plan["original"]).read_text())
    if tests == []:
        return 0  # no test runs the mutated code: it survives
    killers_path = plan_path.with_suffix(".killers.json")
    if tests is EVERY_TEST:
        tests = list(plan["order"])
        count = "all"
    else:
        count = str(len(tests))
    tests = killers_first(tests, load_killers(killers_path))
    started = time.monotonic()
    code = 0
    try:
        # Code that runs at import needs the mutant imported: only a cold run has that.
        code = _run_tests(plan, tests, count != "all", killers_path)
    finally:  # how long each mutant took, and with how many tests: where a module's time goes
        with open(Path(sys.argv[1]).with_suffix(".times.log"), "a") as log:
            changed = sorted(
                changed_lines(Path(plan["original"]).read_text().splitlines(), module_text.splitlines())
            )
            log.write(
                f"{began:.1f} {changed} tests={count} code={code} on={'+'.join(RAN_ON)} "
                f"{time.monotonic() - started:.1f}s (all {time.time() - began:.1f}s)\n"
            )
    return code


def deadline(plan: dict, tests: list[str]) -> float:
    """Seconds a run of `tests` is given (see SLOWER)."""
    durations: dict[str, float] = plan.get("durations", {})
    return START_UP + SLOWER * sum(durations.get(t, 0.0) for t in tests)


def _run_tests(plan: dict, tests: list[str], warm: bool, killers_path: Path) -> int:
    record = killers_path.with_suffix(".last")
    for i, run in enumerate(plan["runs"]):
        restore(run)
        record.unlink(missing_ok=True)
        code = None
        if warm and i == 0:  # only the first run's environment is the warm server's
            code = _ask("warm", plan, run, tests, record)
            if code == RAN_AT_LOAD:  # what it made while loading is used by tests coverage missed
                tests = killers_first(list(plan["order"]), load_killers(killers_path))
            if code in (PATCH_REFUSED, RAN_AT_LOAD):
                code = None
        if code is None:
            code = _ask("cold", plan, run, tests, record)
        if code is None:  # no server (run by hand, or it died): a process of its own
            RAN_ON.append("own")
            try:
                argv = [*plan["pytest"], *tests]
                env = {**os.environ, **run["env"]}
                code = subprocess.run(argv, env=env, check=False, timeout=deadline(plan, tests)).returncode
            except subprocess.TimeoutExpired:
                code = TIMED_OUT
        if code == TIMED_OUT:
            print(f"{TIMEOUT_NOTE} {deadline(plan, tests):.0f} s", flush=True)
        if code != 0:
            if record.exists():
                killers = load_killers(killers_path)
                nodeid = record.read_text()
                killers[nodeid] = killers.get(nodeid, 0) + 1
                killers_path.write_text(json.dumps(killers))
            return code
    return 0


RAN_ON: list[str] = []  # where each run went (warm, cold, own), for the times log


def _ask(kind: str, plan: dict, run: dict, tests: list[str], record: Path) -> int | None:
    """One pytest run in a child of the warm or cold fork server; None when there is none to ask."""
    server = plan.get("warm_server" if kind == "warm" else "server")
    if not server or not Path(server).exists():
        return None
    try:
        # plan["pytest"][:3]: python -m pytest
        args = [*plan["pytest"][3:], *tests]
        code = ask(server, args, run["env"], os.getcwd(), record=str(record), timeout=deadline(plan, tests))
    except OSError:  # the server is gone (its socket file stayed)
        return None
    if code not in (PATCH_REFUSED, RAN_AT_LOAD):
        RAN_ON.append(kind)
    return code


if __name__ == "__main__":
    sys.exit(main())
