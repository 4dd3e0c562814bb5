"""The rule of a delivery is indexed by the unique (rule, channel, event key) constraint, which
leads with it: its own index only cost writes."""

import django.db.models.deletion
from django.db import migrations, models

from whalefall.migration_ops import drop_foreign_key_index


class Migration(migrations.Migration):
    dependencies = [("whalefall", "0010_alert_delivery_link_and_data")]

    operations = [
        drop_foreign_key_index(
            "alertdelivery",
            "rule",
            models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="deliveries",
                to="whalefall.alertrule",
                verbose_name="rule",
            ),
        ),
    ]
