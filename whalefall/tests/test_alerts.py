"""Alerts end to end: rules -> deliveries -> a real local webhook receiver and a real SMTP sink."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accounts_sync.models import Account, AccountChange, ChangeType
from capacity.models import DatabaseSizeStat, InstanceDatabase
from scheduling.models import SchedulerLease
from whalefall.alerts.channels import webhook_payload
from whalefall.alerts.delivery import send_alerts
from whalefall.alerts.kinds import Event
from whalefall.models import AlertChannel, AlertDelivery, AlertRule, DeliveryStatus, SyncInstanceRecord
from whalefall.models.alerts import ChannelKind
from whalefall.tests.alerting import Receiver
from whalefall.tests.factories import InstanceFactory, SyncSessionFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _short_timeout(settings: Any) -> None:
    settings.WHALEFALL_ALERT_TIMEOUT = 1


def channel(receiver: Receiver, fmt: str = "json", name: str = "ops") -> AlertChannel:
    c = AlertChannel(name=name, kind=ChannelKind.WEBHOOK, format=fmt)
    c.set_url(receiver.url)
    c.save()
    return c


def mail_channel(name: str = "mail") -> AlertChannel:
    return AlertChannel.objects.create(name=name, kind=ChannelKind.EMAIL, recipients="dba@example.com")


def rule(kind: str, *channels: AlertChannel, **kw: Any) -> AlertRule:
    r = AlertRule.objects.create(name=kind, kind=kind, created_at=timezone.now() - timedelta(hours=1), **kw)
    r.channels.set(channels)
    return r


def failed_session() -> Any:
    instance = InstanceFactory(name="sales-db")
    session = SyncSessionFactory(category="account", status="partial", finished_at=timezone.now())
    session.total_instances, session.failed_instances = 2, 1
    session.save()
    SyncInstanceRecord.objects.create(
        session=session,
        instance=instance,
        instance_name="sales-db",
        status="failed",
        failed_phase="connection",
        error_message="authentication: Access denied\x1b[2J",
    )
    return session


def test_a_failed_session_gives_one_webhook_and_one_mail(receiver: Receiver, smtp_sink: list[Any]) -> None:
    rule("session_failed", channel(receiver), mail_channel())
    session = failed_session()
    assert send_alerts() == {"queued": 2, "sent": 2, "failed": 0, "skipped": 0}
    (body,) = receiver.bodies
    assert body["event"] == f"session:{session.session_id}" and body["severity"] == "critical"
    assert body["title"] == "Account sync partial: 1 of 2 instances failed"
    assert body["lines"] == ["sales-db: failed in connection: authentication: Access denied\\x1b[2J"]
    (mail,) = smtp_sink
    assert mail.rcpt_tos == ["dba@example.com"]
    assert b"1 of 2 instances failed" in mail.content and b"sales-db: failed in connection" in mail.content
    assert send_alerts() == {"queued": 0, "sent": 0, "failed": 0, "skipped": 0}  # never twice
    assert len(receiver.bodies) == 1 and len(smtp_sink) == 1


def test_a_session_cut_off_by_a_dead_process_is_alerted_with_what_did_not_finish(receiver: Receiver) -> None:
    rule("session_failed", channel(receiver))
    session = SyncSessionFactory(category="capacity", status="running")
    for name, status in [("a-db", "completed"), ("b-db", "running"), ("c-db", "pending")]:
        SyncInstanceRecord.objects.create(
            session=session, instance=InstanceFactory(name=name), instance_name=name, status=status
        )
    session.interrupt("interrupted: the process running this sync stopped before it finished")
    assert send_alerts()["sent"] == 1
    (body,) = receiver.bodies
    assert body["title"] == "Capacity collection interrupted: 2 of 3 instances did not finish"
    assert sorted(body["lines"]) == [
        f"{name}: did not finish: interrupted: the process running this sync stopped before it finished"
        for name in ("b-db", "c-db")
    ]


def test_a_new_superuser_is_one_message_per_session(receiver: Receiver, smtp_sink: list[Any]) -> None:
    rule("account_change", channel(receiver, "dingtalk"), mail_channel())
    instance = InstanceFactory(name="pg-main")
    session = SyncSessionFactory(category="account", status="completed", finished_at=timezone.now())
    for identity, superuser in (("mallory", True), ("alice", False), ("bob", False)):
        change(session, instance, identity, ChangeType.ADD, {"is_superuser": superuser, "permissions": {}})
    send_alerts()
    (body,) = receiver.bodies
    assert body["msgtype"] == "markdown"
    assert "pg-main mallory: new account is a SUPERUSER" in body["markdown"]["text"]
    assert "alice" not in body["markdown"]["text"]  # a plain new account is not in the default events
    assert len(smtp_sink) == 1 and b"SUPERUSER" in smtp_sink[0].content


def change(session: Any, instance: Any, identity: str, change_type: str, details: dict[str, Any]) -> None:
    """An account change as the sync writes it: stamped with the start of its instance's sync."""
    account, _ = Account.objects.get_or_create(instance=instance, identity=identity, username=identity)
    AccountChange.objects.create(
        account=account,
        instance=instance,
        change_type=change_type,
        details=details,
        session=session,
        session_uuid=session.session_id,
        created_at=session.started_at,
    )


