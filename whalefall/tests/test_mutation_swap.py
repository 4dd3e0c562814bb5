"""The warm fork server of scripts/mutation swaps a mutant's functions into a loaded module: what
it swaps must behave as the mutant imported fresh would, and what it cannot swap it must refuse
(the mutant then runs in a fresh import), or mutation scores would be wrong without a sign."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import mutation_forkserver as forkserver
from mutation_forkserver import PATCH_REFUSED, RAN_AT_LOAD, Warm, swap_in

SOURCE = textwrap.dedent(
    """
    import functools


    def wrapped(f):
        @functools.wraps(f)
        def inner(*args):
            return f(*args)
        return inner


    def plain(a, b):
        return a + b


    @wrapped
    def decorated(a):
        return a * 2


    def nested(a):
        return [x + 1 for x in range(a)]


    class Shape:
        def __init__(self, side):
            self.side = side

        @property
        def area(self):
            return self.side * self.side

        @area.setter
        def area(self, value):
            self.side = value // self.side

        @classmethod
        def unit(cls):
            return cls(1)

        def describe(self):
            return super().__repr__()[:1]


    def at_import():
        return 3


    LIMIT = at_import()
    ALIAS = plain
    """
)


@pytest.fixture
def loaded(tmp_path: Path) -> Iterator[tuple[object, Path]]:
    path = tmp_path / "wf_swap_sample.py"
    path.write_text(SOURCE)
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("wf_swap_sample"), path
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("wf_swap_sample", None)


def mutate(path: Path, old: str, new: str, called: frozenset[tuple[str, int]] = frozenset()) -> int:
    """0 when swapped in, else why not."""
    assert SOURCE.count(old) == 1
    path.write_text(SOURCE.replace(old, new))
    return swap_in(Warm("wf_swap_sample", str(path), SOURCE, called))


def test_a_mutated_function_is_seen_through_every_reference(loaded: tuple[object, Path]) -> None:
    module, path = loaded
    assert mutate(path, "return a + b", "return a - b") == 0
    assert module.plain(5, 3) == 2  # type: ignore[attr-defined]
    assert module.ALIAS(5, 3) == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("old", "new", "check"),
    [
        ("return a * 2", "return a * 3", lambda m: m.decorated(2) == 6),
        ("return [x + 1 for", "return [x - 1 for", lambda m: m.nested(2) == [-1, 0]),
        ("return self.side * self.side", "return self.side + self.side", lambda m: m.Shape(3).area == 6),
        ("self.side = value // self.side", "self.side = value * self.side", lambda m: _set_area(m) == 18),
        ("return cls(1)", "return cls(2)", lambda m: m.Shape.unit().side == 2),
        ("[:1]", "[:2]", lambda m: len(m.Shape(1).describe()) == 2),
    ],
    ids=["functools.wraps", "comprehension", "property getter", "property setter", "classmethod", "super()"],
)
def test_methods_and_wrapped_functions_are_swapped(
    loaded: tuple[object, Path], old: str, new: str, check: Callable[[Any], bool]
) -> None:
    module, path = loaded
    assert mutate(path, old, new) == 0
    assert check(module)


def _set_area(module: object) -> int:
    shape = module.Shape(3)  # type: ignore[attr-defined]
    shape.area = 6
    return shape.side


def test_it_refuses_a_function_that_ran_while_the_module_loaded(loaded: tuple[object, Path]) -> None:
    """`LIMIT` was computed by the unmutated function: swapping its code would not change it."""
    module, path = loaded
    line = SOURCE.splitlines().index("def at_import():") + 1
    assert mutate(path, "return 3", "return 4", called=frozenset({("at_import", line)})) == RAN_AT_LOAD
    assert module.at_import() == 3  # type: ignore[attr-defined]


def test_it_refuses_code_that_runs_at_import_and_text_that_is_no_python(loaded: tuple[object, Path]) -> None:
    module, path = loaded
    assert mutate(path, "LIMIT = at_import()", "LIMIT = at_import() + 1") == PATCH_REFUSED
    assert mutate(path, "return a + b", "return a +* b") == PATCH_REFUSED
    assert module.plain(5, 3) == 8  # type: ignore[attr-defined]


def _child(body: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the forked child
        try:
            os.setpgid(0, 0)
            body()
        finally:
            os._exit(0)
    os.setpgid(pid, pid)
    return pid


def test_a_run_cut_short_is_interrupted_first_so_that_it_tears_down(tmp_path: Path) -> None:
    marker = tmp_path / "torn-down"

    def body() -> None:
        try:
            time.sleep(60)
        except KeyboardInterrupt:
            marker.write_text("yes")

    pid = _child(body)
    time.sleep(0.2)
    started = time.monotonic()
    forkserver.stop(pid)
    assert marker.read_text() == "yes"
    assert time.monotonic() - started < forkserver.GRACE


def test_a_run_that_ignores_the_interrupt_is_killed_with_what_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forkserver, "GRACE", 0.5)
    grandchild = tmp_path / "grandchild"

    def body() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        process = subprocess.Popen(["sleep", "60"])  # in the run's process group
        grandchild.write_text(str(process.pid))
        time.sleep(60)

    pid = _child(body)
    while not grandchild.exists():
        time.sleep(0.05)
    forkserver.stop(pid)
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped
    time.sleep(0.1)
    assert not Path(f"/proc/{grandchild.read_text()}").exists() or "Z" in _state(int(grandchild.read_text()))


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]
