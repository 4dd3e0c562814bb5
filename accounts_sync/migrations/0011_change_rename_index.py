"""An index of each instance's renames, newest first: rebuilding the past state of an account that
was renamed away looks for them, and without it read every change of the instance since then."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts_sync", "0010_privilege_instance_without_constraint"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="accountchange",
            index=models.Index(
                condition=models.Q(("change_type", "rename")),
                fields=["instance", "-created_at"],
                name="acctchange_rename_time",
            ),
        ),
    ]