def test_changes_committed_after_an_alert_run_still_alert(receiver: Receiver) -> None:
    """A sync stamps its changes with its start; a run between that start and the commit must not
    pass them by, and the instances committed later belong in the same message."""
    rule("account_change", channel(receiver))
    session = SyncSessionFactory(status="running", started_at=timezone.now() - timedelta(minutes=10))
    change(session, InstanceFactory(name="pg-a"), "mallory", ChangeType.ADD, {"is_superuser": True})
    assert send_alerts()["queued"] == 0  # pg-a is done, pg-b is still syncing
    change(session, InstanceFactory(name="pg-b"), "eve", ChangeType.DEACTIVATE, {})
    session.status, session.finished_at = "completed", timezone.now()
    session.save()
    assert send_alerts()["queued"] == 1
    (body,) = receiver.bodies
    assert body["title"] == "2 account changes that matter" and body["severity"] == "critical"
    assert body["lines"] == [
        "pg-a mallory: new account is a SUPERUSER",
        "pg-b eve: account dropped (no longer listed)",
    ]
    assert send_alerts(timezone.now() + timedelta(minutes=1))["queued"] == 0


ORDERS = "table shop.orders"


@pytest.mark.parametrize(
    ("event", "change_type", "details", "line", "severity"),
    [
        ("new_account", ChangeType.ADD, {"is_superuser": False}, "new account", "warning"),
        ("dropped_account", ChangeType.DEACTIVATE, {}, "account dropped (no longer listed)", "warning"),
        ("new_superuser", ChangeType.ADD, {"is_superuser": True}, "new account is a SUPERUSER", "critical"),
        (
            "new_superuser",
            ChangeType.MODIFY_OTHER,
            {"changes": {"is_superuser": {"before": False, "after": True}}},
            "became SUPERUSER",
            "critical",
        ),
        (
            "new_grant_option",
            ChangeType.ADD,
            {"permissions": {"table shop.log": ["SELECT", "UPDATE WITH GRANT OPTION"]}},
            "new account can grant: UPDATE WITH GRANT OPTION ON table shop.log",
            "warning",
        ),
        (
            "new_grant_option",
            ChangeType.MODIFY_PRIVILEGE,
            {"entries": [{"action": "GRANT", "scope": "role", "privileges": ["r_dba WITH ADMIN OPTION"]}]},
            "GRANT r_dba WITH ADMIN OPTION ON role",
            "warning",
        ),
        (
            "watched",
            ChangeType.MODIFY_PRIVILEGE,
            {"entries": [{"action": "GRANT", "scope": ORDERS, "privileges": ["DELETE", "SELECT"]}]},
            "GRANT DELETE, SELECT ON table shop.orders (watched)",
            "warning",
        ),
        (
            "watched",
            ChangeType.MODIFY_PRIVILEGE,
            {"entries": [{"action": "REVOKE", "scope": ORDERS, "privileges": ["SELECT"]}]},
            "REVOKE SELECT ON table shop.orders (watched)",
            "warning",
        ),
        (
            "watched",
            ChangeType.ADD,
            {"permissions": {ORDERS: ["SELECT"], "table shop.log": ["INSERT"]}},
            "GRANT SELECT ON table shop.orders (watched)",
            "warning",
        ),
    ],
)
def test_each_account_change_that_matters(
    receiver: Receiver, event: str, change_type: str, details: dict[str, Any], line: str, severity: str
) -> None:
    """The rule's one event gives its line; the same change under the other events gives nothing
    (but a new account, which any added account is)."""
    instance = InstanceFactory(name="pg-main")
    session = SyncSessionFactory(finished_at=timezone.now())
    change(session, instance, "bob", change_type, details)
    watched = ["table shop.o%"]
    others = {"new_account", "dropped_account", "new_superuser", "new_grant_option", "watched"} - {event}
    others -= {"new_account"} if change_type == ChangeType.ADD else set()
    rule("account_change", channel(receiver), options={"events": sorted(others), "watched": watched})
    assert send_alerts()["queued"] == 0 and receiver.bodies == []
    AlertRule.objects.all().delete()
    rule("account_change", channel(receiver, name="ops-2"), options={"events": [event], "watched": watched})
    assert send_alerts()["queued"] == 1
    (body,) = receiver.bodies
    assert body["lines"] == [f"pg-main bob: {line}"] and body["severity"] == severity


