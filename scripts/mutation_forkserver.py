"""Fork servers for scripts/mutation: pytest runs without paying the start-up each time.

Starting pytest on this project takes seconds: importing Django, pytest's plugins and the other
libraries, setting Django up, importing the project and its tests. A server does that once, then
forks a child per request that runs `pytest.main()`. One request at a time; a client that goes
away (cosmic-ray's timeout killed it) takes its child with it. Two kinds:

- cold: only third-party libraries are imported, so each child imports the project fresh from
  disk, mutant included. Any mutant can run here, one in code that runs at import too.
- warm (`--warm PLAN`): the module's tests are collected once with the unmutated project, so the
  project, Django's apps and the test modules are all in memory. A child then swaps in the
  mutated code of the functions the mutant changed (their `__code__`: every reference to the
  function sees it) before it runs the tests. A mutant it cannot swap that way (a function that
  ran while the server was loading, one that cannot be found) is refused, and goes to a cold one.

    python scripts/mutation_forkserver.py SOCKET               # cold; serves until killed
    python scripts/mutation_forkserver.py SOCKET --warm PLAN   # warm, for the plan's module
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.util
import json
import os
import select
import signal
import socket
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path

# Third-party only: a project module imported here would hide the mutant from the children.
PRELOAD = (
    "pytest",
    "_pytest.assertion.rewrite",
    "pytest_django.plugin",
    "pytest_randomly",
    "pytest_timeout",
    "factory",
    "faker",
    "django.db.models",
    "django.test",
    "django.contrib.admin",
    "django.core.management",
    "django.db.backends.sqlite3.base",
    "django.db.backends.postgresql.base",
    "structlog",
    "pymysql",
    "psycopg2",
    "apscheduler.schedulers.background",
    "sqlglot",
    "yaml",
    "environ",
    "openpyxl",
    "cryptography.fernet",
)


# A warm child's exit status when it cannot swap the mutant in: the client asks a cold server.
PATCH_REFUSED = 75
# ...when the mutated function ran while the module loaded: what it made then is used by tests
# that coverage (recorded per test) does not link to it, so the cold run gets every test.
RAN_AT_LOAD = 76
# Seconds a run cut short by its client has to end itself (pytest's teardown: session fixtures
# stop the servers they started, live accounts are dropped) before its processes are killed.
GRACE = 10.0


def preload() -> None:
    for name in PRELOAD:
        with contextlib.suppress(Exception):  # a library the project lacks is simply not preloaded
            importlib.import_module(name)


CodeKey = tuple[str, int]  # a function's qualified name and first line


@dataclass(frozen=True)
class Warm:
    """The module under test as the warm server imported it."""

    name: str  # its import name
    path: str
    source: str  # the unmutated text
    called: frozenset[CodeKey]  # its functions that ran while the server loaded


def warm_up(plan: dict) -> Warm | None:
    """Collect the module's tests once, unmutated, in this process (project, Django, test modules
    and migrations imported as a child's run would), then freeze what is loaded so that children
    neither copy it nor make their collector scan it. None when that fails: serve as cold."""
    cwd = os.getcwd()
    path = os.path.realpath(plan["module"])
    name = ".".join(Path(os.path.relpath(path, cwd)).with_suffix("").parts)
    source = Path(plan["original"]).read_text()
    os.environ.update({str(k): str(v) for k, v in plan["runs"][0]["env"].items()})
    sys.path.insert(0, cwd)
    # The loaded project is this process's alone: write bytecode, so that imports a child still
    # makes (test files rewritten by pytest) are compiled once. The module under test is never
    # imported by a child here; its bytecode is removed below for the cold children.
    sys.dont_write_bytecode = False
    called: set[CodeKey] = set()

    def profile(frame: types.FrameType, event: str, _arg: object) -> None:
        if event == "call" and frame.f_code.co_filename == path:
            called.add((frame.f_code.co_qualname, frame.f_code.co_firstlineno))

    import pytest
    from django.db.migrations.loader import MigrationLoader

    sys.setprofile(profile)
    try:
        code = pytest.main([*plan["pytest"][3:], "--collect-only", *plan["files"]])
        if code == 0:
            MigrationLoader(None, ignore_no_migrations=True)  # each child's test database setup loads them
    finally:
        sys.setprofile(None)
    module = sys.modules.get(name)
    if code != 0 or module is None or os.path.realpath(getattr(module, "__file__", "")) != path:
        return None
    if Path(path).read_text() != source:  # a mutant was written while we loaded: not the original
        return None
    from django.db import connections

    connections.close_all()
    Path(importlib.util.cache_from_source(path)).unlink(missing_ok=True)
    return Warm(name, path, source, frozenset(called))


def functions(code: types.CodeType, found: dict[CodeKey, types.CodeType] | None = None) -> dict:
    """Every function's code object in a compiled module, by (qualified name, first line)."""
    found = {} if found is None else found
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            if const.co_flags & 0x2:  # CO_NEWLOCALS: a function (a class body is not one)
                key = (const.co_qualname, const.co_firstlineno)
                found[key] = None if key in found else const  # None: two alike, ambiguous
            functions(const, found)
    return found


