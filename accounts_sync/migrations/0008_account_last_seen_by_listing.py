"""Last seen by listing: a sync that finds nothing new writes one row, not one per account.

An account's `last_seen_at` becomes empty while it follows its instance's listings, which are
stamped once in `AccountSyncState.listed_at`. Rows keep their value here; the next complete
sync of each instance empties those of the accounts it lists. Going back writes each empty
`last_seen_at` as the time it stands for (the instance's last listing), not the time of the undo.
"""

import django.utils.timezone
from django.db import migrations, models


def resolve_last_seen(apps, schema_editor):
    Account = apps.get_model("accounts_sync", "Account")
    AccountSyncState = apps.get_model("accounts_sync", "AccountSyncState")
    listed = dict(AccountSyncState.objects.values_list("instance_id", "listed_at"))
    for instance_id in Account.objects.filter(last_seen_at=None).values_list("instance_id", flat=True).distinct():
        rows = Account.objects.filter(instance_id=instance_id, last_seen_at=None)
        if listed.get(instance_id):
            rows.update(last_seen_at=listed[instance_id])
        else:
            rows.update(last_seen_at=models.F("first_seen_at"))


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
        # Last, so that going back runs it first, while `listed_at` exists and NULL is allowed.
        migrations.RunPython(migrations.RunPython.noop, resolve_last_seen),
    ]