@pytest.mark.parametrize(
    ("change_type", "details"),
    [
        (ChangeType.MODIFY_OTHER, {"changes": {"is_superuser": {"before": True, "after": False}}}),
        (
            ChangeType.MODIFY_PRIVILEGE,
            {"entries": [{"action": "REVOKE", "scope": "global", "privileges": ["ALL"]}]},
        ),
        (
            ChangeType.MODIFY_PRIVILEGE,
            {"entries": [{"action": "GRANT", "scope": "table shop.log", "privileges": ["SELECT"]}]},
        ),
        (ChangeType.REACTIVATE, {}),
        (ChangeType.BASELINE, {"accounts": 3, "superusers": 1}),
    ],
)
def test_changes_that_do_not_matter_are_quiet(
    receiver: Receiver, change_type: str, details: dict[str, Any]
) -> None:
    events = ["new_account", "dropped_account", "new_superuser", "new_grant_option", "watched"]
    rule("account_change", channel(receiver), options={"events": events, "watched": ["table shop.o%"]})
    change(SyncSessionFactory(finished_at=timezone.now()), InstanceFactory(), "bob", change_type, details)
    assert send_alerts()["queued"] == 0 and receiver.bodies == []


@pytest.mark.parametrize("kind", ["session_failed", "account_change"])
def test_a_session_written_just_after_a_run_is_not_passed_by(receiver: Receiver, kind: str) -> None:
    """A session's end time is taken a moment before its row is written: a run in between passes
    the time without seeing the row; the next run still finds it."""
    rule(kind, channel(receiver))
    ended = timezone.now()
    send_alerts(ended + timedelta(seconds=1))  # runs before the session's row is written
    session = failed_session()
    session.finished_at = ended
    session.save()
    change(session, InstanceFactory(), "mallory", ChangeType.ADD, {"is_superuser": True})
    assert send_alerts(ended + timedelta(minutes=1))["queued"] == 1 and len(receiver.bodies) == 1


def test_a_lost_scheduler_alerts_once(receiver: Receiver, smtp_sink: list[Any]) -> None:
    rule("scheduler_down", channel(receiver), mail_channel(), threshold=5)
    beat = timezone.now() - timedelta(minutes=20)
    SchedulerLease.objects.update_or_create(
        defaults={"owner": "h-1", "host": "h", "pid": 1, "heartbeat_at": beat, "expires_at": beat}
    )
    send_alerts()
    send_alerts(timezone.now() + timedelta(minutes=1))
    (body,) = receiver.bodies
    assert body["title"].startswith("No active scheduler for 20 minutes") and len(smtp_sink) == 1
    local = timezone.localtime(beat).strftime("%Y-%m-%d %H:%M:%S")  # the admin's ISO format and zone
    assert f"last heartbeat {local} (UTC) from h (pid 1)" in str(body)


