"""The base of every WhaleFall command: what it prints cannot drive the operator's terminal."""

from __future__ import annotations

from collections.abc import Callable

from django.core.management.base import BaseCommand, OutputWrapper

from whalefall.textsafe import safe_lines


class SafeOutputWrapper(OutputWrapper):
    """Escapes control and bidirectional characters of every message before styling it, so
    colours still work (pass them as `style_func`, never pre-styled) and server text cannot."""

    def write(
        self, msg: str = "", style_func: Callable[[str], str] | None = None, ending: str | None = None
    ) -> None:
        super().write(safe_lines(msg), style_func, ending)

    @classmethod
    def adopt(cls, wrapper: OutputWrapper) -> SafeOutputWrapper:
        if isinstance(wrapper, cls):
            return wrapper
        safe = cls(wrapper._out, wrapper.ending)
        safe._style_func = wrapper._style_func
        return safe


class SafeOutputCommand(BaseCommand):
    """`self.stdout` / `self.stderr` are always escaping wrappers, including the ones Django
    installs for `call_command(stdout=...)` and the one that prints a CommandError. Names and
    errors inside a line still go through `safe_text` (a newline in a name must not start a
    line of its own)."""

    @property  # type: ignore[override]
    def stdout(self) -> SafeOutputWrapper:
        return self._safe_stdout

    @stdout.setter
    def stdout(self, wrapper: OutputWrapper) -> None:
        self._safe_stdout = SafeOutputWrapper.adopt(wrapper)

    @property  # type: ignore[override]
    def stderr(self) -> SafeOutputWrapper:
        return self._safe_stderr

    @stderr.setter
    def stderr(self, wrapper: OutputWrapper) -> None:
        self._safe_stderr = SafeOutputWrapper.adopt(wrapper)
