"""Alert channels, rules and the record of every delivery.

A rule watches one kind of event (a failed sync session, an unreachable instance, a risky
account change, a lost scheduler, a disk about to fill); the kinds are registered by the apps
that know them (`whalefall.alerts.kinds`). The scheduler evaluates the enabled rules and
delivers through each of the rule's channels; every delivery, successful or not, is a row here,
unique per (rule, channel, event) so an event is never sent twice to one channel.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from whalefall import crypto


class ChannelKind(models.TextChoices):
    EMAIL = "email", _("E-mail")
    WEBHOOK = "webhook", _("Webhook")


class WebhookFormat(models.TextChoices):
    JSON = "json", _("Generic JSON")
    DINGTALK = "dingtalk", _("DingTalk")
    WECOM = "wecom", _("WeCom (WeChat Work)")
    FEISHU = "feishu", _("Feishu / Lark")
    SLACK = "slack", "Slack"


class AlertChannel(models.Model):
    """Where alerts go. A webhook URL usually carries its access token, so it is kept encrypted."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=ChannelKind.choices)
    format = models.CharField(
        _("format"),
        max_length=16,
        choices=WebhookFormat.choices,
        blank=True,
        default="",
        help_text=_("Webhooks only."),
    )
    url_encrypted = models.TextField(_("encrypted URL"), blank=True, default="", editable=False)
    recipients = models.TextField(
        _("recipients"),
        blank=True,
        default="",
        help_text=_("E-mail only: addresses separated by commas or new lines."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("alert channel")
        verbose_name_plural = _("alert channels")

    def __str__(self) -> str:
        return self.name

    def set_url(self, raw: str) -> None:
        self.url_encrypted = crypto.encrypt(raw) if raw else ""

    def get_url(self) -> str:
        return crypto.decrypt(self.url_encrypted) if self.url_encrypted else ""

    @property
    def masked_url(self) -> str:
        """Scheme and host only: the path and query of a webhook URL are its secret."""
        if not self.url_encrypted:
            return ""
        parts = urlsplit(self.get_url())
        return f"{parts.scheme}://{parts.hostname or ''}/…"

    def recipient_list(self) -> list[str]:
        return [a.strip() for a in self.recipients.replace("\n", ",").split(",") if a.strip()]


class AlertRule(models.Model):
    """One kind of event to watch, with its threshold, its channels and quiet hours."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=32, help_text=_("What to watch (see the list of kinds)."))
    enabled = models.BooleanField(_("enabled"), default=True)
    channels = models.ManyToManyField(
        AlertChannel, related_name="rules", blank=True, verbose_name=_("channels")
    )
    threshold = models.PositiveIntegerField(
        _("threshold"),
        default=1,
        help_text=_(
            "Consecutive failed runs (unreachable), minutes without a scheduler, or days until full."
        ),
    )
    options = models.JSONField(
        _("options"),
        default=dict,
        blank=True,
        help_text=_('Account changes: {"events": ["new_superuser", ...], "watched": ["table shop.%", ...]}.'),
    )
    quiet_start = models.TimeField(
        _("quiet from"), null=True, blank=True, help_text=_("Hold deliveries from (local time).")
    )
    quiet_end = models.TimeField(
        _("quiet until"), null=True, blank=True, help_text=_("...until (local time).")
    )
    watermark = models.DateTimeField(
        _("watermark"), null=True, blank=True, editable=False, help_text=_("Evaluated up to.")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Switching a rule on or off moves its watermark to now: once back on, it watches from
        then, instead of sending everything that happened while it was off."""
        if self.pk is not None:
            was = AlertRule.objects.filter(pk=self.pk).values_list("enabled", flat=True).first()
            if was is not None and was != self.enabled:
                self.watermark = timezone.now()
                if kwargs.get("update_fields") is not None:
                    kwargs["update_fields"] = {*kwargs["update_fields"], "watermark"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        """Options the rule's kind cannot use are refused here, not silently ignored when it runs
        (an event name misspelt would match nothing, and nobody would know)."""
        from whalefall.alerts.kinds import KINDS

        if self.options is None:
            self.options = {}
        if not isinstance(self.options, dict):
            raise ValidationError({"options": _("Options are a JSON object, such as {}.")})
        kind = KINDS.get(self.kind)
        if kind is None:
            return  # the form offers only the registered kinds
        if kind.check_options is None:
            if self.options:
                raise ValidationError({"options": _("This kind takes no options: leave {}.")})
            return
        if problems := kind.check_options(self.options):
            raise ValidationError({"options": problems})

    def quiet_until(self, now: datetime) -> datetime | None:
        """The end of the quiet window `now` falls in (local time), or None outside it."""
        if self.quiet_start is None or self.quiet_end is None or self.quiet_start == self.quiet_end:
            return None
        local = timezone.localtime(now)
        t = local.time()
        start, end = self.quiet_start, self.quiet_end
        inside = start <= t < end if start < end else (t >= start or t < end)
        if not inside:
            return None
        day = local.date() if t < end else local.date() + timedelta(days=1)
        return timezone.make_aware(datetime.combine(day, end), local.tzinfo)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    HELD = "held", _("Held (quiet hours)")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    # Its rule was disabled or its channel made inactive before it went out.
    SKIPPED = "skipped", _("Skipped")


class AlertDelivery(models.Model):
    """One message of one event to one channel, with its attempts."""

    MAX_ATTEMPTS = 4

    rule = models.ForeignKey(  # indexed by the unique (rule, channel, event key) constraint
        AlertRule,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
        db_index=False,
        verbose_name=_("rule"),
    )
    channel = models.ForeignKey(
        AlertChannel, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("channel")
    )
    event_key = models.CharField(_("event key"), max_length=255)
    severity = models.CharField(_("severity"), max_length=16, default="warning")
    title = models.CharField(_("title"), max_length=300)
    body = models.TextField(_("body"), blank=True, default="")
    link = models.CharField(_("link"), max_length=500, blank=True, default="")
    data = models.JSONField(
        _("data"),
        default=dict,
        blank=True,
        help_text=_("Fields for machines, sent in generic JSON webhooks."),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("alert delivery")
        verbose_name_plural = _("alert deliveries")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "channel", "event_key"], name="uniq_alert_delivery")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.title} → {self.channel}"