def live_function(module: types.ModuleType, key: CodeKey) -> types.FunctionType | None:
    """The function object the module holds for `key`, looked for through the wrappers that keep
    it: methods, properties, class and static methods, cached properties, `functools.wraps`."""
    qualname, line = key
    if "<" in qualname:  # a lambda or comprehension outside any function: not reachable by name
        return None
    owner: object = module
    *path, last = qualname.split(".")
    for part in path:
        owner = vars(owner).get(part) if hasattr(owner, "__dict__") else None
        if owner is None:
            return None
    todo, seen = [vars(owner).get(last)], set()
    while todo:
        obj = todo.pop()
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        code = getattr(obj, "__code__", None) if isinstance(obj, types.FunctionType) else None
        if code is not None and code.co_qualname == qualname and code.co_firstlineno == line:
            return obj  # type: ignore[return-value]
        for attr in ("__func__", "fget", "fset", "fdel", "func", "__wrapped__"):
            with contextlib.suppress(Exception):
                todo.append(getattr(obj, attr, None))
    return None


def swap_in(warm: Warm) -> int:
    """Give the loaded functions that the mutant changed their mutated code: 0, or why that cannot
    stand for importing the mutant (PATCH_REFUSED, RAN_AT_LOAD; the caller then runs it cold)."""
    mutated = Path(warm.path).read_text()
    try:
        before = functions(compile(warm.source, warm.path, "exec"))
        after = functions(compile(mutated, warm.path, "exec"))
    except SyntaxError:
        return PATCH_REFUSED
    if before.keys() != after.keys():
        return PATCH_REFUSED
    changed = [k for k in before if before[k] != after[k] and "<locals>" not in k[0]]
    if not changed:
        return PATCH_REFUSED
    if any(key in warm.called for key in changed):
        return RAN_AT_LOAD
    module = sys.modules[warm.name]
    swaps = []
    for key in changed:
        func, code = live_function(module, key), after[key]
        if func is None or code is None or before[key] is None:
            return PATCH_REFUSED
        if len(code.co_freevars) != len(func.__closure__ or ()):
            return PATCH_REFUSED
        swaps.append((func, code))
    for func, code in swaps:
        func.__code__ = code
    return 0


