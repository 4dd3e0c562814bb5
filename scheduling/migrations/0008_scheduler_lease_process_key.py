"""The scheduler lease records its holder's kernel process key (boot id, pid namespace and start
tick), as the sync locks do: the two share one lease primitive that writes the same holder columns."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0007_builtin_help_text"),
    ]

    operations = [
        migrations.AddField(
            model_name="schedulerlease",
            name="process_key",
            field=models.CharField(
                blank=True,
                db_default="",
                default="",
                help_text="The kernel's boot id, pid namespace and start tick of the holder process (pid reuse check).",
                max_length=120,
            ),
        ),
        migrations.AlterField(
            model_name="schedulerlease",
            name="process_started_at",
            field=models.DateTimeField(blank=True, help_text="Start time of the holder process.", null=True),
        ),
    ]
