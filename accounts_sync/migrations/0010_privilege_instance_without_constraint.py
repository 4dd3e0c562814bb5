"""A privilege row's instance loses its key constraint (the column and the (instance, account)
index stay).

It is a copy of the account's instance, and the account's own key already proves that instance
exists; checking it again for every privilege row made a first sync's COMMIT run half again as
many deferred checks. Django still cascades deletes along it. On PostgreSQL this drops the
constraint; on SQLite, which cannot drop one, Django rebuilds the table (a copy of its rows,
once). Going back adds the constraint again, which fails should a row point at an instance that
no longer exists (nothing but the code keeps that from happening now).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts_sync", "0009_foreign_key_indexes_led_by_composites"),
    ]

    operations = [
        migrations.AlterField(
            model_name="accountprivilege",
            name="instance",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="whalefall.instance",
                verbose_name="instance",
            ),
        ),
    ]
