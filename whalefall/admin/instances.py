"""Instances and credentials; passwords can be replaced, never read back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from whalefall.models import Credential, Instance
from whalefall.services.connection_check import check_instance


class CredentialForm(forms.ModelForm):
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        strip=False,
        help_text="Stored encrypted. Leave empty to keep the current password.",
    )

    wallet_password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        strip=False,
        help_text="Oracle TCPS wallet password, stored encrypted. Leave empty to keep the current one.",
    )

    class Meta:
        model = Credential
        fields = ["name", "username", "password", "wallet_password", "description"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.instance.pk and not data.get("password"):
            self.add_error("password", "A new credential needs a password.")
        return data

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
class CredentialAdmin(admin.ModelAdmin):
    form = CredentialForm
    list_display = ["name", "username", "password_set", "instance_count", "updated_at"]
    search_fields = ["name", "username"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Credential]:

        return super().get_queryset(request).annotate(n_instances=Count("instances"))

    @admin.display(boolean=True, description="password set")
    def password_set(self, obj: Credential) -> bool:
        return obj.has_password

    @admin.display(description="instances", ordering="n_instances")
    def instance_count(self, obj: Credential) -> int:
        return obj.n_instances  # type: ignore[attr-defined]


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "db_type",
        "address",
        "is_active",
        "version",
        "last_check_ok",
        "last_check_at",
    ]
    list_filter = ["db_type", "is_active", "last_check_ok"]
    search_fields = ["name", "host", "description", "tags"]
    list_select_related = ["credential"]
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
            "Connection options",
            {"fields": ["tls", "trust_server_certificate", "oracle_sid", "wallet_location"]},
        ),
        ("Notes", {"fields": ["description", "tags"]}),
        ("Last known state", {"fields": readonly_fields}),
    ]
    actions = ["test_connection"]
    # Per-row values the apps add (see extend_instance_admin) come from these annotations.
    annotations: ClassVar[list[Callable[[QuerySet[Instance]], QuerySet[Instance]]]] = []

    def get_fieldsets(self, request: HttpRequest, obj: Instance | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:  # nothing is known yet about an instance being added
            return [fs for fs in fieldsets if fs[0] not in ("Last known state", "Activity")]
        return fieldsets

    def get_queryset(self, request: HttpRequest) -> QuerySet[Instance]:
        qs = super().get_queryset(request)
        for annotate in self.annotations:
            qs = annotate(qs)
        return qs

    @admin.display(description="address", ordering="host")
    def address(self, obj: Instance) -> str:
        return f"{obj.host}:{obj.effective_port}"

    def has_manage_permission(self, request: HttpRequest) -> bool:
        """Anything that decrypts a credential or connects to a server is an operator's act."""
        return request.user.has_perm("whalefall.manage_syncsession")

    @admin.action(description="Test connection", permissions=["manage"])
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Instance]) -> None:
        failed = 0
        for instance in queryset.select_related("credential"):
            result = check_instance(instance)
            level = messages.SUCCESS if result.ok else messages.ERROR
            failed += not result.ok
            self.message_user(request, f"{instance.name}: {result.message}", level)
        total = queryset.count()
        self.message_user(request, f"Tested {total} instance(s): {total - failed} OK, {failed} failed.")


def extend_instance_admin(
    *,
    actions: tuple[Callable[..., Any], ...] = (),
    columns: tuple[Callable[..., Any], ...] = (),
    details: tuple[Callable[..., Any], ...] = (),
    methods: tuple[Callable[..., Any], ...] = (),
    annotate: Callable[[QuerySet[Instance]], QuerySet[Instance]] | None = None,
) -> None:
    """Let an app add actions, changelist columns and read-only detail fields to the instance
    admin without subclassing it, so several apps can extend it whatever their load order.

    Each callable becomes a method of InstanceAdmin: actions take (self, request, queryset),
    columns and details take (self, obj); `methods` are helpers such as the
    `has_<name>_permission` checks an action's `permissions=[...]` names; `annotate` adds the
    per-row values columns read.
    """
    for fn in (*actions, *columns, *details, *methods):
        setattr(InstanceAdmin, fn.__name__, fn)
    InstanceAdmin.actions = [*InstanceAdmin.actions, *(fn.__name__ for fn in actions)]
    InstanceAdmin.list_display = [*InstanceAdmin.list_display, *(fn.__name__ for fn in columns)]
    names = [fn.__name__ for fn in details]
    InstanceAdmin.readonly_fields = [*InstanceAdmin.readonly_fields, *names]
    if names:
        title, opts = InstanceAdmin.fieldsets[-1]
        if title != "Activity":
            InstanceAdmin.fieldsets = [*InstanceAdmin.fieldsets, ("Activity", {"fields": []})]
        title, opts = InstanceAdmin.fieldsets[-1]
        InstanceAdmin.fieldsets[-1] = (title, {"fields": [*opts["fields"], *names]})
    if annotate:
        InstanceAdmin.annotations = [*InstanceAdmin.annotations, annotate]
