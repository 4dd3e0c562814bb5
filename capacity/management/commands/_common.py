"""What both capacity commands share: instance lookup, progress lines, the JSON/text summary."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from whalefall.models import Instance, SyncInstanceRecord
from whalefall.sync.locks import LockConflict
from whalefall.textsafe import safe_text


def instance_ids(names: list[str] | None) -> list[int] | None:
    """Ids of the named instances; unknown or inactive names are a CommandError."""
    if not names:
        return None
    found = dict(Instance.objects.active().filter(name__in=names).values_list("name", "pk"))
    missing = sorted(set(names) - set(found))
    if missing:
        raise CommandError(f"unknown or inactive instance(s): {', '.join(map(safe_text, missing))}")
    return [found[n] for n in names]


def progress_printer(command: BaseCommand, enabled: bool) -> Any:
    def show(record: SyncInstanceRecord) -> None:
        if enabled:
            error = safe_text(record.error_message)
            extra = f" ({record.failed_phase}: {error})" if record.error_message else ""
            command.stdout.write(f"  {safe_text(record.instance_name)}: {record.status}{extra}")
            for warning in record.warnings:
                command.stdout.write(f"    warning: {safe_text(warning)}")

    return show


def run_task(command: BaseCommand, task: Any, *, as_json: bool, **kwargs: Any) -> None:
    """Run the task, print its summary, exit non-zero unless the session completed."""
    try:
        result = task(**kwargs, progress=progress_printer(command, not as_json))
    except LockConflict as exc:
        raise CommandError(str(exc)) from exc
    if as_json:
        command.stdout.write(json.dumps(result, indent=2, sort_keys=True, default=str))
    else:
        command.stdout.write(
            f"session {result['session_id']}: {result['status']} "
            f"({result['successful_instances']}/{result['total_instances']} instances succeeded)"
        )
    if result["status"] != "completed":
        raise CommandError(f"session {result['session_id']} {result['status']}", returncode=1)