def test_a_fresh_scheduler_heartbeat_is_quiet(receiver: Receiver) -> None:
    rule("scheduler_down", channel(receiver), threshold=5)
    now = timezone.now()
    SchedulerLease.objects.update_or_create(defaults={"heartbeat_at": now, "expires_at": now})
    assert send_alerts()["queued"] == 0 and receiver.bodies == []


def test_a_disk_near_full_alerts(receiver: Receiver, smtp_sink: list[Any]) -> None:
    rule("capacity_full", channel(receiver), mail_channel(), threshold=7)
    instance = InstanceFactory(name="dw")
    db = InstanceDatabase.objects.create(instance=instance, name="facts", capacity_limit_bytes=10_000)
    today = timezone.localdate()
    for i in range(10):  # +500 bytes a day, 9,500 today: full in one day
        DatabaseSizeStat.objects.create(
            database=db,
            instance=instance,
            collected_date=today - timedelta(days=9 - i),
            size_bytes=5000 + 500 * i,
        )
    send_alerts()
    (body,) = receiver.bodies
    assert body["lines"] == ["database dw / facts: full in 1 day"] and len(smtp_sink) == 1


def test_failures_are_retried_then_recorded_without_the_secret_url(receiver: Receiver) -> None:
    rule("session_failed", channel(receiver))
    failed_session()
    receiver.script = [500]
    assert send_alerts() == {"queued": 1, "sent": 0, "failed": 0, "skipped": 0}
    delivery = AlertDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert "HTTP 500" in delivery.last_error and "SECRET-TOKEN" not in delivery.last_error
    assert send_alerts()["sent"] == 0  # not due yet: retried after a minute
    assert send_alerts(timezone.now() + timedelta(minutes=2))["sent"] == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 2


def test_a_receiver_that_never_answers_costs_the_timeout_then_fails(receiver: Receiver) -> None:
    rule("session_failed", channel(receiver))
    failed_session()
    receiver.script = ["hang"] * 4
    started = time.monotonic()
    send_alerts()
    assert time.monotonic() - started < 2.5
    later = timezone.now()
    for minutes in (2, 8, 30):
        send_alerts(later + timedelta(minutes=minutes))
    delivery = AlertDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == AlertDelivery.MAX_ATTEMPTS
    assert "timed out" in delivery.last_error


