"""Alert channels, rules and deliveries. Nothing here sends: the scheduler does, within a minute."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from whalefall.admin.sessions import ReadOnlyMixin
from whalefall.alerts.delivery import queue, test_event
from whalefall.alerts.kinds import KINDS, kind_choices
from whalefall.models import AlertChannel, AlertDelivery, AlertRule, DeliveryStatus
from whalefall.models.alerts import ChannelKind


class AlertChannelForm(forms.ModelForm):
    url = forms.URLField(
        label=_("URL"),
        required=False,
        assume_scheme="https",
        widget=forms.PasswordInput(render_value=False),
        help_text=_(
            "Webhooks: the URL (it carries its token, so it is stored encrypted and never shown). "
            "Leave empty to keep the current one."
        ),
    )

    class Meta:
        model = AlertChannel
        fields = ["name", "kind", "format", "url", "recipients", "is_active"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("kind")
        if kind == ChannelKind.WEBHOOK:
            if not data.get("format"):
                self.add_error("format", _("Choose the webhook's message format."))
            if not data.get("url") and not self.instance.url_encrypted:
                self.add_error("url", _("A webhook needs its URL."))
        if kind == ChannelKind.EMAIL:
            addresses = [a.strip() for a in (data.get("recipients") or "").replace("\n", ",").split(",")]
            addresses = [a for a in addresses if a]
            if not addresses:
                self.add_error("recipients", _("At least one address."))
            for address in addresses:
                try:
                    forms.EmailField().clean(address)
                except forms.ValidationError:
                    self.add_error(
                        "recipients", gettext("Not an e-mail address: %(address)s") % {"address": address}
                    )
        return data

    def save(self, commit: bool = True) -> AlertChannel:
        channel = super().save(commit=False)
        if self.cleaned_data.get("url"):
            channel.set_url(self.cleaned_data["url"])
        if channel.kind == ChannelKind.EMAIL:
            channel.set_url("")
        if commit:
            channel.save()
        return channel


@admin.action(
    description=_("Queue a test alert (sent by the scheduler within a minute)"), permissions=["change"]
)
def queue_test_alert(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[AlertChannel]
) -> None:
    now = timezone.now()
    count = sum(queue(None, channel, test_event(now), now) for channel in queryset)
    message = ngettext(
        "Test alert queued for %(count)d channel; see Alert deliveries.",
        "Test alert queued for %(count)d channels; see Alert deliveries.",
        count,
    ) % {"count": count}
    modeladmin.message_user(request, message, messages.SUCCESS)


@admin.register(AlertChannel)
class AlertChannelAdmin(admin.ModelAdmin):
    form = AlertChannelForm
    list_display = ["name", "kind", "format", "where", "is_active"]
    list_filter = ["kind", "format", "is_active"]
    actions = [queue_test_alert]

    @admin.display(description=_("where"))
    def where(self, obj: AlertChannel) -> str:
        return obj.masked_url or obj.recipients


class AlertRuleForm(forms.ModelForm):
    kind = forms.ChoiceField(label=_("kind"), choices=())

    class Meta:
        model = AlertRule
        fields = ["name", "kind", "enabled", "threshold", "options", "channels", "quiet_start", "quiet_end"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = kind_choices()  # type: ignore[attr-defined]  # a ChoiceField
        self.fields["kind"].help_text = " · ".join(f"{k.label}: {k.help}" for k in KINDS.values() if k.help)


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    form = AlertRuleForm
    list_display = ["name", "kind_label", "enabled", "threshold", "quiet_hours", "watermark"]
    list_filter = ["enabled", "kind"]
    filter_horizontal = ["channels"]

    @admin.display(description=_("kind"), ordering="kind")
    def kind_label(self, obj: AlertRule) -> str:
        kind = KINDS.get(obj.kind)
        return str(kind.label) if kind else gettext("%(kind)s (unknown)") % {"kind": obj.kind}

    @admin.display(description=_("quiet hours"))
    def quiet_hours(self, obj: AlertRule) -> str:
        if obj.quiet_start is None or obj.quiet_end is None:
            return "-"
        return gettext("%(start)s to %(end)s") % {
            "start": f"{obj.quiet_start:%H:%M}",
            "end": f"{obj.quiet_end:%H:%M}",
        }


DELIVERY_FIELDS: tuple[str, ...] = (
    "created_at",
    "status",
    "severity",
    "title",
    "body",
    "link",
    "data",
    "channel",
    "rule",
    "event_key",
    "attempts",
    "last_error",
    "next_attempt_at",
    "sent_at",
)


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "status_badge",
        "title",
        "channel",
        "rule",
        "attempts",
        "last_error",
    ]
    list_filter = ["status", "channel", "rule", "severity"]
    search_fields = ["title", "body", "event_key"]
    list_select_related = ["channel", "rule"]
    fields = DELIVERY_FIELDS
    readonly_fields = DELIVERY_FIELDS

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: AlertDelivery) -> SafeString:
        colors: dict[str, str] = {
            DeliveryStatus.SENT: "#2e7d32",
            DeliveryStatus.FAILED: "#c62828",
            DeliveryStatus.SKIPPED: "#616161",
        }
        color = colors.get(obj.status, "#8a6d00")
        return format_html('<strong style="color:{}">{}</strong>', color, obj.get_status_display())
