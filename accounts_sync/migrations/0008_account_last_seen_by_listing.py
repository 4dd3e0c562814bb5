"""Last seen by listing: a sync that finds nothing new writes one row, not one per account.

An account's `last_seen_at` becomes empty while it follows its instance's listings, which are
stamped once in `AccountSyncState.listed_at`. Rows keep their value here; the next complete
sync of each instance empties those of the accounts it lists.
"""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts_sync', '0007_account_fillfactor'),
    ]

    operations = [
        migrations.AddField(
            model_name='accountsyncstate',
            name='listed_at',
            field=models.DateTimeField(blank=True, help_text='When the last complete listing was read: the last-seen time of the accounts it showed.', null=True, verbose_name='listed at'),
        ),
        migrations.AlterField(
            model_name='account',
            name='last_seen_at',
            field=models.DateTimeField(blank=True, default=django.utils.timezone.now, help_text="Empty: seen by the instance's last complete listing.", null=True, verbose_name='last seen at'),
        ),
    ]
