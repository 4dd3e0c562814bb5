"""Instances and credentials; passwords can be replaced, never read back.

The instance list is a health board: each row shows the outcome of the instance's last connection
check, account sync and capacity collection (see whalefall.instance_health), failing instances
come first, and each row has buttons that run the list's own actions on that one instance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from whalefall import extensions
from whalefall.instance_health import RUN_TITLES, Badge, attach_health, badges, with_health_rank
from whalefall.models import Credential, Instance, Tag
from whalefall.services.connection_check import CheckResult, check_instance, try_connection

# The button on the add/change form that tries the entered settings instead of saving them.
TEST_BUTTON = "_test_connection"
# Fieldset titles, kept as objects: the apps' "Activity" is found again by identity, whatever the
# language they are shown in.
CONNECTION_OPTIONS = gettext_lazy("Connection options")
NOTES = gettext_lazy("Notes")
LAST_KNOWN_STATE = gettext_lazy("Last known state")
ACTIVITY = gettext_lazy("Activity")
# Per-row buttons -> the changelist action each runs on that one instance. The apps add theirs
# with their actions (`extend_instance_admin(row_buttons=...)`); a button shows only where its
# action is offered to the user.
ROW_ACTIONS: dict[str, tuple[str, Any]] = {
    "test": ("test_connection", gettext_lazy("Test")),
}


class TriesConnection:
    """Mixed into a form when its Test connection button was pressed: a valid form connects to
    its `connection_target()` and then reports itself not valid, so the admin renders it again
    (with no error, nothing saved) and the template shows `connection_test`."""

    connection_test: CheckResult | None = None

    def is_valid(self) -> bool:
        if super().is_valid():  # type: ignore[misc]
            target = self.connection_target()  # type: ignore[attr-defined]
            if target is not None:
                self.connection_test = try_connection(target)
        return False


class TestsConnectionOnForm(admin.ModelAdmin):
    """A Test connection button on the add and change forms, for operators: it decrypts a
    credential and connects, as the Test connection action does."""

    def has_manage_permission(self, request: HttpRequest) -> bool:
        """Anything that decrypts a credential or connects to a server is an operator's act."""
        return request.user.has_perm("whalefall.manage_syncsession")

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if (
            request.method == "POST"
            and TEST_BUTTON in request.POST
            and not self.has_manage_permission(request)
        ):
            raise PermissionDenied
        extra = {**(extra_context or {}), "can_test_connection": self.has_manage_permission(request)}
        return super().changeform_view(request, object_id, form_url, extra)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        if request.method == "POST" and TEST_BUTTON in request.POST:
            return type(form.__name__, (TriesConnection, form), {})
        return form


class InstanceForm(forms.ModelForm):
    def connection_target(self) -> Instance:
        """The instance as entered (unsaved), with its selected credential's stored password."""
        return self.instance


