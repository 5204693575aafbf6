"""Recurring tasks store the IANA time zone their schedule is read in (UTC for existing rows)."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("dj_queue", "0003_ordered_json"),
    ]

    operations = [
        migrations.AddField(
            model_name="recurringtask",
            name="timezone",
            field=models.CharField(default="UTC", max_length=64),
        ),
    ]
