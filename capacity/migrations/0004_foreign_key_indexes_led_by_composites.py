"""Foreign keys already indexed by a composite index or unique constraint that leads with them
lose their own index: the nightly collection wrote every size row into two indexes it never
needed."""

import django.db.models.deletion
from django.db import migrations, models

from whalefall.migration_ops import drop_foreign_key_index


def key(to: str, related_name: str, verbose_name: str) -> models.ForeignKey:
    return models.ForeignKey(
        db_index=False,
        on_delete=django.db.models.deletion.CASCADE,
        related_name=related_name,
        to=to,
        verbose_name=verbose_name,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("capacity", "0003_translatable_labels"),
        ("whalefall", "0010_alert_delivery_link_and_data"),
    ]

    operations = [
        drop_foreign_key_index(
            "databasesizestat", "database", key("capacity.instancedatabase", "size_stats", "database")
        ),
        drop_foreign_key_index("databasesizestat", "instance", key("whalefall.instance", "+", "instance")),
        drop_foreign_key_index(
            "instancedatabase", "instance", key("whalefall.instance", "databases", "instance")
        ),
        drop_foreign_key_index("instancesizestat", "instance", key("whalefall.instance", "+", "instance")),
    ]
