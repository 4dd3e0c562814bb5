"""Message shapes per channel and the one-shot send (bounded timeout, errors without secrets).

Webhook bodies follow what each service's incoming webhooks accept: DingTalk and WeCom group
robots take `msgtype: markdown`, Feishu/Lark custom bots `msg_type: text`, Slack `text`; the
generic format is plain JSON with the event's fields, its data included. DingTalk, WeCom and
Feishu answer HTTP 200 with an error code in the body when they refuse a message, so the body is
checked too.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils.translation import gettext

from whalefall.alerts.kinds import Event
from whalefall.models import AlertChannel
from whalefall.models.alerts import ChannelKind, WebhookFormat
from whalefall.textsafe import safe_text


class DeliveryError(Exception):
    """A channel refused or could not be reached; the message never contains the webhook URL."""


def webhook_payload(fmt: str, event: Event, *, product: str = "WhaleFall") -> dict[str, Any]:
    title = f"[{product}] {event.title}"
    markdown = f"### {title}\n\n" + "\n".join(f"- {line}" for line in event.lines)
    plain = title + ("\n" + event.text if event.lines else "")
    if fmt == WebhookFormat.DINGTALK:
        return {"msgtype": "markdown", "markdown": {"title": title, "text": markdown}}
    if fmt == WebhookFormat.WECOM:
        return {"msgtype": "markdown", "markdown": {"content": markdown}}
    if fmt == WebhookFormat.FEISHU:
        return {"msg_type": "text", "content": {"text": plain}}
    if fmt == WebhookFormat.SLACK:
        return {"text": plain}
    return {
        **event.data,
        "title": event.title,
        "severity": event.severity,
        "event": event.key,
        "lines": event.lines,
        "link": event.link,
    }


def _refused(fmt: str, body: bytes) -> str:
    """The service's own error text when a 200 answer is a refusal, else ''."""
    if fmt not in (WebhookFormat.DINGTALK, WebhookFormat.WECOM, WebhookFormat.FEISHU):
        return ""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return ""
    if not isinstance(data, dict):  # "ok", [] ...: no error object, so not a refusal
        return ""
    code = data.get("errcode", data.get("code", data.get("StatusCode", 0)))
    if code in (0, None):
        return ""
    return f"code {code}: {data.get('errmsg') or data.get('msg') or data.get('StatusMessage') or ''}".strip()


def send(channel: AlertChannel, event: Event) -> None:
    """Deliver one event now; raises DeliveryError with a secret-free reason."""
    timeout = settings.WHALEFALL_ALERT_TIMEOUT
    if channel.kind == ChannelKind.EMAIL:
        recipients = channel.recipient_list()
        if not recipients:
            raise DeliveryError(gettext("no recipients"))
        try:
            connection = get_connection(timeout=timeout)
            EmailMessage(
                f"[WhaleFall] {event.title}", event.text, to=recipients, connection=connection
            ).send()
        except (OSError, ValueError) as exc:
            raise DeliveryError(
                gettext("mail: %(error)s") % {"error": f"{exc.__class__.__name__}: {exc}"}
            ) from None
        return
    url = channel.get_url()
    if not url.startswith(("http://", "https://")):
        raise DeliveryError(gettext("webhook URL must be http(s)"))
    data = json.dumps(webhook_payload(channel.format, event), ensure_ascii=False).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(65536)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(
            gettext("HTTP %(code)s from %(url)s") % {"code": exc.code, "url": channel.masked_url}
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(
            gettext("%(url)s unreachable: %(error)s")
            % {"url": channel.masked_url, "error": f"{reason.__class__.__name__}: {reason}"}
        ) from None
    except http.client.InvalidURL as exc:  # its message quotes the path, which may be the secret
        raise DeliveryError(
            gettext("%(url)s is not a valid URL (%(error)s)")
            % {"url": channel.masked_url, "error": exc.__class__.__name__}
        ) from None
    except http.client.HTTPException as exc:  # a reply that is not HTTP, or cut short
        raise DeliveryError(
            gettext("%(url)s gave no valid HTTP reply: %(error)s")
            % {"url": channel.masked_url, "error": f"{exc.__class__.__name__}: {safe_text(str(exc))[:200]}"}
        ) from None
    except ValueError as exc:  # the URL itself (its text may hold the secret path: never shown)
        raise DeliveryError(
            gettext("%(url)s is not a valid URL (%(error)s)")
            % {"url": channel.masked_url, "error": exc.__class__.__name__}
        ) from None
    if refused := _refused(channel.format, body):
        raise DeliveryError(
            gettext("%(url)s refused the message (%(reason)s)")
            % {"url": channel.masked_url, "reason": refused}
        )
