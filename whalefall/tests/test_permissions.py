"""Who may do what: every admin action and every API endpoint against one table.

The actions and endpoints are discovered (every registered ModelAdmin, every URL under `api/`
and every custom admin view), so a new one without an entry in the tables below fails here
until someone decides who may use it. Anything that touches a server or a credential, or
changes what the scheduler does, is for operators only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from scheduling.tests.users import OPERATORS, VIEWERS, make_user
from whalefall.models import SyncSession

pytestmark = pytest.mark.django_db

VIEWER, OPERATOR = "viewer", "operator"
NOBODY: frozenset[str] = frozenset()
OPERATORS_ONLY = frozenset({OPERATOR})
EVERYONE = frozenset({VIEWER, OPERATOR})

# (app_label.model, action) -> who is offered the action. `delete_selected` of any model:
# nobody in these groups (neither has a delete permission).
ACTIONS: dict[tuple[str, str], frozenset[str]] = {
    ("whalefall.instance", "test_connection"): OPERATORS_ONLY,
    ("whalefall.instance", "sync_accounts_now"): OPERATORS_ONLY,
    ("whalefall.instance", "collect_sizes_now"): OPERATORS_ONLY,
    ("whalefall.syncsession", "mark_read"): OPERATORS_ONLY,
    ("whalefall.syncsession", "rerun_failed_instances"): OPERATORS_ONLY,
    ("scheduling.jobconfig", "run_now"): OPERATORS_ONLY,
    ("scheduling.jobconfig", "pause_jobs"): OPERATORS_ONLY,
    ("scheduling.jobconfig", "resume_jobs"): OPERATORS_ONLY,
    ("scheduling.jobconfig", "enable_jobs"): OPERATORS_ONLY,
    ("scheduling.jobconfig", "disable_jobs"): OPERATORS_ONLY,
    ("scheduling.jobconfig", "delete_custom_jobs"): OPERATORS_ONLY,
    ("whalefall.alertchannel", "queue_test_alert"): OPERATORS_ONLY,
}

# URL name -> (HTTP method, who may call it). Reads for viewers, writes for operators.
API: dict[str, tuple[str, frozenset[str]]] = {
    "api-sync-status": ("GET", EVERYONE),
    "api-sync-sessions": ("GET", EVERYONE),
    "api-sync-session": ("GET", EVERYONE),
    "api-sync-read-all": ("POST", OPERATORS_ONLY),
    "api-sync-session-read": ("POST", OPERATORS_ONLY),
    "api-sync-trigger": ("POST", OPERATORS_ONLY),
    "scheduler-status": ("GET", EVERYONE),
    "scheduler-jobs": ("GET", EVERYONE),
    "scheduler-job": ("GET", EVERYONE),
    "scheduler-job-action": ("POST", OPERATORS_ONLY),
    "scheduler-reload": ("POST", OPERATORS_ONLY),
    "api-request": ("GET", EVERYONE),
    "api-not-found": ("GET", EVERYONE),  # a JSON 404 for anyone: it reveals nothing
}

# Named URLs outside api/ and admin/ -> (method, who). Both answer anyone, the login page included:
# the health probe says only ok / not ok to strangers, and set_language only sets a cookie.
PUBLIC: dict[str, tuple[str, frozenset[str]]] = {
    "health": ("GET", EVERYONE),
    "set_language": ("POST", EVERYONE),
}

# Custom admin views (beyond changelist/add/change/delete/history) -> (method, who).
ADMIN_VIEWS: dict[str, tuple[str, frozenset[str]]] = {
    "whalefall_syncsession_mark_all_read": ("POST", OPERATORS_ONLY),
    # The instance list's per-row buttons run the Test / Sync / Collect actions on one instance.
    "whalefall_instance_test": ("POST", OPERATORS_ONLY),
    "whalefall_instance_sync": ("POST", OPERATORS_ONLY),
    "whalefall_instance_collect": ("POST", OPERATORS_ONLY),
    "scheduling_jobconfig_reload": ("POST", OPERATORS_ONLY),
    "scheduling_jobconfig_trigger": ("POST", OPERATORS_ONLY),
    "scheduling_jobconfig_run": ("POST", OPERATORS_ONLY),
    "capacity_instance_capacity": ("GET", EVERYONE),
    "capacity_top_growers": ("GET", EVERYONE),
    "accounts_sync_who_can": ("GET", EVERYONE),
    "accounts_sync_report": ("GET", EVERYONE),
    "accounts_sync_permissions_at": ("GET", EVERYONE),
    "accounts_sync_account_diff": ("GET", EVERYONE),
}
STANDARD_ADMIN_VIEWS = ("changelist", "add", "change", "delete", "history", "autocomplete")
ADMIN_SITE_VIEWS = {
    "index",
    "login",
    "logout",
    "jsi18n",
    "app_list",
    "view_on_site",
    "password_change",
    "password_change_done",
}


@pytest.fixture
def users() -> dict[str, User]:
    return {VIEWER: make_user("vera", VIEWERS), OPERATOR: make_user("otto", OPERATORS)}


def declared_actions() -> Iterator[tuple[tuple[str, str], Any]]:
    for model, model_admin in admin.site._registry.items():
        label = f"{model._meta.app_label}.{model._meta.model_name}"
        for _func, name, _description in model_admin._get_base_actions():
            yield (label, name), model_admin


def test_every_admin_action_has_a_permission_decision() -> None:
    undecided = {key for key, _ in declared_actions() if key not in ACTIONS and key[1] != "delete_selected"}
    assert undecided == set(), "add these actions to ACTIONS with who may run them"


@pytest.mark.parametrize("role", [VIEWER, OPERATOR])
def test_admin_actions_are_offered_as_the_table_says(role: str, users: dict[str, User]) -> None:
    request = RequestFactory().get("/admin/")
    request.user = users[role]
    wrong = []
    for key, model_admin in declared_actions():
        allowed = role in ACTIONS.get(key, NOBODY)
        offered = key[1] in model_admin.get_actions(request)
        if offered != allowed:
            wrong.append((key, "offered" if offered else "refused"))
    assert wrong == []


def test_a_viewer_posting_test_connection_connects_to_nothing(
    users: dict[str, User], monkeypatch: Any
) -> None:
    from whalefall.tests.factories import InstanceFactory

    called: list[Any] = []
    monkeypatch.setattr("whalefall.admin.instances.check_instance", called.append)
    instance = InstanceFactory()
    client = Client()
    client.force_login(users[VIEWER])
    client.post(
        reverse("admin:whalefall_instance_changelist"),
        {"action": "test_connection", "_selected_action": [instance.pk]},
    )
    assert called == []
    instance.refresh_from_db()
    assert instance.last_check_at is None


def url_patterns(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from url_patterns(p.url_patterns, prefix + str(p.pattern))
        else:
            yield prefix + str(p.pattern), p


def api_names() -> set[str]:
    return {p.name for path, p in url_patterns(get_resolver().url_patterns) if path.startswith("api/")}


def public_names() -> set[str]:
    return {
        p.name
        for path, p in url_patterns(get_resolver().url_patterns)
        if p.name and not path.startswith(("api/", "admin/"))
    }


def custom_admin_names() -> set[str]:
    names = set()
    for path, p in url_patterns(get_resolver().url_patterns):
        if path.startswith("admin/") and p.name and p.name not in ADMIN_SITE_VIEWS:
            if not p.name.endswith(STANDARD_ADMIN_VIEWS) and not path.startswith("admin/auth/"):
                names.add(p.name)
    return names


def test_every_endpoint_and_custom_admin_view_has_a_permission_decision() -> None:
    assert api_names() - set(API) == set(), "add these endpoints to API"
    assert custom_admin_names() - set(ADMIN_VIEWS) == set(), "add these views to ADMIN_VIEWS"
    assert public_names() - set(PUBLIC) == set(), "add these URLs to PUBLIC"


def url_for(name: str) -> str:
    kwargs: dict[str, Any] = {
        "api-sync-session": {"session_id": SyncSession.objects.get().session_id},
        "api-sync-session-read": {"session_id": SyncSession.objects.get().session_id},
        "api-sync-trigger": {"category": "account"},
        "scheduler-job": {"job_id": "no-such-job"},
        "scheduler-job-action": {"job_id": "no-such-job", "action": "pause"},
        "scheduling_jobconfig_trigger": {"object_id": "no-such-job"},
        "scheduling_jobconfig_run": {"object_id": "no-such-job"},
        "capacity_instance_capacity": {"instance_id": 999999},
        "whalefall_instance_test": {"object_id": 999999},
        "whalefall_instance_sync": {"object_id": 999999},
        "whalefall_instance_collect": {"object_id": 999999},
        "accounts_sync_permissions_at": {"pk": 999999},
        "accounts_sync_account_diff": {"pk": 999999},
        "api-request": {"request_id": 999999},
        "api-not-found": {"rest": "no/such/endpoint"},
    }.get(name, {})
    return reverse(name if name in API or name in PUBLIC else f"admin:{name}", kwargs=kwargs)


@pytest.mark.parametrize("role", [VIEWER, OPERATOR])
@pytest.mark.parametrize("name", sorted({*API, *ADMIN_VIEWS, *PUBLIC}))
def test_endpoints_answer_as_the_table_says(name: str, role: str, users: dict[str, User]) -> None:
    SyncSession.objects.create(session_id=uuid.uuid4(), category="account", trigger="manual")
    method, who = {**API, **ADMIN_VIEWS, **PUBLIC}[name]
    client = Client()
    client.force_login(users[role])
    response = getattr(client, method.lower())(url_for(name))
    refused = response.status_code in (401, 403)
    assert refused == (role not in who), (name, role, response.status_code)


# Side effects of reading a page: who leaves them.
PAGE_EFFECTS: dict[str, frozenset[str]] = {
    "opening a finished sync session marks it read": OPERATORS_ONLY,  # like the mark_read action
}


@pytest.mark.parametrize("role", [VIEWER, OPERATOR])
def test_opening_a_session_marks_it_read_as_the_table_says(role: str, users: dict[str, User]) -> None:
    session = SyncSession.objects.create(category="account", trigger="manual", status="failed")
    client = Client()
    client.force_login(users[role])
    assert client.get(reverse("admin:whalefall_syncsession_change", args=[session.pk])).status_code == 200
    session.refresh_from_db()
    assert session.is_read == (role in PAGE_EFFECTS["opening a finished sync session marks it read"])
