"""What a person sees while a command works through instances, and the summary at the end.

On a terminal: one progress bar (rich) counting the finished instances, each instance's outcome
printed above it as it finishes, and warning/error log lines printed above it too instead of
through it; the bar is removed at the end. Elsewhere (a pipe, a file, cron): one plain line per
finished instance. Then a short summary: the outcome, how long it took, the instances by outcome.
A `--json` run shows none of this, so that stdout carries the JSON document alone.

Rich writes to the command's own stream, not through the escaping wrapper (which would escape
the bar's own cursor movements as data). So every line handed to it is made safe here first:
names and server text with `safe_text`, the whole line with `safe_lines`, and rich markup is
never interpreted (`[red]` in an account name stays text).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import IO, Any, cast

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from whalefall.choices import RecordStatus
from whalefall.models import SyncInstanceRecord
from whalefall.sync.phases import phase_word
from whalefall.textsafe import safe_lines, safe_text

# How an account sync counts what it did, in the words a DBA reads.
ACCOUNT_COUNTERS: Mapping[str, Any] = {
    "items_synced": gettext_lazy("synced"),
    "items_created": gettext_lazy("created"),
    "items_updated": gettext_lazy("updated"),
    "items_deleted": gettext_lazy("deactivated"),
}
# Longest list of names per outcome in the summary; the lines above it named every instance.
SUMMARY_NAMES = 20

# A record's or session's status as a word inside a line (the stored value stays English).
_STATUS_WORDS: Mapping[str, Any] = {
    "pending": gettext_lazy("pending"),
    "running": gettext_lazy("running"),
    "completed": gettext_lazy("completed"),
    "partial": gettext_lazy("partial"),
    "failed": gettext_lazy("failed"),
    "cancelled": gettext_lazy("cancelled"),
    "skipped": gettext_lazy("skipped"),
    "interrupted": gettext_lazy("interrupted"),
}

_SUCCESSES = (RecordStatus.COMPLETED, RecordStatus.SKIPPED)


def status_word(status: str) -> str:
    """`status` as the reader's language says it; a word already given (e.g. "ok") as it is."""
    return str(_STATUS_WORDS.get(str(status), status))


_STYLES = {"ok": "green", "failed": "red", "other": "yellow"}


def duration_text(seconds: float) -> str:
    """`0.4 s`, `12.0 s`, `3 min 05 s`: precise for short runs, readable for long ones."""
    if seconds < 60:
        return _("%(seconds).1f s") % {"seconds": seconds}
    minutes, rest = divmod(round(seconds), 60)
    return _("%(minutes)d min %(seconds)02d s") % {"minutes": minutes, "seconds": rest}


def record_detail(record: SyncInstanceRecord | Mapping[str, Any], counters: Mapping[str, Any] | None) -> str:
    """One instance's outcome after its name: the status, and either its counters or its error."""
    item = record.summary() if isinstance(record, SyncInstanceRecord) else record
    status, error = item["status"], safe_text(item.get("error") or "")
    if status == RecordStatus.FAILED:
        return _("failed in %(phase)s: %(error)s") % {
            "phase": phase_word(item.get("failed_phase") or "?"),
            "error": error,
        }
    if status == RecordStatus.CANCELLED:
        return _("cancelled: %(reason)s") % {"reason": error} if error else _("cancelled")
    if not counters:
        return status_word(status)
    counts = ", ".join(f"{label} {item.get(field) or 0}" for field, label in counters.items())
    return f"{status_word(status)} ({counts})"


