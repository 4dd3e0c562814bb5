"""A sync lock's holder is told from a process that later got its pid by the kernel's key of the
process (boot id, pid namespace and start tick), which a clock step cannot move as it moves a
computed start time. Locks taken before have no key: their holder is judged by whether its pid
exists and by expiry. The column has a database default, so a process of the version before,
still running during an upgrade, can still insert a lock row."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("whalefall", "0011_alert_delivery_rule_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="synclock",
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
            model_name="synclock",
            name="process_started_at",
            field=models.DateTimeField(blank=True, help_text="Start time of the holder process.", null=True),
        ),
    ]
