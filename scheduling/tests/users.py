"""Viewer and operator users in the groups the data migration creates."""

from __future__ import annotations

import importlib

from django.contrib.auth.models import Group, Permission, User

groups_migration = importlib.import_module("scheduling.migrations.0002_groups")
VIEWERS, OPERATORS = "WhaleFall viewers", "WhaleFall operators"
PASSWORD = "a-long-test-password-42"


def ensure_groups() -> None:
    """The migration made them; transactional tests flush tables, so re-create them if needed."""
    for name, codes in groups_migration.GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in codes:
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def make_user(username: str, group: str) -> User:
    ensure_groups()
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user
