"""Evaluate the enabled rules and deliver what is due; run by the scheduler every minute.

Evaluation and delivery are separate steps: an event becomes one `AlertDelivery` row per channel
(unique, so a re-run or a second process never sends it twice), and delivery works through the
due rows: quiet hours hold a row until the window ends, a failure is retried after 1, 5 and 15
minutes, then the row is `failed` and shown in the admin. Nothing here runs in a web request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from whalefall.alerts import channels
from whalefall.alerts.kinds import KINDS, Event
from whalefall.models import AlertChannel, AlertDelivery, AlertRule, DeliveryStatus
from whalefall.structured_logging import get_logger

logger = get_logger(__name__)
RETRY_AFTER = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15))
MODULE = "alerts"
# What a rule watches is stamped before it is committed (a session's end a moment before its row
# is written, on the clock of the host that ran it): a run in between would pass it by. So each
# evaluation looks this far behind the previous one too; what it finds again was queued already,
# and the deliveries' unique key drops it.
SETTLE = timedelta(minutes=2)


def evaluate(rule: AlertRule, now: datetime) -> list[Event]:
    kind = KINDS.get(rule.kind)
    if kind is None:
        logger.warning("alert_rule_unknown_kind", module=MODULE, rule=rule.name, kind=rule.kind)
        return []
    since = rule.created_at
    if rule.watermark:
        since = max(rule.watermark - SETTLE, since)
    return kind.evaluate(rule, since, now)


def queue(rule: AlertRule | None, channel: AlertChannel, event: Event, now: datetime) -> bool:
    """One delivery row for (rule, channel, event); False when it already exists."""
    held = rule.quiet_until(now) if rule else None
    try:
        with transaction.atomic():
            AlertDelivery.objects.create(
                rule=rule,
                channel=channel,
                event_key=event.key[:255],
                severity=event.severity,
                title=event.title[:300],
                body=event.text,
                link=event.link[:500],
                data=event.data,
                status=DeliveryStatus.HELD if held else DeliveryStatus.PENDING,
                created_at=now,
                next_attempt_at=held or now,
            )
    except IntegrityError:
        return False
    return True


def send_alerts(now: datetime | None = None, *, kinds: list[str] | None = None) -> dict[str, int]:
    """The scheduled task: evaluate every enabled rule, then deliver what is due."""
    now = now or timezone.now()
    queued = 0
    rules = AlertRule.objects.filter(enabled=True).prefetch_related("channels")
    if kinds:
        rules = rules.filter(kind__in=kinds)
    for rule in rules:
        try:
            events = _in_team_language(evaluate, rule, now)
        except Exception as exc:  # noqa: BLE001 - one broken rule must not silence the others
            logger.error(
                "alert_rule_failed", module=MODULE, rule=rule.name, error=f"{exc.__class__.__name__}: {exc}"
            )
            continue
        active = [c for c in rule.channels.all() if c.is_active]
        for event in events:
            queued += sum(queue(rule, channel, event, now) for channel in active)
        AlertRule.objects.filter(pk=rule.pk).update(watermark=now)
    sent, failed, skipped = deliver_due(now)
    if queued or sent or failed or skipped:
        logger.info(
            "alerts_processed", module=MODULE, queued=queued, sent=sent, failed=failed, skipped=skipped
        )
    return {"queued": queued, "sent": sent, "failed": failed, "skipped": skipped}


def deliver_due(now: datetime) -> tuple[int, int, int]:
    """Attempt the deliveries that are due: (sent, failed for good, skipped)."""
    due = (
        AlertDelivery.objects.filter(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.HELD], next_attempt_at__lte=now
        )
        .select_related("channel", "rule")
        .order_by("next_attempt_at", "id")[:500]
    )
    sent = failed = skipped = 0
    for delivery in due:
        if reason := switched_off(delivery):
            delivery.status, delivery.last_error = DeliveryStatus.SKIPPED, reason
            delivery.save(update_fields=["status", "last_error"])
            logger.info(
                "alert_delivery_skipped",
                module=MODULE,
                channel=delivery.channel.name,
                alert=delivery.event_key,
            )
            skipped += 1
        elif deliver(delivery, now):
            sent += 1
        elif delivery.status == DeliveryStatus.FAILED:
            failed += 1
    return sent, failed, skipped


def switched_off(delivery: AlertDelivery) -> str:
    """Why a queued delivery must no longer go out, or ''. A delivery waits (for its retry, for
    quiet hours to end): switching its rule or channel off in the meantime stops it too."""
    if delivery.rule is not None and not delivery.rule.enabled:
        return gettext("not sent: the rule was disabled")
    if not delivery.channel.is_active:
        return gettext("not sent: the channel was made inactive")
    return ""


def deliver(delivery: AlertDelivery, now: datetime) -> bool:
    """One attempt; records the outcome on the row. True when the channel took the message."""
    if delivery.rule and (held := delivery.rule.quiet_until(now)):
        delivery.status, delivery.next_attempt_at = DeliveryStatus.HELD, held
        delivery.save(update_fields=["status", "next_attempt_at"])
        return False
    event = Event(
        delivery.event_key,
        delivery.title,
        delivery.body.splitlines(),
        delivery.severity,
        delivery.link,
        delivery.data or {},
    )
    delivery.attempts += 1
    fields: dict[str, Any] = {"attempts": delivery.attempts}
    try:
        try:
            channels.send(delivery.channel, event)
        except channels.DeliveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - one odd channel must not stop every other delivery
            # The class only: the message of an unforeseen error may hold the channel's secret URL.
            raise channels.DeliveryError(
                gettext("unexpected error: %(error)s") % {"error": exc.__class__.__name__}
            ) from None
    except channels.DeliveryError as exc:
        fields["last_error"] = str(exc)
        if delivery.attempts >= AlertDelivery.MAX_ATTEMPTS:
            fields["status"] = DeliveryStatus.FAILED
        else:
            fields["status"] = DeliveryStatus.PENDING
            fields["next_attempt_at"] = now + RETRY_AFTER[min(delivery.attempts, len(RETRY_AFTER)) - 1]
        logger.warning(
            "alert_delivery_failed",
            module=MODULE,
            channel=delivery.channel.name,
            alert=delivery.event_key,
            attempt=delivery.attempts,
            error=str(exc),
        )
        ok = False
    else:
        fields.update(status=DeliveryStatus.SENT, sent_at=timezone.now(), last_error="")
        logger.info("alert_delivered", module=MODULE, channel=delivery.channel.name, alert=delivery.event_key)
        ok = True
    for key, value in fields.items():
        setattr(delivery, key, value)
    delivery.save(update_fields=list(fields))
    return ok


def send_test(channel: AlertChannel) -> AlertDelivery:
    """A test message through `channel`, now (commands only; the admin queues one instead)."""
    now = timezone.now()
    event = test_event(now)
    queue(None, channel, event, now)
    delivery = AlertDelivery.objects.get(rule=None, channel=channel, event_key=event.key)
    deliver(delivery, now)
    return delivery


def test_event(now: datetime) -> Event:
    return _in_team_language(
        lambda: Event(
            key=f"test:{now.isoformat()}",
            title=gettext("Test alert"),
            lines=[gettext("If you can read this, WhaleFall can reach this channel.")],
            severity="info",
        )
    )


T = TypeVar("T")


def _in_team_language(build: Callable[..., T], *args: Any) -> T:
    """Alert texts are written once, in LANGUAGE_CODE: they go to a team's channel, whatever the
    language of the admin user (if any) whose click caused them."""
    with translation.override(settings.LANGUAGE_CODE):
        return build(*args)