def test_a_reply_that_is_not_http_fails_that_delivery_alone(receiver: Receiver) -> None:
    """A port that answers with something else than HTTP (an SSH server, a half-open proxy): the
    delivery fails with the reason and is retried; the other channels' deliveries still go out."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer_garbage() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")

    threading.Thread(target=answer_garbage, daemon=True).start()
    odd = AlertChannel(name="odd", kind=ChannelKind.WEBHOOK, format="json")
    odd.set_url(f"http://127.0.0.1:{server.getsockname()[1]}/hook/SECRET-TOKEN")
    odd.save()
    rule("session_failed", odd, channel(receiver))
    failed_session()
    try:
        assert send_alerts() == {"queued": 2, "sent": 1, "failed": 0, "skipped": 0}
    finally:
        server.close()
    bad = AlertDelivery.objects.get(channel=odd)
    assert bad.status == DeliveryStatus.PENDING and bad.attempts == 1
    assert "gave no valid HTTP reply: BadStatusLine" in bad.last_error
    assert "SECRET-TOKEN" not in bad.last_error and len(receiver.bodies) == 1


def test_a_url_the_http_client_rejects_fails_without_showing_its_secret() -> None:
    """A control character in the query (the admin's URL field lets one through): the client's
    own message quotes the path and query, which for a chat robot is the secret."""
    odd = AlertChannel(name="odd", kind=ChannelKind.WEBHOOK, format="wecom")
    odd.set_url("http://127.0.0.1:9/cgi-bin/webhook/send?key=SECRET-TOKEN\x01x")
    odd.save()
    rule("session_failed", odd)
    failed_session()
    assert send_alerts()["queued"] == 1
    delivery = AlertDelivery.objects.get()
    assert (
        delivery.status == DeliveryStatus.PENDING and "is not a valid URL (InvalidURL)" in delivery.last_error
    )
    assert "SECRET-TOKEN" not in delivery.last_error


def test_a_200_reply_that_is_no_error_object_is_not_a_refusal() -> None:
    from whalefall.alerts.channels import _refused
    from whalefall.models.alerts import WebhookFormat

    assert [_refused(WebhookFormat.WECOM, body) for body in (b'"ok"', b"[]", b"1", b"")] == ["", "", "", ""]
    assert _refused(WebhookFormat.WECOM, b'{"errcode": 93000, "errmsg": "invalid"}') == "code 93000: invalid"


def test_a_200_refusal_of_a_chat_robot_is_a_failure(receiver: Receiver) -> None:
    rule("session_failed", channel(receiver, "wecom"))
    failed_session()
    receiver.script = ["refuse"]
    send_alerts()
    assert "refused the message (code 310000" in AlertDelivery.objects.get().last_error


def test_quiet_hours_hold_deliveries_until_they_end(receiver: Receiver) -> None:
    failed_session()
    now = timezone.localtime()
    start, end = (now - timedelta(hours=1)).time(), (now + timedelta(hours=1)).time()
    rule("session_failed", channel(receiver), quiet_start=start, quiet_end=end)
    send_alerts(now)
    delivery = AlertDelivery.objects.get()
    assert delivery.status == DeliveryStatus.HELD and receiver.bodies == []
    send_alerts(now + timedelta(hours=1, minutes=1))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and len(receiver.bodies) == 1


@pytest.mark.parametrize(
    ("fmt", "check"),
    [
        ("dingtalk", lambda b: b["msgtype"] == "markdown" and "title" in b["markdown"]),
        ("wecom", lambda b: b["msgtype"] == "markdown" and "content" in b["markdown"]),
        ("feishu", lambda b: b["msg_type"] == "text" and "text" in b["content"]),
        ("slack", lambda b: set(b) == {"text"}),
        ("json", lambda b: {"title", "severity", "event", "lines"} <= set(b)),
    ],
)
def test_each_format_has_its_service_shape(fmt: str, check: Any) -> None:
    body = webhook_payload(fmt, Event("k", "Title", ["one", "two"]))
    assert check(body) and "Title" in json.dumps(body)


def test_commands_add_a_channel_and_send_a_test(receiver: Receiver, smtp_sink: list[Any]) -> None:
    out = StringIO()
    call_command(
        "add_alert_channel", "--name", "ops", "--webhook", receiver.url, "--format", "feishu", stdout=out
    )
    assert "Added channel ops" in out.getvalue() and "SECRET-TOKEN" not in out.getvalue()
    call_command("send_test_alert", "--channel", "ops", stdout=out)
    assert receiver.bodies[0]["msg_type"] == "text" and "delivered" in out.getvalue()
    call_command("add_alert_channel", "--name", "mail", "--email", "dba@example.com", stdout=out)
    call_command("send_test_alert", "--channel", "mail", stdout=out)
    assert len(smtp_sink) == 1
    receiver.script = [500]
    with pytest.raises(CommandError, match="not delivered: HTTP 500"):
        call_command("send_test_alert", "--channel", "ops")
    with pytest.raises(CommandError, match="exists"):
        call_command("add_alert_channel", "--name", "ops", "--email", "x@example.com")
    with pytest.raises(CommandError, match="http"):
        call_command("add_alert_channel", "--name", "bad", "--webhook", "file:///etc/passwd")


def test_the_admin_never_shows_the_webhook_url(admin_client: Any, receiver: Receiver) -> None:
    c = channel(receiver)
    page = admin_client.get(reverse("admin:whalefall_alertchannel_change", args=[c.pk])).content.decode()
    assert "SECRET-TOKEN" not in page
    listing = admin_client.get(reverse("admin:whalefall_alertchannel_changelist")).content.decode()
    assert "http://127.0.0.1/…" in listing and "SECRET-TOKEN" not in listing
    admin_client.post(
        reverse("admin:whalefall_alertchannel_changelist"),
        {"action": "queue_test_alert", "_selected_action": [c.pk]},
    )
    assert (
        AlertDelivery.objects.get().status == DeliveryStatus.PENDING and receiver.bodies == []
    )  # not in the request
    page = admin_client.get(reverse("admin:whalefall_alertrule_add")).content.decode()
    assert "Disk forecast to fill within N days" in page and "No active scheduler for N minutes" in page


def runs(instance: Any, *outcomes: str, start: int = 0) -> None:
    """Finished records of `instance`, oldest first, one a minute from `start` minutes from now:
    `down` failed to connect, `ok` completed, `late` failed after connecting, `cancelled` never ran."""
    base = timezone.now() + timedelta(minutes=start)
    for i, outcome in enumerate(outcomes):
        failed = outcome in ("down", "late")
        SyncInstanceRecord.objects.create(
            session=SyncSessionFactory(finished_at=base + timedelta(minutes=i)),
            instance=instance,
            instance_name=instance.name,
            status="failed" if failed else "completed" if outcome == "ok" else outcome,
            failed_phase="connection" if outcome == "down" else "collection" if failed else "",
            error_message="unreachable: connection refused" if outcome == "down" else "",
            finished_at=base + timedelta(minutes=i),
        )


def test_an_unreachable_instance_alerts_once_per_outage(receiver: Receiver) -> None:
    rule("instance_unreachable", channel(receiver), threshold=3)
    instance = InstanceFactory(name="pg-dr")
    runs(instance, "ok", "down", "down", start=-60)
    assert send_alerts()["queued"] == 0  # two in a row: not yet
    runs(instance, "down", start=-50)
    assert send_alerts()["queued"] == 1
    (body,) = receiver.bodies
    assert body["title"] == "pg-dr unreachable for 3 consecutive runs"
    assert body["lines"] == ["last error: unreachable: connection refused"]
    runs(instance, "cancelled", "down", "down", "down", start=-45)  # a cancelled run is no news
    assert send_alerts()["queued"] == 0
    runs(instance, "ok", "down", "down", start=-40)  # back, then down again: not yet a new outage
    assert send_alerts()["queued"] == 0
    runs(instance, "late", "down", "down", "down", start=-30)  # it answered, then three in a row
    assert send_alerts()["queued"] == 1 and len(receiver.bodies) == 2


def test_a_long_outage_stays_one_alert(receiver: Receiver) -> None:
    rule("instance_unreachable", channel(receiver), threshold=1)
    instance = InstanceFactory(name="pg-dr")
    runs(instance, *["down"] * 60, start=-120)
    assert send_alerts()["queued"] == 1
    runs(instance, "down", start=-50)
    assert send_alerts()["queued"] == 0 and len(receiver.bodies) == 1


def test_a_disabled_rule_sends_nothing(receiver: Receiver) -> None:
    rule("session_failed", channel(receiver), enabled=False)
    failed_session()
    assert send_alerts() == {"queued": 0, "sent": 0, "failed": 0, "skipped": 0}
    assert receiver.bodies == [] and not AlertDelivery.objects.exists()


def test_an_inactive_channel_gets_nothing(receiver: Receiver, smtp_sink: list[Any]) -> None:
    off = mail_channel()
    off.is_active = False
    off.save()
    rule("session_failed", channel(receiver), off)
    failed_session()
    assert send_alerts()["sent"] == 1
    assert smtp_sink == [] and [d.channel for d in AlertDelivery.objects.all()] == [
        AlertChannel.objects.get(name="ops")
    ]


@pytest.mark.parametrize("turned_off", ["rule", "channel"])
def test_a_queued_delivery_is_not_sent_once_its_rule_or_channel_is_off(
    receiver: Receiver, turned_off: str
) -> None:
    """A delivery waiting for its retry or for quiet hours to end is recorded as skipped, not sent,
    when its rule has been disabled or its channel made inactive since."""
    r = rule("session_failed", channel(receiver))
    failed_session()
    receiver.script = [500]
    send_alerts()
    if turned_off == "rule":
        r.enabled = False
        r.save()
    else:
        AlertChannel.objects.update(is_active=False)
    assert send_alerts(timezone.now() + timedelta(minutes=2)) == {
        "queued": 0,
        "sent": 0,
        "failed": 0,
        "skipped": 1,
    }
    delivery = AlertDelivery.objects.get()
    assert delivery.status == DeliveryStatus.SKIPPED and delivery.attempts == 1
    assert delivery.last_error == (
        "not sent: the rule was disabled"
        if turned_off == "rule"
        else "not sent: the channel was made inactive"
    )
    assert len(receiver.bodies) == 1  # the first attempt, answered with a 500; nothing since
    assert send_alerts(timezone.now() + timedelta(minutes=30))["skipped"] == 0  # recorded once


def test_a_rule_enabled_again_does_not_replay_what_happened_while_it_was_off(receiver: Receiver) -> None:
    now = timezone.now()
    r = rule("session_failed", channel(receiver))
    send_alerts(now - timedelta(minutes=30))
    r.enabled = False
    r.save()
    session = failed_session()  # while the rule is off
    session.finished_at = now - timedelta(minutes=20)
    session.save()
    r.enabled = True
    r.save()
    assert send_alerts()["queued"] == 0 and receiver.bodies == []
    assert r.watermark is not None and r.watermark >= now  # the admin shows from when it watches
    SyncSessionFactory(status="failed", finished_at=timezone.now(), total_instances=1, failed_instances=1)
    assert send_alerts(timezone.now() + timedelta(seconds=1))["queued"] == 1


@pytest.mark.parametrize(
    ("kind", "options", "error"),
    [
        (
            "account_change",
            {"events": ["new_superusers"]},
            "unknown events: new_superusers (known: new_superuser, new_grant_option, new_account, "
            "dropped_account, watched)",
        ),
        ("account_change", {"event": ["new_account"]}, "unknown options: event (known: events, watched)"),
        ("account_change", {"events": "new_account"}, "“events” is a list of names."),
        ("account_change", {"watched": "table shop.%"}, "“watched” is a list of scope patterns."),
        ("account_change", {"events": ["watched"]}, "The event “watched” needs patterns in “watched”."),
        (
            "account_change",
            {"events": ["new_account"], "watched": ["table shop.%"]},
            "Patterns in “watched” are used only with the event “watched”.",
        ),
        ("account_change", ["new_account"], "Options are a JSON object, such as {}."),
        ("session_failed", {"events": ["new_account"]}, "This kind takes no options: leave {}."),
    ],
)
def test_the_admin_refuses_options_a_rule_cannot_use(
    admin_client: Any, kind: str, options: Any, error: str
) -> None:
    url = reverse("admin:whalefall_alertrule_add")
    form = {"name": "r", "kind": kind, "enabled": "on", "threshold": "1", "options": json.dumps(options)}
    response = admin_client.post(url, form)
    assert response.status_code == 200 and not AlertRule.objects.exists()
    assert error in response.content.decode().replace("&quot;", '"').replace("&#x27;", "'")
    form["options"] = json.dumps(
        {"events": ["new_account", "watched"], "watched": ["table shop.%"]}
        if kind == "account_change"
        else {}
    )
    assert admin_client.post(url, form).status_code == 302 and AlertRule.objects.get().name == "r"


def test_the_json_webhook_lists_the_failing_instances_with_their_error_kind(receiver: Receiver) -> None:
    rule("session_failed", channel(receiver), channel(receiver, "slack", name="chat"))
    session = failed_session()
    SyncInstanceRecord.objects.create(
        session=session,
        instance=InstanceFactory(name="dw"),
        instance_name="dw",
        status="failed",
        failed_phase="collection",
        error_message="attempt 1 (connection): timeout: no answer; privilege: SELECT denied on mysql.user",
    )
    SyncInstanceRecord.objects.create(
        session=session, instance=InstanceFactory(name="ok-db"), instance_name="ok-db", status="completed"
    )
    send_alerts()
    body = next(b for b in receiver.bodies if "event" in b)
    assert body["session"] == str(session.session_id) and body["status"] == "partial"
    assert body["instances"] == [
        {
            "instance": "dw",
            "phase": "collection",
            "error_kind": "privilege",
            "error": "attempt 1 (connection): timeout: no answer; privilege: SELECT denied on mysql.user",
        },
        {
            "instance": "sales-db",
            "phase": "connection",
            "error_kind": "authentication",
            "error": "authentication: Access denied\\x1b[2J",
        },
    ]
    assert body["link"] == reverse("admin:whalefall_syncsession_change", args=[session.pk])
    (chat,) = [b for b in receiver.bodies if "event" not in b]
    assert set(chat) == {"text"}  # the chat shapes are what their services accept, nothing more
