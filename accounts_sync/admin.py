"""Accounts, their permissions and history (read-only), exclusion rules, and the Instance page
extras: a link to its accounts, its last account sync, and a "Sync accounts now" action."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts_sync import display, risk, statements
from accounts_sync.admin_views import AccountViews, resolve_paths
from accounts_sync.models import Account, AccountChange, ChangeType, ExclusionRule
from accounts_sync.tasks import SYNC_ACCOUNTS
from whalefall import dispatch
from whalefall.admin.instances import extend_instance_admin
from whalefall.admin.sessions import ReadOnlyMixin
from whalefall.choices import SyncCategory, SyncTrigger
from whalefall.formats import local_datetime
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


class AccountChangeList(ChangeList):
    """The account list, with each row's privilege summary counted for the whole page at once."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        found = display.summaries(a.pk for a in self.result_list)
        for account in self.result_list:
            account.summary = found.get(account.pk, display.Summary())


def account_kind(account: Account) -> str:
    if (account.attributes or {}).get("pseudo_role"):
        return str(_("everyone (PUBLIC)"))
    return str(_("role") if account.is_role else _("login"))


@admin.register(Account)
class AccountAdmin(AccountViews, ReadOnlyMixin, admin.ModelAdmin):
    """A compact list (flags only when notable, privileges summed up) and a page drawn by its own
    template: overview, the engine's statements, attributes in words, permissions, changes."""

    list_display = ["account_link", "instance_name", "kind", "flags", "privileges", "last_changed"]
    list_display_links = None
    list_filter = [
        "instance",
        ("instance__db_type", admin.ChoicesFieldListFilter),
        "is_active",
        "is_superuser",
        "can_grant",
        "is_locked",
        "is_expired",
        "can_login",
        "is_role",
    ]
    search_fields = ["identity", "username", "host", "instance__name"]
    list_select_related = ["instance"]
    fields = ["identity"]  # the page is drawn by its template from `account_context`
    change_list_template = "admin/accounts_sync/account/change_list.html"
    change_form_template = "admin/accounts_sync/account/change_form.html"

    class Media:
        css = {"all": ["accounts_sync/accounts.css"]}

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("who-can/", wrap(self.who_can_view), name="accounts_sync_who_can"),
            path("report/", wrap(self.report_view), name="accounts_sync_report"),
            path(
                "<int:pk>/permissions/", wrap(self.permissions_at_view), name="accounts_sync_permissions_at"
            ),
            path("<int:pk>/versions/", wrap(self.diff_view), name="accounts_sync_account_diff"),
            *super().get_urls(),
        ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        latest = AccountChange.objects.filter(account=OuterRef("pk")).order_by("-created_at", "-id")
        return super().get_queryset(request).annotate(changed_at=Subquery(latest.values("created_at")[:1]))

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return AccountChangeList

    @admin.display(description=_("account"), ordering="identity")
    def account_link(self, obj: Account) -> SafeString:
        url = reverse("admin:accounts_sync_account_change", args=[obj.pk])
        return format_html('<a href="{}"><bdi>{}</bdi></a>', url, obj.identity)

    @admin.display(description=_("instance"), ordering="instance__name")
    def instance_name(self, obj: Account) -> SafeString:
        return format_html(
            '<bdi>{}</bdi> <span class="wf-quiet">{}</span>',
            obj.instance.name,
            obj.instance.get_db_type_display(),
        )

    @admin.display(description=_("type"), ordering="is_role")
    def kind(self, obj: Account) -> str:
        return account_kind(obj)

    @admin.display(description=_("notable"))
    def flags(self, obj: Account) -> SafeString:
        found = display.badges(obj)
        if not found:
            return format_html('<span class="wf-quiet" title="{}"></span>', _("nothing notable"))
        return format_html_join(
            " ", '<span class="{}" title="{}">{}</span>', ((b.css, b.title, b.text) for b in found)
        )

    @admin.display(description=_("privileges"))
    def privileges(self, obj: Account) -> SafeString:
        parts = display.summary_parts(obj, getattr(obj, "summary", display.Summary()))
        if not parts:
            return format_html('<span class="wf-quiet">{}</span>', _("none"))
        return format_html_join(" · ", "<bdi>{}</bdi>", ((p,) for p in parts))

    @admin.display(description=_("last changed"), ordering="changed_at")
    def last_changed(self, obj: Account) -> str:
        return display.when(getattr(obj, "changed_at", None))

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Account | None:
        try:
            return self.get_queryset(request).select_related("instance", "snapshot").get(pk=object_id)
        except (Account.DoesNotExist, ValueError):
            return None

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        account = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if account is not None and self.has_view_permission(request, account):
            extra.update(account_context(account))
            extra["title"] = _("%(account)s on %(instance)s") % {
                "account": account.identity,
                "instance": account.instance.name,
            }
            extra["subtitle"] = None
        return super().change_view(request, object_id, form_url, extra)


