"""Two groups: viewers see jobs, runs and sessions; operators also manage them."""

from django.db import migrations

VIEW = [
    ("scheduling", "view_jobconfig"),
    ("scheduling", "view_schedulerlease"),
    ("scheduling", "view_schedulercommand"),
    ("django_apscheduler", "view_djangojob"),
    ("django_apscheduler", "view_djangojobexecution"),
    ("whalefall", "view_syncsession"),
    ("whalefall", "view_syncinstancerecord"),
    ("whalefall", "view_synclock"),
    ("whalefall", "view_taskrequest"),
    ("whalefall", "view_instance"),
]
MANAGE = [
    ("scheduling", "manage_jobconfig"),
    ("whalefall", "manage_syncsession"),
]
GROUPS = {"WhaleFall viewers": VIEW, "WhaleFall operators": VIEW + MANAGE}


def create_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrate; make sure they exist now.
    for app_config in apps.get_app_configs():
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


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(GROUPS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0001_initial"),
        ("whalefall", "0002_task_request"),
        ("django_apscheduler", "0009_djangojobexecution_unique_job_executions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
