"""On a terminal, each instance being worked on has a bar of its own under the total, so an
instance that hangs shows which one it is; the sync runner says when each instance starts."""

from __future__ import annotations

import io
from functools import partial

import pytest
from django.core.management.base import BaseCommand

from whalefall.choices import SyncCategory
from whalefall.management.progress import InstanceProgress
from whalefall.models import Instance, SyncInstanceRecord
from whalefall.sync.phases import InstanceResult
from whalefall.sync.session_runner import run_instance, run_sync
from whalefall.tests.factories import InstanceFactory


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _bars(progress: InstanceProgress) -> list[str]:
    assert progress._bar is not None
    return [str(task.description).strip() for task in progress._bar.tasks]


def test_each_running_instance_has_a_bar_until_it_finishes() -> None:
    command = BaseCommand(stdout=_Terminal())
    with InstanceProgress(command, total=2, title="Syncing accounts") as progress:
        progress.instance_started("alpha")
        progress.instance_started("beta\x1b[2J")  # a name is data, here too
        assert _bars(progress) == ["Syncing accounts", "alpha", "beta\\x1b[2J"]
        progress.step("alpha", "completed", "completed")
        assert _bars(progress) == ["Syncing accounts · alpha", "beta\\x1b[2J"]
        progress.step("beta\x1b[2J", "failed", "failed", failed=True)
        assert _bars(progress) == ["Syncing accounts · beta\\x1b[2J"]
    assert progress._running == {}


def test_a_pipe_gets_no_bars_and_no_line_when_an_instance_starts() -> None:
    out = io.StringIO()
    with InstanceProgress(BaseCommand(stdout=out), total=1, title="Syncing") as progress:
        progress.instance_started("alpha")
        assert progress._bar is None and progress._running == {}
    assert out.getvalue() == ""


@pytest.mark.django_db(transaction=True)  # the runner's pool closes its connections
def test_the_runner_says_when_each_instance_starts_before_it_finishes() -> None:
    names = sorted(InstanceFactory().name for _ in range(3))
    seen: list[tuple[str, str]] = []

    class Progress:
        def instance_started(self, name: str) -> None:
            seen.append(("started", name))

        def __call__(self, record: SyncInstanceRecord) -> None:
            seen.append(("finished", record.instance_name))

    run_sync(
        category=SyncCategory.ACCOUNT,
        module="test_progress",
        instances=Instance.objects.order_by("name"),
        unit=partial(run_instance, module="test_progress", work=lambda i, s: InstanceResult()),
        progress=Progress(),
        max_workers=1,
    )
    assert seen == [(event, name) for name in names for event in ("started", "finished")]