class CredentialForm(forms.ModelForm):
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        strip=False,
        help_text=gettext_lazy("Stored encrypted. Leave empty to keep the current password."),
    )

    wallet_password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        strip=False,
        help_text=gettext_lazy(
            "Oracle TCPS wallet password, stored encrypted. Leave empty to keep the current one."
        ),
    )

    test_instance = forms.ModelChoiceField(
        Instance.objects.order_by("name"),
        required=False,
        label=gettext_lazy("Try it on"),
        help_text=gettext_lazy(
            "For Test connection only: the instance to connect to with the username and password "
            "above (the stored password when the field is left empty). Nothing is saved."
        ),
    )

    password_was_typed = False  # a tested form comes back without it (never rendered back)

    class Meta:
        model = Credential
        fields = ["name", "username", "password", "wallet_password", "description"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance.pk:  # nothing is stored yet, so there is nothing to keep
            self.fields["password"].help_text = _("Stored encrypted.")
            self.fields["wallet_password"].help_text = _(
                "Oracle TCPS wallet password (optional), stored encrypted."
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.instance.pk and not data.get("password"):
            self.add_error("password", _("A new credential needs a password."))
        return data

    def connection_target(self) -> Instance | None:
        """The chosen instance with this credential as entered: the typed password, else the
        stored one. Neither the instance nor the credential is saved."""
        target = self.cleaned_data.get("test_instance")
        if target is None:
            self.add_error("test_instance", _("Choose an instance to try the credential on."))
            return None
        entered = Credential(
            username=self.cleaned_data["username"],
            password_encrypted=self.instance.password_encrypted,
            wallet_password_encrypted=self.instance.wallet_password_encrypted,
        )
        if self.cleaned_data.get("password"):
            entered.set_password(self.cleaned_data["password"])
            self.password_was_typed = True
        if self.cleaned_data.get("wallet_password"):
            entered.set_wallet_password(self.cleaned_data["wallet_password"])
            self.password_was_typed = True
        target.credential = entered
        return target

    def save(self, commit: bool = True) -> Credential:
        cred = super().save(commit=False)
        if self.cleaned_data.get("password"):
            cred.set_password(self.cleaned_data["password"])
        if self.cleaned_data.get("wallet_password"):
            cred.set_wallet_password(self.cleaned_data["wallet_password"])
        if commit:
            cred.save()
        return cred


@admin.register(Credential)
class CredentialAdmin(TestsConnectionOnForm):
    form = CredentialForm
    change_form_template = "admin/whalefall/credential/change_form.html"
    list_display = ["name", "username", "password_set", "instance_count", "updated_at"]
    search_fields = ["name", "username"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Credential]:
        return super().get_queryset(request).annotate(n_instances=Count("instances"))

    def get_fields(self, request: HttpRequest, obj: Credential | None = None) -> Any:
        fields = super().get_fields(request, obj)
        if not self.has_manage_permission(request):  # the target of Test connection only
            fields = [f for f in fields if f != "test_instance"]
        return fields

    @admin.display(boolean=True, description=gettext_lazy("password set"))
    def password_set(self, obj: Credential) -> bool:
        return obj.has_password

    @admin.display(description=gettext_lazy("instances"), ordering="n_instances")
    def instance_count(self, obj: Credential) -> int:
        return obj.n_instances  # type: ignore[attr-defined]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "chip", "instance_count"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tag]:
        return super().get_queryset(request).annotate(n_instances=Count("instances"))

    @admin.display(description=gettext_lazy("looks like"))
    def chip(self, obj: Tag) -> SafeString:
        return tag_chip(obj)

    @admin.display(description=gettext_lazy("instances"), ordering="n_instances")
    def instance_count(self, obj: Tag) -> SafeString:
        url = reverse("admin:whalefall_instance_changelist") + f"?tags__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, obj.n_instances)  # type: ignore[attr-defined]


def tag_chip(tag: Tag) -> SafeString:
    return format_html('<span class="wf-tag wf-tag-{}">{}</span>', tag.colour or "grey", tag.name)


def badge_html(badge: Badge) -> SafeString:
    """A status badge (linked to its session when there is one), the error kind and the age."""
    word = (
        format_html(
            '<a class="wf-badge {}" href="{}" title="{}">{}</a>',
            badge.css,
            badge.url,
            badge.hover(),
            badge.label,
        )
        if badge.url
        else format_html(
            '<span class="wf-badge {}" title="{}">{}</span>', badge.css, badge.hover(), badge.label
        )
    )
    kind = (
        format_html(' <span class="wf-kind" title="{}">{}</span>', badge.hover(), badge.kind)
        if badge.kind
        else ""
    )
    age = format_html('<span class="wf-age">{}</span>', badge.age()) if badge.at else ""
    return format_html('<span class="wf-health">{}{}{}</span>', word, kind, age)


class HealthFilter(admin.SimpleListFilter):
    title = gettext_lazy("health")
    parameter_name = "health"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, Any]]:
        return [
            ("failing", _("failing (a last check or run failed)")),
            ("healthy", _("nothing failed")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Instance]) -> QuerySet[Instance]:
        if self.value() == "failing":
            return queryset.filter(health_rank=0)  # type: ignore[misc]  # annotated by the board
        if self.value() == "healthy":
            return queryset.filter(health_rank=1)  # type: ignore[misc]  # annotated by the board
        return queryset


class HealthBoardChangeList(ChangeList):
    """Failing instances first, then by name, unless a column header was clicked. (Not the admin's
    get_ordering: other admins' instance filters order by that, on querysets without the health.)"""

    def get_ordering(self, request: HttpRequest, queryset: QuerySet[Instance]) -> list[Any]:
        if self.params.get(ORDER_VAR):
            return super().get_ordering(request, queryset)
        return ["health_rank", "name", "pk"]  # pk: a total order, as the admin's own default ensures

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        self.result_list = list(self.result_list)
        attach_health(self.result_list)  # the badges of this page only: one query


