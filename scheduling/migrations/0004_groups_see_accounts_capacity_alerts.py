"""The two groups also see what WhaleFall is for: accounts and their privileges, capacity, and
alerts; operators also set up alert rules and channels (never delete them)."""

from django.db import migrations

VIEW = [
    ("accounts_sync", "view_account"),
    ("accounts_sync", "view_accountchange"),
    ("accounts_sync", "view_accountprivilege"),
    ("accounts_sync", "view_exclusionrule"),
    ("capacity", "view_instancedatabase"),
    ("capacity", "view_instancecapacity"),
    ("capacity", "view_databasesizestat"),
    ("capacity", "view_instancesizestat"),
    ("capacity", "view_databasesizeaggregation"),
    ("capacity", "view_instancesizeaggregation"),
    ("whalefall", "view_alertrule"),
    ("whalefall", "view_alertchannel"),
    ("whalefall", "view_alertdelivery"),
]
MANAGE = [
    ("whalefall", "add_alertrule"),
    ("whalefall", "change_alertrule"),
    ("whalefall", "add_alertchannel"),
    ("whalefall", "change_alertchannel"),
]
GROUPS = {"WhaleFall viewers": VIEW, "WhaleFall operators": VIEW + MANAGE}


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():  # permissions are normally created after migrate
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in codes:
            perm = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if perm is None:
                raise RuntimeError(f"permission {app_label}.{codename} is missing")
            group.permissions.add(perm)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in GROUPS.items():
        group = Group.objects.filter(name=name).first()
        if group is None:
            continue
        for app_label, codename in codes:
            group.permissions.remove(
                *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0003_job_run_session"),
        ("accounts_sync", "0004_account_sync_state_rename_fingerprint"),
        ("capacity", "0002_aggregation_watermark"),
        ("whalefall", "0005_lock_owner_process_request_expiry_attempt_history"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
