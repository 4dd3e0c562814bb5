"""Custom account admin pages: "Who can…" across the fleet, an account's permissions at a time,
and the difference between any two versions of an account.

Mounted by `AccountAdmin.get_urls()` through `admin_site.admin_view`; each view checks the view
permission on accounts itself. All read only the metadata database.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from accounts_sync import display, history, statements
from accounts_sync.models import Account, AccountPrivilege
from accounts_sync.privileges import Scope
from accounts_sync.questions import (
    answer_counts,
    changelog_kept_since,
    effective_rows,
    permissions_at,
    who_can,
)
from accounts_sync.reports import Period, write_csv, write_xlsx
from whalefall.models import Instance

MAX_ROWS = 2000


class WhoCanForm(forms.Form):
    privilege = forms.CharField(
        max_length=128,
        label=gettext_lazy("Privilege"),
        help_text=gettext_lazy("e.g. SELECT, DROP, EXECUTE, SUPER."),
    )
    on = forms.CharField(
        max_length=500,
        required=False,
        initial="*",
        label=pgettext_lazy("privilege scope", "On"),
        help_text=gettext_lazy(
            "db, db.table, db.schema.table; db.* for the database and everything in it; * for anything."
        ),
    )
    instances = forms.ModelMultipleChoiceField(
        queryset=Instance.objects.order_by("name"),
        required=False,
        label=gettext_lazy("Instances"),
        help_text=gettext_lazy("Empty: every instance."),
    )
    include_inactive = forms.BooleanField(
        required=False, label=gettext_lazy("Include accounts no longer listed")
    )


class AtForm(forms.Form):
    at = forms.DateTimeField(
        required=False,
        label=pgettext_lazy("point in time", "At"),
        help_text=gettext_lazy("YYYY-MM-DD HH:MM[:SS] in the configured time zone; empty: now."),
        input_formats=["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"],
    )


AT_FORMATS = cast(forms.DateTimeField, AtForm.base_fields["at"]).input_formats


class ReportForm(forms.Form):
    instances = forms.ModelMultipleChoiceField(
        queryset=Instance.objects.order_by("name"),
        required=False,
        label=gettext_lazy("Instances"),
        help_text=gettext_lazy("Empty: every active instance."),
    )
    start = forms.DateTimeField(required=False, label=gettext_lazy("Changes from"), input_formats=AT_FORMATS)
    end = forms.DateTimeField(required=False, label=gettext_lazy("Changes until"), input_formats=AT_FORMATS)
    format = forms.ChoiceField(
        label=gettext_lazy("Format"),
        choices=[
            ("xlsx", gettext_lazy("Excel (XLSX)")),
            ("csv", gettext_lazy("CSV (privileges)")),
            ("csv-changes", gettext_lazy("CSV (changes)")),
        ],
    )
    include_inactive = forms.BooleanField(
        required=False, label=gettext_lazy("Include accounts no longer listed")
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("start") and data.get("end") and data["start"] >= data["end"]:
            raise forms.ValidationError(_("“Changes from” must be before “Changes until”."))
        return data


class AccountViews:
    """Mixed into AccountAdmin; `self` is the ModelAdmin."""

    admin_site: admin.AdminSite

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        return {**self.admin_site.each_context(request), "title": title, "opts": Account._meta, **extra}

    def who_can_view(self, request: HttpRequest) -> HttpResponse:
        self._context(request, "")
        form = WhoCanForm(request.GET or None)
        holders: list[Any] = []
        if form.is_valid():
            data = form.cleaned_data
            holders = who_can(
                data["privilege"],
                data["on"] or "*",
                instances=[i.name for i in data["instances"]],
                include_inactive=data["include_inactive"],
            )
        context = self._context(
            request,
            _("Who can…"),
            form=form,
            holders=holders[:MAX_ROWS],
            answer=answer_counts(holders, MAX_ROWS),
            asked=form.is_bound and form.is_valid(),
        )
        return TemplateResponse(request, "admin/accounts_sync/who_can.html", context)

    def report_view(self, request: HttpRequest) -> HttpResponse:
        """The access-review report as a download (generated from the metadata database only)."""
        self._context(request, "")
        form = ReportForm(request.GET or None)
        if not (form.is_bound and form.is_valid()):
            context = self._context(request, _("Access review report"), form=form)
            return TemplateResponse(request, "admin/accounts_sync/report.html", context)
        data = form.cleaned_data
        instances = list(data["instances"]) or list(Instance.objects.filter(is_active=True))
        aware = [
            timezone.make_aware(d) if d and timezone.is_naive(d) else d for d in (data["start"], data["end"])
        ]
        period = Period(*aware)
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        kw = {"include_inactive": data["include_inactive"]}
        if data["format"] == "xlsx":
            response = HttpResponse(
                content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            )
            write_xlsx(response, instances, period, **kw)
            name = f"whalefall-access-review-{stamp}.xlsx"
        else:
            response = HttpResponse(content_type="text/csv; charset=utf-8")
            part = "changes" if data["format"] == "csv-changes" else "privileges"
            write_csv(response, instances, period, part=part, **kw)
            name = f"whalefall-access-{part}-{stamp}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def permissions_at_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        self._context(request, "")
        account = get_object_or_404(Account.objects.select_related("instance", "snapshot"), pk=pk)
        form = AtForm(request.GET or None)
        at = form.cleaned_data["at"] if form.is_valid() else None
        past = None
        if at is not None:
            at = timezone.make_aware(at) if timezone.is_naive(at) else at
            past = permissions_at(account, at)
            permissions = past.permissions if past is not None else None
        else:
            snapshot = getattr(account, "snapshot", None)
            permissions = snapshot.permissions if snapshot else {}
        context = self._context(
            request,
            _("%(instance)s / %(account)s: permissions")
            % {"instance": account.instance.name, "account": account.identity},
            account=account,
            form=form,
            at=at,
            past=past,
            kept_since=changelog_kept_since(),
            permissions=sorted(permissions.items()) if permissions is not None else None,
            effective=effective_rows(account) if at is None else [],
        )
        return TemplateResponse(request, "admin/accounts_sync/permissions_at.html", context)

    def diff_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Two versions of the account side by side: privileges given (+) and taken (-), with the
        engine's statements, and attributes before and after. Defaults: previous vs current;
        `?change=<id>` shows what that change did; `?from=&to=` any two versions."""
        self._context(request, "")
        account = get_object_or_404(Account.objects.select_related("instance", "snapshot"), pk=pk)
        found = history.versions(account)
        if request.GET.get("change"):
            new = history.pick(found, request.GET["change"], -1)
            old = found[max(0, new.number - 2)]
        else:
            old = history.pick(found, request.GET.get("from"), -2)
            new = history.pick(found, request.GET.get("to"), -1)
        if old.number > new.number:
            old, new = new, old
        result = history.diff(old, new)
        rendered = statements.Account.of(account)
        paths = resolve_paths(account, {r.scope for r in result.rows})
        current = {scope: sorted(tokens) for scope, tokens in new.permissions.items()}
        rows = [
            (
                r,
                statements.entry_statements(
                    rendered,
                    "GRANT" if r.sign == "+" else "REVOKE",
                    r.scope,
                    r.token,
                    paths=paths,
                    permissions=current,
                ),
            )
            for r in result.rows
        ]
        context = self._context(
            request,
            _("%(account)s on %(instance)s: versions")
            % {"account": account.identity, "instance": account.instance.name},
            account=account,
            versions=[(v, version_label(v)) for v in reversed(found)],
            old=old,
            new=new,
            old_label=version_label(old),
            new_label=version_label(new),
            diff=result,
            rows=rows,
            attributes=[
                (display.label(k), display.value(k, a), display.value(k, b)) for k, a, b in result.attributes
            ],
            between=[(v, display.when(v.at)) for v in found if old.number < v.number <= new.number],
        )
        return TemplateResponse(request, "admin/accounts_sync/account_diff.html", context)


def version_label(version: history.Version) -> str:
    """`v3 · 2025-05-01 10:00 · Privileges changed` (the first: `first seen`)."""
    what = version.change.get_change_type_display() if version.change else _("first seen")
    return f"v{version.number} · {display.when(version.at)} · {what}"


def resolve_paths(account: Account, scopes: set[str]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Scope texts -> (kind, path) from what the instance's accounts hold now, in one query: a
    name with a dot stays one name wherever the store still knows the object."""
    engine = statements.ENGINES[account.instance.db_type](statements.Account.of(account))
    kinds = sorted(engine.kinds, key=len, reverse=True)
    wanted = Q()
    for text in sorted(scopes)[:200]:
        kind = next((k for k in kinds if text.startswith(k + " ")), None)
        if kind:
            wanted |= Q(scope_kind=kind, target=text[len(kind) + 1 :])
    if not wanted:
        return {}
    rows = AccountPrivilege.objects.filter(wanted, instance_id=account.instance_id).values_list(
        "scope_kind", "path"
    )
    return {Scope.of(kind, *path).render(): (kind, tuple(path)) for kind, path in rows.distinct()}
