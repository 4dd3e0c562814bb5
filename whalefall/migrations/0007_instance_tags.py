"""Instance tags become rows (a Tag model, many-to-many) so the list can filter by them; the
comma-separated text each instance had is split into tags, and back again on reversal."""

from django.db import migrations, models


def text_to_tags(apps, schema_editor):
    Instance = apps.get_model("whalefall", "Instance")
    Tag = apps.get_model("whalefall", "Tag")
    for instance in Instance.objects.exclude(tags_text=""):
        names = {n.strip()[:64] for n in instance.tags_text.split(",")} - {""}
        instance.tags.add(*(Tag.objects.get_or_create(name=name)[0] for name in sorted(names)))


def tags_to_text(apps, schema_editor):
    Instance = apps.get_model("whalefall", "Instance")
    for instance in Instance.objects.prefetch_related("tags"):
        instance.tags_text = ", ".join(t.name for t in instance.tags.all())[:255]
        instance.save(update_fields=["tags_text"])


class Migration(migrations.Migration):
    dependencies = [
        ("whalefall", "0006_translatable_labels"),
    ]

    operations = [
        migrations.CreateModel(
            name="Tag",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=64, unique=True, verbose_name="name")),
                (
                    "colour",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("", "Grey"),
                            ("blue", "Blue"),
                            ("green", "Green"),
                            ("orange", "Orange"),
                            ("red", "Red"),
                            ("purple", "Purple"),
                        ],
                        default="",
                        max_length=8,
                        verbose_name="colour",
                    ),
                ),
            ],
            options={"verbose_name": "tag", "verbose_name_plural": "tags", "ordering": ["name"]},
        ),
        migrations.RenameField(model_name="instance", old_name="tags", new_name="tags_text"),
        migrations.AddField(
            model_name="instance",
            name="tags",
            field=models.ManyToManyField(
                blank=True, related_name="instances", to="whalefall.tag", verbose_name="tags"
            ),
        ),
        migrations.RunPython(text_to_tags, tags_to_text),
        migrations.RemoveField(model_name="instance", name="tags_text"),
    ]
