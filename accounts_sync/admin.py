"""Accounts, their permissions and history (read-only), exclusion rules, and the Instance page
extras: a link to its accounts, its last account sync, and a "Sync accounts now" action."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accounts_sync import risk
from accounts_sync.admin_views import AccountViews
from accounts_sync.models import Account, AccountChange, ExclusionRule
from whalefall import dispatch
from whalefall.admin.instances import extend_instance_admin
from whalefall.admin.sessions import ReadOnlyMixin
from whalefall.choices import SyncCategory, SyncTrigger
from whalefall.models import Instance, SyncInstanceRecord, SyncSession
from whalefall.sync.admission import refusal


@admin.register(ExclusionRule)
class ExclusionRuleAdmin(admin.ModelAdmin):
    list_display = ["pattern", "db_type", "description", "is_active"]
    list_filter = ["db_type", "is_active"]
    search_fields = ["pattern", "description"]


def changes_url(**params: Any) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{reverse('admin:accounts_sync_accountchange_changelist')}?{query}"


@admin.register(Account)
class AccountAdmin(AccountViews, ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "identity",
        "instance",
        "engine",
        "is_active",
        "is_role",
        "is_superuser",
        "can_grant",
        "is_locked",
        "can_login",
        "is_expired",
        "snapshot_version",
        "last_seen_at",
    ]
    list_filter = [
        "instance",
        ("instance__db_type", admin.ChoicesFieldListFilter),
        "is_active",
        "is_superuser",
        "is_locked",
        "can_login",
        "is_role",
    ]
    search_fields = ["identity", "username", "host", "instance__name"]
    list_select_related = ["instance", "snapshot"]
    fields = [
        "instance",
        "identity",
        "username",
        "host",
        "is_role",
        "is_active",
        ("is_superuser", "can_grant", "is_locked", "can_login", "is_expired"),
        ("first_seen_at", "last_seen_at", "deactivated_at"),
        "attributes_table",
        "permissions_table",
        "history",
    ]
    readonly_fields = [name for f in fields for name in (f if isinstance(f, tuple) else (f,))]
    change_list_template = "admin/accounts_sync/account/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("who-can/", wrap(self.who_can_view), name="accounts_sync_who_can"),
            path("report/", wrap(self.report_view), name="accounts_sync_report"),
            path(
                "<int:pk>/permissions/", wrap(self.permissions_at_view), name="accounts_sync_permissions_at"
            ),
            *super().get_urls(),
        ]

    @admin.display(description="engine", ordering="instance__db_type")
    def engine(self, obj: Account) -> str:
        return obj.instance.get_db_type_display()

    @admin.display(description="snapshot")
    def snapshot_version(self, obj: Account) -> str:
        snapshot = getattr(obj, "snapshot", None)
        return f"v{snapshot.version}" if snapshot else "-"

    @admin.display(description="attributes")
    def attributes_table(self, obj: Account) -> SafeString:
        return _table(("attribute", "value"), ((k, v) for k, v in sorted(obj.attributes.items())))

    @admin.display(description="current permissions")
    def permissions_table(self, obj: Account) -> SafeString:
        snapshot = getattr(obj, "snapshot", None)
        if snapshot is None:
            return format_html("<em>{}</em>", "not collected yet")
        rows = ((scope, ", ".join(privs)) for scope, privs in snapshot.permissions.items())
        caption = f"version {snapshot.version}, since {snapshot.collected_at:%Y-%m-%d %H:%M}"
        url = reverse("admin:accounts_sync_permissions_at", args=[obj.pk])
        link = format_html('<a href="{}">{}</a>', url, "effective privileges, and permissions at a past time")
        return format_html("{}<p>{} · {}</p>", _table(("scope", "privileges"), rows), caption, link)

    @admin.display(description="change history")
    def history(self, obj: Account) -> SafeString:
        recent = obj.changes.order_by("-created_at", "-id")[:20]
        rows = ((f"{c.created_at:%Y-%m-%d %H:%M}", c.get_change_type_display(), c.summary) for c in recent)
        link = format_html('<a href="{}">{}</a>', changes_url(account__id__exact=obj.pk), "all changes")
        return format_html("{}<p>{}</p>", _table(("when", "type", "summary"), rows), link)


def _table(headers: tuple[str, ...], rows: Any) -> SafeString:
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((c,) for c in r)),) for r in rows)
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


class SessionFilter(admin.SimpleListFilter):
    """The latest account sync sessions (a full session list would be a query per option)."""

    title = "session"
    parameter_name = "session"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        sessions = SyncSession.objects.filter(category=SyncCategory.ACCOUNT).order_by("-started_at")[:15]
        return [(str(s.session_id), f"{s.started_at:%Y-%m-%d %H:%M} ({s.status})") for s in sessions]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AccountChange]) -> QuerySet[AccountChange]:
        return queryset.filter(session_uuid=self.value()) if self.value() else queryset


class RiskFilter(admin.SimpleListFilter):
    """Risky changes (a new superuser, ALL/SUPER or a grant option, an unlock...) first to look at."""

    title = "risk"
    parameter_name = "risk"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("risky", "Risky (critical or high)"), ("critical", "Critical")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AccountChange]) -> QuerySet[AccountChange]:
        if self.value() == "risky":
            return queryset.filter(risk.risky())
        if self.value() == "critical":
            return queryset.filter(risk.CRITICAL_ONLY)
        return queryset


@admin.register(AccountChange)
class AccountChangeAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "instance",
        "account",
        "severity_badge",
        "change_type",
        "summary",
        "session_link",
    ]
    list_filter = [RiskFilter, "change_type", "instance", SessionFilter, "created_at"]
    search_fields = ["account__identity", "summary", "session_uuid"]
    list_select_related = ["account", "instance", "session"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "created_at",
        "instance",
        "account",
        "change_type",
        "summary",
        "details",
        "session",
        "session_uuid",
    ]
    fields = readonly_fields

    @admin.display(description="severity", ordering="severity")
    def severity_badge(self, obj: AccountChange) -> SafeString:
        css = {"critical": "wf-badge wf-bad", "high": "wf-badge wf-warn"}.get(obj.severity, "")
        return format_html('<span class="{}">{}</span>', css, obj.get_severity_display())

    @admin.display(description="session")
    def session_link(self, obj: AccountChange) -> SafeString | str:
        if obj.session_id is None:
            return str(obj.session_uuid)[:8]
        url = reverse("admin:whalefall_syncsession_change", args=[obj.session_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.session_uuid)[:8])


# --- Instance page: accounts link, last account sync, "Sync accounts now" ------------------------
@admin.display(description="accounts", ordering="n_accounts")
def account_count(modeladmin: admin.ModelAdmin, obj: Instance) -> SafeString:
    url = (
        reverse("admin:accounts_sync_account_changelist")
        + f"?instance__id__exact={obj.pk}&is_active__exact=1"
    )
    return format_html('<a href="{}">{}</a>', url, getattr(obj, "n_accounts", 0))


@admin.display(description="accounts")
def accounts_link(modeladmin: admin.ModelAdmin, obj: Instance) -> SafeString:
    return account_count(modeladmin, obj)


@admin.display(description="last account sync")
def last_account_sync(modeladmin: admin.ModelAdmin, obj: Instance) -> SafeString | str:
    record = (
        SyncInstanceRecord.objects.filter(instance=obj, session__category=SyncCategory.ACCOUNT)
        .select_related("session")
        .order_by("-session__started_at")
        .first()
    )
    if record is None:
        return "never"
    url = reverse("admin:whalefall_syncsession_change", args=[record.session_id])
    when = record.finished_at or record.session.started_at
    return format_html('<a href="{}">{} {}</a>', url, record.get_status_display(), f"{when:%Y-%m-%d %H:%M}")


def has_sync_permission(modeladmin: admin.ModelAdmin, request: HttpRequest) -> bool:
    return request.user.has_perm("whalefall.manage_syncsession")


@admin.action(description="Sync accounts now", permissions=["sync"])
def sync_accounts_now(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Instance]
) -> None:
    """Queue one account sync of the selected instances for the scheduler (never in the request)."""
    ids = sorted(queryset.values_list("pk", flat=True))
    trigger = SyncTrigger.MANUAL_SINGLE if len(ids) == 1 else SyncTrigger.MANUAL
    user = request.user.get_username()
    reason = refusal("accounts_sync.tasks.sync_accounts")
    if reason:
        modeladmin.message_user(request, f"Account sync not queued: {reason}", messages.ERROR)
        return
    dispatch.submit(
        "accounts_sync.tasks.sync_accounts",
        requested_by=user,
        instance_ids=ids,
        trigger=trigger,
        created_by=user,
    )
    modeladmin.message_user(
        request, f"Account sync queued for {len(ids)} instance(s); see the sync sessions.", messages.SUCCESS
    )


extend_instance_admin(
    actions=(sync_accounts_now,),
    columns=(account_count,),
    details=(accounts_link, last_account_sync),
    methods=(has_sync_permission,),
    annotate=lambda qs: qs.annotate(n_accounts=Count("accounts", filter=Q(accounts__is_active=True))),
)