class FirstFailure:
    """A pytest plugin that writes the node id of the first failing test to a file: the tests
    that kill mutants are run first for the module's next mutants."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.seen = False

    def pytest_runtest_logreport(self, report: object) -> None:
        if getattr(report, "failed", False) and not self.seen:
            self.seen = True
            Path(self.path).write_text(str(getattr(report, "nodeid", "")))


def run_child(request: dict[str, object], warm: Warm | None) -> None:
    """In the forked child: become the pytest run asked for, and exit with its status."""
    os.setpgid(0, 0)  # a group of its own, so that what it starts can be stopped with it
    os.chdir(str(request["cwd"]))
    os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})  # type: ignore[call-overload]
    # Processes the tests start (runscheduler, management commands) import the project fresh,
    # mutant included: no bytecode of theirs may outlive this mutant.
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    if warm is None:
        sys.path.insert(0, str(request["cwd"]))
        # The mutant is imported from its source: bytecode written for it could be taken for the
        # next mutant's (same size, same second).
        sys.dont_write_bytecode = True
    elif refused := swap_in(warm):
        os._exit(refused)
    import pytest

    plugins = [FirstFailure(str(request["record"]))] if request.get("record") else []
    code = pytest.main([str(a) for a in request["args"]], plugins=plugins)  # type: ignore[attr-defined]
    os._exit(int(code))


CHILD: list[int] = []  # the run under way, for `stop`


def stop(pid: int) -> None:
    """End a run cut short: an interrupt first, so that pytest tears its fixtures down, then, past
    GRACE, a kill of its whole process group (a loop in C never sees the interrupt)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGINT)
    deadline = time.monotonic() + GRACE
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG)[0]:
            break
        time.sleep(0.05)
    else:
        for kill in (os.killpg, os.kill):
            with contextlib.suppress(ProcessLookupError):
                kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    with contextlib.suppress(ProcessLookupError):  # what the run started and left behind
        os.killpg(pid, signal.SIGKILL)


def handle(conn: socket.socket, warm: Warm | None) -> None:
    line = conn.makefile("rb").readline()
    if not line.strip():  # the client went away before it asked
        return
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        try:
            conn.close()
            run_child(request, warm)
        finally:
            os._exit(70)
    with contextlib.suppress(OSError):  # the child does it too: whichever runs first
        os.setpgid(pid, pid)
    CHILD[:] = [pid]
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                with contextlib.suppress(OSError):
                    conn.sendall(f"{code}\n".encode())
                return
            readable, _, _ = select.select([conn], [], [], 0.05)
            if readable and not conn.recv(1, socket.MSG_PEEK):  # the client is gone
                stop(pid)
                return
    finally:
        CHILD.clear()


def on_terminate(_signum: int, _frame: object) -> None:
    """The script is done with this server (or was interrupted): the run under way goes too."""
    for pid in CHILD:
        stop(pid)
    os._exit(0)


def serve(path: str, plan_path: str | None = None) -> None:
    preload()
    warm = None
    if plan_path is not None:
        warm = warm_up(json.loads(Path(plan_path).read_text()))
        if warm is None:
            raise SystemExit("warm-up failed: this module's mutants all run cold")
    gc.collect()
    gc.freeze()  # what is loaded now is shared with every child: not copied, not scanned
    Path(path).unlink(missing_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    signal.signal(signal.SIGTERM, on_terminate)
    while True:
        conn, _ = server.accept()
        with conn:
            try:
                handle(conn, warm)
            except Exception as exc:  # noqa: BLE001 - one bad request must not end the server
                print(f"request failed: {exc!r}", file=sys.stderr, flush=True)


TIMED_OUT = 124  # `ask`'s answer when the run took longer than it was given (its child is killed)


def ask(
    path: str, args: list[str], env: dict[str, str], cwd: str, record: str = "", timeout: float | None = None
) -> int:
    """Client side: one pytest run through the server; its exit status (`record`: a file for
    the node id of the first failing test). Past `timeout` seconds the connection is dropped,
    which makes the server kill the run."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(path)
        request = {"args": args, "env": env, "cwd": cwd, "record": record}
        conn.sendall(json.dumps(request).encode() + b"\n")
        conn.settimeout(timeout)
        try:
            answer = conn.makefile("rb").readline()
        except TimeoutError:
            return TIMED_OUT
    return int(answer) if answer.strip() else 70


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[3] if sys.argv[2:3] == ["--warm"] else None)