SHOWN_STATEMENTS = 400


def account_context(account: Account) -> dict[str, Any]:
    """Everything the account page shows, in a few queries whatever the account holds."""
    snapshot = getattr(account, "snapshot", None)
    permissions = snapshot.permissions if snapshot else {}
    rendered = statements.Account.of(account)
    rows = account.privileges.filter(via="").values(
        "scope_kind", "path", "privilege", "grantable", "denied", "via"
    )
    found = statements.statements(rendered, statements.direct_privileges(rows), permissions)
    uuid = account.first_seen_session_uuid
    first_session = SyncSession.objects.filter(session_id=uuid).first() if uuid else None
    recent = list(account.changes.order_by("-created_at", "-id")[:20])
    return {
        "account": account,
        "engine": account.instance.get_db_type_display(),
        "badges": display.badges(account),
        "kind": account_kind(account),
        "first_seen": display.when(account.first_seen_at),
        "first_session": first_session,
        "first_session_uuid": uuid,
        "last_seen": display.when(account.last_seen()),
        "deactivated": display.when(account.deactivated_at, str(_("no"))),
        "statement_groups": statements.grouped(rendered, found[:SHOWN_STATEMENTS]),
        "statements_hidden": max(0, len(found) - SHOWN_STATEMENTS),
        "attribute_rows": display.attribute_rows(account.attributes or {}),
        "permissions": sorted(permissions.items()),
        "snapshot": snapshot,
        "collected": display.when(snapshot.collected_at) if snapshot else "",
        "recent": [(c, display.when(c.created_at)) for c in recent],
        "all_changes_url": changes_url(account__id__exact=account.pk),
    }


class SessionFilter(admin.SimpleListFilter):
    """The latest account sync sessions (a full session list would be a query per option)."""

    title = _("session")
    parameter_name = "session"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        sessions = SyncSession.objects.filter(category=SyncCategory.ACCOUNT).order_by("-started_at")[:15]
        return [(str(s.session_id), f"{display.when(s.started_at)} ({s.status})") for s in sessions]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AccountChange]) -> QuerySet[AccountChange]:
        return queryset.filter(session_uuid=value) if (value := self.value()) else queryset


class RiskFilter(admin.SimpleListFilter):
    """Risky changes (a new superuser, ALL/SUPER or a grant option, an unlock...) first to look at."""

    title = _("risk")
    parameter_name = "risk"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("risky", _("Risky (critical or high)")), ("critical", _("Critical"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AccountChange]) -> QuerySet[AccountChange]:
        if self.value() == "risky":
            return queryset.filter(risk.risky())
        if self.value() == "critical":
            return queryset.filter(risk.CRITICAL_ONLY)
        return queryset


PERIODS = {"24h": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}


class PeriodFilter(admin.SimpleListFilter):
    """The last 24 hours / 7 days / 30 days, counted back from now (the home panel links here)."""

    title = _("when")
    parameter_name = "when"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("24h", _("Last 24 hours")), ("7d", _("Last 7 days")), ("30d", _("Last 30 days"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AccountChange]) -> QuerySet[AccountChange]:
        period = PERIODS.get(self.value() or "")
        return queryset.filter(created_at__gte=timezone.now() - period) if period else queryset


SEVERITY_CSS = {"critical": "wf-badge wf-bad", "high": "wf-badge wf-warn"}


