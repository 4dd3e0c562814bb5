"""What both capacity commands share: progress and the JSON/text summary around one session
(which instances, the lock and the exit status follow `whalefall.management.sync_command`)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from whalefall.management.progress import InstanceProgress
from whalefall.management.sync_command import exit_for, run_session
from whalefall.models import Instance


def run_task(command: BaseCommand, task: Any, *, as_json: bool, title: str = "", **kwargs: Any) -> None:
    """Run the task with progress, print its summary, exit non-zero unless the session completed."""
    total = len(Instance.objects.for_sync(kwargs.get("instance_ids")))
    progress = InstanceProgress(command, total=total, title=title, enabled=not as_json)
    with progress:
        result = run_session(task, **kwargs, progress=progress)
    if as_json:
        command.stdout.write(json.dumps(result, indent=2, sort_keys=True, default=str))
    else:
        progress.session_summary(result)
    exit_for(result)