class _ConsoleLines:
    """A file-like object for a log handler: each complete line is printed above the live bar."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.pending = ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.console.print(Text(safe_lines(line)), soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        pass


class InstanceProgress:
    """Progress of one command over many instances: a context manager, and the sync runner's
    progress callback (`progress=this`). Calls may come from the runner's worker threads."""

    def __init__(
        self,
        command: BaseCommand,
        *,
        total: int,
        title: str,
        enabled: bool = True,
        counters: Mapping[str, Any] | None = None,
    ) -> None:
        self.command = command
        self.total = total
        self.title = title
        self.enabled = enabled
        self.counters = counters
        self.interactive = enabled and command.stdout.isatty()
        self.outcomes: list[tuple[str, str, bool]] = []  # name, status, whether it is a problem
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._running: dict[str, TaskID] = {}  # a bar per instance being worked on (terminal only)
        self._rerouted: list[tuple[logging.StreamHandler[Any], Any]] = []

    # -- the bar's lifetime ---------------------------------------------------------------------
    def __enter__(self) -> InstanceProgress:
        self.started = time.monotonic()
        if self.interactive:
            stream = getattr(self.command.stdout, "_out", self.command.stdout)
            console = Console(
                file=cast(IO[str], stream), force_terminal=True, markup=False, highlight=False, emoji=False
            )
            self._bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._task = self._bar.add_task(safe_text(self.title), total=self.total or None)
            self._bar.start()
            self._reroute_console_logs(console)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._restore_console_logs()
            self._bar.stop()
            self._bar = None
            self._running.clear()

    def _reroute_console_logs(self, console: Console) -> None:
        """Log lines written to the same terminal would be drawn over by the bar: while it shows,
        the handlers that write to stderr print above it instead (only when stderr is that
        terminal too; redirected stderr keeps its lines)."""
        import sys

        if not (sys.stderr and sys.stderr.isatty()):
            return
        proxy = _ConsoleLines(console)
        for handler in logging.getLogger().handlers:
            if type(handler) is logging.StreamHandler and handler.stream is sys.stderr:
                self._rerouted.append((handler, handler.setStream(proxy)))

    def _restore_console_logs(self) -> None:
        for handler, stream in self._rerouted:
            handler.setStream(stream)
        self._rerouted.clear()

    # -- one instance ---------------------------------------------------------------------------
    def instance_started(self, name: str) -> None:
        """An instance's work began: on a terminal it gets a bar of its own under the total,
        with its time so far, until it finishes (an instance that hangs shows which one)."""
        with self._lock:
            if self._bar is not None and name not in self._running:
                self._running[name] = self._bar.add_task(f"  {safe_text(name)}", total=None)

    def __call__(self, record: SyncInstanceRecord) -> None:
        """The sync runner's progress callback: one record that just finished."""
        self.step(
            record.instance_name,
            record.status,
            record_detail(record, self.counters),
            failed=record.status not in _SUCCESSES and record.status != RecordStatus.CANCELLED,
            notes=record.warnings,
        )

    def step(
        self, name: str, status: str, detail: str, *, failed: bool = False, notes: Iterable[str] = ()
    ) -> None:
        """Show that one instance finished; `detail` is already safe (see `record_detail`)."""
        with self._lock:
            self.outcomes.append((name, status, failed or status == RecordStatus.CANCELLED))
            done = len(self.outcomes)
            if not self.enabled:
                return
            line = f"{safe_text(name)}: {detail}"
            cancelled = status == RecordStatus.CANCELLED
            extra = [_("    warning: %(text)s") % {"text": safe_text(note)} for note in notes]
            if self._bar is not None and name in self._running:
                self._bar.remove_task(self._running.pop(name))
            if self._bar is not None and self._task is not None:
                colour = _STYLES["failed" if failed else "other" if cancelled else "ok"]
                self._bar.console.print(Text(safe_lines(line), style=colour), soft_wrap=True)
                for note in extra:
                    self._bar.console.print(Text(safe_lines(note), style=_STYLES["other"]), soft_wrap=True)
                self._bar.update(
                    self._task,
                    completed=done,
                    total=max(self.total, done),
                    description=f"{safe_text(self.title)} · {safe_text(name)}",
                )
                return
            styles = self.command.style
            style = styles.ERROR if failed else styles.WARNING if cancelled else styles.SUCCESS
            total = max(self.total, done)
            self.command.stdout.write(f"[{done}/{total}] {line}", style_func=style)
            for note in extra:
                self.command.stdout.write(note, style_func=self.command.style.WARNING)

    # -- the end --------------------------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def summary(
        self, heading: str, outcomes: Iterable[tuple[str, str, bool]] | None = None, *, ok: bool
    ) -> None:
        """The closing lines: `heading` (built by the command, safe), the time taken, and the
        instances grouped by outcome (default: those seen by `step`)."""
        out = self.command.stdout
        style: Callable[[str], str] = self.command.style.SUCCESS if ok else self.command.style.ERROR
        out.write(
            _("%(heading)s in %(duration)s") % {"heading": heading, "duration": duration_text(self.elapsed)},
            style_func=style,
        )
        groups: dict[tuple[bool, str], list[str]] = {}
        for name, status, problem in self.outcomes if outcomes is None else outcomes:
            groups.setdefault((problem, str(status)), []).append(safe_text(name))
        for (_problem, status), names in sorted(groups.items()):  # problems last, nearest the prompt
            shown = ", ".join(sorted(names)[:SUMMARY_NAMES])
            if len(names) > SUMMARY_NAMES:
                shown += " " + _("… and %(count)d more") % {"count": len(names) - SUMMARY_NAMES}
            out.write(f"  {status_word(status)} ({len(names)}): {shown}")

    def session_summary(self, summary: Mapping[str, Any]) -> None:
        """The summary of a sync session (the dict every sync task returns)."""
        heading = _("session %(id)s: %(status)s, %(ok)d of %(total)d instance(s) succeeded") % {
            "id": summary["session_id"],
            "status": status_word(summary["status"]),
            "ok": summary["successful_instances"],
            "total": summary["total_instances"],
        }
        if summary.get("error") and not summary["instances"]:
            heading += f" ({safe_text(summary['error'])})"
        outcomes = [(i["instance"], i["status"], i["status"] not in _SUCCESSES) for i in summary["instances"]]
        self.summary(heading, outcomes, ok=summary["status"] == "completed")