@admin.register(AccountChange)
class AccountChangeAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["when", "severity_badge", "account_link", "change_type", "summary_text", "session_link"]
    list_display_links = None
    list_filter = [RiskFilter, PeriodFilter, "change_type", "instance", SessionFilter]
    search_fields = ["account__identity", "summary", "session_uuid"]
    list_select_related = ["account", "instance", "session"]
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "created",
        "instance",
        "account_page",
        "change_type",
        "severity_reasons",
        "what_changed",
        "session_link",
    )
    change_list_template = "admin/accounts_sync/accountchange/change_list.html"

    class Media:
        css = {"all": ["accounts_sync/accounts.css"]}

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> AccountChange | None:
        queryset = self.get_queryset(request).select_related("account__instance", "instance", "session")
        try:
            return queryset.get(pk=object_id)
        except (AccountChange.DoesNotExist, ValueError):
            return None

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        change = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if change is not None:
            extra["title"] = _("%(change)s on %(instance)s") % {
                "change": str(change),
                "instance": change.instance.name,
            }
            extra["subtitle"] = None
        return super().change_view(request, object_id, form_url, extra)

    @admin.display(description=_("when"), ordering="created_at")
    def when(self, obj: AccountChange) -> SafeString:
        url = reverse("admin:accounts_sync_accountchange_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, display.when(obj.created_at))

    @admin.display(description=_("when"))
    def created(self, obj: AccountChange) -> str:
        return display.when(obj.created_at)

    @admin.display(description=_("severity"), ordering="severity")
    def severity_badge(self, obj: AccountChange) -> SafeString:
        css = SEVERITY_CSS.get(obj.severity, "wf-quiet")
        return format_html('<span class="{}">{}</span>', css, obj.get_severity_display())

    @admin.display(description=_("account"), ordering="account__identity")
    def account_link(self, obj: AccountChange) -> SafeString:
        if obj.account_id is None:
            return format_html(
                '<span class="wf-quiet">{}</span> <bdi>{}</bdi>', _("all accounts of"), obj.instance.name
            )
        url = reverse("admin:accounts_sync_account_change", args=[obj.account_id])
        return format_html(
            '<a href="{}"><bdi>{}</bdi></a> <span class="wf-quiet"><bdi>{}</bdi></span>',
            url,
            obj.account.identity if obj.account else "",
            obj.instance.name,
        )

    @admin.display(description=_("account"))
    def account_page(self, obj: AccountChange) -> SafeString | str:
        if obj.account_id is None:
            return str(_("every account of the instance (the first sync's baseline)"))
        url = reverse("admin:accounts_sync_account_change", args=[obj.account_id])
        return format_html('<a href="{}"><bdi>{}</bdi></a>', url, obj.account.identity if obj.account else "")

    @admin.display(description=_("summary"))
    def summary_text(self, obj: AccountChange) -> SafeString:
        return format_html('<bdi class="wf-clip" title="{}">{}</bdi>', obj.summary, obj.summary)

    @admin.display(description=_("severity"))
    def severity_reasons(self, obj: AccountChange) -> SafeString:
        reasons = risk.reasons(obj)
        because = "; ".join(reasons)
        return format_html("{} {}", self.severity_badge(obj), f"({because})" if because else "")

    @admin.display(description=_("what changed"))
    def what_changed(self, obj: AccountChange) -> str:
        return render_to_string("admin/accounts_sync/change_details.html", change_details(obj))

    @admin.display(description=_("session"))
    def session_link(self, obj: AccountChange) -> SafeString | str:
        if obj.session_id is None:
            return str(obj.session_uuid)[:8]
        url = reverse("admin:whalefall_syncsession_change", args=[obj.session_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.session_uuid)[:8])


def change_details(change: AccountChange) -> dict[str, Any]:
    """One change as tables: privileges given (+) and taken (-) with their statements, attributes
    before and after, what a new account arrived with, or what the first sync found."""
    details = change.details or {}
    out: dict[str, Any] = {"change": change}
    account = change.account
    if change.change_type == ChangeType.MODIFY_PRIVILEGE and account is not None:
        rendered = statements.Account.of(account)
        entries = details.get("entries", [])
        paths = resolve_paths(account, {e["scope"] for e in entries})
        out["privileges"] = [
            (
                "+" if e["action"] == "GRANT" else "-",
                e["scope"],
                token,
                statements.entry_statements(rendered, e["action"], e["scope"], token, paths=paths),
            )
            for e in entries
            for token in e["privileges"]
        ]
        url = reverse("admin:accounts_sync_account_diff", args=[account.pk])
        out["diff_url"] = f"{url}?change={change.pk}"
    elif change.change_type == ChangeType.MODIFY_OTHER:
        out["attributes"] = [
            (display.label(k), display.value(k, v.get("before")), display.value(k, v.get("after")))
            for k, v in sorted((details.get("changes") or {}).items())
        ]
    elif change.change_type == ChangeType.ADD:
        facts = [(display.label(k), display.value(k, details.get(k))) for k in Account.FACTS if k in details]
        out["facts"] = facts + display.attribute_rows(details.get("attributes") or {})
        out["permissions"] = sorted((details.get("permissions") or {}).items())
    elif change.change_type == ChangeType.BASELINE:
        out["baseline"] = [
            (_("accounts found"), details.get("accounts", 0)),
            (_("of which roles"), details.get("roles", 0)),
            (_("superusers"), details.get("superusers", 0)),
            (_("can log in"), details.get("logins", 0)),
        ]
    elif change.change_type == ChangeType.RENAME:
        out["renamed"] = (details.get("from", ""), details.get("to", ""))
    return out


# --- Instance page: accounts link, last account sync, "Sync accounts now" ------------------------
def active_account_count() -> Coalesce:
    """The instance's active accounts, counted by a subquery per row rather than a join and a
    GROUP BY: grouping would make the database compute every other per-row value (the health
    board's latest runs) once per joined account before the page is cut."""
    per_instance = (
        Account.objects.filter(instance=OuterRef("pk"), is_active=True)
        .order_by()
        .values("instance")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(per_instance), 0)


@admin.display(description=_("accounts"), ordering="n_accounts")
def account_count(modeladmin: admin.ModelAdmin, obj: Instance) -> SafeString:
    url = (
        reverse("admin:accounts_sync_account_changelist")
        + f"?instance__id__exact={obj.pk}&is_active__exact=1"
    )
    return format_html('<a href="{}">{}</a>', url, getattr(obj, "n_accounts", 0))


@admin.display(description=_("accounts"))
def accounts_link(modeladmin: admin.ModelAdmin, obj: Instance) -> SafeString:
    return account_count(modeladmin, obj)


@admin.display(description=_("last account sync"))
def last_account_sync(modeladmin: admin.ModelAdmin, obj: Instance) -> SafeString | str:
    record = (
        SyncInstanceRecord.objects.filter(instance=obj, session__category=SyncCategory.ACCOUNT)
        .select_related("session")
        .order_by("-session__started_at")
        .first()
    )
    if record is None:
        return gettext("never")
    url = reverse("admin:whalefall_syncsession_change", args=[record.session_id])
    when = record.finished_at or record.session.started_at
    return format_html('<a href="{}">{} {}</a>', url, record.get_status_display(), local_datetime(when))


def has_sync_permission(modeladmin: admin.ModelAdmin, request: HttpRequest) -> bool:
    return request.user.has_perm("whalefall.manage_syncsession")


@admin.action(description=_("Sync accounts now"), permissions=["sync"])
def sync_accounts_now(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Instance]
) -> None:
    """Queue one account sync of the selected instances for the scheduler (never in the request)."""
    ids = sorted(queryset.values_list("pk", flat=True))
    trigger = SyncTrigger.MANUAL_SINGLE if len(ids) == 1 else SyncTrigger.MANUAL
    user = request.user.get_username()
    reason = refusal(SYNC_ACCOUNTS.path)
    if reason:
        modeladmin.message_user(
            request, gettext("Account sync not queued: %(reason)s") % {"reason": reason}, messages.ERROR
        )
        return
    dispatch.submit(
        SYNC_ACCOUNTS.path,
        requested_by=user,
        instance_ids=ids,
        trigger=trigger,
        created_by=user,
    )
    modeladmin.message_user(
        request,
        ngettext(
            "Account sync queued for %(count)d instance; see the sync sessions.",
            "Account sync queued for %(count)d instances; see the sync sessions.",
            len(ids),
        )
        % {"count": len(ids)},
        messages.SUCCESS,
    )


extend_instance_admin(
    actions=(sync_accounts_now,),
    row_buttons={"sync": (sync_accounts_now, _("Sync"))},
    columns=(account_count,),
    details=(accounts_link, last_account_sync),
    methods=(has_sync_permission,),
    annotate=lambda qs: qs.annotate(n_accounts=active_account_count()),
)