@admin.register(Instance)
class InstanceAdmin(TestsConnectionOnForm):
    form = InstanceForm
    list_display = ["instance_name", "server", "check_status", "account_status", "capacity_status"]
    list_filter = [HealthFilter, "db_type", "is_active", "tags", "last_check_ok"]
    search_fields = ["name", "host", "description", "tags__name"]
    list_select_related = ["credential"]
    filter_horizontal = ["tags"]
    readonly_fields = [
        "version",
        "last_check_at",
        "last_check_ok",
        "last_check_message",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "db_type", "host", "port", "database", "credential", "is_active"]}),
        (
            CONNECTION_OPTIONS,
            {"fields": ["tls", "trust_server_certificate", "oracle_sid", "wallet_location"]},
        ),
        (NOTES, {"fields": ["description", "tags"]}),
        (LAST_KNOWN_STATE, {"fields": tuple(readonly_fields)}),
    ]
    actions = ["test_connection"]
    change_list_template = "admin/whalefall/instance/change_list.html"
    change_form_template = "admin/whalefall/instance/change_form.html"
    # Per-row values the apps add (see extend_instance_admin) come from these annotations.
    annotations: ClassVar[list[Callable[[QuerySet[Instance]], QuerySet[Instance]]]] = []

    def get_fieldsets(self, request: HttpRequest, obj: Instance | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:  # nothing is known yet about an instance being added
            return [fs for fs in fieldsets if fs[0] is not LAST_KNOWN_STATE and fs[0] is not ACTIVITY]
        return fieldsets

    def get_queryset(self, request: HttpRequest) -> QuerySet[Instance]:
        qs = super().get_queryset(request)
        for annotate in self.annotations:
            qs = annotate(qs)
        return with_health_rank(qs).prefetch_related("tags")

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return HealthBoardChangeList

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        return [*super().get_list_display(request), self.row_buttons(request)]

    # --- columns -----------------------------------------------------------------------------------
    @admin.display(description=gettext_lazy("name"), ordering="name")
    def instance_name(self, obj: Instance) -> SafeString:
        """The name, then its tags as chips (and "inactive" when it is not synced)."""
        inactive = "" if obj.is_active else format_html(' <span class="wf-inactive">{}</span>', _("inactive"))
        chips = format_html_join(" ", "{}", ((tag_chip(t),) for t in obj.tags.all()))
        tags = format_html('<span class="wf-tags">{}</span>', chips) if chips else ""
        return format_html('<span class="wf-name">{}</span>{}{}', obj.name, inactive, tags)

    @admin.display(description=gettext_lazy("server"), ordering="host")
    def server(self, obj: Instance) -> SafeString:
        """host:port, and the engine below it (its version on hover)."""
        return format_html(
            '<span class="wf-address">{}:{}</span><span class="wf-engine" title="{}">{}</span>',
            obj.host,
            obj.effective_port,
            obj.version,
            obj.get_db_type_display(),
        )

    @admin.display(description=RUN_TITLES["check"], ordering="last_check_at")
    def check_status(self, obj: Instance) -> SafeString:
        return badge_html(badges(obj)["check"])

    @admin.display(description=RUN_TITLES["account"], ordering="account_finished_at")
    def account_status(self, obj: Instance) -> SafeString:
        return badge_html(badges(obj)["account"])

    @admin.display(description=RUN_TITLES["capacity"], ordering="capacity_finished_at")
    def capacity_status(self, obj: Instance) -> SafeString:
        return badge_html(badges(obj)["capacity"])

    def row_buttons(self, request: HttpRequest) -> Callable[[Instance], SafeString]:
        """The last column: buttons for the actions this user is offered, links to the lists
        behind the instance. Decided once per page; the buttons submit the page's row-action form."""
        allowed = self.row_actions(request)
        links = self.row_links(request)

        def actions(obj: Instance) -> SafeString:
            buttons = format_html_join(
                "",
                '<button type="submit" form="wf-row-action" formaction="{}" class="wf-row-button">{}</button>',
                (
                    (reverse(f"admin:whalefall_instance_{key}", args=[obj.pk]), label)
                    for key, label in allowed
                ),
            )
            anchors = format_html_join(
                "",
                '<a href="{}" class="wf-row-link">{}</a>',
                ((f"{url}?{lookup}={obj.pk}", label) for url, lookup, label in links),
            )
            return format_html('<span class="wf-row-actions">{}{}</span>', buttons, anchors)

        actions.short_description = _("actions")  # type: ignore[attr-defined]
        return actions

    def row_actions(self, request: HttpRequest) -> list[tuple[str, Any]]:
        """The per-row buttons whose action this user is offered, in the board's order."""
        offered = self.get_actions(request)
        return [(key, label) for key, (action, label) in ROW_ACTIONS.items() if action in offered]

    def row_links(self, request: HttpRequest) -> list[tuple[str, str, Any]]:
        out = []
        for name, lookup, label, permission in extensions.instance_links():
            if request.user.has_perm(permission):
                try:
                    out.append((reverse(name), lookup, label))
                except NoReverseMatch:  # the app is not installed
                    continue
        return out

    # --- views -------------------------------------------------------------------------------------
    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            *(
                path(
                    f"<path:object_id>/{key}/",
                    wrap(self.row_action_view),
                    {"key": key},
                    name=f"whalefall_instance_{key}",
                )
                for key in ROW_ACTIONS
            ),
            *super().get_urls(),
        ]

    def row_action_view(self, request: HttpRequest, object_id: str, key: str) -> HttpResponse:
        """Run one changelist action (test, sync, collect) on one instance, with that action's
        own permission check and messages, then go back to the page the button was on."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        action = self.get_actions(request).get(ROW_ACTIONS[key][0])
        if action is None:  # not offered to this user (or its app is not installed)
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)  # type: ignore[attr-defined]
        func = action[0]
        func(self, request, self.get_queryset(request).filter(pk=obj.pk))
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
            target = reverse("admin:whalefall_instance_changelist")
        return HttpResponseRedirect(target)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The instance's status (its three outcomes, last error) and buttons above the form."""
        obj = self.get_object(request, unquote(object_id))
        extra = dict(extra_context or {})
        if obj is not None:
            attach_health([obj])
            extra["health"] = [(RUN_TITLES[key], badge_html(b), b) for key, b in badges(obj).items()]
            extra["row_buttons"] = self.row_buttons(request)(obj)
        return super().change_view(request, object_id, form_url, extra)

    @admin.action(description=gettext_lazy("Test connection"), permissions=["manage"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Instance]) -> None:
        results = [(i, check_instance(i)) for i in queryset.select_related("credential").order_by("name")]
        for instance, result in results:
            level = messages.SUCCESS if result.ok else messages.ERROR
            self.message_user(
                request, _("%(name)s: %(result)s") % {"name": instance.name, "result": result.message}, level
            )
        failed = sum(not r.ok for _i, r in results)
        if len(results) > 1:  # one instance: its own line says it all
            summary = ngettext(
                "Tested %(count)d instance: %(ok)d OK, %(failed)d failed.",
                "Tested %(count)d instances: %(ok)d OK, %(failed)d failed.",
                len(results),
            ) % {"count": len(results), "ok": len(results) - failed, "failed": failed}
            self.message_user(request, summary, messages.ERROR if failed else messages.SUCCESS)


