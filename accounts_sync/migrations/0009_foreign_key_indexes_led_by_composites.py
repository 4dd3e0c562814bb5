"""Foreign keys already indexed by a composite index or unique constraint that leads with them
lose their own index: each one cost a write per row, tens of thousands on a first sync."""

import django.db.models.deletion
from django.db import migrations, models

from whalefall.migration_ops import drop_foreign_key_index


def instance_key(related_name: str) -> models.ForeignKey:
    return models.ForeignKey(
        db_index=False,
        on_delete=django.db.models.deletion.CASCADE,
        related_name=related_name,
        to="whalefall.instance",
        verbose_name="instance",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts_sync", "0008_account_last_seen_by_listing"),
        ("whalefall", "0010_alert_delivery_link_and_data"),
    ]

    operations = [
        drop_foreign_key_index("account", "instance", instance_key("accounts")),
        drop_foreign_key_index(
            "accountchange",
            "account",
            models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="changes",
                to="accounts_sync.account",
                verbose_name="account",
            ),
        ),
        drop_foreign_key_index("accountchange", "instance", instance_key("account_changes")),
        drop_foreign_key_index("accountprivilege", "instance", instance_key("+")),
    ]
