"""What both capacity commands share: instance lookup, progress, the JSON/text summary."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from whalefall.management.progress import InstanceProgress
from whalefall.models import Instance
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


def run_task(command: BaseCommand, task: Any, *, as_json: bool, title: str = "", **kwargs: Any) -> None:
    """Run the task with progress, print its summary, exit non-zero unless the session completed."""
    total = len(Instance.objects.for_sync(kwargs.get("instance_ids")))
    progress = InstanceProgress(command, total=total, title=title, enabled=not as_json)
    try:
        with progress:
            result = task(**kwargs, progress=progress)
    except LockConflict as exc:
        raise CommandError(str(exc)) from exc
    if as_json:
        command.stdout.write(json.dumps(result, indent=2, sort_keys=True, default=str))
    else:
        progress.session_summary(result)
    if result["status"] != "completed":
        raise CommandError(f"session {result['session_id']} {result['status']}", returncode=1)