def extend_instance_admin(
    *,
    actions: tuple[Callable[..., Any], ...] = (),
    columns: tuple[Callable[..., Any], ...] = (),
    details: tuple[Callable[..., Any], ...] = (),
    methods: tuple[Callable[..., Any], ...] = (),
    annotate: Callable[[QuerySet[Instance]], QuerySet[Instance]] | None = None,
    row_buttons: dict[str, tuple[Callable[..., Any], Any]] | None = None,
) -> None:
    """Let an app add actions, changelist columns and read-only detail fields to the instance
    admin without subclassing it, so several apps can extend it whatever their load order.

    Each callable becomes a method of InstanceAdmin: actions take (self, request, queryset),
    columns and details take (self, obj); `methods` are helpers such as the
    `has_<name>_permission` checks an action's `permissions=[...]` names; `annotate` adds the
    per-row values columns read; `row_buttons` puts one of the actions on each row of the board
    as a button (key in its URL -> (action, label)).
    """
    for key, (action, label) in (row_buttons or {}).items():
        if key in ROW_ACTIONS and ROW_ACTIONS[key][0] != action.__name__:
            raise ValueError(f"the instance row button {key!r} is already {ROW_ACTIONS[key][0]!r}")
        if action not in actions:
            raise ValueError(f"the row button {key!r} runs {action.__name__!r}, not one of the actions given")
        ROW_ACTIONS[key] = (action.__name__, label)
    for fn in (*actions, *columns, *details, *methods):
        setattr(InstanceAdmin, fn.__name__, fn)
    InstanceAdmin.actions = [*InstanceAdmin.actions, *(fn.__name__ for fn in actions)]
    InstanceAdmin.list_display = [*InstanceAdmin.list_display, *(fn.__name__ for fn in columns)]
    names = [fn.__name__ for fn in details]
    InstanceAdmin.readonly_fields = [*InstanceAdmin.readonly_fields, *names]
    if names:
        title, opts = InstanceAdmin.fieldsets[-1]
        if title is not ACTIVITY:
            InstanceAdmin.fieldsets = [*InstanceAdmin.fieldsets, (ACTIVITY, {"fields": []})]
        title, opts = InstanceAdmin.fieldsets[-1]
        InstanceAdmin.fieldsets[-1] = (title, {"fields": [*opts["fields"], *names]})
    if annotate:
        InstanceAdmin.annotations = [*InstanceAdmin.annotations, annotate]
