"""Jobs carry plugins' headers written at enqueue (such as a trace context); NULL for existing rows."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("dj_queue", "0004_recurring_timezone"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="headers",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
