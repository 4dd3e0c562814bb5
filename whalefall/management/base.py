"""The base of every WhaleFall command: what it prints cannot drive the operator's terminal."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandParser, OutputWrapper

from whalefall.structured_logging import console_floor
from whalefall.textsafe import safe_lines

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class SafeOutputWrapper(OutputWrapper):
    """Escapes control and bidirectional characters of every message before styling it, so
    colours still work (pass them as `style_func`, never pre-styled) and server text cannot."""

    def write(  # type: ignore[override]  # Django's write, not TextIOBase's
        self, msg: str = "", style_func: Callable[[str], str] | None = None, ending: str | None = None
    ) -> None:
        super().write(safe_lines(msg), style_func, ending)

    @classmethod
    def adopt(cls, wrapper: OutputWrapper) -> SafeOutputWrapper:
        if isinstance(wrapper, cls):
            return wrapper
        safe = cls(wrapper._out, wrapper.ending)  # type: ignore[arg-type]  # _out is the stream
        safe._style_func = wrapper._style_func  # type: ignore[attr-defined]  # as styled, tty or not
        return safe


class SafeOutputCommand(BaseCommand):
    """`self.stdout` / `self.stderr` are always escaping wrappers, including the ones Django
    installs for `call_command(stdout=...)` and the one that prints a CommandError. Names and
    errors inside a line still go through `safe_text` (a newline in a name must not start a
    line of its own).

    A person running a command reads its output, not the event log: log events below WARNING
    stay off the console unless `-v 2` (or more) asks for them. A long-running service whose
    log is its record (the scheduler) sets `quiet_logs = False`.
    """

    # Lazy, so that `--help` speaks the language active when it is printed.
    help: StrOrPromise = ""  # type: ignore[assignment]  # Django declares a plain str
    quiet_logs = True

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # argparse formats the description with `re`, which takes no lazy string.
        if parser.description is not None:
            parser.description = str(parser.description)
        return parser

    def execute(self, *args: Any, **options: Any) -> Any:
        if not self.quiet_logs or options.get("verbosity", 1) >= 2:
            return super().execute(*args, **options)
        with console_floor(logging.WARNING):
            return super().execute(*args, **options)

    @property
    def stdout(self) -> SafeOutputWrapper:
        return self._safe_stdout

    @stdout.setter
    def stdout(self, wrapper: OutputWrapper) -> None:
        self._safe_stdout = SafeOutputWrapper.adopt(wrapper)

    @property
    def stderr(self) -> SafeOutputWrapper:
        return self._safe_stderr

    @stderr.setter
    def stderr(self, wrapper: OutputWrapper) -> None:
        self._safe_stderr = SafeOutputWrapper.adopt(wrapper)
