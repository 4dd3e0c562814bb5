"""Alert rule kinds, registered by the app that knows the event (in its `AppConfig.ready()`).

The core does not know the apps: accounts_sync registers account changes, capacity the disks
about to fill, scheduling the lost scheduler; the core registers what it owns (sessions,
instances). A kind's `evaluate(rule, since, now)` returns the events that happened in
`(since, now]` (or the conditions that hold now), each with a stable key: the same key is never
delivered twice to one channel. Windows overlap a little (`delivery.SETTLE`), so an event may be
evaluated twice: it must come out the same, under the same key, both times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.utils.functional import Promise

if TYPE_CHECKING:
    from whalefall.models import AlertRule


@dataclass(frozen=True)
class Event:
    key: str
    title: str
    lines: list[str] = field(default_factory=list)
    severity: str = "warning"  # info | warning | critical
    link: str = ""  # admin path (relative) to what the event is about
    # Fields for machines, sent as they are in the generic JSON webhook only (the chat services
    # accept a fixed shape): e.g. the failing instances of a session with their error kind.
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


Evaluate = Callable[["AlertRule", datetime, datetime], list[Event]]
# What is wrong with a rule's options (a JSON object), in words for the admin; empty when fine.
CheckOptions = Callable[[dict[str, Any]], list[str]]


@dataclass(frozen=True)
class RuleKind:
    key: str
    label: str | Promise  # lazy: registered at start-up, shown in each user's language
    evaluate: Evaluate
    help: str | Promise = ""
    check_options: CheckOptions | None = None  # None: the kind takes no options


KINDS: dict[str, RuleKind] = {}


def register(
    key: str,
    label: str | Promise,
    evaluate: Evaluate,
    help: str | Promise = "",
    check_options: CheckOptions | None = None,
) -> None:
    KINDS[key] = RuleKind(key, label, evaluate, help, check_options)


def kind_choices() -> list[tuple[str, str]]:
    """The kinds for a form, labelled and sorted in the active language."""
    return sorted(((k.key, str(k.label)) for k in KINDS.values()), key=lambda c: c[1])
